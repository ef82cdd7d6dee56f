/**
 * The reference backend's mixed-precision kernels, as plain loops in index order: settle (the exact
 * values of the candidates and the rule's choice among them) and proposalNorms (the norms behind the
 * proposal bound).
 */
import { checkLen, type ProposalNormsArgs, type SettleArgs, type SparseRows } from "./kernels.js";

/** Writes each latent's squared weight norm into args.normSq (float32 sums) and returns the largest squared norm of a row of x - center (float64 sums). */
export function proposalNorms(args: ProposalNormsArgs): number {
  const { x, rows, n, center, w, cols, normSq } = args;
  checkLen("proposalNorms x", x, rows * n);
  checkLen("proposalNorms w", w, n * cols);
  checkLen("proposalNorms normSq", normSq, cols);
  if (center) checkLen("proposalNorms center", center, n);
  let xMax = 0;
  for (let r = 0; r < rows; r++) {
    let sq = 0;
    for (let c = 0; c < n; c++) {
      const v = x[r * n + c]! - (center ? center[c]! : 0);
      sq += v * v;
    }
    xMax = Math.max(xMax, sq);
  }
  normSq.fill(0, 0, cols);
  if (args.transW) {
    for (let j = 0; j < cols; j++) for (let c = 0; c < n; c++) normSq[j] = normSq[j]! + w[j * n + c]! ** 2;
  } else {
    for (let c = 0; c < n; c++) for (let j = 0; j < cols; j++) normSq[j] = normSq[j]! + w[c * cols + j]! ** 2;
  }
  return xMax;
}

/** Replaces the values of args.s by fp32(fp32(value * gain) + bias) and compacts it to what args.rule keeps. */
export function settle(args: SettleArgs): void {
  const { s, bias, gain, rule } = args;
  checkLen("settle bias", bias, s.cols);
  if (gain) checkLen("settle gain", gain, s.cols);
  const k = rule?.kind === "topk" ? rule.k : rule?.kind === "topkBatch" ? rule.total : 0;
  if (!Number.isInteger(k) || k < 0) throw new Error(`settle: k must be a non-negative integer, got ${k}`);
  for (let e = s.rowPtr[0]!; e < s.nnz; e++) {
    const j = s.colIdx[e]!;
    s.values[e] = (gain ? Math.fround(s.values[e]! * gain[j]!) : s.values[e]!) + bias[j]!;
  }
  if (!rule) return;
  if (rule.kind === "above") {
    const t = rule.threshold;
    compact(s, (e) => s.values[e]! > (t ? t[s.colIdx[e]!]! : 0));
  } else if (rule.kind === "window") {
    const { center, halfWidth } = rule;
    compact(s, (e) => Math.abs(s.values[e]! - center[s.colIdx[e]!]!) < halfWidth);
  } else if (rule.kind === "topk") {
    const cuts: (Cut | null)[] = [];
    for (let r = 0; r < s.rows; r++) cuts.push(cutOf(s.values, s.rowPtr[r]!, s.rowPtr[r + 1]!, rule.k));
    keepByCut(s, (r) => cuts[r]!);
  } else {
    const cut = cutOf(s.values, s.rowPtr[0]!, s.nnz, rule.total);
    keepByCut(s, () => cut);
  }
}

interface Cut {
  t: number;
  ties: number;
}

/** Compacts s in place (from position 0) to the entries keep(e) accepts, in order. */
function compact(s: SparseRows, keep: (e: number, r: number) => boolean): void {
  let o = 0;
  for (let r = 0; r < s.rows; r++) {
    const e0 = s.rowPtr[r]!, e1 = s.rowPtr[r + 1]!;
    s.rowPtr[r] = o;
    for (let e = e0; e < e1; e++) {
      if (!keep(e, r)) continue;
      s.colIdx[o] = s.colIdx[e]!;
      s.values[o] = s.values[e]!;
      o++;
    }
  }
  s.rowPtr[s.rows] = o;
  s.nnz = o;
}

/** The largest `keep` positive values of values[e0, e1) (ties to the earlier entry): the cut T and how many entries equal to T are kept, or null when every positive entry is kept. */
function cutOf(values: Float32Array, e0: number, e1: number, keep: number): Cut | null {
  const pos = Array.from(values.subarray(e0, e1)).filter((v) => v > 0);
  if (pos.length <= keep) return null;
  if (keep === 0) return { t: Infinity, ties: 0 };
  const sorted = Float32Array.from(pos).sort();
  const t = sorted[pos.length - keep]!;
  return { t, ties: keep - pos.filter((v) => v > t).length };
}

/** Keeps the positive entries above each row's cut and the first `ties` entries at it (a shared cut counts its ties across rows, in order). */
function keepByCut(s: SparseRows, cutFor: (r: number) => Cut | null): void {
  let tiesLeft = 0;
  let last: Cut | null = null;
  compact(s, (e, r) => {
    const v = s.values[e]!;
    if (!(v > 0)) return false;
    const c = cutFor(r);
    if (!c) return true;
    if (c !== last) {
      last = c;
      tiesLeft = c.ties;
    }
    if (v > c.t) return true;
    if (v === c.t && tiesLeft > 0) {
      tiesLeft--;
      return true;
    }
    return false;
  });
}
