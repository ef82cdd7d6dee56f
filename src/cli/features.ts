/**
 * `saelab features SAE_DIR (--activations DIR | --model M --corpus FILE | --world W) [--tokens N]`:
 * computes the SAE's per-latent data (density, activation statistics and histogram, top and
 * sampled contexts, logit effects, decoder neighbours, the detector's results, and against a toy
 * world the evaluation) into SAE_DIR/features.sqlite for `saelab dashboard` or any SQLite client.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { openActivations } from "../io/activations.js";
import { loadSaelensSae } from "../io/saelens.js";
import { textCorpus } from "../lm/activations.js";
import { parseHookName } from "../lm/hooks.js";
import { seed } from "../schema.js";
import { DEFAULT_EVAL_SAMPLES, DEFAULT_EVAL_SEED, evaluateOnWorld } from "../experiments/evaluate.js";
import { computeFeatures, type LmInfo } from "../dashboard/features/run.js";
import { activationsSource, modelSource, worldSource, WORLD_CHUNK, type FeatureSource } from "../dashboard/features/sources.js";
import type { CliIO, Command } from "./args.js";
import { loadLm, modelFlags, type LoadedLm } from "./lm-common.js";
import { createProgressBar } from "./progress.js";
import { loadBackend } from "./train-run.js";
import { loadWorldSource, worldSourceLabel, WorldSourceSchema } from "./world-source.js";

const FeaturesSchema = WorldSourceSchema.extend({
  sae: z.string({ error: "missing: give the SAE directory as the first argument" }).min(1).describe("A SAELens SAE directory; features.sqlite is written into it."),
  activations: z.string().min(1).optional().describe("Activation shards (saelab activations) to read, in file order."),
  ...modelFlags,
  corpus: z.string().min(1).optional().describe("Text file of stories separated by blank lines, run through --model at the SAE's hook."),
  hook: z.string().min(1).optional().describe("Hook point for --corpus (default: hook_name in the SAE's cfg.json)."),
  seqLen: z.number().int().min(2).default(256).describe("Tokens per corpus window (--corpus)."),
  tokens: z.number().int().positive().optional().describe("Rows (tokens, or toy-world samples) read in the pass; default: all of --activations/--corpus, 20,000 world samples."),
  top: z.number().int().min(1).max(200).default(20).describe("Top-activating contexts kept per latent."),
  samples: z.number().int().min(0).max(200).default(24).describe("Firings sampled per latent (seeded reservoir) to show the lower activation quantiles."),
  neighbours: z.number().int().min(1).max(100).default(10).describe("Decoder-cosine nearest neighbours per latent."),
  logitTokens: z.number().int().min(1).max(100).default(10).describe("Top and bottom tokens of each latent's logit effects."),
  detectRows: z.number().int().positive().default(20_000).describe("Rows the absorption detector reads (the first rows of the pass; for a world, saelab detect's stream)."),
  seed: seed().default(7).describe("Seed of the world's sample stream and of the context reservoir."),
  checkpointSeconds: z.number().positive().default(60).describe("Seconds between checkpoints of the pass into features.sqlite.partial (what a killed run resumes from)."),
  backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
}).strict();

type FeaturesOpts = z.infer<typeof FeaturesSchema>;

const abs = (io: CliIO, p: string): string => (isAbsolute(p) ? p : resolve(io.cwd, p));

/** Returns the LM data (unembedding with the final norm's gain, token texts) of a loaded model. */
function lmInfo(lm: LoadedLm): LmInfo {
  const { model, tok } = lm;
  return {
    unembed: model.params.classifier,
    vocab: model.spec.vocabSize,
    gain: model.params.lnFinalW,
    tokenText: (id) => {
      // A lone byte token of a multi-byte character decodes to U+FFFD: show its id instead.
      const text = tok.decode([id]);
      return text.includes("\uFFFD") ? `<id ${id}>` : text;
    },
    model: lm.modelPath,
  };
}

/** Returns the first `n` rows of a source as detector batches of at most 4096 rows. */
function firstRows(source: FeatureSource, n: number): Float32Array[] {
  const out: Float32Array[] = [];
  const D = source.dModel;
  let rows = 0;
  for (const c of source.chunks(0)) {
    for (let r0 = 0; r0 < c.rows && rows < n; r0 += 4096) {
      const take = Math.min(4096, c.rows - r0, n - rows);
      out.push(c.acts.slice(r0 * D, (r0 + take) * D));
      rows += take;
    }
    if (rows >= n) break;
  }
  return out;
}

export const featuresCommand: Command<typeof FeaturesSchema> = {
  path: ["features"],
  summary: "Compute per-latent data (contexts, histograms, logit effects, neighbours, absorption) into SAE_DIR/features.sqlite.",
  details:
    "One pass over the data with a progress bar, checkpointed into features.sqlite.partial: run the same command again to\n" +
    "resume an interrupted pass. The schema is documented in docs/features.md; `saelab dashboard SAE_DIR` browses it.",
  schema: FeaturesSchema,
  positionals: [{ key: "sae", name: "SAE_DIR" }],
  async run(opts: FeaturesOpts, io) {
    const given = [opts.activations, opts.corpus, opts.world ?? opts.preset].filter((v) => v !== undefined).length;
    if (given !== 1) throw new UserError(given === 0 ? "no data given: pass --activations DIR, --model M --corpus FILE, or --world W" : "give exactly one of --activations, --corpus and --world/--preset");
    const dir = abs(io, opts.sae);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`SAE directory ${opts.sae} does not exist`);
    const kernels = loadBackend(opts.backend, io);
    const { sae, cfg } = loadSaelensSae(dir, kernels);
    let source: FeatureSource;
    let lm: LmInfo | null = null;
    let world: Parameters<typeof computeFeatures>[0]["world"] = null;
    let detectBatches: () => Float32Array[];
    if (opts.world !== undefined || opts.preset !== undefined) {
      const w = loadWorldSource(opts, io.cwd, { kernels });
      if (w.dModel !== sae.dIn) throw new UserError(`the SAE reads ${sae.dIn}-dimensional inputs but world ${worldSourceLabel(opts)} has dModel ${w.dModel}`);
      const label = worldSourceLabel(opts);
      source = worldSource(w, opts.seed, opts.tokens ?? 20_000, { world: label });
      world = { world: w, label, evaluate: () => evaluateOnWorld([sae], w, { n: DEFAULT_EVAL_SAMPLES, seed: DEFAULT_EVAL_SEED }, kernels)[0]! };
      detectBatches = () => {
        // The stream saelab detect --world reads with the same seed and --n.
        const sampler = w.sampler(opts.seed);
        const out: Float32Array[] = [];
        for (let done = 0; done < opts.detectRows; done += WORLD_CHUNK) out.push(sampler.next(Math.min(WORLD_CHUNK, opts.detectRows - done)).acts);
        return out;
      };
    } else {
      let loaded: LoadedLm;
      if (opts.activations !== undefined) {
        const ds = openActivations(abs(io, opts.activations));
        if (ds.dModel !== sae.dIn) throw new UserError(`the activations in ${opts.activations} are ${ds.dModel}-dimensional but the SAE reads ${sae.dIn}`);
        if (ds.totalTokens === 0) throw new UserError(`${opts.activations}: the activation shards hold no rows`);
        const src = ds.manifest.source;
        loaded = await loadLm({ model: opts.model ?? (typeof src.model === "string" ? src.model : undefined), tokenizer: opts.tokenizer ?? (typeof src.tokenizer === "string" ? src.tokenizer : undefined) }, io);
        source = activationsSource(ds, opts.tokens ?? Infinity);
      } else {
        loaded = await loadLm(opts, io);
        const meta = (cfg.metadata ?? {}) as Record<string, unknown>;
        const hook = opts.hook ?? (typeof meta.hook_name === "string" ? meta.hook_name : undefined);
        if (!hook) throw new UserError(`${opts.sae}: cfg.json names no hook_name; pass --hook`);
        parseHookName(hook, loaded.model.spec.nLayers);
        if (loaded.model.spec.dModel !== sae.dIn) throw new UserError(`the model's width is ${loaded.model.spec.dModel} but the SAE reads ${sae.dIn}`);
        if (opts.seqLen > loaded.model.spec.contextLength) throw new UserError(`--seqLen ${opts.seqLen} exceeds the model's context length ${loaded.model.spec.contextLength}`);
        const path = abs(io, opts.corpus!);
        let text: string;
        try {
          text = readFileSync(path, "utf8");
        } catch (e) {
          throw new UserError(`cannot read --corpus ${path}: ${(e as Error).message}`);
        }
        const seqs = textCorpus(loaded.tok, text, opts.seqLen);
        if (seqs.length === 0) throw new UserError(`--corpus ${path} holds no text`);
        source = modelSource(loaded.model, seqs, hook, opts.tokens ?? Infinity, { model: loaded.modelPath, corpus: path, seqLen: opts.seqLen });
      }
      if (loaded.model.spec.dModel !== sae.dIn) throw new UserError(`the model's width is ${loaded.model.spec.dModel} but the SAE reads ${sae.dIn}`);
      lm = lmInfo(loaded);
      const s = source;
      detectBatches = () => firstRows(s, opts.detectRows);
    }
    const bar = createProgressBar({ total: source.totalRows, label: "features", isTTY: io.isTTY, write: (t) => process.stderr.write(t), columns: process.stderr.columns, unit: source.kind === "lm" ? "tok" : "samples" });
    const t0 = performance.now();
    const result = computeFeatures({
      saeDir: dir, sae, kernels, source, topK: opts.top, samples: opts.samples, seed: opts.seed, before: 12, after: 4,
      neighbours: opts.neighbours, logitTokens: opts.logitTokens, detectBatches, detectOptions: {}, lm, world, checkpointSeconds: opts.checkpointSeconds,
      onProgress: (d) => bar.update(d),
      log: (m) => io.err(`saelab features: ${m}`),
    });
    bar.finish();
    io.out(`wrote ${result.path} (${sae.dSae} latents, ${result.rows} rows${result.resumedAt > 0 ? `, resumed at row ${result.resumedAt}` : ""}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
};
