/**
 * Conformance suite, dense and sparse products: every available backend against the reference
 * kernels (the oracle), each backward against finite differences, and the reference GEMM against a
 * naive triple loop. A backend is covered as soon as availableKernels() returns it.
 * Tolerances: a float32 sum of k products errs by at most (k + 2) * 2^-24 times the sum of the
 * products' magnitudes (a standard bound); the tests use that bound, computed per element.
 */
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { availableKernels, parseIsa, backendLabel } from "../src/tensor/backend.js";
import type { GemmArgs, Kernels, SparseRows } from "../src/tensor/kernels.js";
import { nativeIsas } from "../src/tensor/native.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { absSparse, dot64, expectWithin, finiteDiff, rand, randSparse, transpose, U } from "./helpers/kernels.js";

const ref = referenceKernels();
const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));

const built = existsSync(new URL("../build/Release/saelab_native.node", import.meta.url));
it.skipIf(!built)("the native addon that npm install built loads, so the suite covers it on every ISA this CPU runs (or SAELAB_ISA's)", () => {
  const isas = nativeIsas();
  expect(isas).toContain("portable");
  const only = process.env.SAELAB_ISA;
  const want = only ? [only] : isas;
  expect(backends.map(backendLabel)).toEqual(["reference", ...want.map((i) => `native (${i})`)]);
});

/** out = alpha * op(a) @ op(b) * colScale + bias + beta * out, by the obvious triple loop in double precision. */
function naiveGemm(g: GemmArgs): Float32Array {
  const { a, b, m, n, k } = g;
  const alpha = g.alpha ?? 1;
  const beta = g.beta ?? 0;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (g.transA ? a[p * m + i]! : a[i * k + p]!) * (g.transB ? b[j * k + p]! : b[p * n + j]!);
      let v = alpha * s * (g.colScale ? g.colScale[j]! : 1) + (g.bias ? g.bias[j]! : 0);
      if (beta !== 0) v += beta * g.out[i * n + j]!;
      out[i * n + j] = v;
    }
  }
  return out;
}

/** Per-element error bound for a float32 GEMM with this epilogue. */
function gemmTol(g: GemmArgs): Float32Array {
  const abs = (x: Float32Array) => x.map(Math.abs);
  const mag = new Float32Array(g.m * g.n);
  ref.gemm({ ...g, a: abs(g.a), b: abs(g.b), out: mag, alpha: Math.abs(g.alpha ?? 1), beta: 0, bias: undefined, colScale: g.colScale && abs(g.colScale) });
  const tol = new Float32Array(g.m * g.n);
  for (let i = 0; i < g.m; i++) {
    for (let j = 0; j < g.n; j++) {
      const extra = Math.abs(g.bias?.[j] ?? 0) + Math.abs((g.beta ?? 0) * g.out[i * g.n + j]!);
      tol[i * g.n + j] = (g.k + 4) * U * (mag[i * g.n + j]! + extra) + 1e-30;
    }
  }
  return tol;
}

type Epilogue = Pick<GemmArgs, "alpha" | "beta" | "bias" | "colScale">;
function epilogues(rng: Rng, n: number): Epilogue[] {
  return [{}, { alpha: -1.5 }, { beta: 0.75, bias: rand(rng, n) }, { alpha: 0.5, beta: -2, colScale: rand(rng, n, 0.5, 2), bias: rand(rng, n) }, { colScale: rand(rng, n) }];
}

const SHAPES: [number, number, number][] = [
  [1, 1, 1], [1, 64, 64], [1, 172, 64], [1, 7, 300], [2, 33, 17], [3, 37, 5], [4, 100, 9], [5, 17, 300],
  [6, 16, 8], [7, 33, 13], [13, 97, 67], [61, 31, 1], [97, 130, 70], [2, 5, 0], [0, 3, 4], [3, 0, 4], [3, 1003, 300],
];

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: gemm", (_name, K: Kernels) => {
  it("matches the reference for every transpose, epilogue and awkward size", () => {
    const rng = new Rng(11);
    let e = 0;
    for (const [m, n, k] of SHAPES) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const eps = epilogues(rng, n);
          const epi = eps[e++ % eps.length]!;
          const g: GemmArgs = { a: rand(rng, m * k), b: rand(rng, k * n), out: rand(rng, m * n), m, n, k, transA, transB, ...epi };
          const want = Float32Array.from(g.out);
          ref.gemm({ ...g, out: want });
          const got = Float32Array.from(g.out);
          K.gemm({ ...g, out: got });
          expectWithin(got, want, gemmTol(g), `gemm ${m}x${n}x${k} tA=${transA} tB=${transB} ${JSON.stringify(Object.keys(epi))}`);
        }
      }
    }
  });

  it.skipIf(K.name === "reference")("matches the reference beyond every cache block (m > 96, n > 1024, k > 768)", () => {
    const rng = new Rng(12);
    for (const [transA, transB] of [[false, false], [true, true]] as const) {
      const [m, n, k] = [101, 1043, 781];
      const g: GemmArgs = { a: rand(rng, m * k), b: rand(rng, k * n), out: rand(rng, m * n), m, n, k, transA, transB, beta: 0.5, bias: rand(rng, n) };
      const want = Float32Array.from(g.out);
      ref.gemm({ ...g, out: want });
      const got = Float32Array.from(g.out);
      K.gemm({ ...g, out: got });
      expectWithin(got, want, gemmTol(g), `gemm ${m}x${n}x${k} tA=${transA} tB=${transB}`);
    }
  });

  it("does not read out when beta is 0 (NaN there is overwritten)", () => {
    const rng = new Rng(13);
    const [m, n, k] = [9, 21, 11];
    const g: GemmArgs = { a: rand(rng, m * k), b: rand(rng, k * n), out: new Float32Array(m * n).fill(NaN), m, n, k };
    K.gemm(g);
    const want = new Float32Array(m * n);
    ref.gemm({ ...g, out: want });
    expectWithin(g.out, want, gemmTol({ ...g, out: want }), "gemm over NaN");
  });

  it("gradients from transposed gemms match finite differences for both inputs", () => {
    const rng = new Rng(14);
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const [m, n, k] = [7, 19, 13];
      const a = rand(rng, m * k);
      const b = rand(rng, k * n);
      const G = rand(rng, m * n);
      const out = new Float32Array(m * n);
      const loss = () => (K.gemm({ a, b, out, m, n, k, transA, transB }), dot64(G, out));
      // d loss / d op(a) = G @ op(b)^T  [m, k];  d loss / d op(b) = op(a)^T @ G  [k, n]
      const dOpA = new Float32Array(m * k);
      K.gemm({ a: G, b, out: dOpA, m, n: k, k: n, transB: !transB });
      const dOpB = new Float32Array(k * n);
      K.gemm({ a, b: G, out: dOpB, m: k, n, k: m, transA: !transA });
      for (let t = 0; t < 8; t++) {
        const i = rng.int(m);
        const p = rng.int(k);
        const j = rng.int(n);
        const fa = finiteDiff(loss, a, transA ? p * m + i : i * k + p, 0.05);
        const fb = finiteDiff(loss, b, transB ? j * k + p : p * n + j, 0.05);
        expect(Math.abs(fa - dOpA[i * k + p]!), `d/da tA=${transA} tB=${transB}`).toBeLessThan(2e-3 * (1 + Math.abs(fa)));
        expect(Math.abs(fb - dOpB[p * n + j]!), `d/db tA=${transA} tB=${transB}`).toBeLessThan(2e-3 * (1 + Math.abs(fb)));
      }
    }
  });
});

describe("reference gemm", () => {
  it("equals a naive triple loop written here", () => {
    const rng = new Rng(15);
    for (const [m, n, k] of [[3, 4, 5], [1, 9, 2], [8, 1, 7], [5, 6, 0]] as const) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          for (const epi of epilogues(rng, n)) {
            const g: GemmArgs = { a: rand(rng, m * k), b: rand(rng, k * n), out: rand(rng, m * n), m, n, k, transA, transB, ...epi };
            const want = naiveGemm(g);
            ref.gemm(g);
            expectWithin(g.out, want, 1e-6, `reference gemm ${m}x${n}x${k}`);
          }
        }
      }
    }
  });
});

/** Per-element tolerance for a product over a row's entries: bound from the magnitudes. */
function sparseTol(mag: Float32Array, prior: Float32Array | null, maxTerms: number): Float32Array {
  return mag.map((x, i) => (maxTerms + 4) * U * (x + Math.abs(prior?.[i] ?? 0)) + 1e-30);
}

function maxRowNnz(s: SparseRows): number {
  let m = 0;
  for (let r = 0; r < s.rows; r++) m = Math.max(m, s.rowPtr[r + 1]! - s.rowPtr[r]!);
  return m;
}

const SPARSE_SHAPES: [number, number, number, number][] = [
  // rows, cols, n, density
  [1, 1, 1, 1], [5, 7, 3, 0.5], [13, 40, 67, 0.3], [37, 101, 64, 0.1], [9, 16, 8, 0.6], [64, 50, 130, 0.2], [3, 1000, 17, 0.01],
];

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: sparse products", (_name, K: Kernels) => {
  it("spmm, sddmm, spmmT and spmmTCols match the reference (empty rows, awkward widths)", () => {
    const rng = new Rng(21);
    for (const [rows, cols, n, density] of SPARSE_SHAPES) {
      const s = randSparse(rng, rows, cols, density, [0, rows - 1].filter((r) => rows > 2 && r >= 0));
      const w = rand(rng, cols * n);
      const a = rand(rng, rows * n);
      const what = `${rows}x${cols} n=${n}`;
      const maxRow = maxRowNnz(s);
      const absA = a.map(Math.abs);
      const absW = w.map(Math.abs);

      for (const accumulate of [false, true]) {
        const prior = rand(rng, rows * n);
        const want = Float32Array.from(prior);
        ref.spmm(s, w, n, want, accumulate);
        const got = Float32Array.from(prior);
        K.spmm(s, w, n, got, accumulate);
        const mag = new Float32Array(rows * n);
        ref.spmm(absSparse(s), absW, n, mag, false);
        expectWithin(got, want, sparseTol(mag, accumulate ? prior : null, maxRow), `spmm acc=${accumulate} ${what}`);
      }

      const dv = new Float32Array(s.nnz);
      K.sddmm(s, a, w, n, dv);
      const dvWant = new Float32Array(s.nnz);
      ref.sddmm(s, a, w, n, dvWant);
      const dvMag = new Float32Array(s.nnz);
      ref.sddmm(s, absA, absW, n, dvMag);
      expectWithin(dv, dvWant, sparseTol(dvMag, null, n), `sddmm ${what}`);

      const colCount = new Int32Array(cols);
      for (let e = 0; e < s.nnz; e++) colCount[s.colIdx[e]!]!++;
      const maxCol = Math.max(0, ...colCount);
      const priorT = rand(rng, cols * n, 0.5, 1.5);
      const tWant = Float32Array.from(priorT);
      ref.spmmT(s, a, n, tWant);
      const tGot = Float32Array.from(priorT);
      K.spmmT(s, a, n, tGot);
      const tMag = new Float32Array(cols * n);
      ref.spmmT(absSparse(s), absA, n, tMag);
      expectWithin(tGot, tWant, sparseTol(tMag, priorT, maxCol), `spmmT ${what}`);
      // Latents that never fired keep their rows bit for bit.
      for (let j = 0; j < cols; j++) {
        if (colCount[j] === 0) expect(Array.from(tGot.subarray(j * n, (j + 1) * n)), `spmmT untouched latent ${j}`).toEqual(Array.from(priorT.subarray(j * n, (j + 1) * n)));
      }

      const cGot = transpose(priorT, cols, n);
      K.spmmTCols(s, a, n, cGot);
      expectWithin(cGot, transpose(tWant, cols, n), transpose(sparseTol(tMag, priorT, maxCol), cols, n), `spmmTCols ${what}`);
      for (let j = 0; j < cols; j++) {
        if (colCount[j] !== 0) continue;
        for (let c = 0; c < n; c++) expect(cGot[c * cols + j], `spmmTCols untouched latent ${j}`).toBe(priorT[j * n + c]);
      }
    }
  });

  it("spmm's gradients (w via spmmT, values via sddmm) and spmmTCols match finite differences", () => {
    const rng = new Rng(22);
    const [rows, cols, n] = [6, 23, 11];
    const s = randSparse(rng, rows, cols, 0.3, [2]);
    const w = rand(rng, cols * n);
    const G = rand(rng, rows * n);
    const out = new Float32Array(rows * n);
    const loss = () => (K.spmm(s, w, n, out, false), dot64(G, out));
    const dW = new Float32Array(cols * n);
    K.spmmT({ ...s, values: s.values }, G, n, dW); // d loss / d w[j, :] = sum over entries (r, j) of value * G[r, :]
    const dVal = new Float32Array(s.nnz);
    K.sddmm(s, G, w, n, dVal); // d loss / d value_e = G[r, :] . w[j, :]
    for (let t = 0; t < 10; t++) {
      const i = rng.int(cols * n);
      const fd = finiteDiff(loss, w, i, 0.05);
      expect(Math.abs(fd - dW[i]!), `d/dw[${i}]`).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
    }
    for (let t = 0; t < 10; t++) {
      const e = rng.int(s.nnz);
      const fd = finiteDiff(loss, s.values, e, 0.05);
      expect(Math.abs(fd - dVal[e]!), `d/dvalue[${e}]`).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
    }

    // The encoder-weight gradient: y_e = x[r, :] . W[:, j] for entries e = (r, j) with W [n, cols]
    // (W_enc's layout), loss = sum g_e y_e, so d loss / d W = spmmTCols(s with values g, x).
    const x = rand(rng, rows * n);
    const Wenc = rand(rng, n * cols);
    const g = rand(rng, s.nnz);
    const y = new Float32Array(s.nnz);
    const encLoss = () => (K.sddmm(s, x, transpose(Wenc, n, cols), n, y), dot64(g, y));
    const dWenc = new Float32Array(n * cols);
    K.spmmTCols({ ...s, values: g }, x, n, dWenc);
    for (let t = 0; t < 10; t++) {
      const i = rng.int(n * cols);
      const fd = finiteDiff(encLoss, Wenc, i, 0.05);
      expect(Math.abs(fd - dWenc[i]!), `d/dW_enc[${i}]`).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
    }
  });

  it("gives bitwise-identical results when run twice (thread timing does not matter)", () => {
    const rng = new Rng(23);
    const [m, n, k] = [150, 300, 130];
    const a = rand(rng, m * k);
    const b = rand(rng, k * n);
    const runs = [0, 1].map(() => {
      const out = new Float32Array(m * n);
      K.gemm({ a, b, out, m, n, k, transB: true, bias: b.subarray(0, n) });
      return out;
    });
    expect(Buffer.from(runs[0]!.buffer).equals(Buffer.from(runs[1]!.buffer))).toBe(true);
    const s = randSparse(rng, 200, 300, 0.05);
    const w = rand(rng, 300 * 96);
    const x = rand(rng, 200 * 96);
    const outs = [0, 1].map(() => {
      const o1 = new Float32Array(200 * 96);
      K.spmm(s, w, 96, o1, false);
      const o2 = new Float32Array(300 * 96);
      K.spmmT(s, x, 96, o2);
      const o3 = new Float32Array(96 * 300);
      K.spmmTCols(s, x, 96, o3);
      const o4 = new Float32Array(s.nnz);
      K.sddmm(s, x, w, 96, o4);
      return [o1, o2, o3, o4].map((o) => Buffer.from(o.buffer));
    });
    for (let i = 0; i < 4; i++) expect(outs[0]![i]!.equals(outs[1]![i]!), `sparse kernel ${i}`).toBe(true);
  });
});
