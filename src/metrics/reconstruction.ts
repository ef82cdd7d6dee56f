/**
 * Reconstruction and sparsity metrics, accumulated over batches so an evaluation set never has to
 * fit in memory at once. Definitions follow SAELens's synthetic evaluation calculators.
 */
import type { SparseRows } from "../tensor/kernels.js";

/** Inputs with a norm at or below this are skipped for shrinkage, as SAELens does (the ratio is undefined). */
const MIN_INPUT_NORM = 1e-6;

/** Reconstruction quality over an evaluation set. */
export interface ReconstructionResult {
  /** Mean squared error per element, E||x - x_hat||^2 / dIn. */
  mse: number;
  /** Mean squared error summed over dimensions, E||x - x_hat||^2. */
  mseSumOverDims: number;
  /** 1 - E||x - x_hat||^2 / (E||x||^2 - ||E x||^2). */
  explainedVariance: number;
  /** Mean of ||x_hat|| / ||x|| over samples with ||x|| > 1e-6. */
  shrinkage: number;
}

/** Streams (x, x_hat) pairs and returns reconstruction metrics at the end. */
export class ReconstructionAccumulator {
  private readonly sumX: Float64Array;
  private sumSqNorm = 0;
  private sumSqResidual = 0;
  private sumShrink = 0;
  private nShrink = 0;
  private n = 0;

  constructor(private readonly dIn: number) {
    this.sumX = new Float64Array(dIn);
  }

  /** Adds a batch of inputs x [batch, dIn] and their reconstructions xHat [batch, dIn]. */
  add(x: Float32Array, xHat: Float32Array, batch: number): void {
    const d = this.dIn;
    if (x.length < batch * d || xHat.length < batch * d) throw new Error(`reconstruction: expected [${batch}, ${d}] inputs and reconstructions`);
    for (let r = 0; r < batch; r++) {
      let xx = 0;
      let hh = 0;
      let rr = 0;
      const o = r * d;
      for (let k = 0; k < d; k++) {
        const xv = x[o + k]!;
        const hv = xHat[o + k]!;
        this.sumX[k]! += xv;
        xx += xv * xv;
        hh += hv * hv;
        rr += (xv - hv) * (xv - hv);
      }
      if (!Number.isFinite(rr) || !Number.isFinite(hh)) throw new Error(`reconstruction: sample ${this.n + r} has a non-finite input or reconstruction`);
      this.sumSqNorm += xx;
      this.sumSqResidual += rr;
      const nx = Math.sqrt(xx);
      if (nx > MIN_INPUT_NORM) {
        this.sumShrink += Math.sqrt(hh) / nx;
        this.nShrink++;
      }
    }
    this.n += batch;
  }

  /** Returns the metrics; with no samples everything is 0, as SAELens returns. */
  finish(): ReconstructionResult {
    if (this.n === 0) return { mse: 0, mseSumOverDims: 0, explainedVariance: 0, shrinkage: 0 };
    const meanSq = this.sumSqNorm / this.n;
    let sqMean = 0;
    for (const s of this.sumX) sqMean += (s / this.n) * (s / this.n);
    const variance = meanSq - sqMean;
    const mseSum = this.sumSqResidual / this.n;
    // A constant input has no variance to explain: SAELens reports 1 if it is reconstructed exactly, else 0.
    const explainedVariance = variance < 1e-10 ? (this.sumSqResidual < 1e-10 ? 1 : 0) : 1 - mseSum / variance;
    return {
      mse: mseSum / this.dIn,
      mseSumOverDims: mseSum,
      explainedVariance,
      shrinkage: this.nShrink > 0 ? this.sumShrink / this.nShrink : 0,
    };
  }
}

/** Sparsity of an SAE's latents over an evaluation set. */
export interface SparsityResult {
  /** Mean number of latents firing (activation > 0) per sample. */
  l0: number;
  /** Mean number of true features firing per sample. */
  trueL0: number;
  /** Latents that never fired on the evaluation set. */
  deadLatents: number[];
  /** [dSae]: share of samples on which each latent fired. */
  firingDensity: Float64Array;
  /** Histogram of log10(firing density) over the latents that fired at least once. */
  densityHistogram: DensityHistogram;
}

/** Counts of latents per log10-density bin: bin i holds densities in [log10Edges[i], log10Edges[i+1]). */
export interface DensityHistogram {
  log10Edges: number[];
  counts: number[];
  /** Latents with density 0 (not in any bin). */
  dead: number;
}

/** Streams latent and true-feature activations and returns sparsity metrics at the end. */
export class SparsityAccumulator {
  private readonly fires: Float64Array;
  private totalFires = 0;
  private totalTrue = 0;
  private n = 0;

  constructor(private readonly dSae: number) {
    this.fires = new Float64Array(dSae);
  }

  /** Adds a batch of sparse latents [batch, dSae] and, when given, the true features [batch, nFeatures]. */
  add(latents: SparseRows, features?: SparseRows): void {
    for (let e = 0; e < latents.nnz; e++) {
      if (latents.values[e]! > 0) {
        this.fires[latents.colIdx[e]!]! += 1;
        this.totalFires++;
      }
    }
    if (features) for (let e = 0; e < features.nnz; e++) if (features.values[e]! > 0) this.totalTrue++;
    this.n += latents.rows;
  }

  /** Returns the metrics; `binsPerDecade` sets the histogram resolution. */
  finish(binsPerDecade = 2): SparsityResult {
    const firingDensity = new Float64Array(this.dSae);
    const deadLatents: number[] = [];
    for (let j = 0; j < this.dSae; j++) {
      firingDensity[j] = this.n > 0 ? this.fires[j]! / this.n : 0;
      if (this.fires[j] === 0) deadLatents.push(j);
    }
    return {
      l0: this.n > 0 ? this.totalFires / this.n : 0,
      trueL0: this.n > 0 ? this.totalTrue / this.n : 0,
      deadLatents,
      firingDensity,
      densityHistogram: densityHistogram(firingDensity, this.n, binsPerDecade),
    };
  }
}

/** Returns a log10 histogram of firing densities, spanning 1/nSamples (the smallest non-zero density) to 1. */
export function densityHistogram(density: ArrayLike<number>, nSamples: number, binsPerDecade = 2): DensityHistogram {
  const lo = nSamples > 1 ? Math.floor(Math.log10(1 / nSamples) * binsPerDecade) / binsPerDecade : -1;
  const nBins = Math.max(1, Math.round(-lo * binsPerDecade));
  const log10Edges = Array.from({ length: nBins + 1 }, (_, i) => lo + i / binsPerDecade);
  const counts = new Array<number>(nBins).fill(0);
  let dead = 0;
  for (let j = 0; j < density.length; j++) {
    const p = density[j]!;
    if (!(p > 0)) {
      dead++;
      continue;
    }
    // Density 1 belongs in the last bin; anything below the first edge (only possible with a caller's nSamples) in the first.
    const b = Math.floor((Math.log10(p) - lo) * binsPerDecade + 1e-9);
    counts[Math.min(nBins - 1, Math.max(0, b))]! += 1;
  }
  return { log10Edges, counts, dead };
}
