/**
 * `npm run bench:train`: tokens/s of a full SAE training step (forward, loss, backward, Adam) for
 * standard (untied and tied), topk and batchtopk SAEs, the GFLOP/s of the dense encoder product, the
 * counted FLOPs per step, and, when a python3 with torch is found, the same standard-SAE step in
 * PyTorch (bench/reference/sae_step.py) for a side-by-side ratio.
 *
 * Standard SAEs are measured at a trained sparsity (b_enc set so each latent fires on about
 * --l0 / dSae of the samples, L0 printed) and, on a separate line, at initialisation (half fire).
 *
 * Flags (or env SAELAB_BENCH_<FLAG>): --sizes 64x512,768x16384  --batch 4096  --steps 5  --warmup 1
 *   --l0 64  --backend auto|native|reference  --torch auto|off  --cases std-init,std,std-tied,topk,batchtopk
 * With the reference backend the default sizes are 64x512 only (768x16384 takes minutes per step).
 */
import { spawnSync } from "node:child_process";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { loadKernels, type BackendChoice } from "../src/tensor/backend.js";
import type { Kernels } from "../src/tensor/kernels.js";
import { Rng } from "../src/tensor/rng.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { createTrainer, type Trainer } from "../src/train/trainer.js";

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[`SAELAB_BENCH_${name.toUpperCase()}`] ?? def;
}

const { kernels, warning } = loadKernels(flag("backend", "auto") as BackendChoice);
if (warning) console.error(warning);
const B = Number(flag("batch", "4096"));
const STEPS = Number(flag("steps", "5"));
const WARMUP = Number(flag("warmup", "1"));
const L0 = Number(flag("l0", "64"));
const SIZES = flag("sizes", kernels.name === "reference" ? "64x512" : "64x512,768x16384")
  .split(",")
  .map((s) => s.split("x").map(Number) as [number, number]);
const CASES = flag("cases", "std-init,std,std-tied,topk,batchtopk").split(",");
const TORCH = flag("torch", "auto");

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

function gemmGflops(k: Kernels, n: number, d: number, x: Float32Array): number {
  const w = new Rng(1).fillNormal(new Float32Array(n * d), 0, 0.05);
  const bias = new Float32Array(d);
  const out = new Float32Array(B * d);
  k.gemm({ a: x, b: w, out, m: B, n: d, k: n, bias });
  const reps = Math.max(1, Math.min(5, Math.round(2e10 / (2 * B * n * d))));
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) k.gemm({ a: x, b: w, out, m: B, n: d, k: n, bias });
  return (2 * B * n * d * reps) / ((performance.now() - t0) / 1000) / 1e9;
}

interface CaseResult {
  tokensPerSec: number;
  l0: number;
  flops: { total: number; dense: number; sparse: number; other: number };
}

function timeCase(caseName: string, n: number, d: number, data: Float32Array[]): CaseResult {
  const k = Math.min(L0, d);
  const sae = {
    "std-init": { architecture: "standard", l1Coefficient: 1e-3 },
    std: { architecture: "standard", l1Coefficient: 1e-3 },
    "std-tied": { architecture: "standard", tying: "tied", l1Coefficient: 1e-3 },
    topk: { architecture: "topk", k },
    batchtopk: { architecture: "batchtopk", k },
  }[caseName];
  if (!sae) throw new Error(`unknown case ${caseName}`);
  const cfg = SaeConfigSchema.parse({ ...sae, dSae: d, bDecInit: "mean" });
  const trainer = createTrainer(kernels, [cfg], TrainConfigSchema.parse({ steps: 1e9, batchSize: B, lr: 1e-5 }), n);
  trainer.trainStep(data[0]!); // b_dec from the data, workspace allocated
  if (caseName === "std" || caseName === "std-tied") setSparsity(trainer, data[0]!, L0);
  for (let i = 1; i < WARMUP; i++) trainer.trainStep(data[i % 2]!);
  let l0 = 0;
  const flops = { total: 0, dense: 0, sparse: 0, other: 0 };
  const t0 = performance.now();
  for (let i = 0; i < STEPS; i++) {
    trainer.trainStep(data[i % 2]!);
    const last = trainer.runs[0]!.last!;
    l0 += last.result.l0 / STEPS;
    flops.dense += last.result.flops.dense / STEPS;
    flops.sparse += last.result.flops.sparse / STEPS;
    flops.other += (last.result.flops.other + last.optimizerFlops) / STEPS;
  }
  const seconds = (performance.now() - t0) / 1000;
  flops.total = flops.dense + flops.sparse + flops.other;
  trainer.runs[0]!.sae.releaseBuffers();
  return { tokensPerSec: (STEPS * B) / seconds, l0, flops };
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
  l0: number;
  blas: string;
  encoder_gflops: number;
  torch: string;
  threads: number;
}

function runTorch(py: string, n: number, d: number, l0: number): TorchResult | null {
  const script = fileURLToPath(new URL("./reference/sae_step.py", import.meta.url));
  const steps = Math.max(1, Math.min(STEPS, n * d > 1e6 ? 3 : STEPS));
  const r = spawnSync(py, [script, "--d-in", String(n), "--d-sae", String(d), "--batch", String(B), "--steps", String(steps), "--warmup", "1", "--l0", String(l0), "--threads", String(cpus().length)], {
    encoding: "utf8",
  });
  if (r.status !== 0) {
    console.error(`  torch reference failed: ${r.stderr.trim().split("\n").at(-1)}`);
    return null;
  }
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as TorchResult;
}

const fmt = (v: number) => Math.round(v).toLocaleString("en-US");
const sci = (v: number) => v.toExponential(2);

console.log(
  `saelab bench:train  backend=${kernels.name} (${kernels.threads} thread${kernels.threads > 1 ? "s" : ""})  batch=${B}  steps=${STEPS} (+${WARMUP} warm-up)  target L0=${L0}`,
);
console.log(`machine: ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(2)} (other processes share the cores: timings are noisy)`);
const py = findTorchPython();
console.log(py ? `PyTorch reference: ${py} bench/reference/sae_step.py` : "PyTorch reference: no python3 with torch found (install python3-torch for the ratio)");

for (const [n, d] of SIZES) {
  console.log(`\ndIn ${n} / dSae ${d}`);
  const data = [makeBatch(n, d, 1), makeBatch(n, d, 2)];
  console.log(`  dense encoder product [${B}x${n}]x[${n}x${d}]: ${gemmGflops(kernels, n, d, data[0]!).toFixed(1)} GFLOP/s`);
  const torchAt = new Map<number, TorchResult | null>();
  for (const c of CASES) {
    const r = timeCase(c, n, d, data);
    let line = `  ${c.padEnd(10)} L0 ${r.l0.toFixed(1).padStart(7)}  ${fmt(r.tokensPerSec).padStart(10)} tok/s  FLOPs/step ${sci(r.flops.total)} (dense ${sci(r.flops.dense)}, sparse ${sci(r.flops.sparse)}, other ${sci(r.flops.other)})  ${((r.flops.total * r.tokensPerSec) / B / 1e9).toFixed(1)} GFLOP/s`;
    if (py && (c === "std" || c === "std-init")) {
      const key = c === "std" ? L0 : 0;
      if (!torchAt.has(key)) torchAt.set(key, runTorch(py, n, d, key));
      const t = torchAt.get(key);
      if (t) line += `\n  ${"".padEnd(10)} torch L0 ${t.l0.toFixed(1)}: ${fmt(t.tokens_per_sec)} tok/s (torch ${t.torch}, BLAS ${t.blas}, its encoder GEMM ${t.encoder_gflops.toFixed(1)} GFLOP/s)  ratio ${(r.tokensPerSec / t.tokens_per_sec).toFixed(2)}x`;
    }
    console.log(line);
  }
}
