/**
 * Gemma 2 (model_type "gemma2"): RMSNorm with (1 + weight), norms before and after both attention and
 * MLP, GeGLU with the tanh GELU, grouped-query attention with a head width of its own (head_dim x
 * heads need not equal hidden_size), scores scaled by query_pre_attn_scalar^-0.5 and soft-capped
 * (attn_logit_softcapping), final logits soft-capped (final_logit_softcapping), sliding-window
 * attention on alternate layers (even layers, or as layer_types says), tied embeddings scaled by
 * sqrt(hidden_size) on the way in.
 *
 * The embedding is kept once (tied) and the model scales each gathered row by sqrt(hidden_size) in
 * float32, so hook_embed is the scaled embedding as in TransformerLens (which folds the scale into
 * W_E and keeps a second, unscaled matrix for the unembedding: 2.4 GB more for Gemma 2's vocabulary).
 * 1 is added to every norm weight; both products round exactly as HF's forward computes them. Hook names are
 * TransformerLens's: hook_attn_out and hook_mlp_out are taken after the post norms.
 */
import { UserError } from "../../errors.js";
import { unpermuteRotary } from "../rope.js";
import { kvDim, qDim, type CanonicalLayer, type CanonicalWeights, type ModelSpec } from "../spec.js";
import { ConfigReader, TensorReader, concat, type Family, type TensorMap } from "./hf.js";

/** Returns per layer the sliding window (null: global attention). */
function windows(raw: unknown, source: string, nLayers: number, window: number): (number | null)[] {
  if (raw === undefined || raw === null) return Array.from({ length: nLayers }, (_, l) => (l % 2 === 0 ? window : null));
  if (!Array.isArray(raw) || raw.length !== nLayers || raw.some((t) => t !== "sliding_attention" && t !== "full_attention")) {
    throw new UserError(`${source}: field "layer_types" must list "sliding_attention" or "full_attention" for each of the ${nLayers} layers`);
  }
  return raw.map((t) => (t === "sliding_attention" ? window : null));
}

/** Maps a Gemma 2 config.json to its spec. */
function spec(config: Record<string, unknown>, source: string): ModelSpec {
  const c = new ConfigReader(config, source);
  const dModel = c.int("hidden_size");
  const nHeads = c.int("num_attention_heads");
  const headDim = c.has("head_dim") ? c.int("head_dim") : dModel / nHeads;
  if (!Number.isInteger(headDim)) throw new UserError(`${source}: hidden_size ${dModel} is not a multiple of num_attention_heads ${nHeads} and no head_dim is given`);
  const act = c.str("hidden_activation", c.str("hidden_act", "gelu_pytorch_tanh"));
  if (act !== "gelu_pytorch_tanh" && act !== "gelu_tanh") throw new UserError(`${source}: hidden_activation "${act}" is not supported (gelu_pytorch_tanh)`);
  if (!c.bool("tie_word_embeddings", true)) throw new UserError(`${source}: Gemma 2 with an untied lm_head is not supported`);
  const scaling = c.obj("rope_scaling");
  if (scaling && scaling.str("rope_type", scaling.str("type", "default")) !== "default") throw new UserError(`${source}: rope_scaling is not supported for gemma2`);
  if (c.bool("attention_bias", false)) throw new UserError(`${source}: attention_bias is not supported for gemma2`);
  const nLayers = c.int("num_hidden_layers");
  const softcap = (key: string) => (c.has(key) ? c.num(key) : undefined);
  const attnSoftcap = softcap("attn_logit_softcapping");
  const finalSoftcap = softcap("final_logit_softcapping");
  return {
    family: "gemma2",
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
    // Folded into the weights on load (see the file comment).
    normWeightOffset: 0,
    act: "gelu_tanh",
    gatedMlp: true,
    positions: { kind: "rope", theta: c.num("rope_theta", 10000), rotaryDim: headDim },
    parallelResidual: false,
    postNorms: true,
    qkvBias: false,
    oBias: false,
    mlpBias: false,
    tiedEmbeddings: true,
    // HF: hidden_states * torch.tensor(hidden_size ** 0.5, dtype=float32).
    embedScale: Math.fround(Math.sqrt(dModel)),
    queryScale: 1 / Math.sqrt(c.num("query_pre_attn_scalar", headDim)),
    ...(attnSoftcap !== undefined ? { attnSoftcap } : {}),
    ...(finalSoftcap !== undefined ? { finalSoftcap } : {}),
    ...(c.has("sliding_window") ? { slidingWindow: windows(config.layer_types, source, nLayers, c.int("sliding_window")) } : {}),
  };
}

/** Converts HF Gemma 2 tensors to the canonical layout (norm weights + 1, embedding scaled, unembedding unscaled). */
function weights(s: ModelSpec, tensors: TensorMap, source: string): CanonicalWeights {
  const t = new TensorReader(tensors, ["model.", ""], "embed_tokens.weight", source);
  const D = s.dModel;
  const Q = qDim(s);
  const KV = kvDim(s);
  const H = s.dMlp;
  const rows = (w: Float32Array, heads: number) => unpermuteRotary(w, heads, s.headDim, s.headDim, D);
  const norm = (name: string) => ({ w: t.get(name, [D]).map((v) => Math.fround(1 + v)) });
  const layers: CanonicalLayer[] = [];
  for (let l = 0; l < s.nLayers; l++) {
    const p = `layers.${l}.`;
    layers.push({
      ln1: norm(`${p}input_layernorm.weight`),
      wqkv: concat(rows(t.get(`${p}self_attn.q_proj.weight`, [Q, D]), s.nHeads), rows(t.get(`${p}self_attn.k_proj.weight`, [KV, D]), s.nKvHeads), t.get(`${p}self_attn.v_proj.weight`, [KV, D])),
      wo: t.get(`${p}self_attn.o_proj.weight`, [D, Q]),
      ln1Post: norm(`${p}post_attention_layernorm.weight`),
      ln2: norm(`${p}pre_feedforward_layernorm.weight`),
      wIn: concat(t.get(`${p}mlp.gate_proj.weight`, [H, D]), t.get(`${p}mlp.up_proj.weight`, [H, D])),
      wOut: t.get(`${p}mlp.down_proj.weight`, [D, H]),
      ln2Post: norm(`${p}post_feedforward_layernorm.weight`),
    });
  }
  if (t.has(`layers.${s.nLayers}.input_layernorm.weight`)) throw new UserError(`${source}: holds a block layers.${s.nLayers} but config.json says num_hidden_layers ${s.nLayers}`);
  // One copy, tied: the model scales the rows it gathers (spec.embedScale), as HF's forward does.
  return { embed: t.get("embed_tokens.weight", [s.vocabSize, D]), layers, lnFinal: norm("norm.weight") };
}

/** The Gemma 2 family. */
export const gemma2Family: Family = { spec, weights };
