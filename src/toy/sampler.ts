/**
 * The fast world sampler. It draws the same distribution as the naive twin in naive.ts (SAELens's
 * dense recipe) while touching only what can fire:
 *  - parentless features are drawn feature-major over a chunk of samples, skipping between
 *    successes by geometric gaps, so a feature with probability p costs O(1 + p * chunk);
 *  - under a low-rank copula, draws are conditionally independent given the shared factors u, so
 *    one dense product s = U F^T finds the few (sample, feature) pairs whose conditional probability
 *    is large (handled exactly), and the rest are thinned from a fixed proposal rate;
 *  - children are drawn only when their parent fired (their draws would be discarded otherwise).
 * The stream is cut into fixed chunks of CHUNK samples, each from its own seeded generator, so a
 * sampler's output depends only on the world and the seed, never on the batch sizes requested.
 */
import { emptySparse, type SparseRows } from "../tensor/kernels.js";
import { mixSeed, Rng } from "../tensor/rng.js";
import type { WorldBatch, WorldSampler } from "./types.js";
import { normalSf } from "./normal.js";
import type { SamplerPlan } from "./plan.js";
import { denseScores, exceedJs, exceedNative, scoreJs } from "./scores.js";

/** Samples per independently seeded chunk of the stream. */
export const CHUNK = 1024;

/** One generated chunk: CSR rows of true feature activations. */
export interface Chunk {
  rows: number;
  rowPtr: Int32Array;
  col: Int32Array;
  val: Float32Array;
}

/** Returns the generator for chunk `k` of the stream with seed `seed`. */
export function chunkRng(seed: number, k: number): Rng {
  return new Rng(mixSeed(mixSeed(seed >>> 0, "saelab-world-stream"), k));
}

/** Growable parallel arrays of (sample, magnitude) pairs. */
class PairList {
  sample = new Int32Array(256);
  mag = new Float32Array(256);
  length = 0;
  push(b: number, m: number): void {
    if (this.length === this.sample.length) {
      const s = new Int32Array(this.length * 2);
      s.set(this.sample);
      const v = new Float32Array(this.length * 2);
      v.set(this.mag);
      this.sample = s;
      this.mag = v;
    }
    this.sample[this.length] = b;
    this.mag[this.length++] = m;
  }
}

/** Returns chunk `k` of the stream: `rows` samples' true features, drawn as described above. */
export function generateChunk(plan: SamplerPlan, rng: Rng, rows: number): Chunk {
  const { attempt, mean, std, top } = plan;
  const nTop = top.length;
  // Segments of `pairs` per top-level feature, in ascending feature order.
  const pairs = new PairList();
  const segStart = new Int32Array(nTop);
  const segEnd = new Int32Array(nTop);
  const fire = (b: number, f: number): void => {
    const m = mean[f]! + std[f]! * rng.normal();
    if (m > 0) pairs.push(b, m);
  };
  const cop = plan.copula;
  let u: Float32Array | undefined;
  let z: Float32Array | undefined;
  if (cop.kind === "lowRank") {
    // Factors are float32 so that the native and JavaScript score paths read identical inputs.
    const uu = new Float32Array(rows * cop.rank);
    for (let i = 0; i < uu.length; i++) uu[i] = rng.normal();
    u = uu;
    const native = plan.kernels && plan.kernels.name !== "reference" ? plan.kernels : undefined;
    const ex = native ? exceedNative(native, cop, uu, rows, nTop) : exceedJs(cop, uu, rows, nTop);
    const scores = ex.scores;
    const score = (b: number, ti: number): number => (scores ? scores[b * nTop + ti]! : scoreJs(cop, uu, b, ti));
    for (let ti = 0; ti < nTop; ti++) {
      const f = top[ti]!;
      segStart[ti] = pairs.length;
      const t = cop.threshold[f]!;
      const inv = cop.invSqrtDiag[f]!;
      const rate = cop.proposal[ti]!;
      const cut = cop.exceed[ti]!;
      forEachSuccess(rng, rate, rows, (b) => {
        if (cut === Infinity) return fire(b, f);
        const s = score(b, ti);
        if (s > cut) return;
        if (rng.uniform() * rate < normalSf((t - s) * inv)) fire(b, f);
      });
      for (let e = ex.start[ti]!; e < ex.start[ti + 1]!; e++) {
        if (rng.uniform() < normalSf((t - ex.value[e]!) * inv)) fire(ex.sample[e]!, f);
      }
      segEnd[ti] = pairs.length;
    }
  } else if (cop.kind === "full") {
    z = denseScores(cop.chol, plan.nFeatures, rng, rows, plan.kernels);
    const n = plan.nFeatures;
    for (let ti = 0; ti < nTop; ti++) {
      const f = top[ti]!;
      segStart[ti] = pairs.length;
      const t = cop.threshold[f]!;
      for (let b = 0; b < rows; b++) if (z[b * n + f]! > t) fire(b, f);
      segEnd[ti] = pairs.length;
    }
  } else {
    for (let ti = 0; ti < nTop; ti++) {
      const f = top[ti]!;
      segStart[ti] = pairs.length;
      forEachSuccess(rng, attempt[f]!, rows, (b) => fire(b, f));
      segEnd[ti] = pairs.length;
    }
  }
  applyRules(plan, rng, rows, pairs, segStart, segEnd, fire);
  return descend(plan, rng, rows, pairs, segStart, segEnd, u, z);
}

/** Calls `visit(b)` for each b in [0, rows) where a Bernoulli(p) trial succeeds, in ascending order. */
function forEachSuccess(rng: Rng, p: number, rows: number, visit: (b: number) => void): void {
  if (!(p > 0)) return;
  if (p >= 1) {
    for (let b = 0; b < rows; b++) visit(b);
  } else if (p > 0.25) {
    for (let b = 0; b < rows; b++) if (rng.uniform() < p) visit(b);
  } else {
    // Failures before the next success are Geometric(p): floor(log U / log(1 - p)).
    const logq = Math.log1p(-p);
    let b = -1;
    for (;;) {
      b += 1 + Math.floor(Math.log(rng.uniformOpenZero()) / logq);
      if (b >= rows) break;
      visit(b);
    }
  }
}

/** Applies co-occurrence rules in order: where `given` fired, `feature` is redrawn with the rule's probability. */
function applyRules(
  plan: SamplerPlan,
  rng: Rng,
  rows: number,
  pairs: PairList,
  segStart: Int32Array,
  segEnd: Int32Array,
  fire: (b: number, f: number) => void,
): void {
  if (plan.rules.length === 0) return;
  const pos = new Map<number, number>();
  plan.top.forEach((f, ti) => pos.set(f, ti));
  const marked = new Uint8Array(rows);
  for (const r of plan.rules) {
    const ta = pos.get(r.given)!;
    const tb = pos.get(r.feature)!;
    for (let e = segStart[ta]!; e < segEnd[ta]!; e++) marked[pairs.sample[e]!] = 1;
    const ownStart = segStart[tb]!;
    const ownEnd = segEnd[tb]!;
    segStart[tb] = pairs.length;
    for (let e = ownStart; e < ownEnd; e++) {
      if (!marked[pairs.sample[e]!]) pairs.push(pairs.sample[e]!, pairs.mag[e]!);
    }
    for (let e = segStart[ta]!; e < segEnd[ta]!; e++) {
      const b = pairs.sample[e]!;
      if (rng.uniform() < r.attempt) fire(b, r.feature);
      marked[b] = 0;
    }
    segEnd[tb] = pairs.length;
  }
}

/** Gathers each sample's top-level features, draws the hierarchy below them, and returns sorted CSR rows. */
function descend(
  plan: SamplerPlan,
  rng: Rng,
  rows: number,
  pairs: PairList,
  segStart: Int32Array,
  segEnd: Int32Array,
  u: Float32Array | undefined,
  z: Float32Array | undefined,
): Chunk {
  const { top, children, attempt, mean, std, mutuallyExclusive, scaleChildren } = plan;
  const nTop = top.length;
  // Transpose feature-major segments into sample-major order (counting sort by sample).
  const counts = new Int32Array(rows + 1);
  for (let ti = 0; ti < nTop; ti++) for (let e = segStart[ti]!; e < segEnd[ti]!; e++) counts[pairs.sample[e]! + 1]!++;
  for (let b = 0; b < rows; b++) counts[b + 1]! += counts[b]!;
  const fill = counts.slice(0, rows);
  const topCol = new Int32Array(counts[rows]!);
  const topVal = new Float32Array(counts[rows]!);
  for (let ti = 0; ti < nTop; ti++) {
    for (let e = segStart[ti]!; e < segEnd[ti]!; e++) {
      const at = fill[pairs.sample[e]!]!++;
      topCol[at] = top[ti]!;
      topVal[at] = pairs.mag[e]!;
    }
  }
  const cop = plan.copula;
  const n = plan.nFeatures;
  let col = new Int32Array(Math.max(16, topCol.length * 2));
  let val = new Float32Array(col.length);
  let len = 0;
  const push = (f: number, m: number): void => {
    if (len === col.length) {
      const c2 = new Int32Array(len * 2);
      c2.set(col);
      const v2 = new Float32Array(len * 2);
      v2.set(val);
      col = c2;
      val = v2;
    }
    col[len] = f;
    val[len++] = m;
  };
  const childFires = (b: number, c: number): boolean => {
    if (cop.kind === "none") return rng.uniform() < attempt[c]!;
    if (cop.kind === "full") return z![b * n + c]! > cop.threshold[c]!;
    const t = cop.threshold[c]!;
    if (t === Infinity) return false;
    if (t === -Infinity) return true;
    let s = 0;
    for (let k = 0; k < cop.rank; k++) s += cop.factor[c * cop.rank + k]! * u![b * cop.rank + k]!;
    return rng.uniform() < normalSf((t - s) * cop.invSqrtDiag[c]!);
  };
  const rowPtr = new Int32Array(rows + 1);
  const okF: number[] = [];
  const okM: number[] = [];
  const stackF: number[] = [];
  const stackM: number[] = [];
  for (let b = 0; b < rows; b++) {
    rowPtr[b] = len;
    for (let e = counts[b]!; e < counts[b + 1]!; e++) {
      const f = topCol[e]!;
      push(f, topVal[e]!);
      if (children[f]!.length > 0) {
        stackF.push(f);
        stackM.push(topVal[e]!);
      }
    }
    while (stackF.length > 0) {
      const v = stackF.pop()!;
      const mv = stackM.pop()!;
      okF.length = 0;
      okM.length = 0;
      for (const c of children[v]!) {
        if (!childFires(b, c)) continue;
        const m = mean[c]! + std[c]! * rng.normal();
        if (m > 0) {
          okF.push(c);
          okM.push(m);
        }
      }
      let from = 0;
      let to = okF.length;
      if (mutuallyExclusive[v] && to > 1) {
        from = rng.int(to);
        to = from + 1;
      }
      const scale = scaleChildren ? mv / mean[v]! : 1;
      for (let k = from; k < to; k++) {
        const c = okF[k]!;
        const m = Math.fround(okM[k]! * scale);
        push(c, m);
        if (children[c]!.length > 0) {
          stackF.push(c);
          stackM.push(m);
        }
      }
    }
    sortRow(col, val, rowPtr[b]!, len);
  }
  rowPtr[rows] = len;
  return { rows, rowPtr, col: col.slice(0, len), val: val.slice(0, len) };
}

/** Insertion-sorts one CSR row by column (rows are short: the features active in one sample). */
function sortRow(col: Int32Array, val: Float32Array, lo: number, hi: number): void {
  for (let i = lo + 1; i < hi; i++) {
    const c = col[i]!;
    const v = val[i]!;
    let j = i - 1;
    while (j >= lo && col[j]! > c) {
      col[j + 1] = col[j]!;
      val[j + 1] = val[j]!;
      j--;
    }
    col[j + 1] = c;
    val[j + 1] = v;
  }
}

/** Returns acts [rows, dModel] = bias + features @ featureVectors for CSR feature rows. */
export function activations(plan: SamplerPlan, features: SparseRows, out = new Float32Array(features.rows * plan.dModel)): Float32Array {
  const d = plan.dModel;
  const w = plan.featureVectors;
  for (let b = 0; b < features.rows; b++) out.set(plan.bias, b * d);
  const k = plan.kernels;
  if (k && k.name !== "reference") {
    k.spmm(features, w, d, out, true);
    return out;
  }
  for (let b = 0; b < features.rows; b++) {
    const o = b * d;
    for (let e = features.rowPtr[b]!; e < features.rowPtr[b + 1]!; e++) {
      const m = features.values[e]!;
      const wo = features.colIdx[e]! * d;
      let j = 0;
      for (; j + 3 < d; j += 4) {
        out[o + j] = out[o + j]! + m * w[wo + j]!;
        out[o + j + 1] = out[o + j + 1]! + m * w[wo + j + 1]!;
        out[o + j + 2] = out[o + j + 2]! + m * w[wo + j + 2]!;
        out[o + j + 3] = out[o + j + 3]! + m * w[wo + j + 3]!;
      }
      for (; j < d; j++) out[o + j] = out[o + j]! + m * w[wo + j]!;
    }
  }
  return out;
}

/** Returns a sampler whose stream is the concatenation of chunks 0, 1, 2, ... for `seed`. */
export function createSampler(plan: SamplerPlan, seed: number): WorldSampler {
  let nextChunk = 0;
  let pending: Chunk | undefined;
  let used = 0;
  return {
    next(batch: number): WorldBatch {
      if (!Number.isInteger(batch) || batch < 1) throw new Error(`WorldSampler.next: batch must be a positive integer, got ${batch}`);
      const parts: { chunk: Chunk; from: number; to: number }[] = [];
      let need = batch;
      let nnz = 0;
      while (need > 0) {
        if (!pending || used === pending.rows) {
          pending = generateChunk(plan, chunkRng(seed, nextChunk++), CHUNK);
          used = 0;
        }
        const take = Math.min(need, pending.rows - used);
        parts.push({ chunk: pending, from: used, to: used + take });
        nnz += pending.rowPtr[used + take]! - pending.rowPtr[used]!;
        used += take;
        need -= take;
      }
      const features = emptySparse(batch, plan.nFeatures, nnz);
      let r = 0;
      let e = 0;
      for (const { chunk, from, to } of parts) {
        const a = chunk.rowPtr[from]!;
        const z = chunk.rowPtr[to]!;
        features.colIdx.set(chunk.col.subarray(a, z), e);
        features.values.set(chunk.val.subarray(a, z), e);
        for (let i = from; i < to; i++) features.rowPtr[r++] = e + chunk.rowPtr[i]! - a;
        e += z - a;
      }
      features.rowPtr[batch] = e;
      features.nnz = e;
      return { batch, dModel: plan.dModel, nFeatures: plan.nFeatures, acts: activations(plan, features), features };
    },
  };
}
