/**
 * True-feature recovery, defined as SAELens's synthetic evaluation (sae_lens/synthetic/evals.py)
 * defines it: MCC over a Hungarian matching of decoder rows to true features, uniqueness of each
 * latent's best-matching feature, and each latent's precision / recall / F1 / accuracy as a detector
 * of its best-matching feature's firing.
 */
import type { SparseRows } from "../tensor/kernels.js";
import { assignmentWork, greedyAssignment, linearSumAssignment, type Assignment } from "./hungarian.js";

/** How MCC was matched: exactly, or greedily when the exact algorithm would take too long. */
export type MatchingMethod = "hungarian" | "greedy";

/** The MCC and the matching behind it. */
export interface McResult {
  mcc: number;
  method: MatchingMethod;
  /** [nFeatures]: the latent matched to each feature, or -1 (more features than latents). */
  latentOfFeature: Int32Array;
  /** [dSae]: the feature matched to each latent, or -1 (more latents than features). */
  featureOfLatent: Int32Array;
}

/** Returns SAELens's MCC: mean |cos| over the matching of latents to features that maximises total |cos|. */
export function meanCorrelationCoefficient(decoderCos: ArrayLike<number>, dSae: number, nFeatures: number, maxWork = 4e9): McResult {
  const cost = new Float64Array(dSae * nFeatures);
  for (let i = 0; i < cost.length; i++) cost[i] = 1 - Math.abs(decoderCos[i]!);
  const method: MatchingMethod = assignmentWork(dSae, nFeatures) <= maxWork ? "hungarian" : "greedy";
  const a: Assignment = method === "hungarian" ? linearSumAssignment(cost, dSae, nFeatures) : greedyAssignment(cost, dSae, nFeatures);
  const latentOfFeature = new Int32Array(nFeatures).fill(-1);
  const featureOfLatent = new Int32Array(dSae).fill(-1);
  let sum = 0;
  for (let k = 0; k < a.rowInd.length; k++) {
    const j = a.rowInd[k]!;
    const f = a.colInd[k]!;
    latentOfFeature[f] = j;
    featureOfLatent[j] = f;
    sum += Math.abs(decoderCos[j * nFeatures + f]!);
  }
  return { mcc: a.rowInd.length > 0 ? sum / a.rowInd.length : 0, method, latentOfFeature, featureOfLatent };
}

/** Returns, for each latent, the feature with the largest |cos| (the first on ties, as torch.argmax). */
export function bestMatches(cos: ArrayLike<number>, dSae: number, nFeatures: number): Int32Array {
  const out = new Int32Array(dSae);
  for (let j = 0; j < dSae; j++) {
    let best = 0;
    let bestV = -Infinity;
    for (let f = 0; f < nFeatures; f++) {
      const v = Math.abs(cos[j * nFeatures + f]!);
      if (v > bestV) {
        bestV = v;
        best = f;
      }
    }
    out[j] = best;
  }
  return out;
}

/** Returns SAELens's uniqueness: distinct best-matching features over the number of latents (0 for no latents). */
export function featureUniqueness(best: Int32Array): number {
  if (best.length === 0) return 0;
  return new Set(best).size / best.length;
}

/** Per-latent and mean detector quality of each latent for its best-matching feature. */
export interface ClassificationResult {
  precision: number;
  recall: number;
  f1: number;
  accuracy: number;
  perLatent: { precision: Float64Array; recall: Float64Array; f1: Float64Array; accuracy: Float64Array };
}

/** Streams latent and true-feature firing and returns SAELens's classification metrics at the end. */
export class ClassificationAccumulator {
  private readonly tp: Float64Array;
  private readonly fp: Float64Array;
  private readonly featureFires: Float64Array;
  private n = 0;
  private readonly scratch: Uint8Array;

  /** `best[j]` is latent j's best-matching feature (see bestMatches). */
  constructor(
    private readonly best: Int32Array,
    nFeatures: number,
  ) {
    this.tp = new Float64Array(best.length);
    this.fp = new Float64Array(best.length);
    this.featureFires = new Float64Array(nFeatures);
    this.scratch = new Uint8Array(nFeatures);
  }

  /** Adds a batch: latents [batch, dSae] and true features [batch, nFeatures], both sparse. */
  add(latents: SparseRows, features: SparseRows): void {
    for (let r = 0; r < latents.rows; r++) {
      const f0 = features.rowPtr[r]!;
      const f1 = features.rowPtr[r + 1]!;
      for (let e = f0; e < f1; e++) {
        if (features.values[e]! > 0) {
          const f = features.colIdx[e]!;
          this.scratch[f] = 1;
          this.featureFires[f]! += 1;
        }
      }
      for (let e = latents.rowPtr[r]!; e < latents.rowPtr[r + 1]!; e++) {
        if (!(latents.values[e]! > 0)) continue;
        const j = latents.colIdx[e]!;
        if (this.scratch[this.best[j]!]) this.tp[j]! += 1;
        else this.fp[j]! += 1;
      }
      for (let e = f0; e < f1; e++) this.scratch[features.colIdx[e]!] = 0;
    }
    this.n += latents.rows;
  }

  /** Returns the per-latent metrics and their means (0 where undefined, as SAELens). */
  finish(): ClassificationResult {
    const d = this.best.length;
    const precision = new Float64Array(d);
    const recall = new Float64Array(d);
    const f1 = new Float64Array(d);
    const accuracy = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      const tp = this.tp[j]!;
      const fp = this.fp[j]!;
      const fn = this.featureFires[this.best[j]!]! - tp;
      const tn = this.n - tp - fp - fn;
      precision[j] = tp + fp > 0 ? tp / (tp + fp) : 0;
      recall[j] = tp + fn > 0 ? tp / (tp + fn) : 0;
      const pr = precision[j]! + recall[j]!;
      f1[j] = pr > 0 ? (2 * precision[j]! * recall[j]!) / pr : 0;
      accuracy[j] = (tp + tn) / Math.max(this.n, 1e-8);
    }
    return { precision: mean(precision), recall: mean(recall), f1: mean(f1), accuracy: mean(accuracy), perLatent: { precision, recall, f1, accuracy } };
  }
}

function mean(a: Float64Array): number {
  if (a.length === 0) return 0;
  let s = 0;
  for (const v of a) s += v;
  return s / a.length;
}
