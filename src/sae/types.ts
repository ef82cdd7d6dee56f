/**
 * The contract between trained SAEs and everything downstream (metrics, detection, I/O, steering).
 * Layouts are SAELens's: W_enc [dIn, dSae], W_dec [dSae, dIn].
 */
import type { SparseRows } from "../tensor/kernels.js";
import type { ArchitectureId } from "./registry.js";

/** Architecture ids, spelled as SAELens spells them (the registry's keys). */
export type { ArchitectureId };

/** A trained (or hand-built) SAE that can encode and decode. */
export interface SaeModel {
  readonly architecture: ArchitectureId;
  /** True when W_enc is stored as W_dec's transpose (one matrix). */
  readonly tied: boolean;
  readonly dIn: number;
  readonly dSae: number;
  /** [dSae, dIn]. */
  readonly W_dec: Float32Array;
  /** [dSae]. */
  readonly b_enc: Float32Array;
  /** [dIn]. */
  readonly b_dec: Float32Array;
  /** [dSae] per-latent threshold (jumprelu, and batchtopk at inference), if the architecture has one. */
  readonly threshold?: Float32Array;
  /** False when the encoder reads x itself rather than x - b_dec (SAELens apply_b_dec_to_input); absent means true. */
  readonly applyBDecToInput?: boolean;
  /** Returns the encoder as a [dIn, dSae] matrix (a materialised copy for tied SAEs, including any gain). */
  encoderWeights(): Float32Array;
  /** Returns the latent activations for x [batch, dIn] as a sparse [batch, dSae] matrix (inference mode). */
  encode(x: Float32Array, batch: number, out?: SparseRows): SparseRows;
  /** Returns the reconstruction [batch, dIn] of sparse latent activations. */
  decode(acts: SparseRows, out?: Float32Array): Float32Array;
  /** Returns the pre-activations [batch, dSae] (before the nonlinearity) for x [batch, dIn]. */
  preActivations(x: Float32Array, batch: number, out?: Float32Array): Float32Array;
}
