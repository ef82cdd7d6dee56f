/**
 * The model's parameters in one Float32Array with named views (llm.c's single parameter buffer).
 * The layout is per layer, not llama2.c's per tensor type, so that a layer's weights sit together
 * and the fused projections are single matrices: wqkv = [wq; wk; wv] and w13 = [w1; w3], all in
 * llama2.c's [out, in] orientation. `layout` is the same description as an Int32Array for the
 * native kernels (see LAYOUT_* below; native/src/lm.c reads the same indices).
 */
import type { Llama2cCheckpoint, Llama2cConfig } from "../io/llama2c.js";

/** Model dimensions (derived values included). */
export interface ModelConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  headSize: number;
  kvDim: number;
  sharedClassifier: boolean;
}

/** Views into the parameter buffer for one transformer block. */
export interface LayerParams {
  /** [dim] */
  rmsAtt: Float32Array;
  /** [dim + 2 kvDim, dim]: wq rows, then wk rows, then wv rows. */
  wqkv: Float32Array;
  /** [dim, dim] */
  wq: Float32Array;
  /** [kvDim, dim] */
  wk: Float32Array;
  /** [kvDim, dim] */
  wv: Float32Array;
  /** [dim, dim] */
  wo: Float32Array;
  /** [dim] */
  rmsFfn: Float32Array;
  /** [2 hidden, dim]: w1 rows, then w3 rows. */
  w13: Float32Array;
  /** [hidden, dim] */
  w1: Float32Array;
  /** [hidden, dim] */
  w3: Float32Array;
  /** [dim, hidden] */
  w2: Float32Array;
}

/** All parameters: one buffer and its views. */
export interface ModelParams {
  buffer: Float32Array;
  /** [vocab, dim] */
  embedding: Float32Array;
  layers: LayerParams[];
  /** [dim] */
  rmsFinal: Float32Array;
  /** [vocab, dim]; the embedding itself when shared. */
  classifier: Float32Array;
  /** Offsets and sizes for the native kernels. */
  layout: Int32Array;
}

export const LAYOUT_DIM = 0;
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
export const LAYOUT_LAYER0 = 12;
/** Per-layer offsets, in this order, LAYOUT_PER_LAYER of them. */
export const LAYER_RMS_ATT = 0;
export const LAYER_WQKV = 1;
export const LAYER_WO = 2;
export const LAYER_RMS_FFN = 3;
export const LAYER_W13 = 4;
export const LAYER_W2 = 5;
export const LAYOUT_PER_LAYER = 6;

/** Returns the full model config of a llama2.c header. */
export function modelConfig(c: Llama2cConfig): ModelConfig {
  const headSize = c.dim / c.nHeads;
  return { ...c, headSize, kvDim: c.nKvHeads * headSize };
}

/** Returns the parameter buffer, views and layout for a checkpoint (copying its weights). */
export function buildParams(ckpt: Llama2cCheckpoint): ModelParams {
  const c = modelConfig(ckpt.config);
  const w = ckpt.weights;
  const { dim, kvDim, hiddenDim: hid, nLayers, vocabSize } = c;
  const perLayer = dim + (dim + 2 * kvDim) * dim + dim * dim + dim + 2 * hid * dim + dim * hid;
  const total = vocabSize * dim + nLayers * perLayer + dim + (c.sharedClassifier ? 0 : vocabSize * dim);
  if (total > 2 ** 31 - 1) throw new Error(`model has ${total} parameters, more than this implementation addresses`);
  const buffer = new Float32Array(total);
  const layout = new Int32Array(LAYOUT_LAYER0 + LAYOUT_PER_LAYER * nLayers);
  layout.set([dim, kvDim, hid, c.nHeads, c.nKvHeads, c.headSize, nLayers, vocabSize, c.seqLen]);
  let off = 0;
  const take = (n: number, src?: Float32Array): [Float32Array, number] => {
    const at = off;
    const view = buffer.subarray(off, off + n);
    if (src) view.set(src);
    off += n;
    return [view, at];
  };
  const slice = (src: Float32Array, l: number, n: number): Float32Array => src.subarray(l * n, (l + 1) * n);
  const [embedding, offEmb] = take(vocabSize * dim, w.tokenEmbedding);
  layout[LAYOUT_OFF_EMBEDDING] = offEmb;
  const layers: LayerParams[] = [];
  for (let l = 0; l < nLayers; l++) {
    const base = LAYOUT_LAYER0 + LAYOUT_PER_LAYER * l;
    const [rmsAtt, oRa] = take(dim, slice(w.rmsAtt, l, dim));
    const [wqkv, oQkv] = take((dim + 2 * kvDim) * dim);
    wqkv.set(slice(w.wq, l, dim * dim), 0);
    wqkv.set(slice(w.wk, l, kvDim * dim), dim * dim);
    wqkv.set(slice(w.wv, l, kvDim * dim), (dim + kvDim) * dim);
    const [wo, oWo] = take(dim * dim, slice(w.wo, l, dim * dim));
    const [rmsFfn, oRf] = take(dim, slice(w.rmsFfn, l, dim));
    const [w13, oW13] = take(2 * hid * dim);
    w13.set(slice(w.w1, l, hid * dim), 0);
    w13.set(slice(w.w3, l, hid * dim), hid * dim);
    const [w2, oW2] = take(dim * hid, slice(w.w2, l, dim * hid));
    layout.set([oRa, oQkv, oWo, oRf, oW13, oW2], base);
    layers.push({
      rmsAtt,
      wqkv,
      wq: wqkv.subarray(0, dim * dim),
      wk: wqkv.subarray(dim * dim, (dim + kvDim) * dim),
      wv: wqkv.subarray((dim + kvDim) * dim),
      wo,
      rmsFfn,
      w13,
      w1: w13.subarray(0, hid * dim),
      w3: w13.subarray(hid * dim),
      w2,
    });
  }
  const [rmsFinal, offFinal] = take(dim, w.rmsFinal);
  layout[LAYOUT_OFF_FINAL] = offFinal;
  let classifier = embedding;
  layout[LAYOUT_OFF_CLASSIFIER] = offEmb;
  if (!c.sharedClassifier) {
    if (!w.wcls) throw new Error("checkpoint says the classifier is separate but has none");
    const [cls, offCls] = take(vocabSize * dim, w.wcls);
    classifier = cls;
    layout[LAYOUT_OFF_CLASSIFIER] = offCls;
  }
  return { buffer, embedding, layers, rmsFinal, classifier, layout };
}

/**
 * Returns the RoPE table [seqLen, headSize / 2, 2] of (cos, sin) pairs, computed in float32 steps
 * as llama2.c's run.c does (freq = 1 / 10000^(2i / headSize), angle = pos * freq).
 */
export function ropeTable(seqLen: number, headSize: number): Float32Array {
  const half = headSize / 2;
  const out = new Float32Array(seqLen * half * 2);
  for (let i = 0; i < half; i++) {
    const freq = Math.fround(1 / Math.fround(Math.pow(10000, Math.fround((2 * i) / headSize))));
    for (let p = 0; p < seqLen; p++) {
      const a = Math.fround(p * freq);
      out[(p * half + i) * 2] = Math.cos(a);
      out[(p * half + i) * 2 + 1] = Math.sin(a);
    }
  }
  return out;
}
