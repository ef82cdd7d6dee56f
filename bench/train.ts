/**
 * `npm run bench:train`: the full SAE training step (forward, loss, backward, Adam) at batch 4096 for
 * standard (untied and tied), topk and batchtopk SAEs at dIn 64 / dSae 512 and dIn 768 / dSae 16384.
 * Per case it prints L0, tokens/s and ms/step (best of the timed steps; the median beside it), the
 * GFLOP/s of the encoder product inside the step and its share of the machine's measured FMA peak
 * (probed just before and just after that case's timed steps, the larger of the two, and printed
 * beside the share: the host's other tenants move both the peak and the product by up to a third
 * within minutes, so a peak probed at start and a product timed minutes later are not comparable),
 * the counted FLOPs per step, and, when a python3 with torch is found, the same standard step in
 * PyTorch (bench/reference/sae_step.py) with our ratio to it.
 *
 * Standard SAEs are measured at a trained sparsity (b_enc set so that each latent fires on about
 * --l0 / dSae of the samples; the L0 is printed) and, on a separate line, at initialisation.
 * Other processes share this machine's two cores: the load average is printed before and after each
 * size, and best-of-N step times are the capability, medians the typical case.
 *
 * Flags (or env SAELAB_BENCH_<FLAG>): --sizes 64x512,768x16384  --batch 4096  --steps N (default 20
 *   at the small size, 6 at the large)  --warmup 2  --l0 64  --backend auto|native|reference
 *   --torch auto|off  --cases std,std-init,std-tied,topk,batchtopk,std-bf16
 * (std-bf16, row "standard bf16": the standard step with precision "bf16", its encoder share taken of
 * the AMX tile peak when the product runs on AMX-BF16, of the BF16 dot-product peak on AVX512-BF16,
 * its ratio to PyTorch's fp32 step).
 * The ISA is the backend's (SAELAB_ISA forces one); every share is of that ISA's measured peak.
 * With the reference backend the default sizes are 64x512 only (768x16384 takes minutes per step).
 */
import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { configureThreads, backendLabel, loadKernels, parseIsa, resolveBackend, type BackendChoice } from "../src/tensor/backend.js";
import type { EncodeArgs, Kernels } from "../src/tensor/kernels.js";
import { loadNativeAddon, type NativeIsa } from "../src/tensor/native.js";
import { Rng } from "../src/tensor/rng.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { createTrainer, type Trainer } from "../src/train/trainer.js";

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[`SAELAB_BENCH_${name.toUpperCase()}`] ?? def;
}

configureThreads(process.env.SAELAB_THREADS);
const { kernels: base, warning } = loadKernels(resolveBackend(flag("backend", "auto") as BackendChoice, process.env.SAELAB_BACKEND), parseIsa(process.env.SAELAB_ISA));
if (warning) console.error(warning);
const B = Number(flag("batch", "4096"));
const STEPS = flag("steps", "");
const WARMUP = Number(flag("warmup", "2"));
const L0 = Number(flag("l0", "64"));
const SIZES = flag("sizes", base.name === "reference" ? "64x512" : "64x512,768x16384")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const CASES = flag("cases", "std,std-init,std-tied,topk,batchtopk").split(",");
const TORCH = flag("torch", "auto");

/** The kernels with the time spent in `encode` (the encoder product and its nonlinearity) added up. */
const encTime = { ms: 0 };
const kernels: Kernels = {
  ...base,
  encode(args: EncodeArgs): void {
    const t0 = performance.now();
    base.encode(args);
    encTime.ms += performance.now() - t0;
  },
};

/** Synthetic activations: sums of 32 random unit directions with magnitudes in [0.5, 1.5), plus noise. */
function makeBatch(n: number, d: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const nDirs = Math.min(4 * d, 8192);
  const dirs = rng.fillNormal(new Float32Array(nDirs * n));
  for (let f = 0; f < nDirs; f++) {
    let s = 0;
    for (let i = 0; i < n; i++) s += dirs[f * n + i]! ** 2;
    const inv = 1 / Math.sqrt(s);
    for (let i = 0; i < n; i++) dirs[f * n + i]! *= inv;
  }
  const x = new Float32Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < 32; k++) {
      const f = rng.int(nDirs);
      const a = 0.5 + rng.uniform();
      for (let i = 0; i < n; i++) x[b * n + i]! += a * dirs[f * n + i]!;
    }
    for (let i = 0; i < n; i++) x[b * n + i]! += 0.05 * rng.normal();
  }
  return x;
}

/** Sets b_enc so that each latent fires on about `l0 / dSae` of the batch (a trained SAE's sparsity). */
function setSparsity(t: Trainer, x: Float32Array, l0: number): void {
  const sae = t.runs[0]!.sae;
  const { dSae: d } = sae;
  sae.params.b_enc.fill(0);
  const pre = sae.preActivations(x, B);
  const col = new Float32Array(B);
  const rank = Math.min(B - 1, Math.max(0, Math.floor(B * (1 - l0 / d))));
  for (let j = 0; j < d; j++) {
    for (let b = 0; b < B; b++) col[b] = pre[b * d + j]!;
    sae.params.b_enc[j] = -select(col, rank);
  }
  sae.releaseBuffers();
}

/** Returns the element of rank `k` (0-based, ascending) of `a` (reorders `a`). */
function select(a: Float32Array, k: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const p = a[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < p) i++;
      while (a[j]! > p) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return a[k]!;
}

/** Best GFLOP/s of the plain encoder GEMM [B, n] x [n, d] + bias. */
function gemmGflops(n: number, d: number, x: Float32Array): number {
  const w = new Rng(1).fillNormal(new Float32Array(n * d), 0, 0.05);
  const bias = new Float32Array(d);
  const out = new Float32Array(B * d);
  const flops = 2 * B * n * d;
  base.gemm({ a: x, b: w, out, m: B, n: d, k: n, bias });
  let best = Infinity;
  for (let r = 0; r < Math.max(3, Math.min(20, Math.round(4e9 / flops))); r++) {
    const t0 = performance.now();
    base.gemm({ a: x, b: w, out, m: B, n: d, k: n, bias });
    best = Math.min(best, performance.now() - t0);
  }
  return flops / (best / 1000) / 1e9;
}

interface CaseResult {
  l0: number;
  bestMs: number;
  medianMs: number;
  /** Encoder product inside the step (the encode kernel), best of the steps. */
  encGflops: number;
  /** The case's ISA peak probed just before and just after its timed steps (the larger), NaN without one. */
  peak: number;
  flops: { total: number; dense: number; sparse: number; other: number };
}

const LABELS: Record<string, string> = { std: "standard", "std-init": "standard @init", "std-tied": "standard tied", topk: "topk", batchtopk: "batchtopk", "std-bf16": "standard bf16" };

const SAE_CASES: Record<string, Record<string, unknown>> = {
  std: { architecture: "standard", l1Coefficient: 1e-3 },
  "std-init": { architecture: "standard", l1Coefficient: 1e-3 },
  "std-tied": { architecture: "standard", tying: "tied", l1Coefficient: 1e-3 },
  topk: { architecture: "topk", k: L0 },
  batchtopk: { architecture: "batchtopk", k: L0 },
  "std-bf16": { architecture: "standard", l1Coefficient: 1e-3 },
};
const BF16_CASES = new Set(["std-bf16"]);

function timeCase(caseName: string, n: number, d: number, data: Float32Array[], steps: number): CaseResult {
  const sae = SAE_CASES[caseName];
  if (!sae) throw new Error(`unknown case ${caseName} (known: ${Object.keys(SAE_CASES).join(", ")})`);
  const cfg = SaeConfigSchema.parse({ ...sae, ...("k" in sae ? { k: Math.min(L0, d) } : {}), dSae: d, bDecInit: "mean" });
  const precision = BF16_CASES.has(caseName) ? "bf16" : "fp32";
  const trainer = createTrainer(kernels, [cfg], TrainConfigSchema.parse({ steps: 1e9, batchSize: B, lr: 1e-5, precision }), n);
  trainer.trainStep(data[0]!); // b_dec from the data, workspace allocated
  if (caseName === "std" || caseName === "std-tied" || caseName === "std-bf16") setSparsity(trainer, data[0]!, L0);
  for (let i = 1; i < WARMUP; i++) trainer.trainStep(data[i % 2]!);
  let l0 = 0;
  const flops = { total: 0, dense: 0, sparse: 0, other: 0 };
  const times: number[] = [];
  let encBest = Infinity;
  const probePeak = () => measurePeak(BF16_CASES.has(caseName) ? BF16_PEAK_KIND : 0);
  const peakBefore = probePeak();
  for (let i = 0; i < steps; i++) {
    encTime.ms = 0;
    const t0 = performance.now();
    trainer.trainStep(data[i % 2]!);
    times.push(performance.now() - t0);
    encBest = Math.min(encBest, encTime.ms);
    const last = trainer.runs[0]!.last!;
    l0 += last.result.l0 / steps;
    flops.dense += last.result.flops.dense / steps;
    flops.sparse += last.result.flops.sparse / steps;
    flops.other += (last.result.flops.other + last.optimizerFlops) / steps;
  }
  flops.total = flops.dense + flops.sparse + flops.other;
  const peakAround = Math.max(peakBefore, probePeak());
  trainer.runs[0]!.sae.releaseBuffers();
  times.sort((a, b) => a - b);
  return { l0, bestMs: times[0]!, medianMs: times[Math.floor(times.length / 2)]!, encGflops: (2 * B * n * d) / (encBest / 1000) / 1e9, peak: peakAround, flops };
}

function findTorchPython(): string | null {
  if (TORCH === "off") return null;
  for (const py of ["python3", "/usr/bin/python3"]) {
    const r = spawnSync(py, ["-c", "import torch"], { stdio: "ignore" });
    if (r.status === 0) return py;
  }
  return null;
}

interface TorchResult {
  tokens_per_sec: number;
  seconds_per_step: number;
  l0: number;
  blas: string;
  encoder_gflops: number;
  torch: string;
  threads: number;
}

function runTorch(py: string, n: number, d: number, l0: number, steps: number): TorchResult | null {
  const script = fileURLToPath(new URL("./reference/sae_step.py", import.meta.url));
  const args = [script, "--d-in", String(n), "--d-sae", String(d), "--batch", String(B), "--steps", String(steps), "--warmup", "1", "--l0", String(l0), "--threads", String(cpus().length)];
  const r = spawnSync(py, args, { encoding: "utf8" });
  if (r.status !== 0) {
    console.error(`  torch reference failed: ${r.stderr.trim().split("\n").at(-1)}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as TorchResult;
}

const fmt = (v: number) => Math.round(v).toLocaleString("en-US");
const sci = (v: number) => v.toExponential(2);
const load = () => loadavg()[0]!.toFixed(2);

const addon = base.isa ? loadNativeAddon(base.isa as NativeIsa) : loadNativeAddon();
/** The backend ISA's FMA peak (bf16 1: its vdpbf16ps peak, 2: its AMX tdpbf16ps peak): the larger of the all-threads probe and threads x the one-thread probe (best of several), so a busy core cannot inflate the shares. */
function measurePeak(bf16: 0 | 1 | 2): number {
  if (base.name !== "native" || !("addon" in addon)) return NaN;
  const probe = (t: number) => Math.max(...Array.from({ length: 5 }, () => addon.addon.fmaPeak(0.2, t, bf16)));
  return Math.max(probe(base.threads), base.threads * probe(1)) / 1e9 || NaN;
}
const peak = measurePeak(0);
const wantsBf16 = CASES.some((c) => BF16_CASES.has(c));
/** Which peak a bf16 case's share is of: the AMX tile peak, the vdpbf16ps peak, or none (emulated). */
const BF16_PEAK_KIND: 0 | 1 | 2 = base.bf16 === "amx" ? 2 : base.bf16 === "hardware" ? 1 : 0;
const bf16Peak = wantsBf16 && BF16_PEAK_KIND !== 0 ? measurePeak(BF16_PEAK_KIND) : NaN;
console.log(`saelab bench:train  backend=${backendLabel(base)} (${base.threads} thread${base.threads > 1 ? "s" : ""}, bf16 ${base.bf16})  batch=${B}  (+${WARMUP} warm-up steps)  target L0=${L0}`);
console.log(
  `machine: ${cpus().length} cores, load average ${load()} at start; measured fp32 FMA peak (${base.isa === "amx" ? "avx512: fp32 runs on AVX-512 beside AMX" : (base.isa ?? "")}) ${Number.isNaN(peak) ? "n/a" : `${peak.toFixed(1)} GFLOP/s`}` +
    `${Number.isNaN(bf16Peak) ? "" : `, ${base.bf16 === "amx" ? "AMX-BF16 tile" : "BF16 dot"} peak ${bf16Peak.toFixed(1)} GFLOP/s`}` +
    " (other processes share the cores: best-of-N is the capability, the median the typical case; each case's encoder share is of the peak probed beside its steps)",
);
const py = findTorchPython();
console.log(py ? `PyTorch reference: ${py} bench/reference/sae_step.py (standard SAE, dense, as SAELens computes it)` : "PyTorch reference: no python3 with torch found (install python3-torch for the ratio)");

for (const [n, d] of SIZES) {
  const big = n * d > 1e6;
  const steps = STEPS ? Number(STEPS) : big ? 6 : 20;
  const data = [makeBatch(n, d, 1), makeBatch(n, d, 2)];
  const g = gemmGflops(n, d, data[0]!);
  console.log(`\ndIn ${n} / dSae ${d}: load average ${load()}; plain encoder GEMM [${B}x${n}]x[${n}x${d}] ${g.toFixed(1)} GFLOP/s${Number.isNaN(peak) ? "" : ` (${((100 * g) / peak).toFixed(0)}% of the peak at start)`}; best of ${steps} steps`);
  console.log(`  ${"case".padEnd(15)} ${"L0".padStart(6)} ${"tok/s".padStart(10)} ${"ms/step best/median".padStart(21)} ${"encoder GFLOP/s".padStart(27)} ${"FLOPs/step".padStart(10)}  (dense/sparse/other)`);
  const torchAt = new Map<number, TorchResult | null>();
  const torchSteps = big ? 3 : 10;
  for (const c of CASES) {
    const r = timeCase(c, n, d, data, steps);
    const share = Number.isNaN(r.peak) ? "" : ` (${((100 * r.encGflops) / r.peak).toFixed(0)}% of ${r.peak.toFixed(0)})`;
    let line =
      `  ${(LABELS[c] ?? c).padEnd(15)} ${r.l0.toFixed(1).padStart(6)} ${fmt((B * 1000) / r.bestMs).padStart(10)} ${`${r.bestMs.toFixed(2)} / ${r.medianMs.toFixed(2)}`.padStart(21)} ` +
      `${`${r.encGflops.toFixed(1)}${share}`.padStart(27)} ${sci(r.flops.total).padStart(10)}  (${sci(r.flops.dense)}/${sci(r.flops.sparse)}/${sci(r.flops.other)})`;
    if (py) {
      // The PyTorch step is the standard one: at initialisation for std-init, at the target L0 otherwise.
      const key = c === "std-init" ? 0 : L0;
      if (!torchAt.has(key)) torchAt.set(key, runTorch(py, n, d, key, torchSteps));
      const t = torchAt.get(key);
      const ratio = t ? ((B * 1000) / r.bestMs / t.tokens_per_sec).toFixed(2) : "";
      if (t && c !== "std" && c !== "std-init") line += `  ${ratio}x torch standard${BF16_CASES.has(c) ? " (fp32)" : ""}`;
      else if (t) line += `\n  ${"".padEnd(15)} torch standard L0 ${t.l0.toFixed(1)}: ${fmt(t.tokens_per_sec)} tok/s, ${(t.seconds_per_step * 1000).toFixed(1)} ms/step (${t.blas}, encoder ${t.encoder_gflops.toFixed(1)} GFLOP/s)  ratio ${ratio}x`;
    }
    console.log(line);
  }
  console.log(`  load average ${load()} at the end of this size`);
}
