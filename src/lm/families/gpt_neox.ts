/**
 * GPT-NeoX (model_type "gpt_neox": Pythia): attention and MLP read the same residual and both add to
 * it (use_parallel_residual, the default), partial rotary embedding on the first rotary_pct of each
 * head's channels (rotate-half layout, permuted to adjacent pairs on load), LayerNorm with bias, a
 * fused query_key_value projection laid out per head ([q_h; k_h; v_h] for each head h), biases
 * everywhere, GELU, and an untied unembedding `embed_out`. TransformerLens's
 * weight_conversions/neox.py is the model for this mapping. Keys are read with or without the
 * "gpt_neox." prefix; embed_out.weight sits at the top.
 */
import { UserError } from "../../errors.js";
import { unpermuteRotary } from "../rope.js";
import type { Activation, CanonicalLayer, CanonicalWeights, ModelSpec } from "../spec.js";
import { ConfigReader, TensorReader, concat, type Family, type TensorMap } from "./hf.js";

const ACTS: Record<string, Activation> = { gelu: "gelu", gelu_new: "gelu_new", gelu_fast: "gelu_tanh", gelu_pytorch_tanh: "gelu_tanh" };

/** Maps a GPT-NeoX config.json to its spec. */
function spec(config: Record<string, unknown>, source: string): ModelSpec {
  const c = new ConfigReader(config, source);
  const dModel = c.int("hidden_size");
  const nHeads = c.int("num_attention_heads");
  if (dModel % nHeads !== 0) throw new UserError(`${source}: hidden_size ${dModel} is not a multiple of num_attention_heads ${nHeads}`);
  const headDim = dModel / nHeads;
  const actName = c.str("hidden_act", "gelu");
  const act = ACTS[actName];
  if (!act) throw new UserError(`${source}: hidden_act "${actName}" is not supported (${Object.keys(ACTS).join(", ")})`);
  const pct = c.num("rotary_pct", 1);
  if (pct > 1) throw new UserError(`${source}: field "rotary_pct" must be at most 1, got ${pct}`);
  // HF: rotary_ndims = int(head_size * rotary_pct).
  const rotaryDim = Math.floor(headDim * pct);
  if (rotaryDim < 2 || rotaryDim % 2 !== 0) throw new UserError(`${source}: rotary_pct ${pct} of head size ${headDim} gives ${rotaryDim} rotary channels; an even number of at least 2 is needed`);
  const scaling = c.obj("rope_scaling");
  if (scaling && scaling.str("rope_type", scaling.str("type", "default")) !== "default") throw new UserError(`${source}: rope_scaling is not supported for gpt_neox`);
  const bias = c.bool("attention_bias", true);
  return {
    family: "gpt_neox",
    dModel,
    nLayers: c.int("num_hidden_layers"),
    nHeads,
    nKvHeads: nHeads,
    headDim,
    dMlp: c.int("intermediate_size"),
    vocabSize: c.int("vocab_size"),
    contextLength: c.int("max_position_embeddings"),
    norm: "layer",
    normEps: c.num("layer_norm_eps", 1e-5),
    normWeightOffset: 0,
    act,
    gatedMlp: false,
    positions: { kind: "rope", theta: c.has("rope_theta") ? c.num("rope_theta") : c.num("rotary_emb_base", 10000), rotaryDim },
    parallelResidual: c.bool("use_parallel_residual", true),
    postNorms: false,
    qkvBias: bias,
    oBias: bias,
    mlpBias: true,
    tiedEmbeddings: c.bool("tie_word_embeddings", false),
    embedScale: 1,
    queryScale: 1 / Math.sqrt(headDim),
  };
}

/** Splits the per-head fused query_key_value rows [nHeads, 3, headDim, cols] into q, k and v [nHeads headDim, cols]. */
function splitPerHead(w: Float32Array, nHeads: number, headDim: number, cols: number): [Float32Array, Float32Array, Float32Array] {
  const parts = [0, 1, 2].map(() => new Float32Array(nHeads * headDim * cols)) as [Float32Array, Float32Array, Float32Array];
  const n = headDim * cols;
  for (let h = 0; h < nHeads; h++) for (let j = 0; j < 3; j++) parts[j]!.set(w.subarray((h * 3 + j) * n, (h * 3 + j + 1) * n), h * n);
  return parts;
}

/** Converts GPT-NeoX tensors to the canonical layout. */
function weights(s: ModelSpec, tensors: TensorMap, source: string): CanonicalWeights {
  const t = new TensorReader(tensors, ["gpt_neox.", ""], "embed_in.weight", source);
  const D = s.dModel;
  const H = s.dMlp;
  const hd = s.headDim;
  const rot = s.positions.kind === "rope" ? s.positions.rotaryDim : hd;
  const norm = (n: string) => ({ w: t.get(`${n}.weight`, [D]), b: t.get(`${n}.bias`, [D]) });
  const layers: CanonicalLayer[] = [];
  for (let l = 0; l < s.nLayers; l++) {
    const p = `layers.${l}.`;
    const [q, k, v] = splitPerHead(t.get(`${p}attention.query_key_value.weight`, [3 * D, D]), s.nHeads, hd, D);
    const layer: CanonicalLayer = {
      ln1: norm(`${p}input_layernorm`),
      wqkv: concat(unpermuteRotary(q, s.nHeads, hd, rot, D), unpermuteRotary(k, s.nHeads, hd, rot, D), v),
      wo: t.get(`${p}attention.dense.weight`, [D, D]),
      ln2: norm(`${p}post_attention_layernorm`),
      wIn: t.get(`${p}mlp.dense_h_to_4h.weight`, [H, D]),
      bIn: t.get(`${p}mlp.dense_h_to_4h.bias`, [H]),
      wOut: t.get(`${p}mlp.dense_4h_to_h.weight`, [D, H]),
      bOut: t.get(`${p}mlp.dense_4h_to_h.bias`, [D]),
    };
    if (s.qkvBias) {
      const [bq, bk, bv] = splitPerHead(t.get(`${p}attention.query_key_value.bias`, [3 * D]), s.nHeads, hd, 1);
      layer.bqkv = concat(unpermuteRotary(bq, s.nHeads, hd, rot, 1), unpermuteRotary(bk, s.nHeads, hd, rot, 1), bv);
      layer.bo = t.get(`${p}attention.dense.bias`, [D]);
    }
    layers.push(layer);
  }
  if (t.has(`layers.${s.nLayers}.input_layernorm.weight`)) throw new UserError(`${source}: holds a block layers.${s.nLayers} but config.json says num_hidden_layers ${s.nLayers}`);
  const out: CanonicalWeights = { embed: t.get("embed_in.weight", [s.vocabSize, D]), layers, lnFinal: norm("final_layer_norm") };
  if (!s.tiedEmbeddings) {
    if (!tensors.has("embed_out.weight")) throw new UserError(`${source}: tensor "embed_out.weight" is missing (config.json says tie_word_embeddings is false)`);
    out.unembed = t.get("embed_out.weight", [s.vocabSize, D], true);
  }
  return out;
}

/** The GPT-NeoX family. */
export const gptNeoxFamily: Family = { spec, weights };
