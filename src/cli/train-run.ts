/**
 * The body of `saelab train`, independent of where the data comes from: a `TrainDataSource` gives
 * the batch of any step directly (so `--resume` needs no replay). The world source draws step s's
 * batch from `world.sampler(mixSeed(seed, s))`; language-model activation shards can plug in as
 * another source.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { backendLabel, loadKernels, type BackendChoice } from "../tensor/backend.js";
import { mixSeed } from "../tensor/rng.js";
import type { Kernels } from "../tensor/kernels.js";
import type { World } from "../toy/types.js";
import { SaeConfigSchema, resolveSaeConfig, type ResolvedSaeConfig, type SaeConfig } from "../sae/registry.js";
import { StandardConfigSchema } from "../sae/standard.js";
import { TopKConfigSchema } from "../sae/topk.js";
import { BatchTopKConfigSchema } from "../sae/batchtopk.js";
import { JumpReLUConfigSchema } from "../sae/jumprelu.js";
import { MatryoshkaBatchTopKConfigSchema } from "../sae/matryoshka_batchtopk.js";
import { TrainConfigSchema, type TrainConfig } from "../train/config.js";
import { nonFiniteParams, restoreTrainer, snapshotTrainer } from "../train/checkpoint.js";
import { TrainingDivergedError, type TrainEvent } from "../train/events.js";
import { createTrainer, stepBatches, train, type Trainer } from "../train/trainer.js";
import { readCheckpoint, writeCheckpoint } from "../io/checkpoint.js";
import { jsonlWriter } from "../io/jsonl.js";
import { saveSaelensSae } from "../io/saelens.js";
import { describeFields, type CliIO } from "./args.js";
import { ARCHITECTURES } from "../sae/registry.js";
import { createProgressBar } from "./progress.js";

const SAE_SCHEMAS = { StandardConfigSchema, TopKConfigSchema, BatchTopKConfigSchema, JumpReLUConfigSchema, MatryoshkaBatchTopKConfigSchema };

export const CHECKPOINT_FILE = "checkpoint.safetensors";
export const LOG_FILE = "train_log.jsonl";

/** Where training batches come from. */
export interface TrainDataSource {
  /** Input width of every batch. */
  dIn: number;
  /**
   * Returns the [batchSize, dIn] batches of steps fromStep, fromStep + 1, ...: for a given seed, the
   * batch of step s must not depend on fromStep, so a resumed run sees what an uninterrupted one saw.
   */
  batches(fromStep: number, batchSize: number, seed: number): Iterable<Float32Array>;
  /** JSON description recorded in saelab.json and checked on resume (e.g. the world config). */
  description: unknown;
  /** SAELens cfg.json metadata fields for the saved SAEs (model_name, hook_name, ...), when the data comes from a model. */
  saelensMetadata?: Record<string, unknown>;
}

/** Returns a source drawing step s's batch from `world.sampler(mixSeed(seed, s))` (seekable: resuming replays nothing). */
export function worldDataSource(world: World, description: unknown): TrainDataSource {
  return {
    dIn: world.dModel,
    batches: (fromStep, batchSize, seed) => stepBatches((s) => world.sampler(mixSeed(seed, s)).next(batchSize).acts).batches(fromStep),
    description,
  };
}

/**
 * Returns a source over a deterministic stream that cannot seek (e.g. activation shards:
 * `(batchSize, seed) => dataset.batches({ batchSize, seed, shuffle: true })`); resuming at step s
 * reads and skips its first s batches.
 */
export function streamDataSource(dIn: number, open: (batchSize: number, seed: number) => Iterable<Float32Array>, description: unknown): TrainDataSource {
  return {
    dIn,
    *batches(fromStep, batchSize, seed) {
      let s = 0;
      for (const x of open(batchSize, seed)) if (s++ >= fromStep) yield x;
    },
    description,
  };
}

/** Flags of `saelab train` other than the data source's (the training config's keys plus these). */
export const trainFlagsShape = {
  sae: z.string().describe("SAE config JSON file: one config object, or an array of them (each with a distinct name) trained on the same data."),
  out: z.string().describe("Output directory: a SAELens SAE directory (or one per SAE when several) plus saelab.json, the checkpoint and train_log.jsonl."),
  resume: z.boolean().default(false).describe("Continue from <out>/checkpoint.safetensors (same settings required); ends with the same weights as an uninterrupted run."),
  backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
  ...TrainConfigSchema.shape,
} as const;

/** Parsed `saelab train` flags (without the data source's). */
export type TrainFlags = z.infer<z.ZodObject<typeof trainFlagsShape>>;

/** Returns help text describing the --sae config file: every architecture and its fields, from the schemas. */
export function saeConfigHelp(): string {
  const { StandardConfigSchema, ...rest } = SAE_SCHEMAS;
  const base = describeFields(StandardConfigSchema).filter((f) => !["architecture", "l1Coefficient", "l1WarmUpSteps", "normalizeDecoder"].includes(f.key));
  const lines = ["The --sae file holds one SAE config or a list of them; fields shared by every architecture:"];
  for (const f of base) lines.push(`  ${f.key.padEnd(22)} ${f.description}${f.defaultValue !== undefined ? ` [default: ${JSON.stringify(f.defaultValue)}]` : ""}`);
  for (const schema of [StandardConfigSchema, ...Object.values(rest)]) {
    const fields = describeFields(schema);
    const id = (schema.shape.architecture as unknown as { value: string }).value;
    lines.push("", `"architecture": "${id}": ${ARCHITECTURES[id as keyof typeof ARCHITECTURES].summary}`);
    for (const f of fields) {
      if (f.key === "architecture" || (base.some((b) => b.key === f.key))) continue;
      lines.push(`  ${f.key.padEnd(22)} ${f.description}${f.defaultValue !== undefined ? ` [default: ${JSON.stringify(f.defaultValue)}]` : f.optional ? "" : " (required)"}`);
    }
  }
  return lines.join("\n");
}

/** Reads the --sae file: one config or a list, each validated strictly. */
export function readSaeConfigs(path: string): SaeConfig[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`cannot read SAE config ${path}: ${(e as Error).message}`);
  }
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw new UserError(`${path}: the list of SAE configs is empty`);
  return list.map((c, i) => parseConfig(SaeConfigSchema, c, list.length > 1 ? `SAE config ${path} [${i}]` : `SAE config ${path}`));
}

/** Runs `saelab train` with a data source (and the kernels, when the caller already loaded them); returns the exit code. */
export async function runTrain(opts: TrainFlags, io: CliIO, source: TrainDataSource, loaded?: Kernels): Promise<number> {
  const out = resolve(io.cwd, opts.out);
  const trainCfg: TrainConfig = parseConfig(
    TrainConfigSchema,
    Object.fromEntries(Object.keys(TrainConfigSchema.shape).filter((k) => k in opts).map((k) => [k, (opts as Record<string, unknown>)[k]])),
    "training settings",
  );
  const saeCfgs: ResolvedSaeConfig[] = readSaeConfigs(resolve(io.cwd, opts.sae)).map((c) => resolveSaeConfig(c, source.dIn));
  const kernels = loaded ?? loadBackend(opts.backend, io);
  if (trainCfg.precision === "bf16") io.err(`saelab train: precision bf16, the encoder product ${kernels.bf16 === "hardware" ? "on AVX512-BF16" : "emulated (no AVX512-BF16 on this backend/CPU)"}`);
  const extra = { data: source.description, seed: trainCfg.seed };
  const ckPath = join(out, CHECKPOINT_FILE);
  let trainer: Trainer;
  if (opts.resume) {
    const ck = readCheckpoint(ckPath);
    const was = (ck.meta as { extra?: unknown }).extra;
    if (canonicalJson(was) !== canonicalJson(extra)) throw new UserError(`${ckPath}: cannot resume, the data source or seed changed`);
    trainer = restoreTrainer(kernels, ck.tensors, ck.meta, ckPath, { train: trainCfg, saes: saeCfgs });
    if (trainer.step >= trainCfg.steps) {
      io.out(`${out}: this run already finished (${trainer.step} of ${trainCfg.steps} steps); nothing to do`);
      return 0;
    }
    io.err(`saelab train: resuming at step ${trainer.step} of ${trainCfg.steps}`);
  } else {
    if (existsSync(ckPath)) throw new UserError(`${out} already holds a training run (${CHECKPOINT_FILE}); use --resume to continue it or choose another --out`);
    trainer = createTrainer(kernels, saeCfgs, trainCfg, source.dIn);
  }
  const log = jsonlWriter(join(out, LOG_FILE), { append: opts.resume });
  const sink = (e: TrainEvent): void => log(e);
  const startStep = trainer.step;
  const bar = createProgressBar({
    total: trainCfg.steps,
    label: "train",
    isTTY: io.isTTY,
    write: (t) => process.stderr.write(t),
    columns: process.stderr.columns,
    unit: "tok",
    rateOf: (done) => (done - startStep) * trainCfg.batchSize,
  });
  const saveCheckpoint = (t: Trainer): void => {
    const bad = nonFiniteParams(t);
    if (bad.length) {
      const kept = existsSync(ckPath) ? `the last good checkpoint is kept at ${ckPath}` : "no checkpoint had been written yet";
      throw new UserError(`training diverged: parameters ${bad.join(", ")} hold NaN or Inf after step ${t.step}; ${kept}`);
    }
    writeCheckpoint(ckPath, snapshotTrainer(t, extra));
  };
  let summary;
  try {
    summary = train({
      trainer,
      data: source.batches(trainer.step, trainCfg.batchSize, trainCfg.seed),
      sink,
      onCheckpoint: saveCheckpoint,
      onStep: (t) => {
        const s = t.stats()[0]!;
        bar.update(t.step, { mse: s.losses.mse ?? NaN, L0: s.l0, dead: s.dead, ...(t.runs.length > 1 ? { saes: t.runs.length } : {}) });
      },
    });
  } catch (e) {
    bar.finish();
    if (e instanceof TrainingDivergedError) {
      const kept = existsSync(ckPath) ? `the last good checkpoint is kept at ${ckPath}` : "no checkpoint had been written yet";
      throw new UserError(`${e.message}; ${kept}`);
    }
    throw e;
  }
  bar.finish();
  const multi = trainer.runs.length > 1;
  const final = trainer.stats();
  trainer.runs.forEach((r, i) => {
    const dir = multi ? join(out, r.sae.name) : out;
    saveSaelensSae(dir, r.sae, {
      ...extra,
      train: trainCfg,
      training: { steps: trainer.step, log: multi ? join("..", LOG_FILE) : LOG_FILE, final: final[i] },
    }, source.saelensMetadata);
  });
  // The final checkpoint comes last: a finished checkpoint means the SAE directories are complete.
  saveCheckpoint(trainer);
  const rows = final.map((s) => `  ${s.name}: loss ${s.loss.toPrecision(4)} (${Object.entries(s.losses).map(([k, v]) => `${k} ${v.toPrecision(3)}`).join(", ")}), L0 ${s.l0.toFixed(1)}, dead ${s.dead}`);
  io.out(
    [
      `trained ${trainer.runs.length} SAE${multi ? "s" : ""} for ${summary.steps} steps (${summary.tokens} tokens this session, ${(summary.tokens / Math.max(summary.seconds, 1e-9)).toFixed(0)} tokens/s on the ${backendLabel(kernels)} backend)`,
      ...rows,
      `saved to ${out}`,
    ].join("\n"),
  );
  if (summary.reason === "data exhausted") io.err(`saelab train: the data ended after ${summary.steps} of ${trainCfg.steps} steps`);
  return 0;
}

/** Returns the kernels for a --backend choice, printing the fallback warning once. */
export function loadBackend(choice: string, io: CliIO): Kernels {
  const { kernels, warning } = loadKernels(choice as BackendChoice);
  if (warning) io.err(warning);
  return kernels;
}

function canonicalJson(v: unknown): string {
  return JSON.stringify(v ?? null, (_k, val: unknown) =>
    val && typeof val === "object" && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
}
