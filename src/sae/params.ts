/**
 * One Float32Array holds every parameter of an SAE; named subarray views point into it (llm.c's
 * malloc_and_point_parameters). Gradients and Adam moments use the same layout, so the optimizer is
 * one loop over one buffer and a checkpoint is one write per buffer. A tied SAE stores only W_dec.
 */
export type ParamName = "W_enc" | "W_dec" | "b_enc" | "b_dec" | "threshold" | "encoder_gain";

/** Where each parameter lives in the flat buffer, and its shape. */
export interface ParamLayout {
  readonly dIn: number;
  readonly dSae: number;
  readonly size: number;
  readonly entries: readonly { name: ParamName; offset: number; shape: readonly number[] }[];
}

/** Named views into one flat buffer (params, grads or moments). */
export interface ParamViews {
  readonly buffer: Float32Array;
  /** [dIn, dSae]; absent when tied (W_enc is W_dec transposed). */
  readonly W_enc?: Float32Array;
  /** [dSae, dIn]. */
  readonly W_dec: Float32Array;
  /** [dSae]. */
  readonly b_enc: Float32Array;
  /** [dIn]. */
  readonly b_dec: Float32Array;
  /** [dSae], JumpReLU only. */
  readonly threshold?: Float32Array;
  /** [dSae], tied_gain only: W_enc[:, j] = encoder_gain[j] * W_dec[j, :]. */
  readonly encoder_gain?: Float32Array;
}

/** Returns the buffer layout for an SAE of the given sizes and options. */
export function paramLayout(dIn: number, dSae: number, opts: { tied: boolean; gain: boolean; threshold: boolean }): ParamLayout {
  const entries: { name: ParamName; offset: number; shape: number[] }[] = [];
  let offset = 0;
  const add = (name: ParamName, shape: number[]): void => {
    entries.push({ name, offset, shape });
    offset += shape.reduce((a, b) => a * b, 1);
  };
  if (!opts.tied) add("W_enc", [dIn, dSae]);
  add("W_dec", [dSae, dIn]);
  add("b_enc", [dSae]);
  add("b_dec", [dIn]);
  if (opts.gain) add("encoder_gain", [dSae]);
  if (opts.threshold) add("threshold", [dSae]);
  return { dIn, dSae, size: offset, entries };
}

/** Returns named views into `buffer` (which must have `layout.size` elements). */
export function viewsOf(layout: ParamLayout, buffer: Float32Array): ParamViews {
  if (buffer.length !== layout.size) throw new Error(`parameter buffer has ${buffer.length} values, layout needs ${layout.size}`);
  const v: Partial<Record<ParamName, Float32Array>> = {};
  for (const e of layout.entries) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    v[e.name] = buffer.subarray(e.offset, e.offset + n);
  }
  return { buffer, W_enc: v.W_enc, W_dec: v.W_dec!, b_enc: v.b_enc!, b_dec: v.b_dec!, threshold: v.threshold, encoder_gain: v.encoder_gain };
}
