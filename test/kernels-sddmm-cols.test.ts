/**
 * Conformance of sddmmCols (the sampled product with a feature-major weight, w [n, cols] as an
 * untied SAE's W_enc), which mixed precision uses to recompute the fired latents' pre-activations in
 * fp32: on every backend and ISA against a plain double-precision loop written here, within the fp32
 * summation bound (n + 2) 2^-24 sum |a w|; bitwise equal to the same backend's sddmm on the transposed
 * weight (the same dot); unchanged by the thread count (test/kernels-native.test.ts digests it).
 */
import { describe, expect, it } from "vitest";
import { availableKernels, backendLabel, parseIsa } from "../src/tensor/backend.js";
import type { Kernels } from "../src/tensor/kernels.js";
import { Rng } from "../src/tensor/rng.js";
import { rand, randSparse, transpose } from "./helpers/kernels.js";

const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));

// rows, cols, n, density: tails in n (1, 7, 33, 130), rows with 1-7 entries past whole groups of eight;
// weights of up to 256K floats take the row walk over a transposed copy, larger ones (the last three:
// 2100 x 131, 4100 x 64, 300 x 900) the latent-block walk, with blocks that are partial (cols not a multiple of 64) or empty.
const SHAPES: [number, number, number, number][] = [
  [1, 1, 1, 1], [5, 7, 3, 0.5], [13, 40, 67, 0.3], [37, 101, 64, 0.1], [9, 16, 8, 0.6], [64, 50, 130, 0.2], [3, 1000, 17, 0.01], [40, 300, 33, 0.05], [6, 200, 7, 0],
  [30, 2100, 131, 0.01], [50, 4100, 64, 0.005], [11, 300, 900, 0.2],
];

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: sddmmCols", (_name, K: Kernels) => {
  it("is a[r] . w[:, j] for every entry within the fp32 bound, and bitwise sddmm on the transposed weight", () => {
    const rng = new Rng(31);
    for (const [rows, cols, n, density] of SHAPES) {
      const s = randSparse(rng, rows, cols, density, rows > 2 ? [0, rows - 1] : []);
      const a = rand(rng, rows * n);
      const w = rand(rng, n * cols);
      const what = `${rows}x${cols} n=${n} nnz=${s.nnz}`;
      const got = new Float32Array(Math.max(s.nnz, 1)).fill(NaN);
      K.sddmmCols(s, a, w, n, got);
      for (let r = 0; r < rows; r++) {
        for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) {
          const j = s.colIdx[e]!;
          let dot = 0, mag = 0;
          for (let p = 0; p < n; p++) {
            dot += a[r * n + p]! * w[p * cols + j]!;
            mag += Math.abs(a[r * n + p]! * w[p * cols + j]!);
          }
          if (!(Math.abs(got[e]! - dot) <= (n + 2) * 2 ** -24 * mag)) expect.fail(`${what}: entry ${e} (${r}, ${j}) is ${got[e]}, want ${dot}`);
        }
      }
      const viaRows = new Float32Array(Math.max(s.nnz, 1)).fill(NaN);
      K.sddmm(s, a, transpose(w, n, cols), n, viaRows);
      expect(Array.from(got.subarray(0, s.nnz)), what).toEqual(Array.from(viaRows.subarray(0, s.nnz)));
    }
  });

  it("checks its arguments", () => {
    const s = randSparse(new Rng(1), 3, 5, 0.5);
    expect(() => K.sddmmCols(s, new Float32Array(3 * 4), new Float32Array(4 * 5 - 1), 4, new Float32Array(s.nnz))).toThrow(/sddmmCols w/);
    expect(() => K.sddmmCols(s, new Float32Array(3 * 4 - 1), new Float32Array(4 * 5), 4, new Float32Array(s.nnz))).toThrow(/sddmmCols a/);
  });
});
