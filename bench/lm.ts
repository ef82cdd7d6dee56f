/**
 * LM throughput on stories260K (or a model given by --model/--tokenizer):
 *  - batched activation extraction: prompts of 256 tokens, 64 per forward pass, read at a middle
 *    block (blocks.2.hook_resid_post, 3 of 5 blocks run) and at the last block (all 5 run);
 *  - single-stream greedy generation of 512 positions (BOS + 511 tokens) with the KV cache.
 * Extraction is timed twice: through Kernels.gemm (whichever backend loadKernels() picks) and
 * through the fused native LM kernels alone. Prints the best and median of several runs.
 *
 *   npm run bench:lm [-- --reps 5]
 */
import { readLlama2cCheckpoint, sharedModelFiles } from "../src/io/llama2c.js";
import { extractActivations } from "../src/lm/activations.js";
import { generate } from "../src/lm/generate.js";
import { LlamaModel } from "../src/lm/model.js";
import { loadLmKernels } from "../src/lm/native.js";
import { loadKernels } from "../src/tensor/backend.js";
import { Rng } from "../src/tensor/rng.js";

const args = process.argv.slice(2);
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
const { kernels, warning } = loadKernels();
if (warning) console.error(warning);
const lm = loadLmKernels();
const viaGemm = new LlamaModel(ckpt, { kernels, lm });
const fused = new LlamaModel(ckpt, { kernels, lm, fusedMaxRows: Number.MAX_SAFE_INTEGER });
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

console.log(`model ${modelPath} (dim ${ckpt.config.dim}, ${nLayers} layers); gemm backend "${kernels.name}" (${kernels.threads} thread(s)), LM kernels "${lm.name}"`);
for (const hook of [`blocks.${Math.floor(nLayers / 2)}.hook_resid_post`, `blocks.${nLayers - 1}.hook_resid_post`]) {
  for (const [label, model] of [["Kernels.gemm + LM kernels", viaGemm], ["fused LM kernels", fused]] as const) {
    if (label === "Kernels.gemm + LM kernels" && kernels.name === "reference" && reps > 1 && !args.includes("--slow")) {
      const t0 = performance.now();
      for (const _ of extractActivations(model, prompts.slice(0, 8), { hook, batchSequences: 8 })) void _;
      console.log(`extraction ${hook}, ${label}: ${fmt((8 * 256) / ((performance.now() - t0) / 1000))} tokens/s (one run of 8 prompts; the reference GEMM is slow, --slow runs it fully)`);
      continue;
    }
    const rates: number[] = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      let rows = 0;
      for (const b of extractActivations(model, prompts, { hook, batchSequences: 64, includeBos: true })) rows += b.tokens.length;
      if (rows !== tokens) throw new Error("row count mismatch");
      rates.push(tokens / ((performance.now() - t0) / 1000));
    }
    console.log(`extraction ${hook}, ${label}, 64 x 256 tokens: ${stats(rates)}`);
  }
}

const genRates: number[] = [];
for (let r = 0; r < reps; r++) {
  const t0 = performance.now();
  const [g] = generate(viaGemm, [[1]], { steps: 511, temperature: 0, stopAtBos: false });
  if (g!.length !== 511) throw new Error("short generation");
  genRates.push(512 / ((performance.now() - t0) / 1000));
}
console.log(`single-stream greedy generation, 512 positions: ${stats(genRates)}`);
