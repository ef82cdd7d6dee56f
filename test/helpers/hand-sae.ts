/**
 * Hand-built SAEs for known-answer tests: an SaeModel written with plain dense loops, independent of
 * the trainer's kernels, so a metric's test never leans on the code it is meant to check.
 */
import { emptySparse, reserveSparse, type SparseRows } from "../../src/tensor/kernels.js";
import type { ArchitectureId, SaeModel } from "../../src/sae/types.js";

export interface HandSaeSpec {
  /** Encoder columns: one vector of length dIn per latent (W_enc[:, j]). */
  encoder: readonly (readonly number[])[];
  /** Decoder rows: one vector of length dIn per latent (W_dec[j, :]). */
  decoder: readonly (readonly number[])[];
  b_enc?: readonly number[];
  b_dec?: readonly number[];
  /** Per-latent JumpReLU threshold; without it the activation is ReLU. */
  threshold?: readonly number[];
  architecture?: ArchitectureId;
  tied?: boolean;
}

/** Returns an SaeModel computing act((x - b_dec) @ W_enc + b_enc) and acts @ W_dec + b_dec with plain loops. */
export function handSae(spec: HandSaeSpec): SaeModel {
  const dSae = spec.decoder.length;
  const dIn = spec.decoder[0]?.length ?? 0;
  if (spec.encoder.length !== dSae) throw new Error("handSae: encoder and decoder need one vector per latent");
  for (const v of [...spec.encoder, ...spec.decoder]) if (v.length !== dIn) throw new Error("handSae: every vector needs length dIn");
  const W_enc = new Float32Array(dIn * dSae);
  const W_dec = new Float32Array(dSae * dIn);
  for (let j = 0; j < dSae; j++) {
    for (let k = 0; k < dIn; k++) {
      W_enc[k * dSae + j] = spec.encoder[j]![k]!;
      W_dec[j * dIn + k] = spec.decoder[j]![k]!;
    }
  }
  const b_enc = Float32Array.from(spec.b_enc ?? new Array<number>(dSae).fill(0));
  const b_dec = Float32Array.from(spec.b_dec ?? new Array<number>(dIn).fill(0));
  const threshold = spec.threshold ? Float32Array.from(spec.threshold) : undefined;

  const preActivations = (x: Float32Array, batch: number, out?: Float32Array): Float32Array => {
    const pre = out ?? new Float32Array(batch * dSae);
    for (let r = 0; r < batch; r++) {
      for (let j = 0; j < dSae; j++) {
        let s = b_enc[j]!;
        for (let k = 0; k < dIn; k++) s += (x[r * dIn + k]! - b_dec[k]!) * W_enc[k * dSae + j]!;
        pre[r * dSae + j] = s;
      }
    }
    return pre;
  };

  return {
    architecture: spec.architecture ?? (threshold ? "jumprelu" : "standard"),
    tied: spec.tied ?? false,
    dIn,
    dSae,
    W_dec,
    b_enc,
    b_dec,
    ...(threshold ? { threshold } : {}),
    encoderWeights: () => W_enc.slice(),
    preActivations,
    encode(x: Float32Array, batch: number, out?: SparseRows): SparseRows {
      const pre = preActivations(x, batch);
      const s = out ?? emptySparse(batch, dSae);
      reserveSparse(s, batch, dSae, batch * dSae);
      let nnz = 0;
      s.rowPtr[0] = 0;
      for (let r = 0; r < batch; r++) {
        for (let j = 0; j < dSae; j++) {
          const v = pre[r * dSae + j]!;
          if (v > (threshold ? threshold[j]! : 0)) {
            s.colIdx[nnz] = j;
            s.values[nnz] = v;
            nnz++;
          }
        }
        s.rowPtr[r + 1] = nnz;
      }
      s.nnz = nnz;
      return s;
    },
    decode(acts: SparseRows, out?: Float32Array): Float32Array {
      const y = out && out.length >= acts.rows * dIn ? out : new Float32Array(acts.rows * dIn);
      for (let r = 0; r < acts.rows; r++) {
        for (let k = 0; k < dIn; k++) y[r * dIn + k] = b_dec[k]!;
        for (let e = acts.rowPtr[r]!; e < acts.rowPtr[r + 1]!; e++) {
          const j = acts.colIdx[e]!;
          for (let k = 0; k < dIn; k++) y[r * dIn + k]! += acts.values[e]! * W_dec[j * dIn + k]!;
        }
      }
      return y;
    },
  };
}
