/**
 * k-sparse probing on SAE latents (SAEBench's k_sparse_probing.py): one L1-penalised one-vs-rest
 * probe per class over every latent ranks the latents; for each k the k highest-weighted latents
 * (largest weight, not largest |weight|: only latents that predict the class) get their own exact L2
 * logistic fit; and the F1-jump rule reads feature splitting off the F1 of those fits as k grows.
 */
import { z } from "zod";
import { parseConfig } from "../errors.js";
import type { Kernels } from "../tensor/kernels.js";
import { fitLogisticL2, trainLogisticProbes } from "./logistic.js";

/** Settings of the L1 ranking probe (defaults: SAEBench's k-sparse probe). */
export const KSparseOptionsSchema = z
  .object({
    l1: z.number().min(0).default(0.01).describe("L1 penalty of the ranking probe (SAEBench k_sparse_probe_l1_decay)."),
    epochs: z.number().int().min(1).default(50).describe("Epochs of the ranking probe (SAEBench k_sparse_probe_num_epochs)."),
    batchSize: z.number().int().min(1).default(4096).describe("Rows per Adam step of the ranking probe (SAEBench k_sparse_probe_batch_size)."),
    lr: z.number().positive().default(0.01),
    endLr: z.number().positive().default(1e-5),
    l2: z.number().min(0).default(1e-6).describe("L2 term of the ranking probe (SAEBench l2_decay)."),
    seed: z.number().int().default(42),
  })
  .strict();
export type KSparseOptionsInput = z.input<typeof KSparseOptionsSchema>;

/** A probe reading only the latents `feats`: score = weight . latents[feats] + bias. */
export interface KSparseProbe {
  k: number;
  feats: number[];
  weight: Float64Array;
  bias: number;
}

/** Returns the indices of the k largest entries of `row` (largest first; ties: lower index first). */
export function topIndices(row: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => row[b]! - row[a]! || a - b);
  return idx.slice(0, Math.min(k, row.length));
}

/** Returns the score of `probe` on row `r` of dense latents [n, dSae]. */
export function kSparseScore(probe: KSparseProbe, latents: ArrayLike<number>, r: number, dSae: number): number {
  let s = probe.bias;
  probe.feats.forEach((f, j) => (s += probe.weight[j]! * latents[r * dSae + f]!));
  return s;
}

/**
 * Returns, for each class in `classes`, its k-sparse probes for k = 1..maxK, trained on dense latents
 * [n, dSae] with class labels `labels` [n] (the ranking probe sees every class 0..max label, one-vs-rest).
 */
export function trainKSparseProbes(
  kernels: Kernels,
  latents: Float32Array,
  n: number,
  dSae: number,
  labels: Int32Array,
  classes: readonly number[],
  maxK: number,
  options: KSparseOptionsInput = {},
): Map<number, KSparseProbe[]> {
  const o = parseConfig(KSparseOptionsSchema, options, "k-sparse probe options");
  const nClasses = Math.max(0, ...labels) + 1;
  const y = new Float32Array(n * nClasses);
  for (let i = 0; i < n; i++) y[i * nClasses + labels[i]!] = 1;
  const ranking = trainLogisticProbes(kernels, latents, y, n, dSae, nClasses, { l1: o.l1, l2: o.l2, epochs: o.epochs, batchSize: o.batchSize, lr: o.lr, endLr: o.endLr, seed: o.seed, balanced: true });
  const out = new Map<number, KSparseProbe[]>();
  for (const c of classes) {
    const row = c < nClasses ? ranking.weights.subarray(c * dSae, (c + 1) * dSae) : new Float32Array(dSae);
    const order = topIndices(row, maxK);
    const yc = Float64Array.from(labels, (l) => (l === c ? 1 : 0));
    const probes: KSparseProbe[] = [];
    for (let k = 1; k <= Math.min(maxK, dSae); k++) {
      const feats = order.slice(0, k);
      const xk = new Float64Array(n * k);
      for (let i = 0; i < n; i++) feats.forEach((f, j) => (xk[i * k + j] = latents[i * dSae + f]!));
      const fit = fitLogisticL2(xk, yc, n, k, { C: 1, balanced: true });
      probes.push({ k, feats, weight: fit.weight, bias: fit.bias });
    }
    out.set(c, probes);
  }
  return out;
}

/**
 * Returns the split latents by SAEBench's F1-jump rule: walking k = 1, 2, ..., keep k's latents while
 * its F1 exceeds the best so far by more than `threshold`; stop at the first k that does not.
 */
export function splitFeaturesByF1Jump(f1ByK: readonly number[], featsByK: readonly (readonly number[])[], threshold: number): number[] {
  let best = -100;
  let split: number[] = [];
  for (let i = 0; i < f1ByK.length; i++) {
    if (f1ByK[i]! > best + threshold) {
      best = f1ByK[i]!;
      split = [...featsByK[i]!];
    } else break;
  }
  return split;
}
