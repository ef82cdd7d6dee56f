/**
 * Compute-core benchmark (`npm run bench:gemm`): the machine's FMA peak, GEMM GFLOP/s at the SAE and
 * LM shapes, and the sparse kernels at a realistic SAE training shape. Prints best and median of
 * several runs; other processes on the machine make the median noisy, the best is the capability.
 * Options: --quick (fewer and smaller runs), --only=gemm|sparse.
 */
import { configureThreads, backendLabel, loadKernels, parseIsa, resolveBackend } from "../src/tensor/backend.js";
import { emptySparse, type Kernels } from "../src/tensor/kernels.js";
import { cpuFeatures, loadNativeAddon, nativeIsas, type NativeIsa } from "../src/tensor/native.js";
import { Rng } from "../src/tensor/rng.js";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const only = args.find((a) => a.startsWith("--only="))?.slice("--only=".length);

function timeRuns(reps: number, inner: number, fn: () => void): { best: number; median: number } {
  fn(); // warm-up: page faults, scratch growth
  const t: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    for (let i = 0; i < inner; i++) fn();
    t.push((performance.now() - t0) / 1000 / inner);
  }
  t.sort((x, y) => x - y);
  return { best: t[0]!, median: t[Math.floor(t.length / 2)]! };
}

function randn(rng: Rng, n: number, std = 1): Float32Array {
  return rng.fillNormal(new Float32Array(n), 0, std);
}

const fmt = (x: number, d = 1) => x.toFixed(d).padStart(8);

function benchGemm(K: Kernels, peak: number, bf16Peak: number): void {
  const rng = new Rng(1);
  console.log("\nGEMM (GFLOP/s: best / median; % of peak for the best)");
  const big: [string, number, number, number, boolean][] = [
    ["SAE encoder x@W_enc   4096x768 @ 768x16384 NN", 4096, 16384, 768, false],
    ["SAE tied x@W_dec^T    4096x768 @ 768x16384 NT", 4096, 16384, 768, true],
    ["small SAE             4096x64 @ 64x512 NN", 4096, 512, 64, false],
    ["small SAE             4096x64 @ 64x512 NT", 4096, 512, 64, true],
  ];
  const bf16Rows: [string, number, number, number, boolean][] = [
    ["SAE encoder bf16      4096x768 @ 768x16384 NN", 4096, 16384, 768, false],
    ["SAE tied bf16         4096x768 @ 768x16384 NT", 4096, 16384, 768, true],
    ["small SAE bf16        4096x64 @ 64x512 NN", 4096, 512, 64, false],
  ];
  for (const M of [4096, 16384]) for (const N of [64, 172, 512]) for (const tb of [false, true]) big.push([`LM-like               ${M}x64 @ 64x${N} ${tb ? "NT" : "NN"}`, M, N, 64, tb]);
  for (const [label, m, n, k, transB, bf16] of [...big.map((r) => [...r, false] as const), ...bf16Rows.map((r) => [...r, true] as const)]) {
    if (quick && m * n * k > 1e9) continue;
    const p = bf16 ? bf16Peak : peak;
    const a = randn(rng, m * k);
    const b = randn(rng, k * n);
    const out = new Float32Array(m * n);
    const flops = 2 * m * n * k;
    const inner = Math.max(1, Math.round(2e8 / flops));
    const { best, median } = timeRuns(quick ? 3 : 7, inner, () => K.gemm({ a, b, out, m, n, k, transB, bf16 }));
    console.log(`  ${label.padEnd(48)} ${fmt(flops / best / 1e9)} / ${fmt(flops / median / 1e9)}   ${fmt((100 * flops) / best / p, 0)}%`);
  }
  console.log("\nMatrix-vector (m = 1), ns per call including the JS->native call: best / median");
  for (const n of [64, 172, 512]) {
    for (const transB of [false, true]) {
      const k = 64;
      const a = randn(rng, k);
      const b = randn(rng, k * n);
      const out = new Float32Array(n);
      const { best, median } = timeRuns(quick ? 3 : 9, 20000, () => K.gemm({ a, b, out, m: 1, n, k, transB }));
      console.log(`  1x64 @ 64x${String(n).padEnd(4)} ${transB ? "NT" : "NN"}                                ${fmt(best * 1e9, 0)} / ${fmt(median * 1e9, 0)} ns`);
    }
  }
}

function benchSparse(K: Kernels): void {
  const rng = new Rng(2);
  const [batch, dIn, dSae, k] = quick ? [1024, 768, 16384, 64] : [4096, 768, 16384, 64];
  console.log(`\nSparse kernels at batch ${batch}, dIn ${dIn}, dSae ${dSae}, ${k} active latents per row (ms: best / median)`);
  const pre = randn(rng, batch * dSae);
  const s = emptySparse(0, 0);
  const reps = quick ? 3 : 7;
  const row = (label: string, r: { best: number; median: number }, flops = 0) =>
    console.log(`  ${label.padEnd(58)} ${fmt(r.best * 1e3, 2)} / ${fmt(r.median * 1e3, 2)} ms${flops ? `   ${fmt(flops / r.best / 1e9)} GFLOP/s` : ""}`);
  row(`topkRows k=${k}`, timeRuns(reps, 1, () => K.topkRows(pre, batch, dSae, k, s)));
  row(`topkBatch total=${k}*batch`, timeRuns(reps, 1, () => K.topkBatch(pre, batch, dSae, k * batch, s)));
  const thr = new Float32Array(dSae).fill(2.6); // ~76 of 16384 standard normals per row exceed 2.6
  row("sparsifyAbove (threshold 2.6, ~76 per row)", timeRuns(reps, 1, () => K.sparsifyAbove(pre, batch, dSae, s, thr)));
  row("window (|pre - 2.8| < 0.2)", timeRuns(reps, 1, () => K.window(pre, batch, dSae, new Float32Array(dSae).fill(2.8), 0.2, s)));
  K.topkRows(pre, batch, dSae, k, s);
  const nnz = s.nnz;
  const wDec = randn(rng, dSae * dIn, 0.05);
  const x = randn(rng, batch * dIn);
  const recon = new Float32Array(batch * dIn);
  const f = 2 * nnz * dIn;
  row(`spmm (decode: acts @ W_dec), nnz ${nnz}`, timeRuns(reps, 1, () => K.spmm(s, wDec, dIn, recon, false)), f);
  const dActs = new Float32Array(nnz);
  row("sddmm (d acts = dRecon . W_dec rows)", timeRuns(reps, 1, () => K.sddmm(s, x, wDec, dIn, dActs)), f);
  const gDec = new Float32Array(dSae * dIn);
  row("spmmT (d W_dec [dSae, dIn] += acts^T @ dRecon)", timeRuns(reps, 1, () => K.spmmT(s, x, dIn, gDec)), f);
  const gEnc = new Float32Array(dIn * dSae);
  row("spmmTCols (d W_enc [dIn, dSae] += x^T @ dPre)", timeRuns(reps, 1, () => K.spmmTCols(s, x, dIn, gEnc)), f);
  const nParams = 2 * dIn * dSae + dSae + dIn;
  const p = randn(rng, nParams);
  const g = randn(rng, nParams);
  const m1 = new Float32Array(nParams);
  const v1 = new Float32Array(nParams);
  let step = 0;
  row(`adam over ${(nParams / 1e6).toFixed(1)}M parameters`, timeRuns(reps, 1, () => K.adam({ params: p, grads: g, m: m1, v: v1, lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: ++step })));
}

configureThreads(process.env.SAELAB_THREADS);
const { kernels: K, warning } = loadKernels(resolveBackend("auto", process.env.SAELAB_BACKEND), parseIsa(process.env.SAELAB_ISA));
if (warning) console.warn(warning);
const loaded = K.isa ? loadNativeAddon(K.isa as NativeIsa) : loadNativeAddon();
if (K.name !== "native" || !("addon" in loaded)) {
  console.log("bench:gemm measures the native backend, which is not available here.");
  process.exit(1);
}
console.log(`saelab compute core: backend ${backendLabel(K)}, ${K.threads} threads, bf16 ${K.bf16}${quick ? " (--quick)" : ""}; CPU features ${JSON.stringify(cpuFeatures())}`);
// Peaks of every ISA present (each library's own probe: AVX2 ymm FMAs, AVX-512 zmm FMAs, vdpbf16ps,
// AMX tdpbf16ps; "amx" is the AVX-512 library, so only its tile peak is its own),
// the best of several short probes, since other processes may hold a core for a while; each is the
// larger of the all-threads probe and threads x the one-thread probe, so a busy probe cannot inflate a share.
const peaks = new Map<string, number>();
for (const isa of nativeIsas().filter((i) => i !== "portable")) {
  const lib = loadNativeAddon(isa);
  if (!("addon" in lib)) continue;
  for (const bf16 of isa === "amx" ? [2] : isa === "avx512" && lib.addon.bf16Mode() === 2 ? [0, 1] : [0]) {
    const probe = (threads: number) => Math.max(...Array.from({ length: quick ? 3 : 8 }, () => lib.addon.fmaPeak(0.25, threads, bf16)));
    const p1 = probe(1), pn = probe(K.threads);
    const name = bf16 === 2 ? "AMX-BF16 (tdpbf16ps)" : bf16 ? "BF16 dot (vdpbf16ps)" : isa === "avx512" ? "AVX-512 FMA" : "AVX2 FMA";
    peaks.set(bf16 === 2 ? "amx-bf16" : bf16 ? "bf16" : isa, Math.max(pn, K.threads * p1));
    console.log(`Peak ${name.padEnd(21)} ${(pn / 1e9).toFixed(1).padStart(7)} GFLOP/s on ${K.threads} threads, ${(p1 / 1e9).toFixed(1).padStart(7)} on 1${pn < 0.9 * K.threads * p1 ? "  (below threads x 1-thread: the cores were busy)" : ""}`);
  }
}
const fp32Isa = K.isa === "amx" ? "avx512" : K.isa;
const peakRef = peaks.get(fp32Isa ?? "") ?? loaded.addon.fmaPeak(0.25, K.threads);
const bf16Key = K.bf16 === "amx" ? "amx-bf16" : "bf16";
console.log(`GEMM percentages are of the ${fp32Isa} peak, ${(peakRef / 1e9).toFixed(1)} GFLOP/s; bf16 rows of the ${K.bf16 === "amx" ? "AMX-BF16" : "BF16 dot"} peak.`);
if (only !== "sparse") benchGemm(K, peakRef, peaks.get(bf16Key) ?? peakRef);
if (only !== "gemm") benchSparse(K);
