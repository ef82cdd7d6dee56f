/**
 * Training several SAEs on one data stream, split over worker threads. Every worker rebuilds the
 * same world and draws the same batches (the world's training stream, src/train/stream.ts), and every SAE
 * starts from the same initialisation seed as in a single trainer, so the trained weights do not
 * depend on how the SAEs are grouped: this only changes the wall time (the trainer's per-step work
 * on small SAEs is JavaScript, which one thread cannot spread over several cores).
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { UserError } from "../errors.js";
import type { Kernels } from "../tensor/kernels.js";
import type { ToyWorld, WorldConfig } from "../toy/world.js";
import { Sae } from "../sae/model.js";
import { resolveSaeConfig, type SaeConfig } from "../sae/registry.js";
import type { TrainConfig } from "../train/config.js";
import { runTraining } from "../train/run.js";
import { worldStream } from "../train/stream.js";
import type { Trainer } from "../train/trainer.js";

/** What a worker needs to rebuild the world exactly (the saved tensors, as loadWorld uses them). */
export interface WorldPayload {
  config: WorldConfig;
  featureVectors: Float32Array;
  bias: Float32Array;
  correlationFactor?: Float32Array;
}

/** One worker's job. */
export interface TrainJob {
  world: WorldPayload;
  saes: SaeConfig[];
  train: TrainConfig;
  /** Kernels name of the caller ("native" or "reference"), so every worker computes the same way. */
  backend: string;
  /** The native kernel library of the parent's kernels ("auto" for the reference), so workers compute the same bits. */
  isa: string;
  /** Post a progress message every this many steps. */
  progressEvery: number;
}

/** A trained SAE as a worker sends it back. */
export interface TrainedSae {
  config: SaeConfig & { dIn: number };
  buffer: Float32Array;
  topkThreshold: number;
}

/** Messages from a worker. */
export type WorkerMessage =
  | { type: "step"; step: number; l0: number[] }
  | { type: "done"; saes: TrainedSae[] }
  | { type: "error"; message: string; user: boolean };

/** Returns the payload that rebuilds `world` in another thread. */
export function worldPayload(world: ToyWorld): WorldPayload {
  const p: WorldPayload = { config: world.config, featureVectors: world.featureVectors, bias: world.bias };
  if (world.copula?.kind === "lowRank") p.correlationFactor = world.copula.factor;
  return p;
}

/** Returns a trainer for `saes` trained on the world's training stream (the trainer is finished when this returns). */
export function trainOnWorld(kernels: Kernels, world: Parameters<typeof worldStream>[0], saes: readonly SaeConfig[], cfg: TrainConfig, onStep?: (t: Trainer) => void): Trainer {
  return runTraining({ kernels, saes, train: cfg, data: worldStream(world), ...(onStep ? { onStep } : {}) }).trainer;
}

/** Returns the SAEs of a finished trainer in the form a worker sends back (copies of the parameter buffers). */
export function exportTrained(trainer: Trainer): TrainedSae[] {
  return trainer.runs.map((r) => ({ config: r.sae.config, buffer: r.sae.params.buffer.slice(), topkThreshold: r.sae.state.topkThreshold }));
}

/** Returns an SAE rebuilt from a worker's result, computing with `kernels`. */
export function importTrained(kernels: Kernels, t: TrainedSae): Sae {
  const sae = new Sae(kernels, resolveSaeConfig(t.config, t.config.dIn), t.buffer);
  sae.state.topkThreshold = t.topkThreshold;
  return sae;
}

/**
 * Returns a worker thread running the module `name` of this directory (e.g. "train-worker"): dist/*.js
 * normally; under a TypeScript runner (tests, tsx) the .ts source, after registering tsx's loader
 * inside the worker.
 */
export function startModuleThread(name: string, workerData: unknown): Worker {
  const here = import.meta.url;
  if (!here.endsWith(".ts")) return new Worker(new URL(`./${name}.js`, here), { workerData });
  const script = new URL(`./${name}.ts`, here).href;
  // Resolved here, not in the worker: an eval'd worker resolves bare names from the cwd, which may be outside the package.
  // vitest's module runner has no import.meta.resolve: there, Node's CommonJS resolution finds the
  // package's "require" entry, and its ESM twin (same name, .mjs) is the one to import.
  const api = typeof import.meta.resolve === "function" ? import.meta.resolve("tsx/esm/api") : pathToFileURL(createRequire(here).resolve("tsx/esm/api").replace(/\.cjs$/, ".mjs")).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(script)}); });`;
  return new Worker(code, { eval: true, workerData });
}

/**
 * Returns the SAEs of `configs` trained on one data stream, split round-robin over `workers` worker
 * threads; `onProgress` gets the step every worker has reached and the latest L0 of each SAE.
 */
export async function trainInWorkers(opts: {
  world: ToyWorld;
  configs: readonly SaeConfig[];
  train: TrainConfig;
  kernels: Kernels;
  workers: number;
  onProgress?: (step: number, l0: readonly number[]) => void;
}): Promise<Sae[]> {
  const n = Math.max(1, Math.min(opts.workers, opts.configs.length));
  const groups = Array.from({ length: n }, (_, w) => opts.configs.map((_, i) => i).filter((i) => i % n === w));
  const payload = worldPayload(opts.world);
  const steps = new Array<number>(n).fill(0);
  const l0 = new Array<number>(opts.configs.length).fill(NaN);
  const run = (g: number[], w: number) =>
    new Promise<TrainedSae[]>((resolvePromise, reject) => {
      const job: TrainJob = { world: payload, saes: g.map((i) => opts.configs[i]!), train: opts.train, backend: opts.kernels.name, isa: opts.kernels.isa ?? "auto", progressEvery: 20 };
      const worker = startModuleThread("train-worker", job);
      let settled = false;
      worker.on("message", (m: WorkerMessage) => {
        if (m.type === "step") {
          steps[w] = m.step;
          m.l0.forEach((v, j) => (l0[g[j]!] = v));
          opts.onProgress?.(Math.min(...steps), l0);
        } else if (m.type === "done") {
          settled = true;
          resolvePromise(m.saes);
        } else {
          settled = true;
          reject(m.user ? new UserError(m.message) : new Error(m.message));
        }
      });
      worker.on("error", (e) => {
        settled = true;
        reject(e);
      });
      worker.on("exit", (code) => {
        if (!settled) reject(new Error(`a training worker exited with code ${code} before finishing`));
      });
    });
  const results = await Promise.all(groups.map(run));
  const saes = new Array<Sae>(opts.configs.length);
  groups.forEach((g, w) => g.forEach((i, j) => (saes[i] = importTrained(opts.kernels, results[w]![j]!))));
  return saes;
}
