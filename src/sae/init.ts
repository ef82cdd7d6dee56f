/**
 * Initialisation as SAELens does it: W_dec drawn Kaiming-uniform (bound sqrt(6 / dIn)), rows scaled
 * to `decoderInitNorm`, W_enc = W_dec^T, biases zero; plus b_dec from the data (mean or geometric
 * median of the first batch), which the trainer calls once it has data.
 */
import type { Rng } from "../tensor/rng.js";
import type { AnyArchConfig, ArchitectureDef, SaeCore } from "./arch.js";
import { resolvedDecoderInitNorm } from "./config.js";

/** Fills the parameters of `sae` with their initial values drawn from `rng`. */
export function initParams(sae: SaeCore, def: ArchitectureDef<AnyArchConfig>, rng: Rng): void {
  const { dIn, dSae } = sae;
  const p = sae.params;
  const bound = Math.sqrt(6 / dIn);
  for (let i = 0; i < dSae * dIn; i++) p.W_dec[i] = rng.uniformIn(-bound, bound);
  const target = resolvedDecoderInitNorm(sae.config);
  for (let j = 0; j < dSae; j++) {
    const row = p.W_dec.subarray(j * dIn, (j + 1) * dIn);
    let sq = 0;
    for (let i = 0; i < dIn; i++) sq += row[i]! * row[i]!;
    const s = sq > 0 ? target / Math.sqrt(sq) : 0;
    for (let i = 0; i < dIn; i++) row[i] = row[i]! * s;
  }
  if (p.W_enc) transposeInto(p.W_dec, dSae, dIn, p.W_enc);
  p.b_enc.fill(0);
  p.b_dec.fill(0);
  p.encoder_gain?.fill(1);
  if (p.threshold) p.threshold.fill(def.initialThreshold?.(sae.config) ?? 0);
}

/** Writes the transpose of a [rows, cols] matrix into `out` [cols, rows] and returns it. */
export function transposeInto(a: Float32Array, rows: number, cols: number, out: Float32Array): Float32Array {
  for (let r = 0; r < rows; r++) {
    const off = r * cols;
    for (let c = 0; c < cols; c++) out[c * rows + r] = a[off + c]!;
  }
  return out;
}

/** Sets b_dec from a batch x [batch, dIn] according to the config's `bDecInit`. */
export function initDecoderBias(sae: SaeCore, x: Float32Array, batch: number): void {
  const how = sae.config.bDecInit;
  if (how === "zeros") return;
  const m = how === "mean" ? columnMean(x, batch, sae.dIn) : geometricMedian(x, batch, sae.dIn);
  for (let i = 0; i < sae.dIn; i++) sae.params.b_dec[i] = m[i]!;
}

/** Returns the column means of x [rows, cols] in float64. */
export function columnMean(x: Float32Array, rows: number, cols: number): Float64Array {
  const m = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) m[c]! += x[r * cols + c]!;
  for (let c = 0; c < cols; c++) m[c]! /= rows;
  return m;
}

/**
 * Returns the geometric median of the rows of x [rows, cols] by Weiszfeld's iteration from the mean
 * (distances floored at 1e-8 so that a point on the estimate does not divide by zero), as SAELens's
 * compute_geometric_median does with at most 100 iterations.
 */
export function geometricMedian(x: Float32Array, rows: number, cols: number, maxIter = 100, tol = 1e-7): Float64Array {
  let y = columnMean(x, rows, cols);
  const next = new Float64Array(cols);
  for (let it = 0; it < maxIter; it++) {
    next.fill(0);
    let wsum = 0;
    for (let r = 0; r < rows; r++) {
      let dist = 0;
      for (let c = 0; c < cols; c++) {
        const v = x[r * cols + c]! - y[c]!;
        dist += v * v;
      }
      const w = 1 / Math.max(Math.sqrt(dist), 1e-8);
      wsum += w;
      for (let c = 0; c < cols; c++) next[c]! += w * x[r * cols + c]!;
    }
    let move = 0;
    let norm = 0;
    for (let c = 0; c < cols; c++) {
      const v = next[c]! / wsum;
      move += (v - y[c]!) ** 2;
      norm += v * v;
      next[c] = v;
    }
    const done = Math.sqrt(move) <= tol * Math.max(Math.sqrt(norm), 1e-12);
    y = Float64Array.from(next);
    if (done) break;
  }
  return y;
}
