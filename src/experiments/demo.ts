/**
 * The absorption demo as a library experiment: four SAEs (untied standard, tied standard, topk,
 * matryoshka_batchtopk) trained on one data stream from a toy world, then evaluated together on one
 * evaluation stream. `runDemo` is pure computation; `saveDemo` writes the SAEs and the world (the
 * experiment runner is allowed to touch the file system, through src/io).
 */
import { join } from "node:path";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { seed } from "../schema.js";
import type { Kernels } from "../tensor/kernels.js";
import type { World } from "../toy/types.js";
import type { ToyWorld } from "../toy/world.js";
import type { Sae } from "../sae/model.js";
import { SaeConfigSchema, type SaeConfig } from "../sae/registry.js";
import { PrecisionSchema, TrainConfigSchema, type TrainConfig } from "../train/config.js";
import { DEFAULT_EVAL_SAMPLES, DEFAULT_EVAL_SEED, evaluateOnWorld } from "./evaluate.js";
import type { SaeEvaluation } from "../metrics/schemas.js";
import { saveSaelensSae } from "../io/saelens.js";
import { saveWorld } from "../io/world.js";
import { trainInWorkers, trainOnWorld } from "./parallel.js";

/** The demo's settings; every field has a default, so `DemoConfigSchema.parse({})` is the demo. */
export const DemoConfigSchema = z
  .object({
    world: z
      .string()
      .min(1)
      .default("absorption-basic")
      .describe("The world: a preset name, a world config .json file or a saved world directory."),
    dSae: z.number().int().positive().default(16).describe("Latents per SAE (at least the world's number of features, so each can get its own)."),
    l1Coefficient: z.number().min(0).refine(Number.isFinite, "must be finite").default(0.3).describe("L1 coefficient of the two standard SAEs."),
    k: z.number().int().positive().default(2).describe("Latents kept per sample by topk; mean latents per sample kept by matryoshka_batchtopk."),
    matryoshkaPrefixes: z
      .array(z.number().int().positive())
      .min(1)
      .default([4])
      .describe("Inner prefix widths of the matryoshka_batchtopk SAE (increasing, each below dSae); dSae is the outer level."),
    steps: z.number().int().positive().default(3000).describe("Training steps (every SAE sees the same batches)."),
    batchSize: z.number().int().positive().default(1024).describe("Samples per training step."),
    lr: z.number().positive().default(3e-3).describe("Adam learning rate of every SAE."),
    seed: seed().default(1).describe("Seed of the SAEs' initialisation and of the training stream."),
    evalSamples: z.number().int().positive().default(DEFAULT_EVAL_SAMPLES).describe("Samples in the evaluation set (drawn once, shown to every SAE)."),
    evalSeed: seed().default(DEFAULT_EVAL_SEED).describe("Seed of the evaluation stream (the default of saelab eval --seed)."),
    precision: PrecisionSchema,
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.k > c.dSae) ctx.addIssue({ code: "custom", path: ["k"], message: `must be at most dSae (${c.dSae})` });
    c.matryoshkaPrefixes.forEach((w, i) => {
      if (w >= c.dSae) ctx.addIssue({ code: "custom", path: ["matryoshkaPrefixes", i], message: `must be below dSae (${c.dSae}), which is the outer level` });
      if (i > 0 && w <= c.matryoshkaPrefixes[i - 1]!) ctx.addIssue({ code: "custom", path: ["matryoshkaPrefixes", i], message: `must be larger than the previous width ${c.matryoshkaPrefixes[i - 1]}` });
    });
  });
export type DemoConfig = z.infer<typeof DemoConfigSchema>;
export type DemoConfigInput = z.input<typeof DemoConfigSchema>;

/** Names of the demo's SAEs, in training and table order (also their output directory names). */
export const DEMO_SAE_NAMES = ["standard-untied", "standard-tied", "topk", "matryoshka_batchtopk"] as const;

/** Returns the four SAE configs of the demo. */
export function demoSaeConfigs(c: DemoConfig): SaeConfig[] {
  const [untied, tied, topk, matryoshka] = DEMO_SAE_NAMES;
  const raw = [
    { architecture: "standard", name: untied, dSae: c.dSae, l1Coefficient: c.l1Coefficient },
    { architecture: "standard", name: tied, dSae: c.dSae, tying: "tied", l1Coefficient: c.l1Coefficient },
    { architecture: "topk", name: topk, dSae: c.dSae, k: c.k },
    { architecture: "matryoshka_batchtopk", name: matryoshka, dSae: c.dSae, k: c.k, matryoshkaWidths: [...c.matryoshkaPrefixes, c.dSae] },
  ];
  return raw.map((r) => parseConfig(SaeConfigSchema, r, `demo SAE config "${r.name}"`));
}

/** Returns the demo's training settings. */
export function demoTrainConfig(c: DemoConfig): TrainConfig {
  return parseConfig(TrainConfigSchema, { steps: c.steps, batchSize: c.batchSize, lr: c.lr, seed: c.seed, checkpointEvery: 0, precision: c.precision }, "demo training settings");
}

/** Options of `runDemo`. */
export interface RunDemoOptions {
  /** The world named by `config.world` (the caller resolves the name or path). */
  world: ToyWorld;
  config?: DemoConfigInput | DemoConfig;
  kernels: Kernels;
  /** Worker threads to train in (1: in this thread); the trained SAEs are the same for any count. */
  workers?: number;
  /** Called as training advances with the step all SAEs have reached and each SAE's last L0. */
  onStep?: (step: number, l0: readonly number[]) => void;
  /** Called after every evaluation batch. */
  onEvalProgress?: (done: number, total: number) => void;
}

/** What the demo measured. */
export interface DemoResult {
  config: DemoConfig;
  saes: Sae[];
  evaluations: { name: string; evaluation: SaeEvaluation }[];
  /** Training wall time in seconds. */
  trainSeconds: number;
  /** Evaluation wall time in seconds. */
  evalSeconds: number;
}

/**
 * Returns the four SAEs trained on one stream (step s's batch is `world.sampler(mixSeed(seed, s))`,
 * as `saelab train` draws it) and their evaluations on one independent evaluation stream.
 */
export async function runDemo(opts: RunDemoOptions): Promise<DemoResult> {
  const config = parseConfig(DemoConfigSchema, opts.config ?? {}, "demo config");
  const { world, kernels } = opts;
  if (config.dSae < world.nFeatures) {
    throw new UserError(`demo: dSae ${config.dSae} is smaller than the world's ${world.nFeatures} features, so not every feature could get its own latent`);
  }
  const configs = demoSaeConfigs(config);
  const trainConfig = demoTrainConfig(config);
  const t0 = performance.now();
  let saes: Sae[];
  if ((opts.workers ?? 1) > 1) {
    saes = await trainInWorkers({ world, configs, train: trainConfig, kernels, workers: opts.workers!, ...(opts.onStep ? { onProgress: opts.onStep } : {}) });
  } else {
    const onStep = opts.onStep;
    const trainer = trainOnWorld(kernels, world, configs, trainConfig, onStep ? (t) => onStep(t.step, t.stats().map((s) => s.l0)) : undefined);
    saes = trainer.runs.map((r) => r.sae);
  }
  const t1 = performance.now();
  const evals = evaluateOnWorld(saes, world, { n: config.evalSamples, seed: config.evalSeed, ...(opts.onEvalProgress ? { onProgress: opts.onEvalProgress } : {}) }, kernels);
  const t2 = performance.now();
  return {
    config,
    saes,
    evaluations: saes.map((s, i) => ({ name: s.name, evaluation: evals[i]! })),
    trainSeconds: (t1 - t0) / 1000,
    evalSeconds: (t2 - t1) / 1000,
  };
}

/** Sub-directory of the demo's output holding the world. */
export const DEMO_WORLD_DIR = "world";

/** Writes each SAE as a SAELens directory `<dir>/<name>` and the world as `<dir>/world`; returns the SAE directories. */
export function saveDemo(dir: string, result: DemoResult, world: World): string[] {
  saveWorld(join(dir, DEMO_WORLD_DIR), world);
  const train = demoTrainConfig(result.config);
  return result.saes.map((sae) => {
    const out = join(dir, sae.name);
    // As `saelab train` records it: the data source (the world config) and seed, plus the demo's settings.
    saveSaelensSae(out, sae, { data: { world: world.config }, seed: train.seed, train, demo: result.config });
    return out;
  });
}
