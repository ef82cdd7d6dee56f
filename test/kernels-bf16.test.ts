/**
 * Conformance of the mixed-precision (bf16) products on every backend and ISA: the GEMM and the fused
 * encoder with `bf16` against a plain double-precision loop over inputs rounded to bfloat16 here
 * (a rounding written in this file from the format's definition), and against the fp32 product.
 *
 * Bounds. bfloat16 keeps 8 significant bits, so rounding to nearest gives |x~ - x| <= u |x| with
 * u = 2^-8 (inputs below 2^-126, flushed to zero, err by less than 2^-126). A product of two
 * bfloat16 values is exact in fp32 (16 significant bits), so the bf16 product differs from the exact
 * sum of the rounded products only by the fp32 summation, at most (k + 2) 2^-24 sum |a~ b~|; and from
 * the exact fp32-input product by at most (2u + u^2) sum |a b| more.
 */
import { describe, expect, it } from "vitest";
import { availableKernels, parseIsa, backendLabel } from "../src/tensor/backend.js";
import { bf16Round, emptySparse, type Kernels } from "../src/tensor/kernels.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { expectWithin, rand, U } from "./helpers/kernels.js";

const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));
const ref = referenceKernels();
const UB = 2 ** -8;

/** x rounded to bfloat16 by the format's definition: the nearest value with 8 significant bits (ties to even); below 2^-126 to zero. */
function toBf16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  if (Math.abs(x) < 2 ** -126) return x < 0 ? -0 : 0;
  const e = Math.floor(Math.log2(Math.abs(x)));
  const ulp = 2 ** (e - 7);
  const q = x / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q)) === 0.5) r = Math.trunc(q) % 2 === 0 ? Math.trunc(q) : Math.trunc(q) + Math.sign(q);
  return r * ulp;
}

/** Plain loops over [m, k] x [k, n] (transposes as flags say): the exact sums of rounded and of unrounded products, and their magnitudes. */
function plain(a: Float32Array, b: Float32Array, m: number, n: number, k: number, ta: boolean, tb: boolean) {
  const exactRounded = new Float64Array(m * n), magRounded = new Float64Array(m * n), exact = new Float64Array(m * n), mag = new Float64Array(m * n);
  const ar = a.map(toBf16), br = b.map(toBf16);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0, g = 0, s0 = 0, g0 = 0;
      for (let p = 0; p < k; p++) {
        const ia = ta ? p * m + i : i * k + p, ib = tb ? j * k + p : p * n + j;
        const x = a[ia]!, y = b[ib]!;
        const pr = ar[ia]! * br[ib]!;
        s += pr;
        g += Math.abs(pr);
        s0 += x * y;
        g0 += Math.abs(x * y);
      }
      exactRounded[i * n + j] = s;
      magRounded[i * n + j] = g;
      exact[i * n + j] = s0;
      mag[i * n + j] = g0;
    }
  }
  return { exactRounded, magRounded, exact, mag };
}

it("bf16Round rounds to nearest even on 8 significant bits, flushes subnormals and keeps NaN and infinities", () => {
  const xs = Float32Array.of(1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, -3.14159, 2 ** -126, 2 ** -127, -(2 ** -130), 3.4e38, Infinity, -Infinity, 1e-3, 65504);
  const got = bf16Round(xs);
  for (let i = 0; i < xs.length; i++) expect(got[i], `x = ${xs[i]}`).toBe(Math.fround(toBf16(xs[i]!)));
  expect(got[8]).toBe(Infinity); // above the largest bfloat16: rounds to infinity
  expect(Number.isNaN(bf16Round(Float32Array.of(NaN))[0])).toBe(true);
  expect(Object.is(bf16Round(Float32Array.of(-(2 ** -130)))[0], -0)).toBe(true);
});

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: bf16 products", (_name, K: Kernels) => {
  it("says how it runs them", () => {
    expect(["amx", "hardware", "emulated"]).toContain(K.bf16);
    if (K.name === "reference" || (K.isa !== "avx512" && K.isa !== "amx")) expect(K.bf16).toBe("emulated");
    if (K.isa === "avx512") expect(K.bf16).not.toBe("amx");
    if (K.isa === "amx") expect(K.bf16).toBe("amx");
  });

  it("gemm with bf16 is the rounded inputs' product within the fp32 summation bound, and the fp32 product within the bf16 bound", () => {
    const rng = new Rng(77);
    // AMX tiles take k >= 32 (16-row x 32-element tiles, 32 x 32 blocks of C): shapes with row, column and shared tails around them.
    const shapes: [number, number, number][] = [[1, 1, 1], [3, 37, 5], [7, 33, 1], [6, 32, 2], [13, 97, 67], [61, 31, 17], [97, 70, 40], [5, 300, 100], [100, 40, 801], [33, 47, 32], [40, 33, 31], [130, 65, 97]];
    for (const [m, n, k] of shapes) {
      for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
        const a = rand(rng, m * k), b = rand(rng, k * n), bias = rand(rng, n), colScale = rand(rng, n, 0.5, 2);
        const out = new Float32Array(m * n);
        K.gemm({ a, b, out, m, n, k, transA: ta, transB: tb, bf16: true, bias, colScale });
        const P = plain(a, b, m, n, k, ta, tb);
        const want = new Float64Array(m * n), tolR = new Float64Array(m * n), want0 = new Float64Array(m * n), tol0 = new Float64Array(m * n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            const q = i * n + j, s = colScale[j]!;
            want[q] = P.exactRounded[q]! * s + bias[j]!;
            want0[q] = P.exact[q]! * s + bias[j]!;
            const fp32 = (k + 4) * U * (P.magRounded[q]! * s + Math.abs(bias[j]!));
            tolR[q] = fp32 + 1e-30;
            tol0[q] = fp32 + (2 * UB + UB * UB) * P.mag[q]! * s + 1e-30;
          }
        }
        expectWithin(out, want, tolR, `gemm bf16 ${m}x${n}x${k} ${ta ? "T" : "N"}${tb ? "T" : "N"} vs rounded`);
        expectWithin(out, want0, tol0, `gemm bf16 ${m}x${n}x${k} vs fp32 inputs`);
      }
    }
  });

  it("encode with bf16: xc exact in fp32, pre the bf16 product of xc and w, the selection on that pre (fused row blocks and the GEMM path)", () => {
    const rng = new Rng(78);
    // The fused row blocks while op(w) packs into 2 MiB, the GEMM into pre beyond (130 x 4100 floats).
    for (const [rows, n, cols, transW] of [[150, 64, 512, false], [60, 48, 300, true], [13, 130, 4100, false]] as const) {
      const x = rand(rng, rows * n), w = rand(rng, n * cols), center = rand(rng, n), bias = rand(rng, cols);
      const xc = new Float32Array(rows * n), pre = new Float32Array(rows * cols);
      const out = emptySparse(0, 0);
      K.encode({ x, rows, n, cols, center, xc, w, transW, bias, pre, keepPre: true, select: { kind: "topk", k: 20 }, out, bf16: true });
      const xc0 = new Float32Array(rows * n);
      for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) xc0[r * n + c] = Math.fround(x[r * n + c]! - center[c]!);
      expect(Array.from(xc)).toEqual(Array.from(xc0));
      const P = plain(xc0, w, rows, cols, n, false, transW);
      const want = new Float64Array(rows * cols), tol = new Float64Array(rows * cols);
      for (let i = 0; i < rows * cols; i++) {
        want[i] = P.exactRounded[i]! + bias[i % cols]!;
        tol[i] = (n + 4) * U * (P.magRounded[i]! + Math.abs(bias[i % cols]!)) + 1e-30;
      }
      expectWithin(pre, want, tol, `encode bf16 pre ${rows}x${n}x${cols}${transW ? " transW" : ""}`);
      const sel = emptySparse(0, 0);
      ref.topkRows(pre, rows, cols, 20, sel);
      expect(out.nnz).toBe(sel.nnz);
      expect(Array.from(out.colIdx.subarray(0, out.nnz))).toEqual(Array.from(sel.colIdx.subarray(0, sel.nnz)));
    }
  });
});
