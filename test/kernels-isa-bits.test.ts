/**
 * The SAE step's sparse kernels give the same bits on every ISA library (portable, AVX2, AVX-512,
 * AMX): decodeLoss (its row-by-row decoding, value gradients and sum of squares, and the
 * latent-major spmm/sddmm of big decoders) and sddmm are written so that each library performs the
 * same operations lane for lane (16 columns per instruction when decoding with AVX-512; two
 * eight-lane dots per 512-bit register for the value gradients; the squares in eight double lanes
 * with one FMA each, fma() on the portable path). A training run's decoder-side numbers therefore do
 * not depend on which library the CPU gets.
 * Shapes cover widths that are and are not multiples of 8, 16 and 64, empty rows, rows with fewer
 * and more than eight entries, and a decoder too big for the row-by-row walk. Correctness against
 * the reference backend is test/kernels-fused.test.ts's job, run per ISA with SAELAB_ISA.
 */
import { describe, expect, it } from "vitest";
import { loadKernels } from "../src/tensor/backend.js";
import type { Kernels } from "../src/tensor/kernels.js";
import { nativeIsas } from "../src/tensor/native.js";
import { Rng } from "../src/tensor/rng.js";
import { rand, randSparse } from "./helpers/kernels.js";

const isas = nativeIsas();
const SHAPES: [rows: number, cols: number, n: number, density: number][] = [
  [5, 9, 1, 0.6], [17, 40, 7, 0.5], [33, 64, 16, 0.4], [40, 100, 64, 0.2], [29, 77, 67, 0.3], [23, 50, 130, 0.35], [9, 3000, 100, 0.02],
];

function bits(a: Float32Array | number): string {
  return typeof a === "number" ? String(a) : Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("hex");
}

function runAll(K: Kernels, seed: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [rows, cols, n, density] of SHAPES) {
    const rng = new Rng(seed + rows);
    const s = randSparse(rng, rows, cols, density, rows > 3 ? [1, rows - 2] : []);
    const w = rand(rng, cols * n);
    const x = rand(rng, rows * n);
    const bias = rand(rng, n);
    const vBias = rand(rng, cols);
    const o = { grad: new Float32Array(rows * n), err: new Float32Array(rows * n), biasGrad: new Float32Array(n), valueGrad: new Float32Array(s.nnz), valueColSum: new Float32Array(cols) };
    const sq = K.decodeLoss({ s, w, n, bias, x, scale: 0.37, ...o, valueGradBias: vBias });
    const key = `${rows}x${cols} n=${n}`;
    out[`${key} decodeLoss`] = [sq, o.grad, o.err, o.biasGrad, o.valueGrad, o.valueColSum].map(bits).join("/");
    const dots = new Float32Array(s.nnz);
    K.sddmm(s, x, w, n, dots);
    out[`${key} sddmm`] = bits(dots);
  }
  return out;
}

describe.skipIf(isas.length < 2)("sparse SAE-step kernels across ISAs", () => {
  it(`give bitwise-identical results on ${isas.join(", ")}`, () => {
    const [first, ...rest] = isas.map((isa) => ({ isa, got: runAll(loadKernels("native", isa).kernels, 11) }));
    for (const { isa, got } of rest) for (const [k, v] of Object.entries(first!.got)) expect(got[k], `${k}: ${isa} vs ${first!.isa}`).toBe(v);
  });
});

/**
 * The dense product is one FMA chain per element on every library, whatever its micro-tile (12x32 on
 * AVX-512, 6x16 on AVX2 and portable C); so every shape gives the same bits on every library: row
 * counts that are and are not multiples of 6 and 12, shared dimensions around the 768-deep block
 * edge (255-257, 512, 767-769, 1100), each epilogue (alpha, column scale, bias, beta), both
 * transposes, the few-row path and B narrow enough to be read in place.
 */
const GEMM_SHAPES: [m: number, n: number, k: number][] = [
  [3, 40, 300], [7, 33, 255], [13, 70, 256], [50, 65, 257], [25, 300, 512], [19, 129, 767], [31, 40, 768], [97, 47, 769], [8, 260, 1100], [101, 520, 600],
];

function gemmAll(K: Kernels, seed: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [m, n, k] of GEMM_SHAPES) {
    const rng = new Rng(seed + m * 7 + k);
    const a = rand(rng, m * k);
    const b = rand(rng, k * n);
    const colScale = rand(rng, n);
    const bias = rand(rng, n);
    const prior = rand(rng, m * n);
    const variants: [string, Partial<Parameters<Kernels["gemm"]>[0]>][] = [
      ["plain", {}],
      ["bias", { bias }],
      ["alpha", { alpha: 0.3, bias }],
      ["scale", { colScale, bias }],
      ["beta", { beta: 0.7, bias }],
      ["transA", { transA: true }],
      ["transB", { transB: true, colScale }],
    ];
    for (const [name, v] of variants) {
      const o = Float32Array.from(prior);
      K.gemm({ a, b, out: o, m, n, k, ...v });
      out[`${m}x${n}x${k} ${name}`] = bits(o);
    }
  }
  return out;
}

describe.skipIf(isas.length < 2)("the dense product across ISAs", () => {
  it(`gives bitwise-identical results on ${isas.join(", ")}`, () => {
    const [first, ...rest] = isas.map((isa) => ({ isa, got: gemmAll(loadKernels("native", isa).kernels, 5) }));
    for (const { isa, got } of rest) for (const [k, v] of Object.entries(first!.got)) expect(got[k], `${k}: ${isa} vs ${first!.isa}`).toBe(v);
  });
});
