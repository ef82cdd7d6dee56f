/**
 * The naive twin of the fast sampler: SAELens's recipe done literally and densely. Every feature
 * is drawn for every sample (Bernoulli, or a thresholded latent Gaussian z = F u + sqrt(d) eta /
 * z = L eps under a copula), every drawn feature gets relu(mean + std N), co-occurrence rules
 * redraw their targets, then the hierarchy is applied parent by parent: mutual exclusion keeps one
 * uniformly chosen active child, children of silent parents are zeroed, children of active parents
 * are scaled when configured. O(batch * nFeatures): the oracle that tests hold the fast sampler to.
 */
import { emptySparse } from "../tensor/kernels.js";
import { mixSeed, Rng } from "../tensor/rng.js";
import type { WorldBatch, WorldSampler } from "./types.js";
import { activations } from "./sampler.js";
import type { SamplerPlan } from "./plan.js";

/** Returns a dense, obviously-correct sampler for the world behind `plan` (its stream differs from the fast one). */
export function naiveSampler(plan: SamplerPlan, seed: number): WorldSampler {
  const rng = new Rng(mixSeed(seed >>> 0, "saelab-world-naive"));
  const { nFeatures: n, attempt, mean, std, children, mutuallyExclusive, scaleChildren } = plan;
  // Parents before children: walk down from every feature without a parent.
  const order: number[] = [];
  const stack: number[] = [];
  for (let f = n - 1; f >= 0; f--) if (!children.some((c) => c.includes(f))) stack.push(f);
  while (stack.length > 0) {
    const v = stack.pop()!;
    order.push(v);
    for (let k = children[v]!.length - 1; k >= 0; k--) stack.push(children[v]![k]!);
  }
  return {
    next(batch: number): WorldBatch {
      const mag = new Float64Array(batch * n);
      const cop = plan.copula;
      const z = new Float64Array(n);
      for (let b = 0; b < batch; b++) {
        if (cop.kind === "lowRank") {
          const u = Array.from({ length: cop.rank }, () => rng.normal());
          for (let i = 0; i < n; i++) {
            let s = 0;
            for (let k = 0; k < cop.rank; k++) s += cop.factor[i * cop.rank + k]! * u[k]!;
            z[i] = s + rng.normal() / cop.invSqrtDiag[i]!;
          }
        } else if (cop.kind === "full") {
          const eps = Array.from({ length: n }, () => rng.normal());
          for (let i = 0; i < n; i++) {
            let s = 0;
            for (let k = 0; k <= i; k++) s += cop.chol[i * n + k]! * eps[k]!;
            z[i] = s;
          }
        }
        for (let i = 0; i < n; i++) {
          const drawn = cop.kind === "none" ? rng.uniform() < attempt[i]! : z[i]! > cop.threshold[i]!;
          const m = mean[i]! + std[i]! * rng.normal();
          mag[b * n + i] = drawn && m > 0 ? m : 0;
        }
        for (const r of plan.rules) {
          if (mag[b * n + r.given]! > 0) {
            const m = mean[r.feature]! + std[r.feature]! * rng.normal();
            mag[b * n + r.feature] = rng.uniform() < r.attempt && m > 0 ? m : 0;
          }
        }
        for (const v of order) {
          const kids = children[v]!;
          if (kids.length === 0) continue;
          const pv = mag[b * n + v]!;
          if (pv > 0 && mutuallyExclusive[v]) {
            const active = kids.filter((c) => mag[b * n + c]! > 0);
            if (active.length > 1) {
              const keep = active[rng.int(active.length)]!;
              for (const c of active) if (c !== keep) mag[b * n + c] = 0;
            }
          }
          for (const c of kids) mag[b * n + c] = pv > 0 ? mag[b * n + c]! * (scaleChildren ? pv / mean[v]! : 1) : 0;
        }
      }
      let nnz = 0;
      for (let i = 0; i < mag.length; i++) if (mag[i]! > 0) nnz++;
      const features = emptySparse(batch, n, nnz);
      let e = 0;
      for (let b = 0; b < batch; b++) {
        features.rowPtr[b] = e;
        for (let i = 0; i < n; i++) {
          const m = mag[b * n + i]!;
          if (m > 0) {
            features.colIdx[e] = i;
            features.values[e++] = m;
          }
        }
      }
      features.rowPtr[batch] = e;
      features.nnz = e;
      return { batch, dModel: plan.dModel, nFeatures: n, acts: activations({ ...plan, kernels: undefined }, features), features };
    },
  };
}
