/**
 * `npm run bench:absorption`: wall time of the first-letter absorption eval (`saelab absorption`) on
 * stories260K at blocks.2.hook_resid_post, for a topk SAE like the demo's (trained here first, or
 * --sae DIR), split into its stages: prompts and activations, the letter probe, k-sparse probing with
 * the absorption scores, and the detector. Best and median of --repeats runs.
 *
 * Then the same on a GPT-2-small-shaped model (12 layers, dModel 768, GPT-2's 50,257-token tokenizer,
 * random weights N(0, 0.02)) at blocks.6.hook_resid_post with 1,000 of its words and a randomly
 * initialised topk SAE (768 -> 16,384, k 64): the eval's cost at a real model's shapes, not its findings.
 * Its detector reads the first 8,192 prompt positions (--gpt2-detector-rows; the CLI's default is 50,000).
 *
 * Flags (or env SAELAB_BENCH_<FLAG>): --repeats 3  --sae DIR  --steps 1500  --gpt2 on|off  --gpt2-detector-rows 8192  --backend auto|native|reference
 */
import { existsSync } from "node:fs";
import { loadavg } from "node:os";
import { readLlama2cCheckpoint, readLlama2cTokenizer, sharedModelFiles } from "../src/io/llama2c.js";
import { loadSaelensSae } from "../src/io/saelens.js";
import { sampleCorpus } from "../src/lm/activations.js";
import { LlamaModel } from "../src/lm/model.js";
import { loadLmKernels } from "../src/lm/native.js";
import { HookedModel } from "../src/lm/model.js";
import { gpt2Family } from "../src/lm/families/gpt2.js";
import type { CanonicalLayer, CanonicalWeights } from "../src/lm/spec.js";
import { hfTokenizer } from "../src/lm/tokenizers/hf.js";
import { llama2cTokenizer } from "../src/lm/tokenizers/llama2c.js";
import { createSae } from "../src/sae/model.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { Rng } from "../src/tensor/rng.js";
import { gpt2TokenizerJson } from "../test/helpers/tiktoken-tokenizer-json.js";
import { configureThreads, loadKernels, type BackendChoice } from "../src/tensor/backend.js";
import type { SaeModel } from "../src/sae/types.js";
import { AbsorptionEvalConfigSchema, ProbeSettingsSchema } from "../src/experiments/first-letter-config.js";
import { corpusActivations, trainDemoSaes } from "../src/experiments/first-letter-demo.js";
import { probeLm, type ProbeLm } from "../src/experiments/first-letter-lm.js";
import { runFirstLetterEval } from "../src/experiments/first-letter-run.js";

function flag(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && process.argv[i + 1] !== undefined) return process.argv[i + 1]!;
  return process.env[`SAELAB_BENCH_${name.toUpperCase()}`] ?? def;
}

const files = sharedModelFiles();
if (!files) {
  console.error("bench:absorption needs ../shared/models/stories260K/ beside the repository");
  process.exit(1);
}
configureThreads(process.env.SAELAB_THREADS);
const { kernels, warning } = loadKernels(flag("backend", "auto") as BackendChoice);
if (warning) console.error(warning);
const ckpt = readLlama2cCheckpoint(files.model);
const tok = llama2cTokenizer(readLlama2cTokenizer(files.tokenizer, ckpt.config.vocabSize));
const model = new LlamaModel(ckpt, { kernels, lm: loadLmKernels() });
const lm = probeLm(model, tok, "stories260K");
const hook = "blocks.2.hook_resid_post";
const repeats = Number(flag("repeats", "3"));

let sae: SaeModel;
const saeDir = flag("sae", "");
if (saeDir && existsSync(saeDir)) sae = loadSaelensSae(saeDir, kernels).sae;
else {
  const seqs = sampleCorpus(model, 128, 256, { seed: 1 });
  const { acts, rows } = corpusActivations(lm, seqs, hook);
  sae = trainDemoSaes(kernels, acts, rows, lm.dModel, { dSae: 256, l1Coefficient: 1, k: 8, steps: Number(flag("steps", "1500")), batchSize: 1024, lr: 0.003, seed: 1 })[1]!;
}

const stages = ["prompts", "letter probe", "sae: k-sparse probes and absorption", "sae: detector"];
console.log(`backend ${kernels.name}, load average ${loadavg()[0]!.toFixed(2)}, best / median of ${repeats}`);
console.log("| model | stage | best s | median s |");
console.log("|---|---|---|---|");

/** Times `repeats` evals of `s` on `m` and prints one table row per stage. */
function bench(label: string, m: ProbeLm, at: string, s: SaeModel, maxWords: number, detectorMaxRows = 50_000): void {
  const cfg = AbsorptionEvalConfigSchema.parse({ model_name: label, min_feats_for_eval: 1 });
  const settings = ProbeSettingsSchema.parse({ max_words: maxWords });
  const times: number[][] = [];
  for (let r = 0; r < repeats; r++) {
    const marks: number[] = [performance.now()];
    const run = runFirstLetterEval(kernels, m, at, [{ name: "sae", sae: s, cfgDict: {} }], cfg, settings, { detectorMaxRows, onStage: (st) => st !== "prompts" && marks.push(performance.now()) });
    marks.push(performance.now());
    times.push(marks.slice(1).map((t, i) => (t - marks[i]!) / 1000).concat([(marks[marks.length - 1]! - marks[0]!) / 1000]));
    if (r === 0) console.error(`${label}: ${run.data.nVocabWords} words (${run.data.nTrain} train, ${run.data.nTest} test), ${run.data.promptsRun} prompts, ${run.data.detectorRows} detector rows; SAE ${s.architecture} ${s.dIn} -> ${s.dSae}`);
  }
  const best = (i: number) => Math.min(...times.map((t) => t[i]!));
  const median = (i: number) => times.map((t) => t[i]!).sort((a, b) => a - b)[Math.floor(times.length / 2)]!;
  [...stages, "total"].forEach((st, i) => console.log(`| ${label} | ${st.replace("sae: ", "")} | ${best(i).toFixed(2)} | ${median(i).toFixed(2)} |`));
}

bench("stories260K", lm, hook, sae, 0);

/** Returns GPT-2 small's weights with N(0, 0.02) entries (norm weights 1, biases 0). */
function randomGpt2(): { spec: ReturnType<typeof gpt2Family.spec>; weights: CanonicalWeights } {
  const spec = gpt2Family.spec({ model_type: "gpt2", n_embd: 768, n_layer: 12, n_head: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5, activation_function: "gelu_new" }, "bench GPT-2 small");
  const rng = new Rng(5);
  const normal = (n: number) => rng.fillNormal(new Float32Array(n), 0, 0.02);
  const D = spec.dModel;
  const ln = () => ({ w: new Float32Array(D).fill(1), b: new Float32Array(D) });
  const layers: CanonicalLayer[] = Array.from({ length: spec.nLayers }, () => ({
    ln1: ln(), wqkv: normal(3 * D * D), bqkv: new Float32Array(3 * D), wo: normal(D * D), bo: new Float32Array(D),
    ln2: ln(), wIn: normal(spec.dMlp * D), bIn: new Float32Array(spec.dMlp), wOut: normal(D * spec.dMlp), bOut: new Float32Array(D),
  }));
  return { spec, weights: { embed: normal(spec.vocabSize * D), posEmbed: normal(spec.contextLength * D), layers, lnFinal: ln() } };
}

if (flag("gpt2", "on") !== "off") {
  const { tokenizer, tokenizerConfig } = gpt2TokenizerJson();
  const gtok = hfTokenizer({ tokenizer, tokenizerConfig, source: "GPT-2 tokenizer.json (built from gpt-tokenizer's ranks)" });
  const gpt2 = new HookedModel(randomGpt2(), { kernels, lm: loadLmKernels() });
  const gsae = createSae(kernels, SaeConfigSchema.parse({ architecture: "topk", dSae: 16384, k: 64 }), { dIn: 768, seed: 3 });
  bench("GPT-2-small-shaped (random)", probeLm(gpt2, gtok, "gpt2-random"), "blocks.6.hook_resid_post", gsae, 1000, Number(flag("gpt2-detector-rows", "8192")));
}
