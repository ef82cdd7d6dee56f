/**
 * World samplers. The stream is cut into fixed chunks of CHUNK samples, each drawn (chunk.ts) from
 * its own seeded generator, so a sampler's output depends only on the world and the seed, never on
 * the batch sizes requested; constructing a sampler costs nothing.
 */
import { emptySparse, type SparseRows } from "../tensor/kernels.js";
import { mixSeed, Rng } from "../tensor/rng.js";
import type { WorldBatch, WorldSampler } from "./types.js";
import { generateChunk, type Chunk } from "./chunk.js";
import type { SamplerPlan } from "./plan.js";

/** Samples per independently seeded chunk of the stream. */
export const CHUNK = 1024;

/** Returns the generator for chunk `k` of the stream with seed `seed`. */
export function chunkRng(seed: number, k: number): Rng {
  return new Rng(mixSeed(mixSeed(seed >>> 0, "saelab-world-stream"), k));
}

/** Returns acts [rows, dModel] = bias + features @ featureVectors for CSR feature rows. */
export function activations(plan: SamplerPlan, features: SparseRows, out = new Float32Array(features.rows * plan.dModel)): Float32Array {
  const d = plan.dModel;
  const w = plan.featureVectors;
  const k = plan.kernels;
  if (k && k.name !== "reference") {
    for (let b = 0; b < features.rows; b++) out.set(plan.bias, b * d);
    k.spmm(features, w, d, out, true);
    return out;
  }
  // Four feature rows per pass over the output row (summed in float64, stored once per pass).
  const { rowPtr, colIdx, values } = features;
  for (let b = 0; b < features.rows; b++) {
    const o = b * d;
    out.set(plan.bias, o);
    let e = rowPtr[b]!;
    const end = rowPtr[b + 1]!;
    for (; e + 3 < end; e += 4) {
      const m0 = values[e]!;
      const m1 = values[e + 1]!;
      const m2 = values[e + 2]!;
      const m3 = values[e + 3]!;
      const w0 = colIdx[e]! * d;
      const w1 = colIdx[e + 1]! * d;
      const w2 = colIdx[e + 2]! * d;
      const w3 = colIdx[e + 3]! * d;
      for (let j = 0; j < d; j++) out[o + j] = out[o + j]! + m0 * w[w0 + j]! + m1 * w[w1 + j]! + m2 * w[w2 + j]! + m3 * w[w3 + j]!;
    }
    for (; e < end; e++) {
      const m = values[e]!;
      const wo = colIdx[e]! * d;
      for (let j = 0; j < d; j++) out[o + j] = out[o + j]! + m * w[wo + j]!;
    }
  }
  return out;
}

/** Returns a sampler whose stream is the concatenation of chunks 0, 1, 2, ... for `seed`. */
export function createSampler(plan: SamplerPlan, seed: number): WorldSampler {
  let nextChunk = 0;
  let pending: Chunk | undefined;
  let used = 0;
  return {
    next(batch: number): WorldBatch {
      if (!Number.isInteger(batch) || batch < 1) throw new Error(`WorldSampler.next: batch must be a positive integer, got ${batch}`);
      const parts: { chunk: Chunk; from: number; to: number }[] = [];
      let need = batch;
      let nnz = 0;
      while (need > 0) {
        if (!pending || used === pending.rows) {
          pending = generateChunk(plan, chunkRng(seed, nextChunk++), CHUNK);
          used = 0;
        }
        const take = Math.min(need, pending.rows - used);
        parts.push({ chunk: pending, from: used, to: used + take });
        nnz += pending.rowPtr[used + take]! - pending.rowPtr[used]!;
        used += take;
        need -= take;
      }
      const features = emptySparse(batch, plan.nFeatures, nnz);
      let r = 0;
      let e = 0;
      for (const { chunk, from, to } of parts) {
        const a = chunk.rowPtr[from]!;
        const z = chunk.rowPtr[to]!;
        features.colIdx.set(chunk.col.subarray(a, z), e);
        features.values.set(chunk.val.subarray(a, z), e);
        for (let i = from; i < to; i++) features.rowPtr[r++] = e + chunk.rowPtr[i]! - a;
        e += z - a;
      }
      features.rowPtr[batch] = e;
      features.nnz = e;
      return { batch, dModel: plan.dModel, nFeatures: plan.nFeatures, acts: activations(plan, features), features };
    },
  };
}
