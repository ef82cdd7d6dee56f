/**
 * The LM-specific kernels (RMSNorm, rotary embedding with the KV-cache write, causal attention over
 * the cache, SwiGLU, small matrix products, and fused per-layer steps for generation), as an
 * interface with a plain TypeScript reference implementation. native/src/lm.c provides the fast
 * twin; test/lm-kernels.test.ts checks one against the other.
 *
 * Rows are tokens: row r belongs to cache slot rowSlot[r] at absolute position rowPos[r]. `qkv` rows
 * are [q (dModel) | k (kvDim) | v (kvDim)] as the fused projection produces them. The KV cache stores
 * keys as [layer, slot, kvDim, cap] (position fastest), so that attention scores a run of positions
 * per key channel, and values as [layer, slot, cap, kvDim], so that one position's value of a head
 * is contiguous for the weighted sum.
 */
import {
  LAYER_RMS_ATT, LAYER_RMS_FFN, LAYER_W13, LAYER_W2, LAYER_WO, LAYER_WQKV, LAYOUT_D_MODEL, LAYOUT_HEAD_SIZE, LAYOUT_HIDDEN,
  LAYOUT_KV_DIM, LAYOUT_LAYER0, LAYOUT_N_HEADS, LAYOUT_N_KV_HEADS, LAYOUT_OFF_CLASSIFIER, LAYOUT_PER_LAYER, LAYOUT_SEQ_LEN, LAYOUT_VOCAB,
} from "./params.js";

export const RMS_EPS = 1e-5;

/** A key/value cache for `slots` sequences of up to `cap` positions each. */
export interface KvCache {
  readonly slots: number;
  readonly cap: number;
  readonly nLayers: number;
  readonly kvDim: number;
  /** [nLayers, slots, kvDim, cap] rotated keys. */
  readonly k: Float32Array;
  /** [nLayers, slots, cap, kvDim] values. */
  readonly v: Float32Array;
  /** [slots] number of positions filled in each slot. */
  readonly lengths: Int32Array;
}

/** The model's parameters as the fused kernels see them. */
export interface ModelBuffers {
  /** The parameter buffer. */
  buffer: Float32Array;
  /** Offsets and sizes (see params.ts). */
  layout: Int32Array;
  /** [seqLen, headSize / 2, 2] (cos, sin). */
  rope: Float32Array;
  /**
   * The weights re-laid out for a backend's products (the native kernels pack them into column
   * panels on first use); made from `buffer` once, so later edits of the parameters are not seen.
   */
  packed?: Float32Array;
  /** Per layer: attend only to keys within this many positions (sliding window), null = all. */
  windows?: readonly (number | null)[] | undefined;
  /** Attention score scale (default 1 / sqrt(headSize)). */
  attnScale?: number | undefined;
  /** Attention logits become cap * tanh(s / cap) (Gemma 2). */
  attnSoftcap?: number | undefined;
}

/** Rows of a step: which slot and absolute position each row is. */
export interface RowInfo {
  rows: number;
  rowSlot: Int32Array;
  rowPos: Int32Array;
}

/** The LM kernels every backend provides. */
export interface LmKernels {
  /** "native" or "reference". */
  readonly name: string;
  /** out[r] = weight * x[r] / sqrt(mean(x[r]^2) + eps), for x [rows, dModel]. */
  rmsnorm(x: Float32Array, rows: number, dModel: number, weight: Float32Array, out: Float32Array, eps: number): void;
  /** Rotates q in place and the keys into the cache, and writes the values into the cache, for qkv [rows, dModel + 2 kvDim]. */
  ropeStore(m: ModelBuffers, qkv: Float32Array, ri: RowInfo, cache: KvCache, layer: number): void;
  /** Causal attention of each row's queries over its slot's cached positions 0..rowPos; out [rows, dModel]. */
  attention(m: ModelBuffers, qkv: Float32Array, ri: RowInfo, cache: KvCache, layer: number, out: Float32Array): void;
  /** out[r] = silu(h13[r, :hidden]) * h13[r, hidden:], for h13 [rows, 2 hidden]; out [rows, hidden]. */
  swiglu(h13: Float32Array, rows: number, hidden: number, out: Float32Array): void;
  /** out [rows, outDim] = x [rows, inDim] @ w^T for w [outDim, inDim] (for few rows; big products use Kernels.gemm). */
  linear(x: Float32Array, rows: number, inDim: number, w: Float32Array, outDim: number, out: Float32Array): void;
  /** out = the attention block's output (before the residual add) for residual x [rows, dModel] at `layer`. */
  attnBlock(m: ModelBuffers, x: Float32Array, ri: RowInfo, cache: KvCache, layer: number, out: Float32Array): void;
  /** out = the MLP block's output (before the residual add) for residual x [rows, dModel] at `layer`. */
  mlpBlock(m: ModelBuffers, x: Float32Array, rows: number, layer: number, out: Float32Array): void;
  /** Runs blocks from..to-1 on the residual x [rows, dModel] in place (attention and MLP with residual adds). */
  layers(m: ModelBuffers, x: Float32Array, ri: RowInfo, cache: KvCache, from: number, to: number): void;
  /** out [rows, vocab] = x [rows, dModel] @ classifier^T (the logits of final-normed rows). */
  classify(m: ModelBuffers, x: Float32Array, rows: number, out: Float32Array): void;
}

/** Returns the index of (layer, slot, channel, position 0) in a cache's k. */
export function cacheOffset(c: KvCache, layer: number, slot: number, channel: number): number {
  return ((layer * c.slots + slot) * c.kvDim + channel) * c.cap;
}

/** Returns the index of (layer, slot, position, channel 0) in a cache's v. */
export function valueOffset(c: KvCache, layer: number, slot: number, pos: number): number {
  return ((layer * c.slots + slot) * c.cap + pos) * c.kvDim;
}

/** Returns the reference (TypeScript) LM kernels. */
export function referenceLmKernels(): LmKernels {
  const k: LmKernels = {
    name: "reference",
    rmsnorm,
    ropeStore,
    attention,
    swiglu,
    linear,
    attnBlock(m, x, ri, cache, layer, out) {
      const L = m.layout;
      const dModel = L[LAYOUT_D_MODEL]!;
      const kvDim = L[LAYOUT_KV_DIM]!;
      const base = LAYOUT_LAYER0 + LAYOUT_PER_LAYER * layer;
      const xb = new Float32Array(ri.rows * dModel);
      rmsnorm(x, ri.rows, dModel, view(m, L[base + LAYER_RMS_ATT]!, dModel), xb, RMS_EPS);
      const qkv = new Float32Array(ri.rows * (dModel + 2 * kvDim));
      linear(xb, ri.rows, dModel, view(m, L[base + LAYER_WQKV]!, (dModel + 2 * kvDim) * dModel), dModel + 2 * kvDim, qkv);
      ropeStore(m, qkv, ri, cache, layer);
      attention(m, qkv, ri, cache, layer, xb);
      linear(xb, ri.rows, dModel, view(m, L[base + LAYER_WO]!, dModel * dModel), dModel, out);
    },
    mlpBlock(m, x, rows, layer, out) {
      const L = m.layout;
      const dModel = L[LAYOUT_D_MODEL]!;
      const hid = L[LAYOUT_HIDDEN]!;
      const base = LAYOUT_LAYER0 + LAYOUT_PER_LAYER * layer;
      const xb = new Float32Array(rows * dModel);
      rmsnorm(x, rows, dModel, view(m, L[base + LAYER_RMS_FFN]!, dModel), xb, RMS_EPS);
      const h13 = new Float32Array(rows * 2 * hid);
      linear(xb, rows, dModel, view(m, L[base + LAYER_W13]!, 2 * hid * dModel), 2 * hid, h13);
      const hb = new Float32Array(rows * hid);
      swiglu(h13, rows, hid, hb);
      linear(hb, rows, hid, view(m, L[base + LAYER_W2]!, dModel * hid), dModel, out);
    },
    layers(m, x, ri, cache, from, to) {
      const dModel = m.layout[LAYOUT_D_MODEL]!;
      const tmp = new Float32Array(ri.rows * dModel);
      for (let l = from; l < to; l++) {
        k.attnBlock(m, x, ri, cache, l, tmp);
        for (let i = 0; i < tmp.length; i++) x[i] = x[i]! + tmp[i]!;
        k.mlpBlock(m, x, ri.rows, l, tmp);
        for (let i = 0; i < tmp.length; i++) x[i] = x[i]! + tmp[i]!;
      }
    },
    classify(m, x, rows, out) {
      const L = m.layout;
      const dModel = L[LAYOUT_D_MODEL]!;
      const vocab = L[LAYOUT_VOCAB]!;
      linear(x, rows, dModel, view(m, L[LAYOUT_OFF_CLASSIFIER]!, vocab * dModel), vocab, out);
    },
  };
  return k;
}

function view(m: ModelBuffers, off: number, n: number): Float32Array {
  return m.buffer.subarray(off, off + n);
}

function rmsnorm(x: Float32Array, rows: number, dModel: number, weight: Float32Array, out: Float32Array, eps: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * dModel;
    let ss = 0;
    for (let j = 0; j < dModel; j++) ss += x[o + j]! * x[o + j]!;
    const inv = 1 / Math.sqrt(ss / dModel + eps);
    // Rounding the normalised value to float32 first makes weight * normalised the same number whether
    // the weight is applied here or after a ln_final hook.
    for (let j = 0; j < dModel; j++) out[o + j] = weight[j]! * Math.fround(inv * x[o + j]!);
  }
}

/** Throws unless every row's slot and position fit the cache and the model. */
export function checkRows(m: ModelBuffers, ri: RowInfo, cache: KvCache): void {
  const seqLen = m.layout[LAYOUT_SEQ_LEN]!;
  for (let r = 0; r < ri.rows; r++) {
    const s = ri.rowSlot[r]!;
    const p = ri.rowPos[r]!;
    if (s < 0 || s >= cache.slots) throw new RangeError(`row ${r}: slot ${s} is outside the cache's ${cache.slots} slots`);
    if (p < 0 || p >= cache.cap || p >= seqLen) throw new RangeError(`row ${r}: position ${p} is outside the cache capacity ${cache.cap} or the model's seq_len ${seqLen}`);
  }
}

function ropeStore(m: ModelBuffers, qkv: Float32Array, ri: RowInfo, cache: KvCache, layer: number): void {
  checkRows(m, ri, cache);
  const L = m.layout;
  // The query width (nHeads headSize), which differs from the model width in Gemma 2.
  const qDim = L[LAYOUT_N_HEADS]! * L[LAYOUT_HEAD_SIZE]!;
  const kvDim = L[LAYOUT_KV_DIM]!;
  const hs = L[LAYOUT_HEAD_SIZE]!;
  const half = hs / 2;
  const stride = qDim + 2 * kvDim;
  for (let r = 0; r < ri.rows; r++) {
    const p = ri.rowPos[r]!;
    const o = r * stride;
    const base = cacheOffset(cache, layer, ri.rowSlot[r]!, 0);
    for (let j = 0; j < qDim; j += 2) {
      const i = (j % hs) / 2;
      const c = m.rope[(p * half + i) * 2]!;
      const s = m.rope[(p * half + i) * 2 + 1]!;
      const q0 = qkv[o + j]!;
      const q1 = qkv[o + j + 1]!;
      qkv[o + j] = q0 * c - q1 * s;
      qkv[o + j + 1] = q0 * s + q1 * c;
      if (j < kvDim) {
        const k0 = qkv[o + qDim + j]!;
        const k1 = qkv[o + qDim + j + 1]!;
        cache.k[base + j * cache.cap + p] = k0 * c - k1 * s;
        cache.k[base + (j + 1) * cache.cap + p] = k0 * s + k1 * c;
      }
    }
    cache.v.set(qkv.subarray(o + qDim + kvDim, o + qDim + 2 * kvDim), valueOffset(cache, layer, ri.rowSlot[r]!, p));
  }
}

function attention(m: ModelBuffers, qkv: Float32Array, ri: RowInfo, cache: KvCache, layer: number, out: Float32Array): void {
  checkRows(m, ri, cache);
  const L = m.layout;
  const kvDim = L[LAYOUT_KV_DIM]!;
  const nHeads = L[LAYOUT_N_HEADS]!;
  const kvMul = nHeads / L[LAYOUT_N_KV_HEADS]!;
  const hs = L[LAYOUT_HEAD_SIZE]!;
  const qDim = nHeads * hs;
  const stride = qDim + 2 * kvDim;
  const scale = m.attnScale ?? 1 / Math.sqrt(hs);
  const softcap = m.attnSoftcap;
  const cap = cache.cap;
  const window = m.windows?.[layer] ?? null;
  for (let r = 0; r < ri.rows; r++) {
    const p = ri.rowPos[r]!;
    const base = cacheOffset(cache, layer, ri.rowSlot[r]!, 0);
    const scores = new Float64Array(p + 1);
    const t0 = window === null ? 0 : Math.max(0, p - window + 1);
    for (let h = 0; h < nHeads; h++) {
      const q = r * stride + h * hs;
      const kc = base + Math.floor(h / kvMul) * hs * cap;
      let max = -Infinity;
      for (let t = t0; t <= p; t++) {
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += qkv[q + d]! * cache.k[kc + d * cap + t]!;
        scores[t] = softcap === undefined ? dot * scale : softcap * Math.tanh((dot * scale) / softcap);
        if (scores[t]! > max) max = scores[t]!;
      }
      let sum = 0;
      for (let t = t0; t <= p; t++) {
        scores[t] = Math.exp(scores[t]! - max);
        sum += scores[t]!;
      }
      const vc = valueOffset(cache, layer, ri.rowSlot[r]!, 0) + Math.floor(h / kvMul) * hs;
      for (let d = 0; d < hs; d++) {
        let acc = 0;
        for (let t = t0; t <= p; t++) acc += scores[t]! * cache.v[vc + t * kvDim + d]!;
        out[r * qDim + h * hs + d] = acc / sum;
      }
    }
  }
}

function swiglu(h13: Float32Array, rows: number, hidden: number, out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const i = r * 2 * hidden;
    for (let j = 0; j < hidden; j++) {
      const a = h13[i + j]!;
      out[r * hidden + j] = (a / (1 + Math.exp(-a))) * h13[i + hidden + j]!;
    }
  }
}

function linear(x: Float32Array, rows: number, inDim: number, w: Float32Array, outDim: number, out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < outDim; o++) {
      let acc = 0;
      for (let i = 0; i < inDim; i++) acc += x[r * inDim + i]! * w[o * inDim + i]!;
      out[r * outDim + o] = acc;
    }
  }
}
