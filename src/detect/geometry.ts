/**
 * Weight-only signals: which latents' decoder rows overlap (candidate parent/absorber pairs), how
 * much of one row lies along another, and whether a parent's encoder column points away from what
 * the absorber adds to it. The decoder Gram matrix is computed in blocks of rows through the kernels'
 * gemm, keeping only the entries above the cosine threshold, so a 16k-latent SAE never holds the full
 * dSae x dSae matrix.
 */
import type { Kernels } from "../tensor/kernels.js";
import type { SaeModel } from "../sae/types.js";

/** Unit decoder rows and their norms. */
export interface DecoderRows {
  dIn: number;
  dSae: number;
  /** [dSae, dIn] unit rows (a zero row stays zero). */
  unit: Float32Array;
  /** [dSae] row norms. */
  norms: Float64Array;
}

/** Returns the SAE's decoder rows normalised to unit length, with their norms. */
export function decoderRows(sae: SaeModel): DecoderRows {
  const { dIn, dSae, W_dec } = sae;
  const unit = new Float32Array(dSae * dIn);
  const norms = new Float64Array(dSae);
  for (let j = 0; j < dSae; j++) {
    let sq = 0;
    for (let i = 0; i < dIn; i++) sq += W_dec[j * dIn + i]! * W_dec[j * dIn + i]!;
    const norm = Math.sqrt(sq);
    norms[j] = norm;
    if (norm > 0) for (let i = 0; i < dIn; i++) unit[j * dIn + i] = W_dec[j * dIn + i]! / norm;
  }
  return { dIn, dSae, unit, norms };
}

/** For each latent, its candidate partners: latents whose decoder cosine with it is at least a threshold. */
export interface Neighbors {
  /** neighbors[j]: partner latents of j, highest cosine first. */
  latents: Int32Array[];
  /** cos[j][k]: decoder cosine of j and latents[j][k]. */
  cos: Float32Array[];
}

/** Returns, for every latent, the (at most maxNeighbors) other latents whose decoder cosine with it is >= minCos. */
export function decoderNeighbors(rows: DecoderRows, minCos: number, maxNeighbors: number, kernels: Kernels): Neighbors {
  const { dIn, dSae, unit } = rows;
  const block = Math.max(1, Math.min(dSae, Math.floor(4_194_304 / Math.max(dSae, 1))));
  const out = new Float32Array(block * dSae);
  const latents: Int32Array[] = new Array<Int32Array>(dSae);
  const cos: Float32Array[] = new Array<Float32Array>(dSae);
  for (let j0 = 0; j0 < dSae; j0 += block) {
    const m = Math.min(block, dSae - j0);
    kernels.gemm({ a: unit.subarray(j0 * dIn, (j0 + m) * dIn), b: unit, out: out.subarray(0, m * dSae), m, n: dSae, k: dIn, transB: true });
    for (let r = 0; r < m; r++) {
      const j = j0 + r;
      const found: { i: number; c: number }[] = [];
      if (rows.norms[j]! > 0) {
        for (let i = 0; i < dSae; i++) {
          const c = out[r * dSae + i]!;
          if (i !== j && c >= minCos && rows.norms[i]! > 0) found.push({ i, c: Math.min(c, 1) });
        }
      }
      found.sort((a, b) => b.c - a.c || a.i - b.i);
      const kept = found.slice(0, maxNeighbors);
      latents[j] = Int32Array.from(kept.map((f) => f.i));
      cos[j] = Float32Array.from(kept.map((f) => f.c));
    }
  }
  return { latents, cos };
}

/** Returns the decoder cosine of latents a and b (unit rows). */
export function rowCos(rows: DecoderRows, a: number, b: number): number {
  const { dIn } = rows;
  let s = 0;
  for (let i = 0; i < dIn; i++) s += rows.unit[a * dIn + i]! * rows.unit[b * dIn + i]!;
  return s;
}

/**
 * Returns the cosine of parent P's encoder column with what absorber A's decoder row adds to P's row
 * (A's unit row minus its component along P's unit row), or null when that remainder vanishes.
 * `enc` is W_enc [dIn, dSae].
 */
export function encoderCarve(rows: DecoderRows, enc: Float32Array, parent: number, absorber: number): number | null {
  const { dIn, dSae, unit } = rows;
  const c = rowCos(rows, parent, absorber);
  let dot = 0;
  let rr = 0;
  let ee = 0;
  for (let i = 0; i < dIn; i++) {
    const r = unit[absorber * dIn + i]! - c * unit[parent * dIn + i]!;
    const e = enc[i * dSae + parent]!;
    dot += r * e;
    rr += r * r;
    ee += e * e;
  }
  if (!(rr > 1e-12) || !(ee > 0)) return null;
  return dot / Math.sqrt(rr * ee);
}
