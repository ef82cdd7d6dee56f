/**
 * Small hand-written worlds for metric tests: a WorldTruth from explicit directions and parents, and
 * WorldBatches from explicit per-sample feature magnitudes (no generator, no randomness unless a
 * test brings its own).
 */
import type { SparseRows } from "../../src/tensor/kernels.js";
import type { WorldBatch, WorldTruth } from "../../src/toy/types.js";

/** Returns the unit basis vector e_i of length d. */
export function basis(d: number, i: number): number[] {
  const v = new Array<number>(d).fill(0);
  v[i] = 1;
  return v;
}

/** Returns a WorldTruth with the given unit feature directions and parent of each feature (-1 = none). */
export function handWorld(opts: { features: readonly (readonly number[])[]; parent: readonly number[]; bias?: readonly number[]; mutuallyExclusive?: readonly number[] }): WorldTruth {
  const nFeatures = opts.features.length;
  const dModel = opts.features[0]!.length;
  const children: number[][] = Array.from({ length: nFeatures }, () => []);
  opts.parent.forEach((p, f) => {
    if (p >= 0) children[p]!.push(f);
  });
  const mx = new Uint8Array(nFeatures);
  for (const f of opts.mutuallyExclusive ?? []) mx[f] = 1;
  return {
    nFeatures,
    dModel,
    featureVectors: Float32Array.from(opts.features.flat()),
    bias: Float32Array.from(opts.bias ?? new Array<number>(dModel).fill(0)),
    parent: Int32Array.from(opts.parent),
    children,
    mutuallyExclusive: mx,
    firingProbability: new Float64Array(nFeatures).fill(0.1),
    magnitudeMean: new Float64Array(nFeatures).fill(1),
  };
}

/** Returns a WorldBatch whose sample r holds the features and magnitudes of samples[r] ({feature: magnitude}). */
export function handBatch(truth: WorldTruth, samples: readonly Readonly<Record<number, number>>[]): WorldBatch {
  const { dModel, nFeatures } = truth;
  const batch = samples.length;
  const acts = new Float32Array(batch * dModel);
  const rowPtr = new Int32Array(batch + 1);
  const colIdx: number[] = [];
  const values: number[] = [];
  samples.forEach((s, r) => {
    for (let k = 0; k < dModel; k++) acts[r * dModel + k] = truth.bias[k]!;
    const feats = Object.keys(s).map(Number).sort((a, b) => a - b);
    for (const f of feats) {
      const m = s[f]!;
      if (m <= 0) continue;
      colIdx.push(f);
      values.push(m);
      for (let k = 0; k < dModel; k++) acts[r * dModel + k]! += m * truth.featureVectors[f * dModel + k]!;
    }
    rowPtr[r + 1] = colIdx.length;
  });
  const features: SparseRows = {
    rows: batch,
    cols: nFeatures,
    rowPtr,
    colIdx: Int32Array.from(colIdx.length ? colIdx : [0]),
    values: Float32Array.from(values.length ? values : [0]),
    nnz: colIdx.length,
  };
  return { batch, dModel, nFeatures, acts, features };
}

/** Returns `samples` repeated `times` times (handy to give a hand batch some weight). */
export function repeat<T>(samples: readonly T[], times: number): T[] {
  return Array.from({ length: times }, () => samples).flat();
}

/** Returns a CSR matrix holding the non-zero entries of a dense [rows][cols] array. */
export function sparseFromDense(dense: readonly (readonly number[])[], cols: number): SparseRows {
  const rowPtr = new Int32Array(dense.length + 1);
  const colIdx: number[] = [];
  const values: number[] = [];
  dense.forEach((row, r) => {
    row.forEach((v, c) => {
      if (v !== 0) {
        colIdx.push(c);
        values.push(v);
      }
    });
    rowPtr[r + 1] = colIdx.length;
  });
  return { rows: dense.length, cols, rowPtr, colIdx: Int32Array.from([...colIdx, 0]), values: Float32Array.from([...values, 0]), nnz: colIdx.length };
}
