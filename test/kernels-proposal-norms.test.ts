/**
 * Conformance of proposalNorms (the norms behind mixed precision's proposal bound, src/sae/bf16.ts
 * proposalBias) on every backend and ISA against plain loops written here, bitwise: the largest squared
 * norm of a row of x - center summed in float64 in column order, and each latent's squared weight norm
 * (column of w [n, cols], or row of w [cols, n]) summed in float64 and rounded to fp32 after each
 * term. Odd shapes and tails of the eight rows or latents summed side by side; the thread count is
 * covered by test/kernels-native.test.ts's digest.
 */
import { describe, expect, it } from "vitest";
import { availableKernels, backendLabel, parseIsa } from "../src/tensor/backend.js";
import type { Kernels } from "../src/tensor/kernels.js";
import { Rng } from "../src/tensor/rng.js";
import { rand } from "./helpers/kernels.js";

const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));

// rows, n, cols.
const SHAPES: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [17, 33, 100], [300, 64, 512], [9, 130, 1001], [0, 4, 3]];

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: proposalNorms", (_name, K: Kernels) => {
  it("returns the largest squared row norm of x - center and writes each latent's squared norm, bitwise as plain loops", () => {
    const rng = new Rng(11);
    for (const [rows, n, cols] of SHAPES) {
      const x = rand(rng, rows * n, -3, 3), w = rand(rng, n * cols), center = rand(rng, n);
      for (const c of [undefined, center]) {
        for (const transW of [false, true]) {
          const what = `${rows}x${n}, ${cols} latents, center=${!!c} transW=${transW}`;
          let want = 0;
          for (let r = 0; r < rows; r++) {
            let sq = 0;
            for (let q = 0; q < n; q++) sq += (x[r * n + q]! - (c ? c[q]! : 0)) ** 2;
            if (sq > want) want = sq;
          }
          const wantNorm = new Float32Array(cols);
          for (let j = 0; j < cols; j++) for (let q = 0; q < n; q++) wantNorm[j] = Math.fround(wantNorm[j]! + w[transW ? j * n + q : q * cols + j]! ** 2);
          const normSq = new Float32Array(cols).fill(NaN);
          expect(K.proposalNorms({ x, rows, n, center: c, w, cols, transW, normSq }), what).toBe(want);
          expect(Array.from(normSq), what).toEqual(Array.from(wantNorm));
        }
      }
    }
  });

  it("checks its arguments", () => {
    const normSq = new Float32Array(3);
    expect(() => K.proposalNorms({ x: new Float32Array(7), rows: 2, n: 4, w: new Float32Array(12), cols: 3, normSq })).toThrow(/proposalNorms x/);
    expect(() => K.proposalNorms({ x: new Float32Array(8), rows: 2, n: 4, w: new Float32Array(11), cols: 3, normSq })).toThrow(/proposalNorms w/);
  });
});
