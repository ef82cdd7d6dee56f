/**
 * One chunk of a world's stream: the true feature activations of `rows` samples.
 *  - Parentless features are drawn feature-major, skipping between successes by geometric gaps,
 *    so a feature with probability p costs O(1 + p * rows).
 *  - Under a low-rank copula, draws are conditionally independent given the shared factors u: the
 *    dense scores s = U F^T find the (sample, feature) pairs whose conditional probability may be
 *    large (drawn exactly), and the rest are thinned from a fixed proposal rate.
 *  - Co-occurrence rules then redraw their targets where the conditioning feature fired.
 *  - Children are drawn only below parents that fired (elsewhere their draws would be discarded).
 * Every magnitude is relu(mean + std N); a zero magnitude means the feature did not fire.
 */
import type { Rng } from "../tensor/rng.js";
import { belowSf } from "./normal.js";
import { NEVER_EXCEED, type SamplerPlan } from "./plan.js";
import { denseScores, exceedJs, exceedNative, scoreJs } from "./scores.js";

/** CSR rows of true feature activations (columns ascending, values > 0). */
export interface Chunk {
  rows: number;
  rowPtr: Int32Array;
  col: Int32Array;
  val: Float32Array;
}

/** Growable parallel arrays of (sample, magnitude) pairs. */
class PairList {
  sample = new Int32Array(1024);
  mag = new Float32Array(1024);
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

/** Writes into `pos` the b in [0, rows) where a Bernoulli(p) trial succeeds, ascending; returns how many. */
function successes(rng: Rng, p: number, rows: number, pos: Int32Array): number {
  let c = 0;
  if (!(p > 0)) return 0;
  if (p >= 1) {
    for (let b = 0; b < rows; b++) pos[c++] = b;
  } else if (p > 0.25) {
    for (let b = 0; b < rows; b++) if (rng.uniform() < p) pos[c++] = b;
  } else {
    // Failures before the next success are Geometric(p): floor(log U / log(1 - p)).
    const logq = Math.log1p(-p);
    for (let b = Math.floor(Math.log(rng.uniformOpenZero()) / logq); b < rows; b += 1 + Math.floor(Math.log(rng.uniformOpenZero()) / logq)) pos[c++] = b;
  }
  return c;
}

/** Returns chunk rows drawn from `rng` (see the module comment for the method). */
export function generateChunk(plan: SamplerPlan, rng: Rng, rows: number): Chunk {
  const { attempt, mean, std, top } = plan;
  const nTop = top.length;
  const pairs = new PairList();
  const segStart = new Int32Array(nTop);
  const segEnd = new Int32Array(nTop);
  const pos = new Int32Array(rows);
  const cop = plan.copula;
  let u: Float32Array | undefined;
  let z: Float32Array | undefined;
  if (cop.kind === "lowRank") {
    // Factors are float32 (and augmented with a constant 1) so that the native and JavaScript
    // score paths read identical inputs; see scores.ts.
    const k = cop.rank + 1;
    u = new Float32Array(rows * k);
    for (let b = 0; b < rows; b++) {
      for (let q = 0; q < cop.rank; q++) u[b * k + q] = rng.normal();
      u[b * k + cop.rank] = 1;
    }
    const native = plan.kernels && plan.kernels.name !== "reference" ? plan.kernels : undefined;
    const ex = native ? exceedNative(native, cop, u, rows, nTop, plan.scratch) : exceedJs(cop, u, rows, nTop);
    const scores = ex.scores;
    for (let ti = 0; ti < nTop; ti++) {
      const f = top[ti]!;
      const mu = mean[f]!;
      const sd = std[f]!;
      const t = cop.threshold[f]!;
      const inv = cop.invSqrtDiag[f]!;
      const rate = cop.proposal[ti]!;
      const cut = cop.cut[ti]!;
      segStart[ti] = pairs.length;
      const count = successes(rng, rate, rows, pos);
      for (let c = 0; c < count; c++) {
        const b = pos[c]!;
        if (cut !== NEVER_EXCEED) {
          // Recomputing one score (rank + 1 cached values) is cheaper than a cache miss into the
          // dense scores; only where the two roundings could disagree on the sign is the stored one read.
          let v = scoreJs(cop, u, b, ti);
          if (scores && Math.abs(v) < 1e-3) v = scores[ti * rows + b]!;
          // Pairs with v > 0 are drawn exactly below; the rest fire with Phi-bar(c) <= rate.
          if (v > 0 || !belowSf(rng.uniform() * rate, (t - (v + cut)) * inv)) continue;
        }
        const m = mu + sd * rng.normal();
        if (m > 0) pairs.push(b, m);
      }
      for (let e = ex.start[ti]!; e < ex.start[ti + 1]!; e++) {
        if (!belowSf(rng.uniform(), (t - (ex.value[e]! + cut)) * inv)) continue;
        const m = mu + sd * rng.normal();
        if (m > 0) pairs.push(ex.sample[e]!, m);
      }
      segEnd[ti] = pairs.length;
    }
  } else {
    if (cop.kind === "full") z = denseScores(cop.chol, plan.nFeatures, rng, rows, plan.kernels, plan.scratch);
    const n = plan.nFeatures;
    for (let ti = 0; ti < nTop; ti++) {
      const f = top[ti]!;
      const mu = mean[f]!;
      const sd = std[f]!;
      segStart[ti] = pairs.length;
      if (z) {
        const t = cop.kind === "full" ? cop.threshold[f]! : 0;
        for (let b = 0; b < rows; b++) {
          if (!(z[b * n + f]! > t)) continue;
          const m = mu + sd * rng.normal();
          if (m > 0) pairs.push(b, m);
        }
      } else {
        const count = successes(rng, attempt[f]!, rows, pos);
        for (let c = 0; c < count; c++) {
          const m = mu + sd * rng.normal();
          if (m > 0) pairs.push(pos[c]!, m);
        }
      }
      segEnd[ti] = pairs.length;
    }
  }
  applyRules(plan, rng, rows, pairs, segStart, segEnd);
  return descend(plan, rng, rows, pairs, segStart, segEnd, u, z);
}

/** Applies co-occurrence rules in order: where `given` fired, `feature` is redrawn with the rule's probability. */
function applyRules(plan: SamplerPlan, rng: Rng, rows: number, pairs: PairList, segStart: Int32Array, segEnd: Int32Array): void {
  if (plan.rules.length === 0) return;
  const index = new Map<number, number>();
  plan.top.forEach((f, ti) => index.set(f, ti));
  const marked = new Uint8Array(rows);
  for (const r of plan.rules) {
    const ta = index.get(r.given)!;
    const tb = index.get(r.feature)!;
    for (let e = segStart[ta]!; e < segEnd[ta]!; e++) marked[pairs.sample[e]!] = 1;
    const ownStart = segStart[tb]!;
    const ownEnd = segEnd[tb]!;
    segStart[tb] = pairs.length;
    for (let e = ownStart; e < ownEnd; e++) if (!marked[pairs.sample[e]!]) pairs.push(pairs.sample[e]!, pairs.mag[e]!);
    const mu = plan.mean[r.feature]!;
    const sd = plan.std[r.feature]!;
    for (let e = segStart[ta]!; e < segEnd[ta]!; e++) {
      const b = pairs.sample[e]!;
      marked[b] = 0;
      if (rng.uniform() >= r.attempt) continue;
      const m = mu + sd * rng.normal();
      if (m > 0) pairs.push(b, m);
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
  const { top, childPtr, childIdx, attempt, mean, std, mutuallyExclusive, scaleChildren } = plan;
  const nTop = top.length;
  const n = plan.nFeatures;
  // Transpose feature-major segments into sample-major order (counting sort by sample).
  const start = new Int32Array(rows + 1);
  for (let ti = 0; ti < nTop; ti++) for (let e = segStart[ti]!; e < segEnd[ti]!; e++) start[pairs.sample[e]! + 1]!++;
  for (let b = 0; b < rows; b++) start[b + 1]! += start[b]!;
  const fill = start.slice(0, rows);
  const topCol = new Int32Array(start[rows]!);
  const topVal = new Float32Array(start[rows]!);
  for (let ti = 0; ti < nTop; ti++) {
    for (let e = segStart[ti]!; e < segEnd[ti]!; e++) {
      const at = fill[pairs.sample[e]!]!++;
      topCol[at] = top[ti]!;
      topVal[at] = pairs.mag[e]!;
    }
  }
  const cop = plan.copula;
  // Hoisted views of the copula (one of the three modes is used per world).
  const mode = cop.kind === "lowRank" ? 1 : cop.kind === "full" ? 2 : 0;
  const threshold = cop.kind === "none" ? attempt : cop.threshold;
  const rank = cop.kind === "lowRank" ? cop.rank : 0;
  const factor = cop.kind === "lowRank" ? cop.factor : new Float32Array(0);
  const invSqrtDiag = cop.kind === "lowRank" ? cop.invSqrtDiag : attempt;
  const uu = u ?? new Float32Array(0);
  const zz = z ?? new Float32Array(0);
  const out = new Entries(Math.max(64, topCol.length * 2));
  const stack = new Entries(64);
  let okF = new Int32Array(16);
  let okM = new Float64Array(16);
  const rowPtr = new Int32Array(rows + 1);
  for (let b = 0; b < rows; b++) {
    rowPtr[b] = out.length;
    for (let e = start[b]!; e < start[b + 1]!; e++) {
      const f = topCol[e]!;
      out.push(f, topVal[e]!);
      if (childPtr[f] !== childPtr[f + 1]) stack.push(f, topVal[e]!);
    }
    const uo = b * (rank + 1);
    while (stack.length > 0) {
      const top1 = --stack.length;
      const v = stack.col[top1]!;
      const mv = stack.val[top1]!;
      const k0 = childPtr[v]!;
      const k1 = childPtr[v + 1]!;
      if (okF.length < k1 - k0) {
        okF = new Int32Array(k1 - k0);
        okM = new Float64Array(k1 - k0);
      }
      let ok = 0;
      for (let k = k0; k < k1; k++) {
        const c = childIdx[k]!;
        let drawn: boolean;
        if (mode === 0) {
          drawn = rng.uniform() < attempt[c]!;
        } else if (mode === 2) {
          drawn = zz[b * n + c]! > threshold[c]!;
        } else {
          const t = threshold[c]!;
          if (t === Infinity) drawn = false;
          else if (t === -Infinity) drawn = true;
          else {
            let sc = 0;
            for (let q = 0, fo = c * rank; q < rank; q++) sc += factor[fo + q]! * uu[uo + q]!;
            drawn = belowSf(rng.uniform(), (t - sc) * invSqrtDiag[c]!);
          }
        }
        if (!drawn) continue;
        const m = mean[c]! + std[c]! * rng.normal();
        if (m > 0) {
          okF[ok] = c;
          okM[ok++] = m;
        }
      }
      let from = 0;
      let to = ok;
      if (mutuallyExclusive[v] && ok > 1) {
        from = rng.int(ok);
        to = from + 1;
      }
      const scale = scaleChildren ? mv / mean[v]! : 1;
      for (let k = from; k < to; k++) {
        const c = okF[k]!;
        const m = Math.fround(okM[k]! * scale);
        out.push(c, m);
        if (childPtr[c] !== childPtr[c + 1]) stack.push(c, m);
      }
    }
    sortRow(out.col, out.val, rowPtr[b]!, out.length);
  }
  rowPtr[rows] = out.length;
  return { rows, rowPtr, col: out.col.slice(0, out.length), val: out.val.slice(0, out.length) };
}

/** Growable (feature, magnitude) arrays: a chunk's output rows, or the walk's stack. */
class Entries {
  col: Int32Array;
  val: Float32Array;
  length = 0;
  constructor(capacity: number) {
    this.col = new Int32Array(capacity);
    this.val = new Float32Array(capacity);
  }
  push(f: number, m: number): void {
    if (this.length === this.col.length) {
      const c2 = new Int32Array(this.length * 2);
      c2.set(this.col);
      const v2 = new Float32Array(this.length * 2);
      v2.set(this.val);
      this.col = c2;
      this.val = v2;
    }
    this.col[this.length] = f;
    this.val[this.length++] = m;
  }
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
