/**
 * GPT-2 (model_type "gpt2"): learned position embeddings, LayerNorm with bias, gelu_new MLP with
 * biases, fused c_attn, Conv1D weights stored [in, out], tied unembedding. Both key layouts are read:
 * `h.0.attn.c_attn.weight` (GPT-2's own repository) and `transformer.h.0...` (save_pretrained of
 * GPT2LMHeadModel). TransformerLens's weight_conversions/gpt2.py is the model for this mapping.
 */
import { UserError } from "../../errors.js";
import type { Activation, CanonicalLayer, ModelSpec } from "../spec.js";
import { ConfigReader, TensorReader, transpose, type Family } from "./hf.js";

const ACTS: Record<string, Activation> = { gelu_new: "gelu_new", gelu: "gelu", gelu_pytorch_tanh: "gelu_tanh", gelu_fast: "gelu_tanh" };

/** Maps a GPT-2 config.json to its spec. */
function spec(config: Record<string, unknown>, source: string): ModelSpec {
  const c = new ConfigReader(config, source);
  const dModel = c.int("n_embd");
  const nHeads = c.int("n_head");
  if (dModel % nHeads !== 0) throw new UserError(`${source}: n_embd ${dModel} is not a multiple of n_head ${nHeads}`);
  const actName = c.str("activation_function", "gelu_new");
  const act = ACTS[actName];
  if (!act) throw new UserError(`${source}: activation_function "${actName}" is not supported (${Object.keys(ACTS).join(", ")})`);
  if (c.bool("scale_attn_by_inverse_layer_idx", false) || c.bool("reorder_and_upcast_attn", false)) {
    throw new UserError(`${source}: scale_attn_by_inverse_layer_idx / reorder_and_upcast_attn are not supported`);
  }
  const headDim = dModel / nHeads;
  return {
    family: "gpt2",
    dModel,
    nLayers: c.int("n_layer"),
    nHeads,
    nKvHeads: nHeads,
    headDim,
    dMlp: c.has("n_inner") ? c.int("n_inner") : 4 * dModel,
    vocabSize: c.int("vocab_size"),
    contextLength: c.int("n_positions", c.has("n_ctx") ? c.int("n_ctx") : undefined),
    norm: "layer",
    normEps: c.num("layer_norm_epsilon", 1e-5),
    normWeightOffset: 0,
    act,
    gatedMlp: false,
    positions: { kind: "learned" },
    parallelResidual: false,
    postNorms: false,
    qkvBias: true,
    oBias: true,
    mlpBias: true,
    tiedEmbeddings: true,
    embedScale: 1,
    queryScale: 1 / Math.sqrt(headDim),
  };
}

/** Converts GPT-2's tensors (either key layout) to the canonical layout. */
function weights(s: ModelSpec, tensors: ReadonlyMap<string, { shape: number[]; data: Float32Array }>, source: string) {
  const t = new TensorReader(tensors, ["transformer.", ""], "wte.weight", source);
  const D = s.dModel;
  const H = s.dMlp;
  const norm = (n: string) => ({ w: t.get(`${n}.weight`, [D]), b: t.get(`${n}.bias`, [D]) });
  const layers: CanonicalLayer[] = [];
  for (let l = 0; l < s.nLayers; l++) {
    const p = `h.${l}.`;
    layers.push({
      ln1: norm(`${p}ln_1`),
      wqkv: transpose(t.get(`${p}attn.c_attn.weight`, [D, 3 * D]), D, 3 * D),
      bqkv: t.get(`${p}attn.c_attn.bias`, [3 * D]),
      wo: transpose(t.get(`${p}attn.c_proj.weight`, [D, D]), D, D),
      bo: t.get(`${p}attn.c_proj.bias`, [D]),
      ln2: norm(`${p}ln_2`),
      wIn: transpose(t.get(`${p}mlp.c_fc.weight`, [D, H]), D, H),
      bIn: t.get(`${p}mlp.c_fc.bias`, [H]),
      wOut: transpose(t.get(`${p}mlp.c_proj.weight`, [H, D]), H, D),
      bOut: t.get(`${p}mlp.c_proj.bias`, [D]),
    });
  }
  if (t.has(`h.${s.nLayers}.ln_1.weight`)) throw new UserError(`${source}: holds a block h.${s.nLayers} but config.json says n_layer ${s.nLayers}`);
  return {
    embed: t.get("wte.weight", [s.vocabSize, D]),
    posEmbed: t.get("wpe.weight", [s.contextLength, D]),
    layers,
    lnFinal: norm("ln_f"),
  };
}

/** The GPT-2 family. */
export const gpt2Family: Family = { spec, weights };
