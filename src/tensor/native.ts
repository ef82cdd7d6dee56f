/**
 * The native backend: the C addon built from native/src wrapped as `Kernels`. The addon holds one
 * kernel library per ISA (AVX-512, AVX2/FMA, portable C; binding.gyp), of which it offers those the
 * CPU can run (cpuid at load; "amx" is the AVX-512 library asked to run bf16 products on AMX tiles); a persistent thread pool serves them all. Every argument is validated here, with messages naming the problem, before
 * any native code runs; the addon re-checks lengths and sparse indices because a bad one would read
 * or write out of bounds.
 */
import { createRequire } from "node:module";
import { checkLen, reserveSparse, type AdamArgs, type DecodeLossArgs, type EncodeArgs, type GemmArgs, type Kernels, type SettleArgs, type SparseRows, type SpmmTPairArgs } from "./kernels.js";

type F32 = Float32Array;
type I32 = Int32Array;
type Opt<T> = T | null;

/** The kernel libraries the addon may hold, best first ("amx": the AVX-512 library with its bf16 products on AMX tiles). */
export const NATIVE_ISAS = ["amx", "avx512", "avx2", "portable"] as const;
export type NativeIsa = (typeof NATIVE_ISAS)[number];
/** An ISA to run on: one of NATIVE_ISAS, or "auto" (the best this CPU runs). */
export type IsaChoice = NativeIsa | "auto";

/** What the CPU (and OS) can run, from cpuid. */
export interface CpuFeatures {
  avx2: boolean;
  avx512: boolean;
  avx512bf16: boolean;
  amxBf16: boolean;
}

/** The addon module: its ISA libraries (those this CPU runs) and the best one's functions at the top. */
interface NativeModule extends Partial<NativeAddon> {
  abiVersion(): number;
  cpuFeatures?(): CpuFeatures;
  setThreads?(threads: number): number;
  isas?: Partial<Record<NativeIsa, NativeAddon>>;
}

/** One ISA library's raw functions (positional arguments, see native/src/bind.c). */
export interface NativeAddon {
  /** The ISA these kernels were compiled for. */
  isa: NativeIsa;
  threads(): number;
  /** flags: 1 transA, 2 transB, 4 bf16, 8 bf16 on AMX where there is AMX; lda/ldb/ldc: optional row strides (the C API's; the Kernels wrapper passes none). */
  gemm(a: F32, b: F32, out: F32, m: number, n: number, k: number, flags: number, alpha: number, beta: number, colScale: Opt<F32>, bias: Opt<F32>, lda?: number, ldb?: number, ldc?: number): void;
  sparsifyAbove(pre: F32, rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, threshold: Opt<F32>, countsReady: number): number;
  window(pre: F32, rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, center: F32, halfWidth: number, countsReady: number): number;
  topkRows(pre: F32, rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, k: number, mask: Opt<Uint8Array>): number;
  topkBatch(pre: F32, rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, total: number): number;
  spmm(rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, w: F32, n: number, out: F32, accumulate: boolean): void;
  sddmm(rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, a: F32, w: F32, n: number, outValues: F32): void;
  sddmmCols(rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, a: F32, w: F32, n: number, outValues: F32): void;
  proposalNorms(x: F32, rows: number, n: number, center: Opt<F32>, w: F32, cols: number, transW: number, normSq: F32): number;
  /** rule: 0 all, 1 above, 2 topk, 3 batch top-k, 4 window (native/src/sae_bf16.h); returns the new nnz. */
  settle(rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, bias: F32, gain: Opt<F32>, rule: number, k: number, threshold: Opt<F32>, center: Opt<F32>, halfWidth: number): number;
  spmmT(rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, a: F32, n: number, out: F32): void;
  spmmTCols(rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, a: F32, n: number, out: F32): void;
  /** With a bf16 copy (offset, k, n, transB, dst): returns 1 when this library wrote it. */
  adam(params: F32, grads: F32, m: F32, v: F32, lr: number, beta1: number, beta2: number, eps: number, step: number, ...copy: [number, number, number, number, F32] | []): number | undefined;
  /** Floats of a packed bf16 copy of a [k, n] operand (0: this library's bf16 products pack their own). */
  bf16CopyFloats(k: number, n: number): number;
  /** select: 0 none, 1 above, 2 topk; returns nnz (see native/src/sae_step.h). */
  encode(x: F32, rows: number, n: number, cols: number, center: Opt<F32>, xc: F32, w: F32, transW: number, colScale: Opt<F32>, bias: Opt<F32>, pre: F32, keepPre: number, select: number, threshold: Opt<F32>, k: number, rowPtr: I32, colIdx: I32, values: F32, countsReady: number, total: number, guess: Opt<F32>, bf16?: number, packedW?: Opt<F32>): number;
  decodeLoss(rows: number, cols: number, rowPtr: I32, colIdx: I32, values: F32, w: F32, n: number, bias: Opt<F32>, x: F32, scale: number, grad: F32, err: Opt<F32>, biasGrad: Opt<F32>, valueGrad: Opt<F32>, valueGradBias: Opt<F32>, valueColSum: Opt<F32>): number;
  spmmTPair(rows: number, cols: number, rowPtr: I32, colIdx: I32, n: number, valuesA: Opt<F32>, a: Opt<F32>, outA: Opt<F32>, valuesB: F32, b: F32, outB: F32, bCols: number, colSumB: Opt<F32>, fired: Opt<Uint8Array>): void;
  /** A zeroed Float32Array of n elements starting on a 64-byte boundary. */
  alignedF32(n: number): F32;
  /** Measured FMA throughput (FLOP/s) of `threads` threads over `seconds`: fp32 on this library's widest vectors, or with bf16 = 1 the vdpbf16ps one (0 without AVX512-BF16), with bf16 = 2 AMX's tdpbf16ps (0 without AMX). */
  fmaPeak(seconds: number, threads: number, bf16?: number): number;
  /** 3: a bf16 product runs on AMX tiles (only when amx is 1), 2: on AVX512-BF16; 1: it is emulated. */
  bf16Mode(amx?: number): number;
}

/** The addon's code for each settle rule (native/src/sae_bf16.h). */
const SETTLE_RULES: Record<NonNullable<SettleArgs["rule"]>["kind"], number> = { above: 1, topk: 2, topkBatch: 3, window: 4 };

/** How each bf16Mode() value runs a bf16 product. */
const BF16_MODES: Record<number, Kernels["bf16"]> = { 1: "emulated", 2: "hardware", 3: "amx" };

const ADDON_PATH = "../../build/Release/saelab_native.node";
const ABI_VERSION = 2;

/**
 * Loads the compiled addon (build/Release/saelab_native.node under the package root) as a plain
 * module, or says why it cannot be loaded: the one place that requires it, for the SAE kernels here
 * and the LM kernels (src/lm/native.ts), which each check for their own functions.
 */
export function loadAddon(): { module: Readonly<Record<string, unknown>> } | { error: string } {
  try {
    return { module: createRequire(import.meta.url)(ADDON_PATH) as Record<string, unknown> };
  } catch (e) {
    const msg = e instanceof Error ? e.message.split("\n")[0] : String(e);
    return { error: `the native compute addon could not be loaded (${msg})` };
  }
}

/** Returns the addon module with its per-ISA kernel libraries (checked for presence and ABI), or why it is unavailable. */
function loadModule(): { mod: NativeModule } | { error: string } {
  const loaded = loadAddon();
  if ("error" in loaded) return loaded;
  const mod = loaded.module as unknown as NativeModule;
  if (typeof mod.abiVersion !== "function" || !mod.isas || typeof mod.cpuFeatures !== "function") return { error: "the native addon lacks the compute kernels (rebuild it with `npm rebuild saelab`)" };
  if (mod.abiVersion() !== ABI_VERSION) return { error: `the native addon has ABI ${mod.abiVersion()}, expected ${ABI_VERSION} (rebuild it)` };
  return { mod };
}

/** Loads the addon's kernel library for `isa` ("auto": the best this CPU runs); returns it, or why it is unavailable. */
export function loadNativeAddon(isa: IsaChoice = "auto"): { addon: NativeAddon } | { error: string } {
  const loaded = loadModule();
  if ("error" in loaded) return loaded;
  const libs = loaded.mod.isas ?? {};
  const name = isa === "auto" ? NATIVE_ISAS.find((i) => libs[i]) : isa;
  const addon = name ? libs[name] : undefined;
  if (!addon || typeof addon.gemm !== "function" || typeof addon.encode !== "function") {
    const have = NATIVE_ISAS.filter((i) => libs[i]).join(", ") || "none";
    return { error: `the native ISA "${isa}" is not available on this CPU (available: ${have})` };
  }
  return { addon };
}

/** The ISAs whose kernel libraries the addon holds and this CPU runs, best first (empty without the addon). */
export function nativeIsas(): NativeIsa[] {
  const loaded = loadModule();
  if ("error" in loaded) return [];
  const libs = loaded.mod.isas ?? {};
  return NATIVE_ISAS.filter((i) => libs[i]);
}

/**
 * Sizes the addon's shared thread pool (every kernel library and the LM kernels use it): `threads`
 * threads, or the CPUs available when undefined. The pool starts once per process, so this applies
 * only before any kernel has run (the CLI and the benches call it first, with SAELAB_THREADS); returns
 * the pool's thread count (0 when `threads` is undefined, which leaves the pool alone, or without the addon).
 */
export function setNativeThreads(threads: number | undefined): number {
  if (threads === undefined) return 0;
  const loaded = loadModule();
  return "error" in loaded || !loaded.mod.setThreads ? 0 : loaded.mod.setThreads(threads);
}

/** The CPU's features as the addon sees them (all false without the addon). */
export function cpuFeatures(): CpuFeatures {
  const loaded = loadModule();
  return "error" in loaded || !loaded.mod.cpuFeatures ? { avx2: false, avx512: false, avx512bf16: false, amxBf16: false } : loaded.mod.cpuFeatures();
}

/** Returns the native kernels over a loaded addon. */
export function nativeKernels(addon: NativeAddon): Kernels {
  const amx = addon.isa === "amx" ? 1 : 0;
  return {
    name: "native",
    isa: addon.isa,
    threads: addon.threads(),
    bf16: BF16_MODES[addon.bf16Mode(amx)] ?? "emulated",

    alloc(n: number): Float32Array {
      dim("alloc", "n", n);
      return addon.alignedF32(n);
    },

    gemm(args: GemmArgs): void {
      const { a, b, out, m, n, k } = args;
      dim("gemm", "m", m);
      dim("gemm", "n", n);
      dim("gemm", "k", k);
      checkLen("gemm a", a, m * k);
      checkLen("gemm b", b, k * n);
      checkLen("gemm out", out, m * n);
      if (args.colScale) checkLen("gemm colScale", args.colScale, n);
      if (args.bias) checkLen("gemm bias", args.bias, n);
      const alpha = num("gemm alpha", args.alpha ?? 1);
      const beta = num("gemm beta", args.beta ?? 0);
      noOverlap("gemm out", out, m * n, a, b);
      const flags = (args.transA ? 1 : 0) | (args.transB ? 2 : 0) | (args.bf16 ? 4 | 8 * amx : 0);
      addon.gemm(a, b, out, m, n, k, flags, alpha, beta, args.colScale ?? null, args.bias ?? null);
    },

    sparsifyAbove(pre, rows, cols, out, threshold) {
      dim("sparsifyAbove", "rows", rows);
      dim("sparsifyAbove", "cols", cols);
      checkLen("sparsifyAbove pre", pre, rows * cols);
      if (threshold) checkLen("sparsifyAbove threshold", threshold, cols);
      const thr = threshold ?? null;
      reserveSparse(out, rows, cols, 0);
      let nnz = addon.sparsifyAbove(pre, rows, cols, out.rowPtr, out.colIdx, out.values, thr, 0);
      // Too small: the counting pass left this call's row offsets in rowPtr, so only the fill remains.
      if (grow(out, nnz)) nnz = addon.sparsifyAbove(pre, rows, cols, out.rowPtr, out.colIdx, out.values, thr, 1);
      return done(out, nnz);
    },

    topkRows(pre, rows, cols, k, out, mask) {
      dim("topkRows", "rows", rows);
      dim("topkRows", "cols", cols);
      integer("topkRows k", k);
      checkLen("topkRows pre", pre, rows * cols);
      if (mask) checkLen("topkRows mask", mask, cols);
      reserveSparse(out, rows, cols, 0);
      let nnz = addon.topkRows(pre, rows, cols, out.rowPtr, out.colIdx, out.values, k, mask ?? null);
      if (grow(out, nnz)) nnz = addon.topkRows(pre, rows, cols, out.rowPtr, out.colIdx, out.values, k, mask ?? null);
      return done(out, nnz);
    },

    topkBatch(pre, rows, cols, total, out) {
      dim("topkBatch", "rows", rows);
      dim("topkBatch", "cols", cols);
      integer("topkBatch total", total);
      checkLen("topkBatch pre", pre, rows * cols);
      reserveSparse(out, rows, cols, 0);
      let nnz = addon.topkBatch(pre, rows, cols, out.rowPtr, out.colIdx, out.values, total);
      if (grow(out, nnz)) nnz = addon.topkBatch(pre, rows, cols, out.rowPtr, out.colIdx, out.values, total);
      return done(out, nnz);
    },

    window(pre, rows, cols, center, halfWidth, out) {
      dim("window", "rows", rows);
      dim("window", "cols", cols);
      checkLen("window pre", pre, rows * cols);
      checkLen("window center", center, cols);
      num("window halfWidth", halfWidth);
      reserveSparse(out, rows, cols, 0);
      let nnz = addon.window(pre, rows, cols, out.rowPtr, out.colIdx, out.values, center, halfWidth, 0);
      if (grow(out, nnz)) nnz = addon.window(pre, rows, cols, out.rowPtr, out.colIdx, out.values, center, halfWidth, 1);
      return done(out, nnz);
    },

    spmm(s, w, n, out, accumulate) {
      sparse("spmm", s);
      dim("spmm", "n", n);
      checkLen("spmm w", w, s.cols * n);
      checkLen("spmm out", out, s.rows * n);
      noOverlap("spmm out", out, s.rows * n, w, s.values);
      addon.spmm(s.rows, s.cols, s.rowPtr, s.colIdx, s.values, w, n, out, accumulate);
    },

    sddmm(s, a, w, n, outValues) {
      sparse("sddmm", s);
      dim("sddmm", "n", n);
      checkLen("sddmm a", a, s.rows * n);
      checkLen("sddmm w", w, s.cols * n);
      checkLen("sddmm outValues", outValues, s.nnz);
      noOverlap("sddmm outValues", outValues, s.nnz, a, w);
      addon.sddmm(s.rows, s.cols, s.rowPtr, s.colIdx, s.values, a, w, n, outValues);
    },
    sddmmCols(s, a, w, n, outValues) {
      sparse("sddmmCols", s);
      dim("sddmmCols", "n", n);
      checkLen("sddmmCols a", a, s.rows * n);
      checkLen("sddmmCols w", w, n * s.cols);
      checkLen("sddmmCols outValues", outValues, s.nnz);
      noOverlap("sddmmCols outValues", outValues, s.nnz, a, w);
      addon.sddmmCols(s.rows, s.cols, s.rowPtr, s.colIdx, s.values, a, w, n, outValues);
    },

    settle({ s, bias, gain, rule }) {
      sparse("settle", s);
      checkLen("settle bias", bias, s.cols);
      if (gain) checkLen("settle gain", gain, s.cols);
      const k = rule?.kind === "topk" ? rule.k : rule?.kind === "topkBatch" ? rule.total : 0;
      dim("settle", "k", k);
      const threshold = rule?.kind === "above" ? rule.threshold : undefined;
      if (threshold) checkLen("settle threshold", threshold, s.cols);
      const center = rule?.kind === "window" ? rule.center : undefined;
      if (center) checkLen("settle center", center, s.cols);
      const halfWidth = rule?.kind === "window" ? num("settle halfWidth", rule.halfWidth) : 0;
      const code = rule ? SETTLE_RULES[rule.kind] : 0;
      s.nnz = addon.settle(s.rows, s.cols, s.rowPtr, s.colIdx, s.values, bias, gain ?? null, code, k, threshold ?? null, center ?? null, halfWidth);
    },

    proposalNorms({ x, rows, n, center, w, cols, transW, normSq }) {
      dim("proposalNorms", "rows", rows);
      dim("proposalNorms", "n", n);
      dim("proposalNorms", "cols", cols);
      checkLen("proposalNorms x", x, rows * n);
      checkLen("proposalNorms w", w, n * cols);
      checkLen("proposalNorms normSq", normSq, cols);
      if (center) checkLen("proposalNorms center", center, n);
      return addon.proposalNorms(x, rows, n, center ?? null, w, cols, transW ? 1 : 0, normSq);
    },

    spmmT(s, a, n, out) {
      sparse("spmmT", s);
      dim("spmmT", "n", n);
      checkLen("spmmT a", a, s.rows * n);
      checkLen("spmmT out", out, s.cols * n);
      noOverlap("spmmT out", out, s.cols * n, a, s.values);
      addon.spmmT(s.rows, s.cols, s.rowPtr, s.colIdx, s.values, a, n, out);
    },

    spmmTCols(s, a, n, out) {
      sparse("spmmTCols", s);
      dim("spmmTCols", "n", n);
      checkLen("spmmTCols a", a, s.rows * n);
      checkLen("spmmTCols out", out, s.cols * n);
      noOverlap("spmmTCols out", out, s.cols * n, a, s.values);
      addon.spmmTCols(s.rows, s.cols, s.rowPtr, s.colIdx, s.values, a, n, out);
    },

    adam(args: AdamArgs): void {
      const { params, grads, m, v, lr, beta1, beta2, eps, step } = args;
      const len = params.length;
      checkLen("adam grads", grads, len);
      checkLen("adam m", m, len);
      checkLen("adam v", v, len);
      if (!(step >= 1)) throw new Error(`adam: step must be >= 1, got ${step}`);
      num("adam lr", lr);
      num("adam beta1", beta1);
      num("adam beta2", beta2);
      num("adam eps", eps);
      const c = args.bf16Copy;
      if (!c) {
        addon.adam(params, grads, m, v, lr, beta1, beta2, eps, step);
        return;
      }
      dim("adam bf16Copy", "k", c.k);
      dim("adam bf16Copy", "n", c.n);
      integer("adam bf16Copy offset", c.offset);
      if (c.offset < 0 || c.offset + c.k * c.n > len) throw new Error(`adam: bf16Copy [${c.offset}, ${c.offset + c.k * c.n}) is outside params (${len})`);
      const need = addon.bf16CopyFloats(c.k, c.n);
      if (need === 0) throw new Error("adam: bf16Copy asked of a backend whose bf16 products pack their own (bf16CopyFloats is 0)");
      checkLen("adam bf16Copy out", c.out, need);
      noOverlap("adam bf16Copy out", c.out, need, params, grads);
      addon.adam(params, grads, m, v, lr, beta1, beta2, eps, step, c.offset, c.k, c.n, c.transB ? 1 : 0, c.out);
    },
    bf16CopyFloats(k, n) {
      dim("bf16CopyFloats", "k", k);
      dim("bf16CopyFloats", "n", n);
      return addon.bf16CopyFloats(k, n);
    },

    encode(args: EncodeArgs): void {
      const { x, rows, n, cols, xc, w, pre, select: sel, out } = args;
      dim("encode", "rows", rows);
      dim("encode", "n", n);
      dim("encode", "cols", cols);
      checkLen("encode x", x, rows * n);
      checkLen("encode xc", xc, rows * n);
      checkLen("encode w", w, n * cols);
      checkLen("encode pre", pre, rows * cols);
      if (args.center) checkLen("encode center", args.center, n);
      if (args.colScale) checkLen("encode colScale", args.colScale, cols);
      if (args.bias) checkLen("encode bias", args.bias, cols);
      noOverlap("encode xc", xc, rows * n, x, w);
      noOverlap("encode pre", pre, rows * cols, xc, w);
      if (sel?.kind === "above" && sel.threshold) checkLen("encode threshold", sel.threshold, cols);
      if (sel?.kind === "topk") integer("encode k", sel.k);
      if (sel?.kind === "topkBatch") {
        integer("encode total", sel.total);
        if (sel.guess) checkLen("encode guess", sel.guess, 1);
      }
      if (sel && !out) throw new Error("encode: select needs an output SparseRows (out)");
      const code = !sel ? 0 : sel.kind === "above" ? 1 : sel.kind === "topk" ? 2 : 3;
      const thr = sel?.kind === "above" ? (sel.threshold ?? null) : null;
      const k = sel?.kind === "topk" ? sel.k : 0;
      const total = sel?.kind === "topkBatch" ? sel.total : 0;
      const guess = sel?.kind === "topkBatch" ? (sel.guess ?? null) : null;
      const o = out ?? { rows, cols, rowPtr: new Int32Array(1), colIdx: new Int32Array(1), values: new Float32Array(1), nnz: 0 };
      const known = sel?.kind === "topk" ? rows * Math.max(0, Math.min(k, cols)) : sel?.kind === "topkBatch" ? Math.max(0, Math.min(total, rows * cols)) : 0;
      // A batch top-k first collects the entries above its cut (about 5/4 of total): room for them too.
      reserveSparse(o, rows, cols, sel?.kind === "topkBatch" ? Math.min(rows * cols, Math.ceil(known * 1.5)) : known);
      const call = (ready: number) =>
        addon.encode(
          x, rows, n, cols, args.center ?? null, xc, w, args.transW ? 1 : 0, args.colScale ?? null, args.bias ?? null, pre, args.keepPre === false ? 0 : 1, code, thr, k,
          o.rowPtr, o.colIdx, o.values, ready, total, guess, args.bf16 ? 1 + amx : 0, args.bf16 ? (args.packedW ?? null) : null,
        );
      let nnz = call(0);
      if (!sel) return;
      // Too small: rowPtr holds this call's row offsets, so only the entries remain to be placed.
      if (grow(o, nnz)) nnz = call(1);
      done(o, nnz);
    },

    decodeLoss(args: DecodeLossArgs): number {
      const { s, w, n, x, grad } = args;
      sparse("decodeLoss", s);
      dim("decodeLoss", "n", n);
      checkLen("decodeLoss w", w, s.cols * n);
      checkLen("decodeLoss x", x, s.rows * n);
      checkLen("decodeLoss grad", grad, s.rows * n);
      if (args.bias) checkLen("decodeLoss bias", args.bias, n);
      if (args.err) checkLen("decodeLoss err", args.err, s.rows * n);
      if (args.biasGrad) checkLen("decodeLoss biasGrad", args.biasGrad, n);
      if (args.valueGrad) checkLen("decodeLoss valueGrad", args.valueGrad, s.nnz);
      if (args.valueGradBias) checkLen("decodeLoss valueGradBias", args.valueGradBias, s.cols);
      if (args.valueColSum) checkLen("decodeLoss valueColSum", args.valueColSum, s.cols);
      const scale = num("decodeLoss scale", args.scale);
      noOverlap("decodeLoss grad", grad, s.rows * n, w, x);
      noOverlap("decodeLoss grad", grad, s.rows * n, s.values, args.bias ?? s.values);
      if (args.err) noOverlap("decodeLoss err", args.err, s.rows * n, w, grad);
      if (args.valueGrad) noOverlap("decodeLoss valueGrad", args.valueGrad, s.nnz, w, grad);
      if (args.valueGrad && args.valueGradBias) noOverlap("decodeLoss valueGrad", args.valueGrad, s.nnz, args.valueGradBias, s.values);
      if (args.valueColSum) noOverlap("decodeLoss valueColSum", args.valueColSum, s.cols, s.values, w);
      return addon.decodeLoss(
        s.rows, s.cols, s.rowPtr, s.colIdx, s.values, w, n, args.bias ?? null, x, scale, grad, args.err ?? null, args.biasGrad ?? null, args.valueGrad ?? null,
        args.valueGradBias ?? null, args.valueColSum ?? null,
      );
    },

    spmmTPair(args: SpmmTPairArgs): void {
      const { s, n, valuesB, b, outB } = args;
      sparse("spmmTPair", s);
      dim("spmmTPair", "n", n);
      checkLen("spmmTPair valuesB", valuesB, s.nnz);
      checkLen("spmmTPair b", b, s.rows * n);
      checkLen("spmmTPair outB", outB, s.cols * n);
      noOverlap("spmmTPair outB", outB, s.cols * n, b, valuesB);
      const { valuesA, a, outA } = args;
      if (valuesA) {
        if (!a || !outA) throw new Error("spmmTPair: valuesA needs a and outA");
        checkLen("spmmTPair valuesA", valuesA, s.nnz);
        checkLen("spmmTPair a", a, s.rows * n);
        checkLen("spmmTPair outA", outA, s.cols * n);
        noOverlap("spmmTPair outA", outA, s.cols * n, a, valuesA);
        noOverlap("spmmTPair outB", outB, s.cols * n, a, valuesA);
        noOverlap("spmmTPair outA", outA, s.cols * n, b, valuesB);
        // outB may be outA itself (both latent-major: the sums add up), but not a part of it.
        if (outA !== outB && overlaps(outB, s.cols * n, outA)) throw new Error("spmmTPair outB overlaps outA without being it");
        if (outA === outB && args.bCols) throw new Error("spmmTPair: outB can be outA only when both are latent-major (bCols false)");
      }
      if (args.colSumB) checkLen("spmmTPair colSumB", args.colSumB, s.cols);
      if (args.fired) checkLen("spmmTPair fired", args.fired, s.cols);
      addon.spmmTPair(s.rows, s.cols, s.rowPtr, s.colIdx, n, valuesA ?? null, valuesA ? a! : null, valuesA ? outA! : null, valuesB, b, outB, args.bCols ? 1 : 0, args.colSumB ?? null, args.fired ?? null);
    },
  };
}

/** Grows `out` to hold nnz entries when it cannot; returns whether it had to (the kernel then runs again). */
function grow(out: SparseRows, nnz: number): boolean {
  if (nnz <= Math.min(out.colIdx.length, out.values.length)) return false;
  reserveSparse(out, out.rows, out.cols, nnz);
  if (out.values.length < nnz) out.values = new Float32Array(out.colIdx.length);
  return true;
}

function done(out: SparseRows, nnz: number): SparseRows {
  out.nnz = nnz;
  return out;
}

function dim(kernel: string, name: string, x: number): void {
  if (!Number.isInteger(x) || x < 0) throw new Error(`${kernel}: ${name} must be a non-negative integer, got ${x}`);
}

function integer(what: string, x: number): void {
  if (!Number.isInteger(x)) throw new Error(`${what} must be an integer, got ${x}`);
}

function num(what: string, x: number): number {
  if (typeof x !== "number" || Number.isNaN(x)) throw new Error(`${what} must be a number, got ${x}`);
  return x;
}

/** Checks that a SparseRows is self-consistent (the addon checks the column indices and row order). */
function sparse(kernel: string, s: SparseRows): void {
  dim(kernel, "rows", s.rows);
  dim(kernel, "cols", s.cols);
  if (s.rowPtr.length < s.rows + 1) throw new Error(`${kernel}: rowPtr has length ${s.rowPtr.length}, needs rows + 1 = ${s.rows + 1}`);
  if (s.rowPtr[s.rows] !== s.nnz) throw new Error(`${kernel}: nnz is ${s.nnz} but rowPtr[rows] is ${s.rowPtr[s.rows]}`);
  checkLen(`${kernel} colIdx`, s.colIdx, s.nnz);
  checkLen(`${kernel} values`, s.values, s.nnz);
}

/** Throws when the first `len` elements of `out` share memory with input x or y (native kernels read inputs while writing out). */
function noOverlap(what: string, out: Float32Array, len: number, x: Float32Array, y: Float32Array): void {
  if (overlaps(out, len, x) || overlaps(out, len, y)) throw new Error(`${what} overlaps one of its inputs; the native backend needs a separate output array`);
}

function overlaps(out: Float32Array, len: number, x: Float32Array): boolean {
  if (x.buffer !== out.buffer) return false;
  const lo = out.byteOffset;
  return lo < x.byteOffset + x.byteLength && x.byteOffset < lo + len * 4;
}
