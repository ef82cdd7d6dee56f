/**
 * The native backend's own guarantees: results independent of the thread count, clear errors on bad
 * input before native code runs (or from the addon's own checks), and backend selection.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { loadKernels, parseIsa, parseThreads, resolveBackend } from "../src/tensor/backend.js";
import { main } from "../src/cli/main.js";
import { emptySparse, type SparseRows } from "../src/tensor/kernels.js";
import { cpuFeatures, loadNativeAddon, NATIVE_ISAS, nativeIsas, nativeKernels } from "../src/tensor/native.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { rand } from "./helpers/kernels.js";

const loaded = loadNativeAddon();
const addon = "addon" in loaded ? loaded.addon : undefined;
// describe.skipIf still runs the body to collect tests, so nothing here may touch a missing addon.
const K = addon ? nativeKernels(addon) : (undefined as unknown as ReturnType<typeof nativeKernels>);

describe.skipIf(!addon)("native backend", () => {

  const script = fileURLToPath(new URL("./helpers/native-digest.mjs", import.meta.url));
  const digest = (threads: number, ...args: string[]) =>
    JSON.parse(execFileSync(process.execPath, [script, ...args], { env: { ...process.env, SAELAB_THREADS: String(threads) } }).toString()) as { threads: number; isa: string; digest?: string; digests?: string[] };

  it.each(nativeIsas())("%s kernels give bitwise-identical results with 1, 2 and 3 threads, and from worker threads contending for the pool", (isa) => {
    // The portable library (scalar fmaf chains) is slow: fewer runs of it, the same checks.
    const slow = isa === "portable";
    const counts = slow ? [1, 3] : [1, 2, 3];
    const runs = counts.map((t) => digest(t, `--isa=${isa}`));
    expect(runs.map((r) => r.threads)).toEqual(counts);
    expect(runs.map((r) => r.isa)).toEqual(counts.map(() => isa));
    expect(new Set(runs.map((r) => r.digest)).size).toBe(1);
    // JS worker threads at once: calls that find the pool busy run on their own thread.
    const concurrent = digest(2, `--workers=${slow ? 1 : 3}`, `--isa=${isa}`);
    expect(concurrent.digests).toHaveLength(slow ? 3 : 9);
    expect(new Set(concurrent.digests)).toEqual(new Set([runs[0]!.digest]));
  }, 300_000); // four child processes each; the portable ones take minutes on a loaded 2-core machine

  const nm = spawnSync("nm", ["--version"]);
  it.skipIf(nm.status !== 0)("every global symbol of each ISA's kernel library carries its suffix (native/src/isa/names.h), so none collide", () => {
    for (const isa of NATIVE_ISAS) {
      const lib = fileURLToPath(new URL(`../build/Release/saelab_isa_${isa}.a`, import.meta.url));
      if (isa === "amx") {
        expect(existsSync(lib)).toBe(false); // the AVX-512 library, its bf16 products on AMX
        continue;
      }
      if (!existsSync(lib)) continue;
      const out = execFileSync("nm", ["-g", "--defined-only", lib]).toString();
      const names = out.split("\n").map((l) => l.trim().split(/\s+/)).filter((f) => f.length === 3).map((f) => f[2]!);
      expect(names.length).toBeGreaterThan(20);
      expect(names.filter((n) => !n.endsWith(`_${isa}`))).toEqual([]);
    }
  });

  it("the addon's GEMM honours row strides (lda, ldb, ldc) on every path, leaving the padding alone", () => {
    const rng = new Rng(51);
    const ref = referenceKernels();
    // [rows, cols] matrix inside a buffer whose rows are ld long; the padding holds NaN.
    const strided = (dense: Float32Array, rows: number, cols: number, ld: number) => {
      const buf = new Float32Array(rows * ld).fill(NaN);
      for (let r = 0; r < rows; r++) buf.set(dense.subarray(r * cols, (r + 1) * cols), r * ld);
      return buf;
    };
    for (const [m, n, k] of [[3, 70, 20], [40, 50, 30], [40, 300, 30]] as const) {
      for (const flags of [0, 1, 2, 3]) {
        const [ta, tb] = [(flags & 1) === 1, (flags & 2) === 2];
        const a = rand(rng, m * k);
        const b = rand(rng, k * n);
        const [ar, ac, br, bc] = [ta ? k : m, ta ? m : k, tb ? n : k, tb ? k : n];
        const [lda, ldb, ldc] = [ac + 3, bc + 5, n + 7];
        const out = strided(rand(rng, m * n), m, n, ldc);
        const bias = rand(rng, n);
        addon!.gemm(strided(a, ar, ac, lda), strided(b, br, bc, ldb), out, m, n, k, flags, 1, 0, null, bias, lda, ldb, ldc);
        const want = new Float32Array(m * n);
        ref.gemm({ a, b, out: want, m, n, k, transA: ta, transB: tb, bias });
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < ldc; j++) {
            const got = out[i * ldc + j]!;
            if (j >= n) expect(got, "padding").toBeNaN();
            else expect(Math.abs(got - want[i * n + j]!), `${m}x${n}x${k} flags ${flags} (${i}, ${j})`).toBeLessThan(1e-4);
          }
        }
      }
    }
  });

  it("rejects wrong lengths, sizes and numbers with messages naming them", () => {
    const a = new Float32Array(6);
    expect(() => K.gemm({ a, b: new Float32Array(5), out: new Float32Array(4), m: 2, n: 2, k: 3 })).toThrow(/gemm b: length 5 is smaller than the required 6/);
    expect(() => K.gemm({ a, b: a, out: new Float32Array(4), m: 2, n: 2, k: 3, colScale: new Float32Array(1) })).toThrow(/gemm colScale/);
    expect(() => K.gemm({ a, b: a, out: new Float32Array(4), m: 2.5, n: 2, k: 3 })).toThrow(/gemm: m must be a non-negative integer/);
    expect(() => K.gemm({ a, b: a, out: a.subarray(2), m: 2, n: 2, k: 3 })).toThrow(/gemm out overlaps/);
    expect(() => K.gemm({ a, b: a, out: new Float32Array(4), m: 2, n: 2, k: 3, alpha: NaN })).toThrow(/gemm alpha must be a number/);
    expect(() => K.topkRows(new Float32Array(6), 2, 3, 1.5, emptySparse(0, 0))).toThrow(/topkRows k must be an integer/);
    expect(() => K.window(new Float32Array(6), 2, 3, new Float32Array(2), 1, emptySparse(0, 0))).toThrow(/window center: length 2/);
    expect(() => K.adam({ params: a, grads: a, m: a, v: new Float32Array(2), lr: 1, beta1: 0.9, beta2: 0.9, eps: 1e-8, step: 1 })).toThrow(/adam v/);
    expect(() => K.adam({ params: a, grads: a, m: a, v: a, lr: 1, beta1: 0.9, beta2: 0.9, eps: 1e-8, step: 0 })).toThrow(/step must be >= 1/);
  });

  it("rejects inconsistent sparse matrices instead of reading out of bounds", () => {
    const s = (over: Partial<SparseRows>): SparseRows => ({ rows: 2, cols: 3, rowPtr: Int32Array.from([0, 1, 2]), colIdx: Int32Array.from([0, 2]), values: Float32Array.from([1, 2]), nnz: 2, ...over });
    const w = new Float32Array(12);
    const out = new Float32Array(8);
    expect(() => K.spmm(s({}), w, 4, out, false)).not.toThrow();
    expect(() => K.spmm(s({ colIdx: Int32Array.from([0, 3]) }), w, 4, out, false)).toThrow(/spmm: colIdx\[1\] = 3 is outside \[0, 3\)/);
    expect(() => K.spmm(s({ colIdx: Int32Array.from([-1, 0]) }), w, 4, out, false)).toThrow(/colIdx\[0\] = -1/);
    expect(() => K.spmmT(s({ rowPtr: Int32Array.from([0, 2, 1]), nnz: 1 }), out, 4, w)).toThrow(/rowPtr decreases at row 1/);
    expect(() => K.sddmm(s({ nnz: 1 }), out, w, 4, new Float32Array(2))).toThrow(/nnz is 1 but rowPtr\[rows\] is 2/);
    expect(() => K.spmmTCols(s({ rowPtr: Int32Array.from([0, 1]) }), out, 4, w)).toThrow(/rowPtr has length 2, needs rows \+ 1 = 3/);
  });
});

describe("backend selection", () => {
  const saved = process.env.SAELAB_BACKEND;
  const savedIsa = process.env.SAELAB_ISA;
  afterEach(() => {
    if (saved === undefined) delete process.env.SAELAB_BACKEND;
    else process.env.SAELAB_BACKEND = saved;
    if (savedIsa === undefined) delete process.env.SAELAB_ISA;
    else process.env.SAELAB_ISA = savedIsa;
  });

  it("auto picks native when the addon loads, else the reference with a warning; the library never reads SAELAB_BACKEND", () => {
    process.env.SAELAB_BACKEND = "reference";
    const auto = loadKernels();
    if (addon) {
      expect(auto.kernels.name).toBe("native");
      expect(auto.warning).toBeUndefined();
      expect(loadKernels("native").kernels.threads).toBeGreaterThanOrEqual(1);
    } else {
      expect(auto.kernels.name).toBe("reference");
      expect(auto.warning).toMatch(/reference TypeScript backend/);
      expect(() => loadKernels("native")).toThrow(/backend "native" requested but/);
    }
    // An ISA forces a kernel library (the edge passes SAELAB_ISA through parseIsa; the library never
    // reads it); an ISA the CPU lacks, or an unknown name, is an error.
    process.env.SAELAB_ISA = "portable";
    if (addon) expect(loadKernels().kernels.isa).toBe(nativeIsas()[0]);
    delete process.env.SAELAB_BACKEND;
    if (addon) {
      const isas = nativeIsas();
      for (const isa of isas) {
        expect(loadKernels("native", isa).kernels.isa).toBe(isa);
        expect(loadKernels("auto", parseIsa(isa)).kernels.isa).toBe(isa);
      }
      expect(loadKernels("native", "portable").kernels.isa).toBe(isas.at(-1));
      expect(loadKernels().kernels.isa).toBe(isas[0]);
      expect(loadKernels("auto", parseIsa(undefined)).kernels.isa).toBe(isas[0]);
      const f = cpuFeatures();
      expect(isas.includes("avx512")).toBe(f.avx512);
      expect(isas.includes("avx2")).toBe(f.avx2);
      expect(isas.includes("amx")).toBe(f.amxBf16 && f.avx512);
      if (f.amxBf16) expect(loadKernels("native", "amx").kernels.bf16).toBe("amx");
      if (f.avx512bf16) expect(loadKernels("native", "avx512").kernels.bf16).toBe("hardware");
      if (!f.avx512) expect(() => loadKernels("native", "avx512")).toThrow(/ISA "avx512" is not available on this CPU/);
    }
    expect(parseIsa("")).toBe("auto");
    // SAELAB_THREADS is read at the edge too (the C pool reads no environment).
    expect(parseThreads(undefined)).toBeUndefined();
    expect(parseThreads("3")).toBe(3);
    for (const bad of ["0", "-1", "2.5", "many", "65"]) expect(() => parseThreads(bad)).toThrow(/SAELAB_THREADS must be an integer from 1 to 64/);
    expect(() => parseIsa("sse9")).toThrow(/SAELAB_ISA must be one of amx, avx512, avx2, portable or auto, got "sse9"/);
    expect(loadKernels("reference").kernels.name).toBe("reference");
    expect(loadKernels("reference").warning).toBeUndefined();
  });

  it("the edge's SAELAB_BACKEND decides what auto means, and only auto", () => {
    expect(resolveBackend("auto", undefined)).toBe("auto");
    expect(resolveBackend("auto", "")).toBe("auto");
    expect(resolveBackend("auto", "reference")).toBe("reference");
    expect(resolveBackend("native", "reference")).toBe("native");
    expect(() => resolveBackend("auto", "fast")).toThrow(/SAELAB_BACKEND must be "native", "reference" or "auto", got "fast"/);
  });

  it("the CLI passes its SAELAB_BACKEND down: --backend auto then runs on that backend", async () => {
    const cwd = mkdtempSync(join(tmpdir(), "saelab-backend-"));
    writeFileSync(join(cwd, "sae.json"), JSON.stringify({ architecture: "standard", dSae: 8 }));
    const lines: string[] = [];
    const io = { out: (t: string) => lines.push(t), err: (t: string) => lines.push(t), isTTY: false, cwd, backendEnv: "reference" };
    const run = (out: string, extra: object = {}) => main(["train", "--preset", "absorption-basic", "--sae", "sae.json", "--out", out, "--steps", "2", "--batchSize", "8"], { ...io, ...extra });
    expect(await run("a")).toBe(0);
    expect(lines.join("\n")).toMatch(/on the reference backend/);
    expect(await run("b", { backendEnv: "fast" })).toBe(1);
    expect(lines.at(-1)).toMatch(/SAELAB_BACKEND must be "native", "reference" or "auto", got "fast"/);
  });
});
