/**
 * `npm run bench:lm -- --family gpt2`: a model of GPT-2 small's shape (12 layers, width 768, 12 heads,
 * vocab 50257) with random weights, written as an HF snapshot and loaded through loadModel:
 *  - gpt2 extract: batched extraction at blocks.6.hook_resid_post, 64 sequences x 128 tokens in one pass;
 *  - gpt2 generate: greedy generation of 128 tokens after a 16-token prompt (batch 1, KV cache);
 * each beside PyTorch eager on the same weights (bench/reference/gpt2_lm.py, when a python3 with
 * torch is found), with the ratio and each process's peak resident memory. Rates are the best of
 * --reps runs after a warm-up; our figures come from a child process so its peak memory is the
 * model's, not the weight generator's.
 *
 *   npm run bench:lm -- --family gpt2 [--reps 3] [--dir /tmp/saelab-gpt2-bench] [--torch auto|off]
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeSafetensors, type TensorToWrite } from "../src/io/safetensors.js";
import { extractActivations } from "../src/lm/activations.js";
import { generate } from "../src/lm/generate.js";
import { loadModel } from "../src/lm/load.js";
import { Rng } from "../src/tensor/rng.js";

const args = process.argv.slice(2);
const flag = (name: string, dflt?: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const reps = Number(flag("reps", "3"));
const HOOK = "blocks.6.hook_resid_post";
const CFG = { model_type: "gpt2", n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5, activation_function: "gelu_new" };

/** Writes GPT-2 small's tensors (random, GPT-2's init scale) as a snapshot directory. */
function writeSnapshot(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const rng = new Rng(7);
  const D = CFG.n_embd;
  const t: Record<string, TensorToWrite> = {};
  const normal = (shape: number[], std: number) => ({ data: rng.fillNormal(new Float32Array(shape.reduce((a, b) => a * b, 1)), 0, std), shape });
  const ones = (n: number) => ({ data: new Float32Array(n).fill(1), shape: [n] });
  t["transformer.wte.weight"] = normal([CFG.vocab_size, D], 0.02);
  t["transformer.wpe.weight"] = normal([CFG.n_positions, D], 0.01);
  for (let l = 0; l < CFG.n_layer; l++) {
    const p = `transformer.h.${l}.`;
    Object.assign(t, {
      [`${p}ln_1.weight`]: ones(D), [`${p}ln_1.bias`]: normal([D], 0.02),
      [`${p}attn.c_attn.weight`]: normal([D, 3 * D], 0.02), [`${p}attn.c_attn.bias`]: normal([3 * D], 0.02),
      [`${p}attn.c_proj.weight`]: normal([D, D], 0.02), [`${p}attn.c_proj.bias`]: normal([D], 0.02),
      [`${p}ln_2.weight`]: ones(D), [`${p}ln_2.bias`]: normal([D], 0.02),
      [`${p}mlp.c_fc.weight`]: normal([D, 4 * D], 0.02), [`${p}mlp.c_fc.bias`]: normal([4 * D], 0.02),
      [`${p}mlp.c_proj.weight`]: normal([4 * D, D], 0.02), [`${p}mlp.c_proj.bias`]: normal([D], 0.02),
    });
  }
  t["transformer.ln_f.weight"] = ones(D);
  t["transformer.ln_f.bias"] = normal([D], 0.02);
  writeSafetensors(join(dir, "model.safetensors"), t);
  writeFileSync(join(dir, "config.json"), JSON.stringify(CFG));
}

/** Our figures, in this (child) process: one JSON line. */
async function measure(dir: string): Promise<void> {
  const model = await loadModel(dir);
  const rng = new Rng(1);
  const seqs = Array.from({ length: 64 }, () => Int32Array.from({ length: 128 }, () => rng.int(CFG.vocab_size)));
  const prompt = Array.from({ length: 16 }, () => rng.int(CFG.vocab_size));
  const best = (fn: () => void, work: number) => {
    fn();
    let rate = 0;
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      fn();
      rate = Math.max(rate, work / ((performance.now() - t0) / 1000));
    }
    return rate;
  };
  const extract = best(() => {
    let rows = 0;
    for (const b of extractActivations(model, seqs, { hook: HOOK, batchSequences: 64, includeBos: true })) rows += b.tokens.length;
    if (rows !== 64 * 128) throw new Error("row count mismatch");
  }, 64 * 128);
  const gen = best(() => {
    const [g] = generate(model, [prompt], { steps: 128, temperature: 0, stopTokens: [] });
    if (g!.length !== 128) throw new Error("short generation");
  }, 128);
  console.log(JSON.stringify({ extract, gen, peakMb: process.resourceUsage().maxRSS / 1024, backend: model.backendName() }));
}

/** Runs the PyTorch reference, or returns undefined when no python3 with torch is found. */
function torchFigures(dir: string): { extract_tokens_per_sec: number; generate_tokens_per_sec: number; peak_rss_mb: number; threads: number; torch: string } | undefined {
  if (flag("torch", "auto") === "off") return undefined;
  const script = fileURLToPath(new URL("./reference/gpt2_lm.py", import.meta.url));
  for (const py of ["python3", "/usr/bin/python3"]) {
    if (spawnSync(py, ["-c", "import torch"], { stdio: "ignore" }).status !== 0) continue;
    const r = spawnSync(py, [script, "--model", dir, "--reps", String(reps), "--threads", String(cpus().length)], { encoding: "utf8" });
    if (r.status !== 0) {
      console.error(`PyTorch reference failed: ${r.stderr.trim().split("\n").at(-1)}`);
      return undefined;
    }
    return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as ReturnType<typeof torchFigures>;
  }
  return undefined;
}

/** The family benchmark (only gpt2 so far). */
export async function benchFamily(family: string): Promise<void> {
  if (family !== "gpt2") throw new Error(`bench:lm --family: only gpt2 is benchmarked, got ${family}`);
  const measureDir = flag("measure");
  if (measureDir) return measure(measureDir);
  const dir = flag("dir", join(tmpdir(), "saelab-gpt2-bench"))!;
  if (!existsSync(join(dir, "model.safetensors"))) writeSnapshot(dir);
  console.log(`gpt2 (random weights, GPT-2 small's shape) from ${dir}; ${cpus().length} CPUs (${cpus()[0]?.model ?? "?"}); load average ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);
  const self = fileURLToPath(import.meta.url);
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(new URL("./lm.ts", import.meta.url)), "--family", "gpt2", "--measure", dir, "--reps", String(reps)], { encoding: "utf8" });
  if (child.status !== 0) throw new Error(`measuring ${self} failed: ${child.stderr}`);
  const ours = JSON.parse(child.stdout.trim().split("\n").at(-1)!) as { extract: number; gen: number; peakMb: number; backend: string };
  const pt = torchFigures(dir);
  const f = (x: number) => Math.round(x).toLocaleString("en-US");
  const beside = (o: number, p: number | undefined) => (p === undefined ? "PyTorch n/a" : `PyTorch eager ${f(p)} tokens/s, ratio ${(o / p).toFixed(2)}x`);
  const mem = `peak memory saelab ${f(ours.peakMb)} MB${pt ? `, PyTorch ${f(pt.peak_rss_mb)} MB` : ""}`;
  console.log(`gpt2 extract ${HOOK}, 64 x 128 tokens: saelab ${f(ours.extract)} tokens/s (${ours.backend}), ${beside(ours.extract, pt?.extract_tokens_per_sec)}; ${mem}`);
  console.log(`gpt2 generate 128 tokens after a 16-token prompt (greedy, KV cache, batch 1): saelab ${f(ours.gen)} tokens/s, ${beside(ours.gen, pt?.generate_tokens_per_sec)}`);
  if (pt) console.log(`PyTorch ${pt.torch}, ${pt.threads} threads`);
}
