/**
 * The body of `saelab train`, independent of where the data comes from: flags and the --sae file
 * become a `runTraining` call (src/train/run.ts) on a training stream, writing through the run
 * directory (src/experiments/run-dir.ts); this module draws the progress bar and prints the result.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { backendLabel, loadKernels, parseIsa, resolveBackend, type BackendChoice } from "../tensor/backend.js";
import type { Kernels } from "../tensor/kernels.js";
import type { World } from "../toy/types.js";
import { architectureDefs, SaeConfigSchema, type SaeConfig } from "../sae/registry.js";
import { baseShape } from "../sae/config.js";
import { TrainConfigSchema, type TrainConfig } from "../train/config.js";
import { runTraining } from "../train/run.js";
import { worldStream, type TrainingStream } from "../train/stream.js";
import { runDirectory } from "../experiments/run-dir.js";
import { describeFields, type CliIO } from "./args.js";
import { createProgressBar, createProgressLines } from "./progress.js";

export { CHECKPOINT_FILE, LOG_FILE } from "../experiments/run-dir.js";

/** What `saelab train` trains on: a training stream, what it is, and SAELens metadata when it comes from a model. */
export interface TrainInput {
  stream: TrainingStream;
  /** JSON description recorded in saelab.json and checked on resume (e.g. the world config). */
  description: unknown;
  /** SAELens cfg.json metadata fields for the saved SAEs (model_name, hook_name, ...), when the data comes from a model. */
  saelensMetadata?: Record<string, unknown>;
}

/** Returns the input of training on a world's stream, described as `{ world: config }`. */
export function worldInput(world: World): TrainInput {
  return { stream: worldStream(world), description: { world: world.config } };
}

/** Steps `saelab train` runs when --steps is not given (the README's toy-world examples). */
export const DEFAULT_TRAIN_STEPS = 2000;

/** Flags of `saelab train` other than the data source's (the training config's keys plus these). */
export const trainFlagsShape = {
  sae: z.string().describe("SAE config JSON file: one config object, or an array of them (each with a distinct name) trained on the same data."),
  out: z.string().describe("Output directory: a SAELens SAE directory (or one per SAE when several) plus saelab.json, the checkpoint and train_log.jsonl."),
  resume: z.boolean().default(false).describe("Continue from <out>/checkpoint.safetensors (same settings required); ends with the same weights as an uninterrupted run."),
  backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
  ...TrainConfigSchema.shape,
  steps: TrainConfigSchema.shape.steps.default(DEFAULT_TRAIN_STEPS).describe("Number of optimizer steps."),
} as const;

/** Parsed `saelab train` flags (without the data source's). */
export type TrainFlags = z.infer<z.ZodObject<typeof trainFlagsShape>>;

/** Returns help text describing the --sae config file: every architecture and its fields, from the schemas. */
export function saeConfigHelp(): string {
  // normalizeDecoder is shared, but its default differs by architecture, so each lists it.
  const base = describeFields(z.object(baseShape)).filter((f) => f.key !== "normalizeDecoder");
  const lines = ["The --sae file holds one SAE config or a list of them; fields shared by every architecture:"];
  for (const f of base) lines.push(`  ${f.key.padEnd(22)} ${f.description}${f.defaultValue !== undefined ? ` [default: ${JSON.stringify(f.defaultValue)}]` : ""}`);
  for (const def of architectureDefs()) {
    const fields = describeFields(def.schema as unknown as z.ZodObject);
    lines.push("", `"architecture": "${def.id}": ${def.summary}`);
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

/** Runs `saelab train` on an input (and the kernels, when the caller already loaded them); returns the exit code. */
export async function runTrain(opts: TrainFlags, io: CliIO, input: TrainInput, loaded?: Kernels): Promise<number> {
  const out = resolve(io.cwd, opts.out);
  const trainCfg: TrainConfig = parseConfig(
    TrainConfigSchema,
    Object.fromEntries(Object.keys(TrainConfigSchema.shape).filter((k) => k in opts).map((k) => [k, (opts as Record<string, unknown>)[k]])),
    "training settings",
  );
  const saes = readSaeConfigs(resolve(io.cwd, opts.sae));
  const kernels = loaded ?? loadBackend(opts.backend, io);
  if (trainCfg.precision === "bf16") io.err(`saelab train: precision bf16, the encoder product ${kernels.bf16 === "amx" ? "on AMX-BF16 tiles" : kernels.bf16 === "hardware" ? "on AVX512-BF16" : "emulated (no AVX512-BF16 on this backend/CPU)"}`);
  let bar: ReturnType<typeof createProgressBar> | null = null;
  let result;
  try {
    result = runTraining({
      kernels,
      saes,
      train: trainCfg,
      data: input.stream,
      dataDescription: input.description,
      ...(input.saelensMetadata ? { saelensMetadata: input.saelensMetadata } : {}),
      output: runDirectory(out),
      resume: opts.resume,
      onStart(trainer, resumed) {
        if (resumed) io.err(`saelab train: resuming at step ${trainer.step} of ${trainCfg.steps}`);
        const startStep = trainer.step;
        const common = { total: trainCfg.steps, label: "train", unit: "tok", rateOf: (done: number) => (done - startStep) * trainCfg.batchSize };
        // On a terminal a redrawn bar; in a log (stderr not a TTY) about ten plain lines.
        bar = io.isTTY
          ? createProgressBar({ ...common, isTTY: true, write: (t) => process.stderr.write(t), columns: process.stderr.columns })
          : createProgressLines({ ...common, every: Math.max(1, Math.ceil(trainCfg.steps / 10)), writeLine: (t) => io.err(t) });
      },
      onStep(t) {
        const s = t.stats()[0]!;
        bar?.update(t.step, { mse: s.losses.mse ?? NaN, EV: s.explainedVariance ?? NaN, L0: s.l0, dead: s.dead, ...(t.runs.length > 1 ? { saes: t.runs.length } : {}) });
      },
    });
  } finally {
    (bar as ReturnType<typeof createProgressBar> | null)?.finish();
  }
  const { trainer, summary } = result;
  if (!summary) {
    io.out(`${out}: this run already finished (${trainer.step} of ${trainCfg.steps} steps); nothing to do`);
    return 0;
  }
  const multi = trainer.runs.length > 1;
  const rows = trainer.stats().map((s) =>
    `  ${s.name}: loss ${s.loss.toPrecision(4)} (${Object.entries(s.losses).map(([k, v]) => `${k} ${v.toPrecision(3)}`).join(", ")}), ` +
    `explained variance ${s.explainedVariance !== undefined ? s.explainedVariance.toFixed(3) : "n/a"}, L0 ${s.l0.toFixed(1)}, dead ${s.dead}`);
  io.out(
    [
      `trained ${trainer.runs.length} SAE${multi ? "s" : ""} for ${summary.steps} steps (${summary.tokens} tokens this session, ${(summary.tokens / Math.max(summary.seconds, 1e-9)).toFixed(0)} tokens/s on the ${backendLabel(kernels)} backend)`,
      ...rows,
      "  (last step's batch, before its update; mse is ||x - x_hat||^2 summed over the input's dimensions and averaged over the batch, SAELens's training MSE; saelab splice reports MSE per element)",
      `saved to ${out}`,
    ].join("\n"),
  );
  if (summary.reason === "data exhausted") io.err(`saelab train: the data ended after ${summary.steps} of ${trainCfg.steps} steps`);
  return 0;
}

/** Returns the kernels for a --backend choice ("auto" as the environment's SAELAB_BACKEND says) on the environment's SAELAB_ISA, printing the fallback warning once. */
export function loadBackend(choice: string, io: CliIO): Kernels {
  const { kernels, warning } = loadKernels(resolveBackend(choice as BackendChoice, io.backendEnv), parseIsa(io.isaEnv));
  if (warning) io.err(warning);
  return kernels;
}
