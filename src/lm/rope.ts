/**
 * Rotary position embedding: the (cos, sin) table the kernels read, with rope_theta, partial rotary
 * and Llama 3's frequency scaling, and the row permutation that turns HF's rotate-half q/k layout into
 * the adjacent-pair layout the kernels rotate (the inverse of the permutation in HF's
 * convert_llama_weights_to_hf.py).
 */
import type { ModelSpec } from "./spec.js";

/** Returns the inverse frequencies [rotaryDim / 2] of a rope spec, in float32 steps as HF computes them. */
export function ropeFrequencies(pos: Extract<ModelSpec["positions"], { kind: "rope" }>): Float64Array {
  const half = pos.rotaryDim / 2;
  const out = new Float64Array(half);
  for (let i = 0; i < half; i++) out[i] = Math.fround(1 / Math.fround(Math.pow(pos.theta, Math.fround((2 * i) / pos.rotaryDim))));
  const sc = pos.scaling;
  if (!sc) return out;
  const lowWave = sc.originalContext / sc.lowFreqFactor;
  const highWave = sc.originalContext / sc.highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = out[i]!;
    const wave = (2 * Math.PI) / f;
    let g = wave > lowWave ? f / sc.factor : f;
    if (!(wave < highWave) && !(wave > lowWave)) {
      const smooth = (sc.originalContext / wave - sc.lowFreqFactor) / (sc.highFreqFactor - sc.lowFreqFactor);
      g = ((1 - smooth) * g) / sc.factor + smooth * g;
    }
    out[i] = Math.fround(g);
  }
  return out;
}

/**
 * Returns the table [rows, headDim / 2, 2] of (cos, sin) for positions 0..rows-1; pairs past the
 * rotary channels, and every pair of a model without rotary embedding, are (1, 0): no rotation.
 */
export function ropeTableFor(spec: ModelSpec, rows: number): Float32Array {
  const half = spec.headDim / 2;
  const out = new Float32Array(rows * half * 2);
  for (let p = 0; p < rows; p++) for (let i = 0; i < half; i++) out[(p * half + i) * 2] = 1;
  if (spec.positions.kind !== "rope") return out;
  const freqs = ropeFrequencies(spec.positions);
  for (let i = 0; i < freqs.length; i++) {
    for (let p = 0; p < rows; p++) {
      const a = Math.fround(p * freqs[i]!);
      out[(p * half + i) * 2] = Math.cos(a);
      out[(p * half + i) * 2 + 1] = Math.sin(a);
    }
  }
  return out;
}

/**
 * Returns rows [heads * headDim, cols] reordered from HF's rotate-half layout (channel i of the first
 * rotaryDim pairs with channel i + rotaryDim / 2) to adjacent pairs (2i, 2i + 1); channels past
 * rotaryDim keep their place. Works on a bias too (cols = 1).
 */
export function unpermuteRotary(w: Float32Array, heads: number, headDim: number, rotaryDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = rotaryDim / 2;
  for (let h = 0; h < heads; h++) {
    const base = h * headDim;
    for (let j = 0; j < headDim; j++) {
      // destination channel j takes source channel src
      const src = j >= rotaryDim ? j : (j % 2) * half + (j >> 1);
      out.set(w.subarray((base + src) * cols, (base + src + 1) * cols), (base + j) * cols);
    }
  }
  return out;
}
