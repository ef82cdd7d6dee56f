/**
 * The Llama family: model_type "llama", "qwen2" (q/k/v biases) and "mistral" (sliding-window
 * attention), and llama2.c checkpoints through the same spec. RoPE with rope_theta and Llama 3's
 * rope_scaling, grouped-query attention, RMSNorm, SwiGLU, tied or untied embeddings, head_dim when
 * given. HF stores q/k rows in the rotate-half layout; they are permuted to adjacent pairs on load
 * (rope.ts). Keys are read with or without the "model." prefix; lm_head.weight sits at the top.
 */
import { UserError } from "../../errors.js";
import type { Llama2cCheckpoint } from "../../io/llama2c.js";
import { unpermuteRotary } from "../rope.js";
import { kvDim, qDim, type CanonicalLayer, type CanonicalWeights, type Llama3Scaling, type LoadedWeights, type ModelSpec } from "../spec.js";
import { ConfigReader, TensorReader, concat, type Family, type TensorMap } from "./hf.js";

type Variant = "llama" | "qwen2" | "mistral";

/** Returns the rope scaling of config.json's rope_scaling (only Llama 3's is supported). */
function scaling(c: ConfigReader): Llama3Scaling | undefined {
  const r = c.obj("rope_scaling");
  if (!r) return undefined;
  const type = r.has("rope_type") ? r.str("rope_type") : r.str("type", "default");
  if (type === "default") return undefined;
  if (type !== "llama3") throw new UserError(`${c.source}: rope_scaling type "${type}" is not supported (only "llama3")`);
  return { factor: r.num("factor"), lowFreqFactor: r.num("low_freq_factor"), highFreqFactor: r.num("high_freq_factor"), originalContext: r.int("original_max_position_embeddings") };
}

/** Maps a llama/qwen2/mistral config.json to its spec. */
function specOf(variant: Variant, config: Record<string, unknown>, source: string): ModelSpec {
  const c = new ConfigReader(config, source);
  const dModel = c.int("hidden_size");
  const nHeads = c.int("num_attention_heads");
  const headDim = c.has("head_dim") ? c.int("head_dim") : dModel / nHeads;
  if (!Number.isInteger(headDim)) throw new UserError(`${source}: hidden_size ${dModel} is not a multiple of num_attention_heads ${nHeads} and no head_dim is given`);
  const act = c.str("hidden_act", "silu");
  if (act !== "silu") throw new UserError(`${source}: hidden_act "${act}" is not supported (silu)`);
  const nLayers = c.int("num_hidden_layers");
  const rotaryDim = Math.round(headDim * (c.has("partial_rotary_factor") ? c.num("partial_rotary_factor") : 1));
  let window: number | undefined;
  if (variant === "mistral" && c.has("sliding_window")) window = c.int("sliding_window");
  if (variant === "qwen2" && c.bool("use_sliding_window", false) && c.has("sliding_window")) {
    throw new UserError(`${source}: use_sliding_window with max_window_layers is not supported`);
  }
  const attnBias = variant === "qwen2" ? true : c.bool("attention_bias", false);
  const scaled = scaling(c);
  return {
    family: variant,
    dModel,
    nLayers,
    nHeads,
    nKvHeads: c.has("num_key_value_heads") ? c.int("num_key_value_heads") : nHeads,
    headDim,
    dMlp: c.int("intermediate_size"),
    vocabSize: c.int("vocab_size"),
    contextLength: c.int("max_position_embeddings"),
    norm: "rms",
    normEps: c.num("rms_norm_eps", 1e-6),
    normWeightOffset: 0,
    act: "silu",
    gatedMlp: true,
    positions: { kind: "rope", theta: c.num("rope_theta", 10000), rotaryDim, ...(scaled ? { scaling: scaled } : {}) },
    parallelResidual: false,
    postNorms: false,
    qkvBias: attnBias,
    oBias: variant === "llama" && attnBias,
    mlpBias: variant === "llama" && c.bool("mlp_bias", false),
    tiedEmbeddings: c.bool("tie_word_embeddings", false),
    embedScale: 1,
    queryScale: 1 / Math.sqrt(headDim),
    ...(window !== undefined ? { slidingWindow: Array.from({ length: nLayers }, () => window) } : {}),
  };
}

/** Converts HF Llama-layout tensors to the canonical layout. */
function weightsOf(s: ModelSpec, tensors: TensorMap, source: string): CanonicalWeights {
  const t = new TensorReader(tensors, ["model.", ""], "embed_tokens.weight", source);
  const D = s.dModel;
  const Q = qDim(s);
  const KV = kvDim(s);
  const H = s.dMlp;
  const rot = s.positions.kind === "rope" ? s.positions.rotaryDim : s.headDim;
  const rows = (w: Float32Array, heads: number, cols: number) => unpermuteRotary(w, heads, s.headDim, rot, cols);
  const layers: CanonicalLayer[] = [];
  for (let l = 0; l < s.nLayers; l++) {
    const a = `layers.${l}.self_attn.`;
    const m = `layers.${l}.mlp.`;
    const layer: CanonicalLayer = {
      ln1: { w: t.get(`layers.${l}.input_layernorm.weight`, [D]) },
      wqkv: concat(rows(t.get(`${a}q_proj.weight`, [Q, D]), s.nHeads, D), rows(t.get(`${a}k_proj.weight`, [KV, D]), s.nKvHeads, D), t.get(`${a}v_proj.weight`, [KV, D])),
      wo: t.get(`${a}o_proj.weight`, [D, Q]),
      ln2: { w: t.get(`layers.${l}.post_attention_layernorm.weight`, [D]) },
      wIn: concat(t.get(`${m}gate_proj.weight`, [H, D]), t.get(`${m}up_proj.weight`, [H, D])),
      wOut: t.get(`${m}down_proj.weight`, [D, H]),
    };
    if (s.qkvBias) layer.bqkv = concat(rows(t.get(`${a}q_proj.bias`, [Q]), s.nHeads, 1), rows(t.get(`${a}k_proj.bias`, [KV]), s.nKvHeads, 1), t.get(`${a}v_proj.bias`, [KV]));
    if (s.oBias) layer.bo = t.get(`${a}o_proj.bias`, [D]);
    if (s.mlpBias) {
      layer.bIn = concat(t.get(`${m}gate_proj.bias`, [H]), t.get(`${m}up_proj.bias`, [H]));
      layer.bOut = t.get(`${m}down_proj.bias`, [D]);
    }
    layers.push(layer);
  }
  if (t.has(`layers.${s.nLayers}.input_layernorm.weight`)) throw new UserError(`${source}: holds a block layers.${s.nLayers} but config.json says num_hidden_layers ${s.nLayers}`);
  const out: CanonicalWeights = { embed: t.get("embed_tokens.weight", [s.vocabSize, D]), layers, lnFinal: { w: t.get("norm.weight", [D]) } };
  if (!s.tiedEmbeddings) {
    if (!tensors.has("lm_head.weight")) throw new UserError(`${source}: tensor "lm_head.weight" is missing (config.json says tie_word_embeddings is false)`);
    out.unembed = t.get("lm_head.weight", [s.vocabSize, D], true);
  }
  return out;
}

/** A member of the Llama family. */
function variant(v: Variant): Family {
  return { spec: (c, src) => specOf(v, c, src), weights: weightsOf };
}

export const llamaFamily = variant("llama");
export const qwen2Family = variant("qwen2");
export const mistralFamily = variant("mistral");

/** Returns a llama2.c checkpoint as a Llama spec and canonical weights (its q/k rows are already in adjacent-pair order). */
export function fromLlama2c(ckpt: Llama2cCheckpoint): LoadedWeights {
  const c = ckpt.config;
  const headDim = c.dim / c.nHeads;
  const spec: ModelSpec = {
    family: "llama2c",
    dModel: c.dim,
    nLayers: c.nLayers,
    nHeads: c.nHeads,
    nKvHeads: c.nKvHeads,
    headDim,
    dMlp: c.hiddenDim,
    vocabSize: c.vocabSize,
    contextLength: c.seqLen,
    norm: "rms",
    normEps: 1e-5,
    normWeightOffset: 0,
    act: "silu",
    gatedMlp: true,
    positions: { kind: "rope", theta: 10000, rotaryDim: headDim },
    parallelResidual: false,
    postNorms: false,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    tiedEmbeddings: c.sharedClassifier,
    embedScale: 1,
    queryScale: 1 / Math.sqrt(headDim),
  };
  const w = ckpt.weights;
  const D = c.dim;
  const KV = c.nKvHeads * headDim;
  const H = c.hiddenDim;
  const at = (a: Float32Array, l: number, n: number) => a.subarray(l * n, (l + 1) * n);
  const layers: CanonicalLayer[] = [];
  for (let l = 0; l < c.nLayers; l++) {
    layers.push({
      ln1: { w: at(w.rmsAtt, l, D) },
      wqkv: concat(at(w.wq, l, D * D), at(w.wk, l, KV * D), at(w.wv, l, KV * D)),
      wo: at(w.wo, l, D * D),
      ln2: { w: at(w.rmsFfn, l, D) },
      wIn: concat(at(w.w1, l, H * D), at(w.w3, l, H * D)),
      wOut: at(w.w2, l, D * H),
    });
  }
  if (!c.sharedClassifier && !w.wcls) throw new Error("checkpoint says the classifier is separate but has none");
  return { spec, weights: { embed: w.tokenEmbedding, layers, lnFinal: { w: w.rmsFinal }, unembed: c.sharedClassifier ? undefined : w.wcls } };
}
