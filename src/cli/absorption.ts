/**
 * `saelab absorption SAE_DIR` and `saelab absorption --demo`: SAEBench's first-letter absorption eval
 * on a language model (src/experiments/first-letter-*), with the probe-free detector scored against
 * the probes. Prints a table and a reading; --out gets report.html, absorption.json (everything
 * measured) and one SAEBench `<sae>_eval_results.json` per SAE that SAEBench would report on.
 */
import { existsSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { loadSaelensSae, saveSaelensSae } from "../io/saelens.js";
import { parseHookName } from "../lm/hooks.js";
import { loadKernels } from "../tensor/backend.js";
import { AbsorptionEvalConfigSchema, ProbeSettingsSchema } from "../experiments/first-letter-config.js";
import { corpusActivations, trainDemoSaes } from "../experiments/first-letter-demo.js";
import { probeLm } from "../experiments/first-letter-lm.js";
import { runFirstLetterEval, type FirstLetterRun, type NamedSae } from "../experiments/first-letter-run.js";
import { renderFirstLetterHtml, renderFirstLetterReading, renderFirstLetterTable, renderLetterTable } from "../report/first-letter.js";
import type { Command } from "./args.js";
import { shownPath } from "./paths.js";
import { loadCorpus, loadLm } from "./lm-common.js";
import { progressBar } from "./progress.js";
import { savedHookName } from "./splice.js";

const SHARED_MODEL = "stories260K";

const AbsorptionSchema = z
  .object({
    sae: z.string().min(1).optional().describe("SAELens SAE directory (cfg.json, sae_weights.safetensors); not with --demo."),
    model: z.string().optional().describe(`A Hugging Face snapshot directory or a llama2.c checkpoint; default: the model the SAE's cfg.json names when it is a path here, else the shared ${SHARED_MODEL}.`),
    tokenizer: z.string().optional().describe("Tokenizer (tokenizer.json or a directory with one, or a llama2.c .bin); default: the snapshot's own, or the shared tok512.bin."),
    hook: z.string().optional().describe("Hook point; default: the SAE's hook_name (demo: the middle block's hook_resid_post)."),
    out: z.string().min(1).default("saelab-absorption").describe("Directory for report.html, absorption.json and the SAEBench JSON files."),
    json: z.boolean().default(false).describe("Print the results as JSON instead of the tables and reading."),
    demo: z.boolean().default(false).describe(`Train a standard and a topk SAE on ${SHARED_MODEL}'s activations at the middle block and evaluate both.`),
    ...AbsorptionEvalConfigSchema.omit({ model_name: true }).shape,
    ...ProbeSettingsSchema.shape,
    detectorMaxRows: z.number().int().min(1).default(50_000).describe("At most this many prompt positions (all tokens of the eval's prompts, in order) go to the detector."),
    dSae: z.number().int().min(1).default(256).describe("Demo: latents per SAE."),
    l1Coefficient: z.number().min(0).default(1).describe("Demo: L1 coefficient of the standard SAE."),
    k: z.number().int().min(1).default(8).describe("Demo: k of the topk SAE."),
    steps: z.number().int().min(1).default(1500).describe("Demo: training steps."),
    batchSize: z.number().int().min(1).default(1024).describe("Demo: activations per training step."),
    lr: z.number().positive().default(0.003).describe("Demo: learning rate."),
    sequences: z.number().int().min(1).default(128).describe("Demo: sampled stories (256 tokens each) whose activations train the SAEs."),
    seed: z.number().int().min(0).default(1).describe("Demo: seed of the sampled stories and of training."),
  })
  .strict();

type Flags = z.infer<typeof AbsorptionSchema>;

/** Returns the model file to load: --model, else the SAE cfg.json's model when it is the shared one. */
function modelChoice(opts: Flags, cfg: Record<string, unknown> | null): string | undefined {
  if (opts.model) return opts.model;
  const meta = (cfg?.metadata ?? {}) as Record<string, unknown>;
  const named = [meta.model_name, cfg?.model_name].find((v): v is string => typeof v === "string" && v.length > 0);
  if (named === undefined || named === SHARED_MODEL || named === "unknown") return undefined;
  if (existsSync(named)) return named;
  throw new UserError(`the SAE's cfg.json names model "${named}", which saelab cannot load here; give the checkpoint with --model`);
}

export const absorptionCommand: Command<typeof AbsorptionSchema> = {
  path: ["absorption"],
  summary: "First-letter feature absorption on a language model (SAEBench's absorption eval), with the detector scored against it.",
  details:
    "Letter probes on the model's activations at the SAE's hook, k-sparse probing of the SAE's latents for each letter's main\n" +
    "latents, and SAEBench's full absorption and absorption fraction on every test word the probe calls positive; then the\n" +
    "probe-free detector on the same prompts, scored against the probe-defined (main latent, absorber) pairs. Every SAEBench\n" +
    "default is a flag with SAEBench's name. --demo trains two SAEs on stories260K first (min_feats_for_eval is lowered to\n" +
    "the letters that pass, and says so, because a 512-token vocabulary has few words per letter).",
  schema: AbsorptionSchema,
  positionals: [{ key: "sae", name: "sae-dir", optional: true }],
  async run(opts, io) {
    if (opts.demo === (opts.sae !== undefined)) throw new UserError(opts.demo ? "give either --demo or an SAE directory, not both" : "missing: give the SAE directory as the first argument, or --demo");
    const saeDir = opts.sae ? resolve(io.cwd, opts.sae) : null;
    const loaded = saeDir ? loadSaelensSae(saeDir, loadKernels().kernels) : null;
    const lm = await loadLm({ model: modelChoice(opts, loaded?.cfg ?? null), tokenizer: opts.tokenizer }, io);
    const modelName = basename(lm.modelPath) === `${SHARED_MODEL}.bin` ? SHARED_MODEL : lm.modelPath;
    const plm = probeLm(lm.model, lm.tok, modelName);
    const hook = opts.hook ?? (loaded ? savedHookName(loaded.cfg, loaded.saelab) : `blocks.${lm.model.spec.nLayers >> 1}.hook_resid_post`);
    if (!hook) throw new UserError(`${opts.sae} records no hook_name; give the hook point with --hook`);
    parseHookName(hook, lm.model.spec.nLayers);
    const out = resolve(io.cwd, opts.out);
    let saes: NamedSae[];
    const t0 = performance.now();
    if (loaded && saeDir) {
      if (loaded.sae.dIn !== plm.dModel) throw new UserError(`the SAE in ${opts.sae} reads ${loaded.sae.dIn}-dimensional activations but ${hook} has dModel ${plm.dModel}`);
      saes = [{ name: basename(saeDir), sae: loaded.sae, cfgDict: loaded.cfg }];
    } else {
      const { seqs } = loadCorpus(lm, { sequences: opts.sequences, seqLen: 256, seed: opts.seed, temperature: 1, topp: 0.9 }, opts.sequences, io);
      const { acts, rows } = corpusActivations(plm, seqs, hook);
      const bar = progressBar(io, "training SAEs");
      const trained = trainDemoSaes(lm.kernels, acts, rows, plm.dModel, opts, (s) => bar.update(s, opts.steps));
      bar.finish();
      io.err(`saelab absorption --demo: ${rows} activations at ${hook}; trained ${trained.map((s) => s.name).join(" and ")} (${opts.dSae} latents, ${opts.steps} steps) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      const meta = { model_name: SHARED_MODEL, hook_name: hook, hook_head_index: null, prepend_bos: true };
      saes = trained.map((s) => {
        saveSaelensSae(join(out, s.name), s, {}, meta);
        return { name: s.name, sae: s, cfgDict: loadSaelensSae(join(out, s.name), lm.kernels).cfg };
      });
    }
    const cfg = AbsorptionEvalConfigSchema.parse({ ...pick(opts, Object.keys(AbsorptionEvalConfigSchema.shape)), model_name: modelName });
    const settings = ProbeSettingsSchema.parse(pick(opts, Object.keys(ProbeSettingsSchema.shape)));
    const t1 = performance.now();
    const bar = progressBar(io, "prompts");
    const run = runFirstLetterEval(lm.kernels, plm, hook, saes, cfg, settings, { lowerMinFeats: opts.demo, detectorMaxRows: opts.detectorMaxRows, onProgress: (d, t) => bar.update(d, t), onStage: (s) => s !== "prompts" && bar.finish() });
    bar.finish();
    const evalSeconds = (performance.now() - t1) / 1000;
    const written = writeOutputs(out, run);
    io.err(`saelab absorption: evaluated ${saes.length} SAE${saes.length === 1 ? "" : "s"} in ${evalSeconds.toFixed(1)} s; wrote ${written.map((w) => join(shownPath(io.cwd, opts.out, out), relative(out, w))).join(", ")}`);
    if (opts.json) {
      io.out(JSON.stringify({ model: run.model, hook, flags: run.flags, evalSeconds, saes: Object.fromEntries(run.saes.map((s) => [s.name, { saebench: s.saebench, detector: { ...s.detector, letters: undefined } }])) }, null, 1));
      return 0;
    }
    io.out([renderFirstLetterTable(run), "", ...run.saes.flatMap((s) => [`${s.name}:`, renderLetterTable(s), ""]), renderFirstLetterReading(run), "", `Report: ${join(shownPath(io.cwd, opts.out, out), "report.html")}`].join("\n"));
    return 0;
  },
};

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
}

/** Writes report.html, absorption.json and the SAEBench files; returns their paths. */
function writeOutputs(out: string, run: FirstLetterRun): string[] {
  const paths = [join(out, "report.html"), join(out, "absorption.json")];
  writeFileAtomic(paths[0]!, renderFirstLetterHtml(run));
  writeFileAtomic(paths[1]!, `${JSON.stringify(run, null, 1)}\n`);
  for (const s of run.saes) {
    if (!s.saebench) continue;
    const p = join(out, `${s.name}_eval_results.json`);
    writeFileAtomic(p, `${JSON.stringify(s.saebench, null, 2)}\n`);
    paths.push(p);
  }
  return paths;
}
