/**
 * ModelSpec: the family description every forward pass reads (TransformerLens's HookedTransformerConfig
 * reduced to what changes the computation). A family file (src/lm/families/*.ts) maps a checkpoint's
 * config to a ModelSpec and its weights to the canonical layout (CanonicalWeights); the hooked model,
 * the reference kernels and the native forward then need nothing family-specific.
 *
 * Canonical conventions: matrices are [out, in]; the fused attention input projection is
 * [q (nHeads headDim) ; k (nKvHeads headDim) ; v] rows; a gated MLP's input projection is [gate ; up]
 * rows (act(gate) * up); rotary embedding rotates adjacent pairs (2i, 2i + 1) of the first rotaryDim
 * channels of each head (Meta's layout; families stored in the rotate-half layout permute q/k rows on
 * load, see rope.ts).
 */
import { z } from "zod";
import { UserError } from "../errors.js";

/** Llama 3's frequency-dependent RoPE scaling (HF rope_scaling with rope_type "llama3"). */
export const Llama3ScalingSchema = z
  .object({
    factor: z.number().positive().describe("Wavelengths beyond the low-frequency bound are divided into factor."),
    lowFreqFactor: z.number().positive().describe("low_freq_factor"),
    highFreqFactor: z.number().positive().describe("high_freq_factor"),
    originalContext: z.number().int().positive().describe("original_max_position_embeddings"),
  })
  .strict();
export type Llama3Scaling = z.infer<typeof Llama3ScalingSchema>;

export const PositionsSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("learned").describe("Learned absolute position embeddings W_pos [contextLength, dModel] added to the token embedding (GPT-2).") }).strict(),
  z
    .object({
      kind: z.literal("rope"),
      theta: z.number().positive().describe("rope_theta (base of the frequencies)."),
      rotaryDim: z.number().int().positive().describe("Channels of each head that rotate (headDim, or partial rotary as in GPT-NeoX)."),
      scaling: Llama3ScalingSchema.optional().describe("Llama 3 rope scaling."),
    })
    .strict(),
]);
export type Positions = z.infer<typeof PositionsSchema>;

export const ActivationSchema = z.enum(["silu", "gelu_new", "gelu", "gelu_tanh"]).describe("MLP nonlinearity: silu; gelu_new and gelu_tanh (the tanh approximation); gelu (erf).");
export type Activation = z.infer<typeof ActivationSchema>;

export const ModelSpecSchema = z
  .object({
    family: z.string().describe("Registry id of the family (model_type of config.json, or llama2c)."),
    dModel: z.number().int().positive(),
    nLayers: z.number().int().nonnegative(),
    nHeads: z.number().int().positive(),
    nKvHeads: z.number().int().positive().describe("Key/value heads (grouped-query attention when fewer than nHeads)."),
    headDim: z.number().int().positive(),
    dMlp: z.number().int().positive().describe("MLP hidden width (per branch of a gated MLP)."),
    vocabSize: z.number().int().positive(),
    contextLength: z.number().int().positive().describe("Longest sequence the model takes (n_ctx / max_position_embeddings)."),
    norm: z.enum(["rms", "layer"]).describe("RMSNorm (weight only) or LayerNorm (centred, weight and bias)."),
    normEps: z.number().positive(),
    normWeightOffset: z.number().describe("Added to every norm weight (Gemma's (1 + w) RMSNorm: 1; else 0)."),
    act: ActivationSchema,
    gatedMlp: z.boolean().describe("act(x Wgate) * (x Wup) (SwiGLU, GeGLU) instead of act(x Win)."),
    positions: PositionsSchema,
    parallelResidual: z.boolean().describe("x + attn(ln1 x) + mlp(ln2 x) (GPT-NeoX, GPT-J) instead of sequential blocks."),
    postNorms: z.boolean().describe("Norms on the attention and MLP outputs before their residual add (Gemma 2)."),
    qkvBias: z.boolean(),
    oBias: z.boolean(),
    mlpBias: z.boolean().describe("Biases on the MLP's input and output projections."),
    tiedEmbeddings: z.boolean().describe("The unembedding is the token embedding's transpose."),
    embedScale: z.number().positive().describe("Multiplies the token embedding (Gemma: sqrt(dModel))."),
    queryScale: z.number().positive().describe("Attention score scale (1 / sqrt(headDim), or Gemma 2's query_pre_attn_scalar^-0.5)."),
    attnSoftcap: z.number().positive().optional().describe("Attention logits become cap * tanh(s / cap)."),
    finalSoftcap: z.number().positive().optional().describe("Output logits become cap * tanh(l / cap)."),
    slidingWindow: z.array(z.number().int().positive().nullable()).optional().describe("Per layer: keys within this many positions (Mistral, Gemma 2's alternating layers), null = full attention."),
  })
  .strict();
export type ModelSpec = z.infer<typeof ModelSpecSchema>;

/** One norm's parameters: weight [dModel], bias [dModel] for LayerNorm. */
export interface NormWeights {
  w: Float32Array;
  b?: Float32Array | undefined;
}

/** One block in the canonical layout (see the file comment). */
export interface CanonicalLayer {
  ln1: NormWeights;
  /** [qDim + 2 kvDim, dModel] */
  wqkv: Float32Array;
  /** [qDim + 2 kvDim] */
  bqkv?: Float32Array | undefined;
  /** [dModel, qDim] */
  wo: Float32Array;
  /** [dModel] */
  bo?: Float32Array | undefined;
  ln2: NormWeights;
  /** [(gated ? 2 : 1) dMlp, dModel]: gate rows then up rows when gated. */
  wIn: Float32Array;
  /** [(gated ? 2 : 1) dMlp] */
  bIn?: Float32Array | undefined;
  /** [dModel, dMlp] */
  wOut: Float32Array;
  /** [dModel] */
  bOut?: Float32Array | undefined;
  /** Norms on the attention and MLP outputs (spec.postNorms: Gemma 2's post_attention / post_feedforward norms). */
  ln1Post?: NormWeights | undefined;
  ln2Post?: NormWeights | undefined;
}

/** All weights of a model in the canonical layout. */
export interface CanonicalWeights {
  /** [vocab, dModel] */
  embed: Float32Array;
  /** [contextLength, dModel] (learned positions only). */
  posEmbed?: Float32Array | undefined;
  layers: CanonicalLayer[];
  lnFinal: NormWeights;
  /** [vocab, dModel]; absent when tied (the embedding is used). */
  unembed?: Float32Array | undefined;
}

/** A model ready to build: its spec and canonical weights. */
export interface LoadedWeights {
  spec: ModelSpec;
  weights: CanonicalWeights;
}

/** Width of all query heads. */
export function qDim(s: ModelSpec): number {
  return s.nHeads * s.headDim;
}

/** Width of all key (or value) heads. */
export function kvDim(s: ModelSpec): number {
  return s.nKvHeads * s.headDim;
}

/** Throws a UserError unless the spec is self-consistent (validated by the schema, then cross-field rules). */
export function checkSpec(spec: ModelSpec, source: string): ModelSpec {
  const parsed = ModelSpecSchema.safeParse(spec);
  if (!parsed.success) throw new UserError(`${source}: invalid model description: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const s = parsed.data;
  const bad = (m: string): never => {
    throw new UserError(`${source}: ${m}`);
  };
  if (s.nHeads % s.nKvHeads !== 0) bad(`num_attention_heads ${s.nHeads} is not a multiple of num_key_value_heads ${s.nKvHeads}`);
  if (s.positions.kind === "rope" && (s.positions.rotaryDim % 2 !== 0 || s.positions.rotaryDim > s.headDim)) bad(`rotary dimension ${s.positions.rotaryDim} must be even and at most head_dim ${s.headDim}`);
  if (s.headDim % 2 !== 0) bad(`head_dim ${s.headDim} must be even`);
  if (s.slidingWindow && s.slidingWindow.length !== s.nLayers) bad(`sliding windows given for ${s.slidingWindow.length} layers, the model has ${s.nLayers}`);
  return s;
}

/**
 * Throws a UserError naming the first spec feature this implementation does not run yet (the spec
 * can describe Gemma 2 and GPT-NeoX; their forward arrives with those families).
 */
export function assertSupported(s: ModelSpec): void {
  const missing: string[] = [];
  // Families fold this into the weights on load (gemma2: 1 + w into the norm weights); the model applies embedScale.
  if (s.normWeightOffset !== 0) missing.push("(1 + w) norm weights");
  if (missing.length > 0) throw new UserError(`model family "${s.family}" needs ${missing.join(", ")}, which saelab does not run yet`);
}
