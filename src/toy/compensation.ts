/**
 * Exact marginal firing rates, and probability compensation. A feature fires when its draw succeeds
 * (probability x_i, its "attempt probability") and its magnitude relu(mu + sigma N) is positive
 * (probability g_i); a child additionally needs its parent to fire, and a mutually exclusive child
 * must win the uniform choice among its siblings that fired. With independent draws all of this has
 * a closed form, so the marginals reported here are exact, and compensation solves for the x_i that
 * make each marginal equal its configured probability (clamping at 1 where that is impossible).
 *
 * SAELens compensates only the hierarchy, divides by the parent's configured (not realised)
 * probability, and uses an approximate mutual-exclusion factor; here every loss is accounted for.
 */
import type { Forest } from "./hierarchy.js";

/** A co-occurrence rule with its effective probability: when `given` fires, `feature` is redrawn with `attempt`. */
export interface ResolvedRule {
  given: number;
  feature: number;
  /** Configured P(feature | given). */
  probability: number;
  /** Attempt probability used when `given` fires (probability / g, clamped, under compensation). */
  attempt: number;
}

/** The solved probabilities of a world. */
export interface Marginals {
  /** [nFeatures]: per-draw success probability x_i (what SAELens calls the firing probability it samples with). */
  attempt: Float64Array;
  /** [nFeatures]: exact marginal firing rate (approximate only when a copula correlates parents and children). */
  marginal: Float64Array;
  /** Rules in the order they are applied (every rule's `given` is final before it is used). */
  rules: ResolvedRule[];
  /** Features whose configured probability cannot be reached (only reported under compensation). */
  unreachable: number[];
}

/** Returns rules sorted so that a rule comes after any rule targeting its `given` feature. */
export function orderRules<R extends { given: number; feature: number }>(rules: readonly R[]): R[] {
  const byTarget = new Map(rules.map((r) => [r.feature, r]));
  const done = new Set<R>();
  const out: R[] = [];
  const visit = (r: R, depth: number): void => {
    if (done.has(r) || depth > rules.length) return;
    const before = byTarget.get(r.given);
    if (before) visit(before, depth + 1);
    done.add(r);
    out.push(r);
  };
  rules.forEach((r) => visit(r, 0));
  return out;
}

/** Returns E[1 / (1 + K_i)] for each sibling i, where K_i counts the other siblings that fire (prob r_j each). */
export function winProbabilities(r: ArrayLike<number>): Float64Array {
  const m = r.length;
  const w = new Float64Array(m);
  const dist = new Float64Array(m + 1);
  for (let i = 0; i < m; i++) {
    dist.fill(0);
    dist[0] = 1;
    let count = 0;
    for (let j = 0; j < m; j++) {
      if (j === i) continue;
      const p = r[j]!;
      count++;
      for (let k = count; k >= 1; k--) dist[k] = dist[k]! * (1 - p) + dist[k - 1]! * p;
      dist[0] = dist[0]! * (1 - p);
    }
    let s = 0;
    for (let k = 0; k <= count; k++) s += dist[k]! / (k + 1);
    w[i] = s;
  }
  return w;
}

/** Returns the attempt probabilities and exact marginals for targets `target`, relu-positive chances `g`. */
export function solveMarginals(
  target: Float64Array,
  g: Float64Array,
  forest: Forest,
  rules: readonly { given: number; feature: number; probability: number }[],
  compensate: boolean,
): Marginals {
  const n = target.length;
  const x = new Float64Array(n);
  const marginal = new Float64Array(n);
  const clamp01 = (v: number) => Math.min(1, Math.max(0, v));
  const ordered = orderRules(rules);
  const targeted = new Set(ordered.map((r) => r.feature));
  for (let i = 0; i < n; i++) {
    if (forest.parent[i] !== -1 || targeted.has(i)) continue;
    x[i] = compensate ? (g[i]! > 0 ? clamp01(target[i]! / g[i]!) : 0) : target[i]!;
    marginal[i] = x[i]! * g[i]!;
  }
  const resolved: ResolvedRule[] = [];
  for (const r of ordered) {
    const b = r.feature;
    const pa = marginal[r.given]!;
    const gb = g[b]!;
    const attempt = compensate ? (gb > 0 ? clamp01(r.probability / gb) : 0) : r.probability;
    const onGiven = attempt * gb;
    if (compensate) x[b] = pa < 1 && gb > 0 ? clamp01((target[b]! - pa * onGiven) / ((1 - pa) * gb)) : 0;
    else x[b] = target[b]!;
    marginal[b] = pa * onGiven + (1 - pa) * x[b]! * gb;
    resolved.push({ given: r.given, feature: b, probability: r.probability, attempt });
  }
  for (const v of forest.topDown) {
    const kids = forest.children[v]!;
    if (kids.length === 0) continue;
    const pv = marginal[v]!;
    if (!forest.mutuallyExclusive[v]) {
      for (const c of kids) {
        x[c] = compensate ? (pv > 0 && g[c]! > 0 ? clamp01(target[c]! / (pv * g[c]!)) : 0) : target[c]!;
        marginal[c] = pv * x[c]! * g[c]!;
      }
      continue;
    }
    // Mutual exclusion: P_c = P_v * r_c * W_c(r) with r = x * g. Iterating r <- target / (P_v W(r))
    // from r = target / P_v increases r monotonically to the least fixed point (W falls as r rises).
    const m = kids.length;
    const r = new Float64Array(m);
    const cap = Float64Array.from(kids, (c) => g[c]!);
    for (let k = 0; k < m; k++) r[k] = compensate ? (pv > 0 ? Math.min(cap[k]!, target[kids[k]!]! / pv) : 0) : target[kids[k]!]! * cap[k]!;
    if (compensate && pv > 0) {
      for (let it = 0; it < 100_000; it++) {
        const w = winProbabilities(r);
        let change = 0;
        for (let k = 0; k < m; k++) {
          const next = w[k]! > 0 ? Math.min(cap[k]!, target[kids[k]!]! / (pv * w[k]!)) : cap[k]!;
          change = Math.max(change, Math.abs(next - r[k]!));
          r[k] = next;
        }
        if (change < 1e-15) break;
      }
    }
    const w = winProbabilities(r);
    kids.forEach((c, k) => {
      x[c] = cap[k]! > 0 ? r[k]! / cap[k]! : 0;
      marginal[c] = pv * r[k]! * w[k]!;
    });
  }
  const unreachable: number[] = [];
  if (compensate) for (let i = 0; i < n; i++) if (marginal[i]! < target[i]! * (1 - 1e-9) - 1e-15) unreachable.push(i);
  return { attempt: x, marginal, rules: resolved, unreachable };
}
