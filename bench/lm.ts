/**
 * LM throughput on stories260K (or a model given by --model):
 *  - batched activation extraction, 64 prompts of 256 tokens per forward pass, read at a middle block
 *    (blocks.{L/2}.hook_resid_post: the pass stops after that block) and at the last block
 *    (blocks.{L-1}.hook_resid_post: every block runs, the full depth);
 *  - single-stream greedy generation of 512 positions (BOS + 511 tokens) with the KV cache.
 * Prints the best and median of --reps runs, and the load average, since other work on the machine
 * slows every figure. `--runc path/to/run` also times llama2.c's run.c binary (built by you, e.g.
 * gcc -Ofast -march=native run.c -lm; with its stop at BOS removed, so it runs all 512 positions)
 * on the same model in the same session. `--gemm` adds the extraction figures through Kernels.gemm.
 *
 * run.c is called as `run MODEL -n 512 -t 0 -z TOKENIZER`.
 *
 *   npm run bench:lm [-- --reps 5] [--runc /tmp/run] [--gemm]
 *
 * With --family, a model family on random weights of a real model's shape beside PyTorch instead:
 *   npm run bench:lm -- --family gpt2 | gpt_neox | gemma2   (see bench/lm-family.ts)
 */
import { spawnSync } from "node:child_process";
import { loadavg } from "node:os";
import { readLlama2cCheckpoint, sharedModelFiles } from "../src/io/llama2c.js";
import { extractActivations } from "../src/lm/activations.js";
import { generate } from "../src/lm/generate.js";
import { LlamaModel } from "../src/lm/model.js";
import { loadLmKernels } from "../src/lm/native.js";
import { configureThreads, loadKernels, resolveBackend } from "../src/tensor/backend.js";
import { Rng } from "../src/tensor/rng.js";

const args = process.argv.slice(2);
if (args.includes("--family")) {
  // Model families on random weights of a real model's shape, beside PyTorch eager on the same weights.
  await (await import("./lm-family.js")).benchFamily(args);
  process.exit(0);
}
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const reps = Number(flag("reps") ?? 5);
const modelPath = flag("model") ?? sharedModelFiles()?.model;
if (!modelPath) {
  console.error("bench:lm: the shared stories260K model is absent; pass --model path/to/model.bin");
  process.exit(1);
}
const ckpt = readLlama2cCheckpoint(modelPath);
const backend = resolveBackend("auto", process.env.SAELAB_BACKEND);
configureThreads(process.env.SAELAB_THREADS);
const { kernels, warning } = loadKernels(backend);
if (warning) console.error(warning);
const lm = loadLmKernels(backend);
const model = new LlamaModel(ckpt, { kernels, lm });
const nLayers = ckpt.config.nLayers;

function stats(xs: number[]): string {
  const s = [...xs].sort((a, b) => b - a);
  return `best ${fmt(s[0]!)}, median ${fmt(s[Math.floor(s.length / 2)]!)} tokens/s`;
}
function fmt(x: number): string {
  return Math.round(x).toLocaleString("en-US");
}

const rng = new Rng(1);
const prompts = Array.from({ length: 64 }, () => Int32Array.from({ length: 256 }, (_, t) => (t === 0 ? 1 : 3 + rng.int(ckpt.config.vocabSize - 3))));
const tokens = prompts.length * 256;

console.log(`model ${modelPath} (dim ${ckpt.config.dim}, ${nLayers} layers); LM kernels "${lm.name}", gemm backend "${kernels.name}" (${kernels.threads} thread(s)); load average ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);

function extraction(label: string, m: LlamaModel, hook: string, runs: number): void {
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    let rows = 0;
    for (const b of extractActivations(m, prompts, { hook, batchSequences: 64, includeBos: true })) rows += b.tokens.length;
    if (rows !== tokens) throw new Error("row count mismatch");
    rates.push(tokens / ((performance.now() - t0) / 1000));
  }
  console.log(`${label}: ${stats(rates)}`);
}

const mid = Math.floor(nLayers / 2);
const depths = [
  [`blocks.${mid}.hook_resid_post`, `middle depth, ${mid + 1} of ${nLayers} blocks run`],
  [`blocks.${nLayers - 1}.hook_resid_post`, `full depth, all ${nLayers} blocks run`],
] as const;
for (const [hook, what] of depths) extraction(`extraction at ${hook} (${what}), 64 prompts x 256 tokens`, model, hook, reps);
if (args.includes("--gemm")) {
  const viaGemm = new LlamaModel(ckpt, { kernels, lm, fusedMaxRows: 0 });
  for (const [hook, what] of depths) extraction(`  through Kernels.gemm + per-step LM kernels, ${hook} (${what})`, viaGemm, hook, kernels.name === "reference" ? 1 : reps);
}

const genRates: number[] = [];
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const [g] = generate(model, [[1]], { steps: 511, temperature: 0, stopAtBos: false });
  if (g!.length !== 511) throw new Error("short generation");
  genRates.push(512 / ((performance.now() - t0) / 1000));
}
console.log(`single-stream greedy generation, 512 positions (BOS + 511 tokens, KV cache): ${stats(genRates)}`);

const runc = flag("runc");
if (runc) {
  const rates: number[] = [];
  for (let r = 0; r < reps; r++) {
    const tok = flag("tokenizer") ?? sharedModelFiles()?.tokenizer ?? "tokenizer.bin";
    const out = spawnSync(runc, [modelPath, "-n", "512", "-t", "0", "-z", tok], { encoding: "utf8" });
    const m = /achieved tok\/s: ([\d.]+)/.exec(`${out.stdout}${out.stderr}`);
    if (m) rates.push(Number(m[1]));
  }
  console.log(rates.length ? `llama2.c run.c (${runc}), same model, 512 positions: ${stats(rates)}` : `could not read "achieved tok/s" from ${runc}`);
}
