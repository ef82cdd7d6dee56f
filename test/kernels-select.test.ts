/**
 * Conformance suite, selection kernels and Adam: every available backend, the reference included,
 * against plain-loop oracles written here from the definitions (sharing no code with src/).
 * Selections must match exactly (same entries, same order, same tie-breaking); ties are forced with
 * quantised values. Adam is compared, with a tolerance from float32 rounding, to its formula
 * evaluated in float64.
 */
import { describe, expect, it } from "vitest";
import { availableKernels, parseIsa, backendLabel } from "../src/tensor/backend.js";
import { emptySparse, type Kernels, type SparseRows } from "../src/tensor/kernels.js";
import { Rng } from "../src/tensor/rng.js";
import { expectSameSparse, expectWithin, quantized, rand } from "./helpers/kernels.js";

const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));

/** Odd shapes, and rows of whole and partial 8- and 16-lane vectors (the AVX2 and AVX-512 paths). */
const SIZES: [number, number][] = [[1, 1], [1, 9], [5, 7], [3, 8], [2, 16], [3, 17], [2, 33], [1, 48], [13, 40], [37, 101], [4, 300]];

/** A few inputs per size: uniform, tie-heavy, mostly negative (rows with nothing to select). */
function inputs(rng: Rng, rows: number, cols: number): [string, Float32Array][] {
  const neg = rand(rng, rows * cols, -1, 0.05);
  for (let j = 0; j < cols; j++) neg[j] = -1; // row 0 has no positive entry
  return [["uniform", rand(rng, rows * cols)], ["ties", quantized(rng, rows * cols, 3)], ["mostly negative", neg]];
}

/** Returns the sparse matrix of the chosen (row, column) entries of `pre`, each row in column order. */
function chosen(pre: Float32Array, rows: number, cols: number, pick: (r: number) => number[]): SparseRows {
  const rowPtr = new Int32Array(rows + 1);
  const colIdx: number[] = [];
  const values: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (const j of [...pick(r)].sort((a, b) => a - b)) {
      colIdx.push(j);
      values.push(pre[r * cols + j]!);
    }
    rowPtr[r + 1] = colIdx.length;
  }
  return { rows, cols, rowPtr, colIdx: Int32Array.from(colIdx), values: Float32Array.from(values), nnz: colIdx.length };
}

/** Oracle: the entries above the column's threshold (0 without thresholds). */
function oAbove(pre: Float32Array, rows: number, cols: number, thr?: Float32Array): SparseRows {
  return chosen(pre, rows, cols, (r) => {
    const out: number[] = [];
    for (let j = 0; j < cols; j++) if (pre[r * cols + j]! > (thr ? thr[j]! : 0)) out.push(j);
    return out;
  });
}

/** Oracle: per row, the k largest positive entries among the unmasked columns, ties to the lower column. */
function oTopkRows(pre: Float32Array, rows: number, cols: number, k: number, mask?: Uint8Array): SparseRows {
  return chosen(pre, rows, cols, (r) => {
    const pos: number[] = [];
    for (let j = 0; j < cols; j++) if ((!mask || mask[j] !== 0) && pre[r * cols + j]! > 0) pos.push(j);
    pos.sort((a, b) => (pre[r * cols + a]! === pre[r * cols + b]! ? a - b : pre[r * cols + b]! > pre[r * cols + a]! ? 1 : -1));
    return pos.slice(0, Math.max(0, k));
  });
}

/** Oracle: the `total` largest positive entries of the whole matrix, ties to the lower flat index. */
function oTopkBatch(pre: Float32Array, rows: number, cols: number, total: number): SparseRows {
  const pos: number[] = [];
  for (let i = 0; i < rows * cols; i++) if (pre[i]! > 0) pos.push(i);
  pos.sort((a, b) => (pre[a]! === pre[b]! ? a - b : pre[b]! > pre[a]! ? 1 : -1));
  const keep = pos.slice(0, Math.max(0, total));
  return chosen(pre, rows, cols, (r) => keep.filter((i) => Math.floor(i / cols) === r).map((i) => i % cols));
}

/** Oracle: the entries strictly within halfWidth of their column's centre. */
function oWindow(pre: Float32Array, rows: number, cols: number, center: Float32Array, halfWidth: number): SparseRows {
  return chosen(pre, rows, cols, (r) => {
    const out: number[] = [];
    for (let j = 0; j < cols; j++) if (Math.abs(pre[r * cols + j]! - center[j]!) < halfWidth) out.push(j);
    return out;
  });
}

/** Runs a selection on a backend into a SparseRows that must grow, and again reusing it; both must equal the oracle's. */
function both(K: Kernels, run: (k: Kernels, out: SparseRows) => SparseRows, want: SparseRows, what: string): SparseRows {
  const got = run(K, emptySparse(0, 0, 0));
  expectSameSparse(got, want, what);
  // Reusing an output with room to spare gives the same result.
  expectSameSparse(run(K, got), want, `${what} (reused)`);
  return got;
}

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: selection kernels", (_name, K: Kernels) => {
  it("sparsifyAbove matches the oracle, with and without thresholds (entries equal to the threshold stay out)", () => {
    const rng = new Rng(31);
    for (const [rows, cols] of SIZES) {
      for (const [kind, pre] of inputs(rng, rows, cols)) {
        both(K, (k, o) => k.sparsifyAbove(pre, rows, cols, o), oAbove(pre, rows, cols), `sparsifyAbove ${kind} ${rows}x${cols}`);
        const thr = quantized(rng, cols, 2);
        both(K, (k, o) => k.sparsifyAbove(pre, rows, cols, o, thr), oAbove(pre, rows, cols, thr), `sparsifyAbove thr ${kind} ${rows}x${cols}`);
      }
    }
  });

  it("topkRows matches the oracle: ties to the lower column, k of 0, 1, the row length and beyond, masks", () => {
    const rng = new Rng(32);
    for (const [rows, cols] of SIZES) {
      for (const [kind, pre] of inputs(rng, rows, cols)) {
        const mask = Uint8Array.from({ length: cols }, () => (rng.bernoulli(0.7) ? 1 + rng.int(3) : 0));
        for (const k of [0, 1, 3, 8, cols, cols + 5]) {
          both(K, (kk, o) => kk.topkRows(pre, rows, cols, k, o), oTopkRows(pre, rows, cols, k), `topkRows k=${k} ${kind} ${rows}x${cols}`);
          both(K, (kk, o) => kk.topkRows(pre, rows, cols, k, o, mask), oTopkRows(pre, rows, cols, k, mask), `topkRows masked k=${k} ${kind} ${rows}x${cols}`);
        }
      }
    }
  });

  it("topkRows keeps exactly the k largest on wide rows of changing scale (the SAE shape's paths)", () => {
    const rng = new Rng(33);
    const [rows, cols] = [9, 5000];
    const pre = rand(rng, rows * cols);
    for (let j = 0; j < cols; j += 7) pre[j] = pre[cols + j] = 0.5; // a tie block in rows 0 and 1
    pre.subarray(2 * cols, 3 * cols).sort(); // ascending: every entry displaces the heap's worst
    for (let j = 0; j < cols; j++) {
      pre[3 * cols + j]! *= 0.01; // far below the previous row's cut
      pre[4 * cols + j]! *= 100; // far above it: too many candidates
    }
    const mask = Uint8Array.from({ length: cols }, () => (rng.bernoulli(0.8) ? 1 : 0));
    for (const k of [1, 64, 100, 3000]) {
      both(K, (kk, o) => kk.topkRows(pre, rows, cols, k, o), oTopkRows(pre, rows, cols, k), `topkRows wide k=${k}`);
      both(K, (kk, o) => kk.topkRows(pre, rows, cols, k, o, mask), oTopkRows(pre, rows, cols, k, mask), `topkRows wide masked k=${k}`);
    }
    // Enough rows to be split between threads.
    const big = rand(rng, 40 * 4000);
    both(K, (kk, o) => kk.topkRows(big, 40, 4000, 64, o), oTopkRows(big, 40, 4000, 64), "topkRows 40x4000");
  });

  it("sparsifyAbove and window on matrices split between threads, with outputs too small, skewed or roomy", () => {
    const rng = new Rng(37);
    const [rows, cols] = [100, 1000];
    const pre = rand(rng, rows * cols);
    for (let i = 0; i < 50 * cols; i++) pre[i] = Math.abs(pre[i]!) * (rng.bernoulli(0.8) ? 1 : -1); // dense top half
    for (let i = 50 * cols; i < rows * cols; i++) pre[i] = rng.bernoulli(0.05) ? Math.abs(pre[i]!) : -1;
    const center = new Float32Array(cols).fill(0.5);
    const runs: [string, (k: Kernels, o: SparseRows) => SparseRows, SparseRows][] = [
      ["sparsifyAbove", (k, o) => k.sparsifyAbove(pre, rows, cols, o), oAbove(pre, rows, cols)],
      ["window", (k, o) => k.window(pre, rows, cols, center, 0.3, o), oWindow(pre, rows, cols, center, 0.3)],
    ];
    for (const [name, run, want] of runs) {
      both(K, run, want, `${name} big`);
      // Exactly enough room in total, but the first half of the rows needs more than half of it.
      const exact = emptySparse(rows, cols, want.nnz);
      expectSameSparse(run(K, exact), want, `${name} exact capacity`);
      expect(exact.colIdx.length, `${name} kept its arrays`).toBe(Math.max(want.nnz, 1));
      // Room for every thread's share: entries are written in place and then moved together.
      expectSameSparse(run(K, emptySparse(rows, cols, 3 * want.nnz)), want, `${name} roomy`);
    }
  });

  it("topkBatch matches the oracle: ties to the lower flat index, totals beyond the positives", () => {
    const rng = new Rng(34);
    for (const [rows, cols] of SIZES) {
      for (const [kind, pre] of inputs(rng, rows, cols)) {
        for (const total of [0, 1, 5, rows * 2, rows * cols, 4 * rows * cols]) {
          both(K, (k, o) => k.topkBatch(pre, rows, cols, total, o), oTopkBatch(pre, rows, cols, total), `topkBatch total=${total} ${kind} ${rows}x${cols}`);
        }
      }
    }
  });

  it("topkBatch on a large matrix with many near-equal values, subnormals and infinities", () => {
    const rng = new Rng(35);
    const [rows, cols] = [48, 1500];
    const pre = new Float32Array(rows * cols);
    for (let i = 0; i < pre.length; i++) pre[i] = rng.normal();
    for (let i = 0; i < 3000; i++) pre[rng.int(pre.length)] = 1 + rng.int(4) * 2 ** -23; // adjacent floats: ties inside one bin
    const tiny = Float32Array.from({ length: rows * cols }, () => (rng.bernoulli(0.5) ? rng.int(50) * 1e-45 : -1));
    tiny[17] = Infinity;
    tiny[99] = Infinity;
    for (const total of [1, 64 * rows, 5000, 29_000]) {
      both(K, (k, o) => k.topkBatch(pre, rows, cols, total, o), oTopkBatch(pre, rows, cols, total), `topkBatch normal total=${total}`);
      both(K, (k, o) => k.topkBatch(tiny, rows, cols, total, o), oTopkBatch(tiny, rows, cols, total), `topkBatch subnormal total=${total}`);
    }
  });

  it("topkBatch over many rows: a sampled cut that holds, one too high and one too low", () => {
    const rng = new Rng(38);
    const [rows, cols] = [256, 300]; // every 4th row is sampled
    for (const sampledScale of [1, 10, 0.01]) {
      const pre = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let j = 0; j < cols; j++) pre[r * cols + j] = rng.normal() * (r % 4 === 0 ? sampledScale : 1);
      for (const total of [100, 64 * rows]) both(K, (k, o) => k.topkBatch(pre, rows, cols, total, o), oTopkBatch(pre, rows, cols, total), `topkBatch sampled x${sampledScale} total=${total}`);
    }
  });

  it("window matches the oracle, including entries exactly at the edge", () => {
    const rng = new Rng(36);
    for (const [rows, cols] of SIZES) {
      for (const [kind, pre] of inputs(rng, rows, cols)) {
        const center = quantized(rng, cols, 2);
        for (const hw of [0, 0.25, 0.3, 1e9]) both(K, (k, o) => k.window(pre, rows, cols, center, hw, o), oWindow(pre, rows, cols, center, hw), `window hw=${hw} ${kind} ${rows}x${cols}`);
      }
    }
  });
});

/** Adam's update (Kingma & Ba, with bias correction) in float64 from float32 inputs: the new params, m and v. */
function adam64(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number, eps: number, t: number) {
  const n = p.length;
  const [P, M, V] = [new Float64Array(n), new Float64Array(n), new Float64Array(n)];
  for (let i = 0; i < n; i++) {
    M[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
    V[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
    const mHat = M[i]! / (1 - beta1 ** t);
    const vHat = V[i]! / (1 - beta2 ** t);
    P[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
  }
  return { P, M, V };
}

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: adam", (_name, K: Kernels) => {
  it("matches the update formula in float64 over several steps (odd lengths, zero gradients)", () => {
    const rng = new Rng(41);
    const U = 2 ** -24;
    const [lr, beta1, beta2, eps] = [1e-3, 0.9, 0.999, 1e-8];
    for (const len of [1, 7, 8, 1001, 40_000]) {
      const state = [rand(rng, len), new Float32Array(len), new Float32Array(len)] as const;
      for (let step = 1; step <= 4; step++) {
        const grads = rand(rng, len);
        if (len > 1) grads[1] = 0;
        // Each step starts from the float64 result rounded to float32, so errors do not compound.
        const want = adam64(state[0], grads, state[1], state[2], lr, beta1, beta2, eps, step);
        const mine = state.map((x) => Float32Array.from(x)) as unknown as typeof state;
        K.adam({ params: mine[0], grads, m: mine[1], v: mine[2], lr, beta1, beta2, eps, step });
        // Bounds from the magnitudes of the terms (m and v can cancel to far below them).
        const tolM = state[1].map((x, i) => 4 * U * (beta1 * Math.abs(x) + (1 - beta1) * Math.abs(grads[i]!)) + 1e-30);
        const tolV = state[2].map((x, i) => 4 * U * (beta2 * x + (1 - beta2) * grads[i]! ** 2) + 1e-30);
        const bc1 = 1 - beta1 ** step;
        const bc2 = 1 - beta2 ** step;
        const tolP = state[0].map((x, i) => {
          const den = Math.sqrt(want.V[i]! / bc2) + eps;
          const move = (lr * Math.abs(want.M[i]!)) / bc1 / den;
          return 4 * U * Math.abs(x) + (lr / bc1) * (tolM[i]! / den) + 8 * U * move + (move * tolV[i]!) / (want.V[i]! + 1e-30);
        });
        expectWithin(mine[1], want.M, tolM, `adam m len=${len} step=${step}`);
        expectWithin(mine[2], want.V, tolV, `adam v len=${len} step=${step}`);
        expectWithin(mine[0], want.P, tolP, `adam params len=${len} step=${step}`);
        state[0].set(want.P);
        state[1].set(want.M);
        state[2].set(want.V);
      }
    }
  });
});
