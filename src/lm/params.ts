/**
 * The model's parameters in one Float32Array with named views (llm.c's single parameter buffer),
 * filled from a family's canonical weights (spec.ts). The layout is per layer so that a layer's
 * weights sit together; the fused projections are single matrices: wqkv = [wq; wk; wv] and, for a
 * gated MLP, wIn = [gate; up], all [out, in]. `layout` describes the buffer as an Int32Array for the
 * native kernels (LAYOUT_* below; native/src/lm.h mirrors the indices). Optional tensors (biases,
 * LayerNorm biases, position embeddings) have offset -1 when absent.
 */
import { kvDim, qDim, type CanonicalWeights, type ModelSpec, type NormWeights } from "./spec.js";

/** Views into the parameter buffer for one transformer block. */
export interface LayerParams {
  /** [dModel] */
  ln1w: Float32Array;
  ln1b?: Float32Array | undefined;
  /** [qDim + 2 kvDim, dModel] */
  wqkv: Float32Array;
  bqkv?: Float32Array | undefined;
  /** [dModel, qDim] */
  wo: Float32Array;
  bo?: Float32Array | undefined;
  ln2w: Float32Array;
  ln2b?: Float32Array | undefined;
  /** [(gated ? 2 : 1) dMlp, dModel] */
  wIn: Float32Array;
  bIn?: Float32Array | undefined;
  /** [dModel, dMlp] */
  wOut: Float32Array;
  bOut?: Float32Array | undefined;
  /** [dModel] post-attention and post-MLP norm weights (spec.postNorms), stored after the classifier. */
  ln1PostW?: Float32Array | undefined;
  ln1PostB?: Float32Array | undefined;
  ln2PostW?: Float32Array | undefined;
  ln2PostB?: Float32Array | undefined;
}

/** All parameters: one buffer and its views. */
export interface ModelParams {
  buffer: Float32Array;
  /** [vocab, dModel] */
  embedding: Float32Array;
  /** [contextLength, dModel] learned positions. */
  posEmbedding?: Float32Array | undefined;
  layers: LayerParams[];
  lnFinalW: Float32Array;
  lnFinalB?: Float32Array | undefined;
  /** [vocab, dModel]; the embedding itself when tied. */
  classifier: Float32Array;
  /** Offsets, sizes and flags for the native kernels. */
  layout: Int32Array;
}

export const LAYOUT_D_MODEL = 0;
export const LAYOUT_KV_DIM = 1;
export const LAYOUT_HIDDEN = 2;
export const LAYOUT_N_HEADS = 3;
export const LAYOUT_N_KV_HEADS = 4;
export const LAYOUT_HEAD_SIZE = 5;
export const LAYOUT_N_LAYERS = 6;
export const LAYOUT_VOCAB = 7;
export const LAYOUT_SEQ_LEN = 8;
export const LAYOUT_OFF_EMBEDDING = 9;
export const LAYOUT_OFF_FINAL = 10;
export const LAYOUT_OFF_CLASSIFIER = 11;
/** Bit flags (LAYOUT_FLAG_*) and, in bits 4-7, the plain MLP's activation (ACT_CODES). */
export const LAYOUT_FLAGS = 12;
/** The norm epsilon as float32 bits. */
export const LAYOUT_EPS_BITS = 13;
export const LAYOUT_OFF_FINAL_B = 14;
export const LAYOUT_LAYER0 = 15;
export const LAYOUT_FLAG_LAYERNORM = 1;
export const LAYOUT_FLAG_GATED = 2;
/** Parallel residual (spec.parallelResidual): x + (mlp(ln2 x) + attn(ln1 x)). */
export const LAYOUT_FLAG_PARALLEL = 4;
/** Activation codes of the native kernels (native/src/lm.h ACT_*). */
export const ACT_CODES = { silu: 0, gelu_new: 1, gelu_tanh: 1, gelu: 2 } as const;
/** Per-layer offsets, in this order, LAYOUT_PER_LAYER of them. */
export const LAYER_RMS_ATT = 0;
export const LAYER_WQKV = 1;
export const LAYER_WO = 2;
export const LAYER_RMS_FFN = 3;
export const LAYER_W13 = 4;
export const LAYER_W2 = 5;
export const LAYER_LN1_B = 6;
export const LAYER_BQKV = 7;
export const LAYER_BO = 8;
export const LAYER_LN2_B = 9;
export const LAYER_BIN = 10;
export const LAYER_BOUT = 11;
export const LAYOUT_PER_LAYER = 12;

const MAX_PARAMS = 2 ** 31 - 1;

/** Returns the parameter buffer, views and layout for a spec's canonical weights (copying them). */
export function buildParams(spec: ModelSpec, w: CanonicalWeights): ModelParams {
  const D = spec.dModel;
  const Q = qDim(spec);
  const KV = kvDim(spec);
  const H = spec.dMlp;
  const nIn = (spec.gatedMlp ? 2 : 1) * H;
  const V = spec.vocabSize;
  const ln = spec.norm === "layer";
  const perLayer = D * (ln ? 4 : 2) + (Q + 2 * KV) * (D + (spec.qkvBias ? 1 : 0)) + D * Q + (spec.oBias ? D : 0) + nIn * D + D * H + (spec.mlpBias ? nIn + D : 0);
  const postNorms = spec.postNorms ? spec.nLayers * 2 * D * (ln ? 2 : 1) : 0;
  const total = V * D + (w.posEmbed ? spec.contextLength * D : 0) + spec.nLayers * perLayer + D * (ln ? 2 : 1) + (spec.tiedEmbeddings ? 0 : V * D) + postNorms;
  if (total > MAX_PARAMS) throw new RangeError(`model has ${total} parameters, more than this implementation addresses (${MAX_PARAMS})`);
  const buffer = new Float32Array(total);
  const layout = new Int32Array(LAYOUT_LAYER0 + LAYOUT_PER_LAYER * spec.nLayers);
  layout.set([D, KV, H, spec.nHeads, spec.nKvHeads, spec.headDim, spec.nLayers, V, spec.contextLength]);
  layout[LAYOUT_FLAGS] = (ln ? LAYOUT_FLAG_LAYERNORM : 0) | (spec.gatedMlp ? LAYOUT_FLAG_GATED : 0) | (spec.parallelResidual ? LAYOUT_FLAG_PARALLEL : 0) | (ACT_CODES[spec.act] << 4);
  layout[LAYOUT_EPS_BITS] = new Int32Array(Float32Array.of(spec.normEps).buffer)[0]!;
  let off = 0;
  const take = (n: number, src: Float32Array | undefined, what: string): [Float32Array, number] => {
    if (src && src.length !== n) throw new RangeError(`${what}: expected ${n} values, got ${src.length}`);
    const at = off;
    const view = buffer.subarray(off, off + n);
    if (src) view.set(src);
    off += n;
    return [view, at];
  };
  /** An optional tensor: its view and offset, or undefined and -1. */
  const opt = (n: number, src: Float32Array | undefined, on: boolean, what: string): [Float32Array | undefined, number] => {
    if (!on) return [undefined, -1];
    if (!src) throw new RangeError(`${what} is missing`);
    return take(n, src, what);
  };
  const norm = (nw: NormWeights, what: string): [Float32Array, number, Float32Array | undefined, number] => {
    const [v, at] = take(D, nw.w, `${what} weight`);
    return [v, at, ...opt(D, nw.b, ln, `${what} bias`)];
  };
  const [embedding, offEmb] = take(V * D, w.embed, "token embedding");
  layout[LAYOUT_OFF_EMBEDDING] = offEmb;
  const posEmbedding = w.posEmbed ? take(spec.contextLength * D, w.posEmbed, "position embedding")[0] : undefined;
  if (spec.positions.kind === "learned" && !posEmbedding) throw new RangeError("learned positions need a position embedding");
  const layers: LayerParams[] = w.layers.map((lw, l) => {
    const [ln1w, oLn1, ln1b, oLn1b] = norm(lw.ln1, `layer ${l} ln1`);
    const [wqkv, oQkv] = take((Q + 2 * KV) * D, lw.wqkv, `layer ${l} wqkv`);
    const [bqkv, oBqkv] = opt(Q + 2 * KV, lw.bqkv, spec.qkvBias, `layer ${l} qkv bias`);
    const [wo, oWo] = take(D * Q, lw.wo, `layer ${l} wo`);
    const [bo, oBo] = opt(D, lw.bo, spec.oBias, `layer ${l} o bias`);
    const [ln2w, oLn2, ln2b, oLn2b] = norm(lw.ln2, `layer ${l} ln2`);
    const [wIn, oIn] = take(nIn * D, lw.wIn, `layer ${l} MLP input`);
    const [bIn, oBin] = opt(nIn, lw.bIn, spec.mlpBias, `layer ${l} MLP input bias`);
    const [wOut, oOut] = take(D * H, lw.wOut, `layer ${l} MLP output`);
    const [bOut, oBout] = opt(D, lw.bOut, spec.mlpBias, `layer ${l} MLP output bias`);
    layout.set([oLn1, oQkv, oWo, oLn2, oIn, oOut, oLn1b, oBqkv, oBo, oLn2b, oBin, oBout], LAYOUT_LAYER0 + LAYOUT_PER_LAYER * l);
    return { ln1w, ln1b, wqkv, bqkv, wo, bo, ln2w, ln2b, wIn, bIn, wOut, bOut };
  });
  if (layers.length !== spec.nLayers) throw new RangeError(`weights have ${layers.length} layers, the spec ${spec.nLayers}`);
  const [lnFinalW, offFinal, lnFinalB, offFinalB] = norm(w.lnFinal, "final norm");
  layout[LAYOUT_OFF_FINAL] = offFinal;
  layout[LAYOUT_OFF_FINAL_B] = offFinalB;
  let classifier = embedding;
  layout[LAYOUT_OFF_CLASSIFIER] = offEmb;
  if (!spec.tiedEmbeddings) {
    if (!w.unembed) throw new RangeError("the unembedding is untied but missing");
    const [cls, offCls] = take(V * D, w.unembed, "unembedding");
    classifier = cls;
    layout[LAYOUT_OFF_CLASSIFIER] = offCls;
  }
  // Post norms come last so that the native kernels' layout of everything before is unchanged.
  if (spec.postNorms) {
    w.layers.forEach((lw, l) => {
      if (!lw.ln1Post || !lw.ln2Post) throw new RangeError(`layer ${l}: the spec has post norms but the weights lack them`);
      const p = layers[l]!;
      [p.ln1PostW, , p.ln1PostB] = norm(lw.ln1Post, `layer ${l} post-attention norm`);
      [p.ln2PostW, , p.ln2PostB] = norm(lw.ln2Post, `layer ${l} post-MLP norm`);
    });
  }
  return { buffer, embedding, posEmbedding, layers, lnFinalW, lnFinalB, classifier, layout };
}
