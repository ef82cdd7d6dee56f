/**
 * Conformance suite, the fused SAE-step kernels (encode, decodeLoss, spmmTPair): every available
 * backend against the reference, whose versions are literal compositions of the simpler kernels,
 * and the backward products against finite differences. Shapes cover both strategies of the native
 * kernels: small operands (row blocks in cache, row-by-row decoding, the blocked latent walk) and big
 * ones (GEMM into pre, latent-major products). Tolerances are the float32 bounds of
 * test/kernels.test.ts, computed per element from the magnitudes of the summed terms.
 */
import { describe, expect, it } from "vitest";
import { availableKernels, parseIsa, backendLabel } from "../src/tensor/backend.js";
import { emptySparse, reserveSparse, type EncodeSelect, type Kernels, type SparseRows } from "../src/tensor/kernels.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { absSparse, dot64, expectSameSparse, expectWithin, finiteDiff, rand, randSparse, transpose, U } from "./helpers/kernels.js";

const ref = referenceKernels();
const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));

/** [rows, n, cols]: tiny, fewer rows than the micro-kernel, several row blocks, and op(w) too big to keep packed (> 2 MiB). */
const ENCODE_SHAPES: [number, number, number][] = [[1, 3, 5], [4, 7, 33], [13, 17, 40], [200, 64, 512], [61, 130, 4100]];

function selections(rng: Rng, rows: number, cols: number): (EncodeSelect | undefined)[] {
  const total = Math.max(1, Math.floor((rows * cols) / 9));
  return [
    undefined, { kind: "above" }, { kind: "above", threshold: rand(rng, cols, 0, 0.5) }, { kind: "topk", k: 1 }, { kind: "topk", k: Math.max(1, Math.floor(cols / 7)) }, { kind: "topk", k: cols + 3 },
    // Batch top-k: no cut to try, a cut that works, one too high (fallback), more than the positive
    // entries; a cut of 0 with more positive entries than total, and with fewer.
    { kind: "topkBatch", total }, { kind: "topkBatch", total, guess: Float32Array.of(0.05) }, { kind: "topkBatch", total, guess: Float32Array.of(50) }, { kind: "topkBatch", total: rows * cols, guess: Float32Array.of(0.1) },
    { kind: "topkBatch", total, guess: Float32Array.of(0) }, { kind: "topkBatch", total: rows * cols, guess: Float32Array.of(0) },
  ];
}

/** The backend's own selection on given pre-activations. */
function selectOn(K: Kernels, sel: EncodeSelect, pre: Float32Array, rows: number, cols: number): SparseRows {
  const out = emptySparse(0, 0);
  if (sel.kind === "above") return K.sparsifyAbove(pre, rows, cols, out, sel.threshold);
  return sel.kind === "topk" ? K.topkRows(pre, rows, cols, sel.k, out) : K.topkBatch(pre, rows, cols, sel.total, out);
}

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: fused SAE-step kernels", (_name, K: Kernels) => {
  it("encode: xc exact, pre within the GEMM bound (bitwise the backend's gemm from 5 rows), the selection exactly its own kernel's on that pre", () => {
    const rng = new Rng(61);
    let combo = 0;
    for (const [rows, n, cols] of ENCODE_SHAPES) {
      const big = n * cols > 500_000;
      // The reference's encode is its own composition; the big shape only exercises the native strategy switch.
      if (big && K.name === "reference") continue;
      const x = rand(rng, rows * n);
      for (const sel of selections(rng, rows, cols).filter((_, i) => !big || i === 1 || i === 4 || i === 7)) {
        const transW = combo % 2 === 1;
        const center = combo % 3 !== 2 ? rand(rng, n, -0.3, 0.3) : undefined;
        const colScale = combo % 4 === 3 ? rand(rng, cols, 0.5, 1.5) : undefined;
        const w = rand(rng, n * cols, -0.5, 0.5);
        const bias = rand(rng, cols, -0.3, 0.1);
        combo++;
        const what = `encode ${rows}x${n}x${cols} ${sel ? JSON.stringify({ ...sel, threshold: undefined, guess: sel.kind === "topkBatch" ? sel.guess?.[0] : undefined }) : "no select"} transW=${transW}`;
        const base = { x, rows, n, cols, w, transW, bias, ...(center ? { center } : {}), ...(colScale ? { colScale } : {}) };
        const xc = new Float32Array(rows * n);
        const pre = new Float32Array(rows * cols);
        const out = emptySparse(0, 0, 0); // must grow
        const fresh = (): EncodeSelect | undefined => (sel?.kind === "topkBatch" && sel.guess ? { ...sel, guess: Float32Array.from(sel.guess) } : sel);
        K.encode({ ...base, xc, pre, ...(sel ? { select: fresh()!, out } : {}) });
        for (let i = 0; i < rows * n; i++) {
          if (xc[i] !== Math.fround(x[i]! - (center ? center[i % n]! : 0))) expect.fail(`${what}: xc[${i}]`);
        }
        const want = new Float32Array(rows * cols);
        ref.gemm({ a: xc, b: w, out: want, m: rows, n: cols, k: n, transB: transW, bias, ...(colScale ? { colScale } : {}) });
        const mag = new Float32Array(rows * cols);
        ref.gemm({ a: xc.map(Math.abs), b: w.map(Math.abs), out: mag, m: rows, n: cols, k: n, transB: transW, ...(colScale ? { colScale: colScale.map(Math.abs) } : {}) });
        expectWithin(pre, want, mag.map((v, i) => (n + 4) * U * (v + Math.abs(bias[i % cols]!)) + 1e-30), `${what}: pre`);
        if (rows >= 5) {
          const own = new Float32Array(rows * cols);
          K.gemm({ a: xc, b: w, out: own, m: rows, n: cols, k: n, transB: transW, bias, ...(colScale ? { colScale } : {}) });
          expect(Buffer.from(pre.buffer).equals(Buffer.from(own.buffer)), `${what}: pre bitwise = gemm`).toBe(true);
        }
        if (!sel) continue;
        expectSameSparse(out, selectOn(K, sel, pre, rows, cols), `${what}: selection`);
        // Without keeping pre: the same entries, also into an output that must grow, and into one with room.
        for (const o of [emptySparse(0, 0, 0), out]) {
          K.encode({ ...base, xc: new Float32Array(rows * n), pre: new Float32Array(rows * cols), keepPre: false, select: fresh()!, out: o });
          expectSameSparse(o, selectOn(K, sel, pre, rows, cols), `${what}: selection without pre`);
        }
      }
    }
  });

  it("encode places every entry when one thread's rows hold nearly all of them (output sized exactly)", () => {
    const rng = new Rng(62);
    const [rows, n, cols] = [400, 16, 512];
    const x = rand(rng, rows * n, 0.5, 1);
    for (let i = (rows / 2) * n; i < rows * n; i++) x[i] = -x[i]!;
    const w = rand(rng, n * cols, 0.1, 1); // first half of the rows: every entry positive; second half: none
    const run = (out: SparseRows, keepPre: boolean) => {
      const pre = new Float32Array(rows * cols);
      K.encode({ x, rows, n, cols, xc: new Float32Array(rows * n), w, pre, keepPre, select: { kind: "above" }, out });
      return out;
    };
    const want = run(emptySparse(0, 0), true);
    expect(want.nnz).toBe((rows / 2) * cols);
    for (const keepPre of [false, true]) {
      const exact = emptySparse(0, 0);
      reserveSparse(exact, rows, cols, want.nnz);
      expectSameSparse(run(exact, keepPre), want, `skewed rows keepPre=${keepPre}`);
    }
  });

  // The reference's encode is a plain composition: this is about the native kernel's placement.
  it.skipIf(K.name === "reference")("encode over many row blocks gives the same entries on every call (blocks placed directly or staged, as thread timing has it), also with ties", () => {
    const rng = new Rng(64);
    const [rows, n, cols] = [2000, 32, 512];
    const bytes = (s: SparseRows) => [s.rowPtr.subarray(0, rows + 1), s.colIdx.subarray(0, s.nnz), s.values.subarray(0, s.nnz)].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength));
    const quarter = (a: Float32Array) => a.map((v) => Math.round(4 * v) / 4); // exact sums: many equal pre-activations
    for (const ties of [false, true]) {
      const q = (a: Float32Array) => (ties ? quarter(a) : a);
      const x = q(rand(rng, rows * n));
      const w = q(rand(rng, n * cols, -0.5, 0.5));
      const bias = q(rand(rng, cols, -1.2, -0.6)); // about one latent in eight fires
      const center = q(rand(rng, n, -0.3, 0.3));
      const pre = new Float32Array(rows * cols);
      K.encode({ x, rows, n, cols, xc: new Float32Array(rows * n), w, bias, center, pre });
      const total = rows * 40;
      for (const sel of [{ kind: "above" }, { kind: "above", threshold: rand(rng, cols, 0, 0.3) }, { kind: "topk", k: 40 }, { kind: "topkBatch", total }] as EncodeSelect[]) {
        const want = selectOn(K, sel, pre, rows, cols);
        expect(want.nnz).toBeGreaterThan(rows * 10);
        const out = emptySparse(0, 0);
        reserveSparse(out, rows, cols, 2 * want.nnz); // room: entries are placed in the first pass
        const guess = Float32Array.of(-1);
        for (let rep = 0; rep < 6; rep++) {
          const select: EncodeSelect = sel.kind === "topkBatch" ? { kind: "topkBatch", total, guess } : sel; // from the second call on, the fused batch cut
          K.encode({ x, rows, n, cols, xc: new Float32Array(rows * n), w, bias, center, pre: new Float32Array(rows * cols), keepPre: rep % 2 === 1, select, out });
          const got = bytes(out);
          const ok = out.nnz === want.nnz && bytes(want).every((b, i) => b.equals(got[i]!));
          if (!ok) expectSameSparse(out, want, `${sel.kind} ties=${ties} call ${rep}`);
        }
      }
    }
  });

  // The native kernel selects a wide op(w) panel by panel while each block of rows is in cache.
  it.skipIf(K.name === "reference")("encode of a wide op(w) at an SAE's sparsity: thresholds or a batch cut, several row blocks, pre kept or not, output growing or exact: the entries of selecting its own GEMM", () => {
    const rng = new Rng(65);
    const [rows, n, cols] = [100, 130, 4133]; // op(w) over 2 MiB; rows past one block of 96; cols no multiple of a panel
    const x = rand(rng, rows * n);
    const center = rand(rng, n, -0.3, 0.3);
    const xc = x.map((v, i) => v - center[i % n]!);
    for (const transW of [false, true]) {
      const w = rand(rng, n * cols, -0.5, 0.5);
      const colScale = rand(rng, cols, 0.5, 1.5);
      const bias = rand(rng, cols, -6, -4.5); // about ten latents per row fire
      const pre = new Float32Array(rows * cols);
      K.gemm({ a: xc, b: w, out: pre, m: rows, n: cols, k: n, transB: transW, bias, colScale });
      const thr = rand(rng, cols, -0.5, 0.5);
      const above = (t?: Float32Array): SparseRows => {
        const rowPtr = new Int32Array(rows + 1);
        const colIdx: number[] = [];
        const values: number[] = [];
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < cols; j++) {
            if (!(pre[r * cols + j]! > (t ? t[j]! : 0))) continue;
            colIdx.push(j);
            values.push(pre[r * cols + j]!);
          }
          rowPtr[r + 1] = colIdx.length;
        }
        return { rows, cols, rowPtr, colIdx: Int32Array.from(colIdx), values: Float32Array.from(values), nnz: colIdx.length };
      };
      const total = rows * 6;
      const sorted = pre.filter((v) => v > 0).sort((a, b) => b - a);
      const batch = selectOn(K, { kind: "topkBatch", total }, pre, rows, cols);
      const cases: [string, () => EncodeSelect, SparseRows][] = [
        ["above thresholds", () => ({ kind: "above", threshold: thr }), above(thr)],
        ["above", () => ({ kind: "above" }), above()],
        ["batch cut that works", () => ({ kind: "topkBatch", total, guess: Float32Array.of(sorted[Math.floor(1.5 * total)]!) }), batch],
        ["batch cut too high", () => ({ kind: "topkBatch", total, guess: Float32Array.of(sorted[total >> 1]!) }), batch],
      ];
      // The portable library is slow: the transposed weights with one selection only.
      for (const [what, sel, want] of transW ? cases.slice(0, 1) : cases) {
        expect(want.nnz, what).toBeGreaterThan(rows * 3);
        const out = emptySparse(0, 0, 0); // grows on the first call
        for (const keepPre of [false, true]) {
          const p = new Float32Array(rows * cols);
          K.encode({ x, rows, n, cols, center, xc: new Float32Array(rows * n), w, transW, colScale, bias, pre: p, keepPre, select: sel(), out });
          expectSameSparse(out, want, `${what} transW=${transW} keepPre=${keepPre}`);
          if (keepPre) expect(Buffer.from(p.buffer).equals(Buffer.from(pre.buffer)), `${what}: kept pre bitwise = gemm`).toBe(true);
        }
        const exact = emptySparse(0, 0);
        reserveSparse(exact, rows, cols, want.nnz);
        K.encode({ x, rows, n, cols, center, xc: new Float32Array(rows * n), w, transW, colScale, bias, pre: new Float32Array(rows * cols), keepPre: false, select: sel(), out: exact });
        expectSameSparse(exact, want, `${what} transW=${transW} exact output`);
      }
    }
  });

  it("decodeLoss matches the reference (row-by-row and latent-major sizes, every optional output)", () => {
    const rng = new Rng(63);
    for (const [rows, cols, n, density] of [[1, 1, 1, 1], [9, 16, 7, 0.4], [37, 101, 64, 0.1], [64, 50, 70, 0.3], [40, 2100, 130, 0.01]] as const) {
      const s = randSparse(rng, rows, cols, density, rows > 2 ? [0, rows - 1] : []);
      s.values = s.values.map(Math.abs);
      const w = rand(rng, cols * n);
      const x = rand(rng, rows * n);
      const bias = rand(rng, n);
      const vBias = rand(rng, cols);
      const scale = 0.37;
      const run = (k: Kernels) => {
        const o = { grad: new Float32Array(rows * n), err: new Float32Array(rows * n), biasGrad: rand(new Rng(1), n), valueGrad: new Float32Array(s.nnz), valueColSum: rand(new Rng(2), cols) };
        const sq = k.decodeLoss({ s, w, n, bias, x, scale, ...o, valueGradBias: vBias });
        return { sq, ...o };
      };
      const got = run(K);
      const want = run(ref);
      const what = `decodeLoss ${rows}x${cols} n=${n}`;
      const recMag = new Float32Array(rows * n);
      ref.spmm(absSparse(s), w.map(Math.abs), n, recMag, false);
      let maxRow = 0;
      for (let r = 0; r < rows; r++) maxRow = Math.max(maxRow, s.rowPtr[r + 1]! - s.rowPtr[r]!);
      const errTol = recMag.map((v, i) => (maxRow + 4) * U * (v + Math.abs(bias[i % n]!) + Math.abs(x[i]!)) + 1e-30);
      expectWithin(got.err, want.err, errTol, `${what}: err`);
      expectWithin(got.grad, want.grad, errTol.map((t, i) => t * scale + 2 * U * Math.abs(want.grad[i]!)), `${what}: grad`);
      let errMag = 0;
      for (let i = 0; i < rows * n; i++) errMag += (Math.abs(want.err[i]!) + errTol[i]!) ** 2;
      expect(Math.abs(got.sq - want.sq), `${what}: sum of squares`).toBeLessThanOrEqual(1e-5 * errMag + 1e-30);
      const gAbs = want.grad.map(Math.abs);
      const bgTol = new Float32Array(n).map((_, c) => {
        let t = 1;
        for (let r = 0; r < rows; r++) t += gAbs[r * n + c]! + errTol[r * n + c]! * scale;
        return (rows + 4) * U * t;
      });
      expectWithin(got.biasGrad, want.biasGrad, bgTol, `${what}: biasGrad`);
      const vgMag = new Float32Array(s.nnz);
      ref.sddmm(s, gAbs.map((g, i) => g + errTol[i]! * scale), w.map(Math.abs), n, vgMag);
      expectWithin(got.valueGrad, want.valueGrad, vgMag.map((v, e) => (n + 4) * U * v + 2 * U * Math.abs(vBias[s.colIdx[e]!]!) + 1e-30), `${what}: valueGrad`);
      expectWithin(got.valueColSum, want.valueColSum, (rows + 4) * U * (rows + 2), `${what}: valueColSum`);
    }
  });

  it("decodeLoss gradients match finite differences of its sum of squares (values, bias)", () => {
    const rng = new Rng(64);
    for (const [rows, cols, n] of [[6, 23, 11], [30, 40, 64]] as const) {
      const s = randSparse(rng, rows, cols, 0.3, [2]);
      const w = rand(rng, cols * n);
      const x = rand(rng, rows * n);
      const bias = rand(rng, n);
      const grad = new Float32Array(rows * n);
      const loss = () => K.decodeLoss({ s, w, n, bias, x, scale: 2, grad });
      const biasGrad = new Float32Array(n);
      const valueGrad = new Float32Array(s.nnz);
      K.decodeLoss({ s, w, n, bias, x, scale: 2, grad, biasGrad, valueGrad }); // d sum(err^2) / d err = 2 err
      for (let t = 0; t < 8; t++) {
        const e = rng.int(s.nnz);
        const fd = finiteDiff(loss, s.values, e, 0.02);
        expect(Math.abs(fd - valueGrad[e]!), `d/dvalue[${e}]`).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
        const c = rng.int(n);
        const fb = finiteDiff(loss, bias, c, 0.02);
        expect(Math.abs(fb - biasGrad[c]!), `d/dbias[${c}]`).toBeLessThan(2e-3 * (1 + Math.abs(fb)));
      }
    }
  });

  it("spmmTPair matches the reference: latent walk and latent-major sizes, tied (outB = outA), column sums and fired latents", () => {
    const rng = new Rng(65);
    for (const [rows, cols, n, density] of [[1, 1, 1, 1], [5, 7, 3, 0.5], [37, 101, 64, 0.1], [300, 512, 64, 0.12], [64, 50, 130, 0.2], [40, 2100, 130, 0.01]] as const) {
      const s = randSparse(rng, rows, cols, density, rows > 2 ? [0, rows - 1] : []);
      const vA = rand(rng, Math.max(s.nnz, 1));
      const vB = rand(rng, Math.max(s.nnz, 1));
      const a = rand(rng, rows * n);
      const b = rand(rng, rows * n);
      const count = new Int32Array(cols);
      for (let e = 0; e < s.nnz; e++) count[s.colIdx[e]!]!++;
      const maxCol = Math.max(0, ...count);
      const tolFor = (mag: Float32Array, prior: Float32Array) => mag.map((m, i) => (maxCol + 16) * U * (m + Math.abs(prior[i]!)) + 1e-30);
      for (const mode of ["untied", "tied", "B only"] as const) {
        for (const bCols of mode === "tied" ? [false] : [false, true]) {
          const priorA = rand(rng, cols * n);
          const priorB = rand(rng, cols * n);
          const run = (k: Kernels) => {
            const outA = Float32Array.from(priorA);
            const outB = mode === "tied" ? outA : Float32Array.from(bCols ? transpose(priorB, cols, n) : priorB);
            const colSumB = Float32Array.from(priorA.subarray(0, cols));
            const fired = new Uint8Array(cols).fill(2);
            k.spmmTPair({ s, n, ...(mode !== "B only" ? { valuesA: vA, a, outA } : {}), valuesB: vB, b, outB, bCols, colSumB, fired });
            return { outA, outB, colSumB, fired };
          };
          const got = run(K);
          const want = run(ref);
          const what = `spmmTPair ${rows}x${cols} n=${n} ${mode} bCols=${bCols}`;
          const magA = new Float32Array(cols * n);
          ref.spmmT({ ...s, values: vA.map(Math.abs) }, a.map(Math.abs), n, magA);
          const magB = new Float32Array(cols * n);
          ref.spmmT({ ...s, values: vB.map(Math.abs) }, b.map(Math.abs), n, magB);
          if (mode === "tied") expectWithin(got.outA, want.outA, tolFor(magA.map((m, i) => m + magB[i]!), priorA), `${what}: out`);
          else {
            if (mode === "untied") expectWithin(got.outA, want.outA, tolFor(magA, priorA), `${what}: outA`);
            else expect(Array.from(got.outA), `${what}: outA untouched`).toEqual(Array.from(priorA));
            const tolB = tolFor(magB, priorB);
            expectWithin(got.outB, want.outB, bCols ? transpose(tolB, cols, n) : tolB, `${what}: outB`);
          }
          expectWithin(got.colSumB, want.colSumB, (maxCol + 16) * U * (maxCol + 2), `${what}: colSumB`);
          expect(Array.from(got.fired), `${what}: fired`).toEqual(Array.from(count, (c) => (c > 0 ? 1 : 2)));
        }
      }
    }
  });

  it("spmmTPair's products are the weight gradients of decoding and of the encoder (finite differences)", () => {
    const rng = new Rng(66);
    for (const [rows, cols, n] of [[6, 23, 11], [40, 64, 64]] as const) {
      const s = randSparse(rng, rows, cols, 0.3, [1]);
      const w = rand(rng, cols * n);
      const G = rand(rng, rows * n);
      const out = new Float32Array(rows * n);
      const decLoss = () => (K.spmm(s, w, n, out, false), dot64(G, out));
      // Encoder: y_e = x[r, :] . W[:, j] with W [n, cols] (W_enc's layout), loss = sum g_e y_e.
      const x = rand(rng, rows * n);
      const Wenc = rand(rng, n * cols);
      const g = rand(rng, s.nnz);
      const y = new Float32Array(s.nnz);
      const encLoss = () => (K.sddmm(s, x, transpose(Wenc, n, cols), n, y), dot64(g, y));
      const dW = new Float32Array(cols * n);
      const dWenc = new Float32Array(n * cols);
      K.spmmTPair({ s, n, valuesA: s.values, a: G, outA: dW, valuesB: g, b: x, outB: dWenc, bCols: true });
      for (let t = 0; t < 8; t++) {
        const i = rng.int(cols * n);
        const fd = finiteDiff(decLoss, w, i, 0.05);
        expect(Math.abs(fd - dW[i]!), `d/dw[${i}]`).toBeLessThan(2e-3 * (1 + Math.abs(fd)));
        const q = rng.int(n * cols);
        const fe = finiteDiff(encLoss, Wenc, q, 0.05);
        expect(Math.abs(fe - dWenc[q]!), `d/dW_enc[${q}]`).toBeLessThan(2e-3 * (1 + Math.abs(fe)));
      }
    }
  });

  it.skipIf(K.name === "reference")("rejects bad arguments with messages naming them", () => {
    const x = new Float32Array(6);
    const base = { x, rows: 2, n: 3, cols: 2, xc: new Float32Array(6), w: new Float32Array(6), pre: new Float32Array(4) };
    expect(() => K.encode({ ...base, w: new Float32Array(5) })).toThrow(/encode w: length 5 is smaller than the required 6/);
    expect(() => K.encode({ ...base, select: { kind: "above" } })).toThrow(/select needs an output SparseRows/);
    expect(() => K.encode({ ...base, select: { kind: "topk", k: 1.5 }, out: emptySparse(0, 0) })).toThrow(/encode k must be an integer/);
    expect(() => K.encode({ ...base, xc: x })).toThrow(/encode xc overlaps/);
    const s: SparseRows = { rows: 2, cols: 3, rowPtr: Int32Array.from([0, 1, 2]), colIdx: Int32Array.from([0, 2]), values: Float32Array.from([1, 2]), nnz: 2 };
    const d = { s, w: new Float32Array(12), n: 4, x: new Float32Array(8).fill(1), scale: 1, grad: new Float32Array(8) };
    expect(K.decodeLoss(d)).toBeGreaterThan(0);
    expect(() => K.decodeLoss({ ...d, valueGrad: new Float32Array(1) })).toThrow(/decodeLoss valueGrad: length 1/);
    expect(() => K.decodeLoss({ ...d, s: { ...s, colIdx: Int32Array.from([0, 3]) } })).toThrow(/colIdx\[1\] = 3 is outside \[0, 3\)/);
    expect(() => K.decodeLoss({ ...d, scale: NaN })).toThrow(/decodeLoss scale must be a number/);
    const p = { s, n: 4, valuesB: Float32Array.from([1, 2]), b: new Float32Array(8), outB: new Float32Array(12) };
    expect(() => K.spmmTPair({ ...p, valuesA: p.valuesB, a: p.b, outA: p.outB, bCols: true })).toThrow(/outB can be outA only when both are latent-major/);
    const wide = new Float32Array(14);
    expect(() => K.spmmTPair({ ...p, valuesA: p.valuesB, a: p.b, outA: wide.subarray(0, 12), outB: wide.subarray(2) })).toThrow(/outB overlaps outA/);
    expect(() => K.spmmTPair({ ...p, valuesA: p.valuesB })).toThrow(/valuesA needs a and outA/);
    expect(() => K.spmmTPair({ ...p, fired: new Uint8Array(2) })).toThrow(/spmmTPair fired: length 2/);
  });
});
