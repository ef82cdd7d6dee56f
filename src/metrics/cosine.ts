/**
 * Cosine geometry between an SAE's weights and the true feature directions. Layouts are SAELens's:
 * W_enc [dIn, dSae], W_dec [dSae, dIn]; true features [nFeatures, dIn].
 */
import type { Kernels } from "../tensor/kernels.js";
import { referenceKernels } from "../tensor/reference.js";

/** Norms below this count as zero, as SAELens clamps them (a zero row then has cosine 0 with everything). */
const NORM_EPS = 1e-8;

/** Returns the Euclidean norm of each row of a [rows, dim] matrix. */
export function rowNorms(m: ArrayLike<number>, rows: number, dim: number): Float64Array {
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    const o = r * dim;
    for (let k = 0; k < dim; k++) s += m[o + k]! * m[o + k]!;
    out[r] = Math.sqrt(s);
  }
  return out;
}

/** Returns the cosine of two vectors (0 when either is zero). */
export function cosine(a: ArrayLike<number>, aOff: number, b: ArrayLike<number>, bOff: number, dim: number): number {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let k = 0; k < dim; k++) {
    const x = a[aOff + k]!;
    const y = b[bOff + k]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return ab / (Math.max(Math.sqrt(aa), NORM_EPS) * Math.max(Math.sqrt(bb), NORM_EPS));
}

/** Returns the [aRows, bRows] matrix of cosines between the rows of a [aRows, dim] and b [bRows, dim]. */
export function cosineMatrix(a: ArrayLike<number>, aRows: number, b: ArrayLike<number>, bRows: number, dim: number): Float64Array {
  if (a.length !== aRows * dim) throw new Error(`cosineMatrix: a has ${a.length} entries, expected ${aRows} x ${dim}`);
  if (b.length !== bRows * dim) throw new Error(`cosineMatrix: b has ${b.length} entries, expected ${bRows} x ${dim}`);
  const na = rowNorms(a, aRows, dim);
  const nb = rowNorms(b, bRows, dim);
  const out = new Float64Array(aRows * bRows);
  for (let i = 0; i < aRows; i++) {
    const ai = i * dim;
    const inv = 1 / Math.max(na[i]!, NORM_EPS);
    for (let j = 0; j < bRows; j++) {
      let s = 0;
      const bj = j * dim;
      for (let k = 0; k < dim; k++) s += a[ai + k]! * b[bj + k]!;
      out[i * bRows + j] = (s * inv) / Math.max(nb[j]!, NORM_EPS);
    }
  }
  return out;
}

/** Returns the transpose [cols, rows] of a row-major [rows, cols] matrix. */
export function transpose(m: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

/** The weight-space geometry of one SAE against the true features. */
export interface SaeGeometry {
  dSae: number;
  nFeatures: number;
  /** [dSae, nFeatures]: cosine of each decoder row with each true feature. */
  decoderCos: Float32Array;
  /** [dSae, nFeatures]: cosine of each encoder column with each true feature. */
  encoderCos: Float32Array;
  /** [dSae]: cosine of each latent's encoder column with its own decoder row. */
  encDecCos: Float64Array;
}

/** The parts of an SAE that the weight-space metrics read. */
export interface SaeWeights {
  dIn: number;
  dSae: number;
  /** [dSae, dIn]. */
  W_dec: ArrayLike<number>;
  /** [dIn, dSae]. */
  W_enc: ArrayLike<number>;
}

/** Returns the rows of a [rows, dim] matrix scaled to unit norm (zero rows stay zero), as float32. */
export function unitRows(m: ArrayLike<number>, rows: number, dim: number): Float32Array {
  const norms = rowNorms(m, rows, dim);
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const inv = 1 / Math.max(norms[r]!, NORM_EPS);
    for (let k = 0; k < dim; k++) out[r * dim + k] = m[r * dim + k]! * inv;
  }
  return out;
}

/**
 * Returns the decoder and encoder cosine matrices against the true features, and each latent's
 * encoder/decoder cosine. The two [dSae, nFeatures] products go through `kernels.gemm`, so a fast
 * backend makes this cheap for wide SAEs on large worlds.
 */
export function saeGeometry(w: SaeWeights, featureVectors: ArrayLike<number>, nFeatures: number, kernels: Kernels = referenceKernels()): SaeGeometry {
  const { dIn, dSae } = w;
  if (w.W_dec.length !== dSae * dIn) throw new Error(`W_dec has ${w.W_dec.length} entries, expected [${dSae}, ${dIn}]`);
  if (w.W_enc.length !== dIn * dSae) throw new Error(`W_enc has ${w.W_enc.length} entries, expected [${dIn}, ${dSae}]`);
  if (featureVectors.length !== nFeatures * dIn) {
    throw new Error(`feature vectors have ${featureVectors.length} entries, expected [${nFeatures}, ${dIn}] (the SAE's dIn must equal the world's dModel)`);
  }
  const encoderRows = transpose(w.W_enc, dIn, dSae);
  const encDecCos = new Float64Array(dSae);
  for (let j = 0; j < dSae; j++) encDecCos[j] = cosine(encoderRows, j * dIn, w.W_dec, j * dIn, dIn);
  const feats = unitRows(featureVectors, nFeatures, dIn);
  const product = (rowsM: ArrayLike<number>) => {
    const out = new Float32Array(dSae * nFeatures);
    kernels.gemm({ a: unitRows(rowsM, dSae, dIn), b: feats, out, m: dSae, n: nFeatures, k: dIn, transB: true });
    return out;
  };
  return { dSae, nFeatures, decoderCos: product(w.W_dec), encoderCos: product(encoderRows), encDecCos };
}
