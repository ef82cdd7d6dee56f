/**
 * Checkpoints as data: every buffer that determines the rest of the run (parameters, Adam moments,
 * dead-latent counters, running thresholds, step) as named tensors plus JSON metadata. Restoring
 * and continuing gives bitwise the same weights as an uninterrupted run; src/io writes the file.
 */
import type { Kernels } from "../tensor/kernels.js";
import { parseConfig, UserError } from "../errors.js";
import { canonicalJson } from "../json.js";
import { Sae } from "../sae/model.js";
import { SaeConfigSchema, type ResolvedSaeConfig } from "../sae/registry.js";
import type { SaeState } from "../sae/arch.js";
import { TrainConfigSchema, type TrainConfig } from "./config.js";
import { Trainer } from "./trainer.js";

export const CHECKPOINT_FORMAT = "saelab-checkpoint";

/** The JSON part of a checkpoint. */
export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  /** Completed steps. */
  step: number;
  train: TrainConfig;
  saes: ResolvedSaeConfig[];
  states: SaeState[];
  /** Caller's data (e.g. the CLI's world description), stored verbatim. */
  extra?: unknown;
}

/** A checkpoint's tensors (by name) and metadata. */
export interface CheckpointData {
  tensors: Record<string, { data: Float32Array | Int32Array; shape: number[] }>;
  meta: CheckpointMeta;
}

/** Training-config fields that do not change the numbers, so a resumed run may differ in them. */
const COSMETIC: readonly (keyof TrainConfig)[] = ["logEvery", "checkpointEvery"];

/** Returns a checkpoint of `trainer` (views into its live buffers: write it before the next step). */
export function snapshotTrainer(trainer: Trainer, extra?: unknown): CheckpointData {
  const tensors: CheckpointData["tensors"] = {};
  trainer.runs.forEach((r, i) => {
    const size = r.sae.layout.size;
    tensors[`sae${i}.params`] = { data: r.sae.params.buffer, shape: [size] };
    tensors[`sae${i}.adam_m`] = { data: r.adam.m, shape: [size] };
    tensors[`sae${i}.adam_v`] = { data: r.adam.v, shape: [size] };
    tensors[`sae${i}.steps_since_fired`] = { data: r.stepsSinceFired, shape: [r.sae.dSae] };
  });
  return {
    tensors,
    meta: {
      format: CHECKPOINT_FORMAT,
      version: 1,
      step: trainer.step,
      train: trainer.config,
      saes: trainer.runs.map((r) => r.sae.config),
      states: trainer.runs.map((r) => ({ ...r.sae.state })),
      ...(extra !== undefined ? { extra } : {}),
    },
  };
}

/** Returns the names of parameters of `trainer` that hold NaN or Inf (empty when all are finite). */
export function nonFiniteParams(trainer: Trainer): string[] {
  const bad: string[] = [];
  for (const r of trainer.runs) {
    for (const e of r.sae.layout.entries) {
      const n = e.shape.reduce((a, b) => a * b, 1);
      const v = r.sae.params.buffer.subarray(e.offset, e.offset + n);
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(v[i]!)) {
          bad.push(`${r.sae.name}.${e.name}`);
          break;
        }
      }
    }
  }
  return bad;
}

/**
 * Rebuilds a trainer from a checkpoint. When `expect` is given, the checkpoint's SAE and training
 * configs must match it (apart from logEvery and checkpointEvery), so a resumed run is the same run.
 */
export function restoreTrainer(
  kernels: Kernels,
  tensors: ReadonlyMap<string, Float32Array | Int32Array>,
  metaJson: unknown,
  source: string,
  expect?: { train: TrainConfig; saes: readonly ResolvedSaeConfig[] },
): Trainer {
  const meta = metaJson as Partial<CheckpointMeta> | null;
  if (!meta || meta.format !== CHECKPOINT_FORMAT || meta.version !== 1) throw new UserError(`${source}: not a saelab checkpoint (format/version missing)`);
  const train = parseConfig(TrainConfigSchema, meta.train, `${source} (training config)`);
  if (!Array.isArray(meta.saes)) throw new UserError(`${source}: the checkpoint lists no SAE configs`);
  const saes = meta.saes.map((c, i) => {
    const parsed = parseConfig(SaeConfigSchema, c, `${source} (SAE config ${i})`);
    if (parsed.dIn === undefined) throw new UserError(`${source}: checkpoint SAE config has no dIn`);
    return parsed as ResolvedSaeConfig;
  });
  if (expect) {
    const diffs: string[] = [];
    for (const k of Object.keys({ ...train, ...expect.train }) as (keyof TrainConfig)[]) {
      if (COSMETIC.includes(k)) continue;
      if (canonicalJson(train[k]) !== canonicalJson(expect.train[k])) diffs.push(`${k}: checkpoint ${JSON.stringify(train[k])}, now ${JSON.stringify(expect.train[k])}`);
    }
    if (saes.length !== expect.saes.length) diffs.push(`number of SAEs: checkpoint ${saes.length}, now ${expect.saes.length}`);
    else saes.forEach((c, i) => {
      if (canonicalJson(c) !== canonicalJson(expect.saes[i])) diffs.push(`SAE ${i} config: checkpoint ${JSON.stringify(c)}, now ${JSON.stringify(expect.saes[i])}`);
    });
    if (diffs.length) throw new UserError(`${source}: cannot resume, the run's settings changed:\n  - ${diffs.join("\n  - ")}`);
  }
  // A resumed run is this run: it carries the caller's configs (equal in content, and in key order to what an uninterrupted run writes).
  const models = (expect ? expect.saes : saes).map((cfg, i) => {
    const sae = new Sae(kernels, cfg, Float32Array.from(need(tensors, `sae${i}.params`, source, Float32Array)));
    if (sae.params.buffer.length !== sae.layout.size) throw new UserError(`${source}: sae${i}.params has the wrong size`);
    const state: unknown = meta.states?.[i] ?? {};
    for (const [k, v] of Object.entries(state as object)) {
      if (!(k in sae.state) || typeof v !== "number" || !Number.isFinite(v)) throw new UserError(`${source}: SAE ${i} state ${k} = ${JSON.stringify(v)} is not a finite number of its state`);
    }
    Object.assign(sae.state, state);
    return sae;
  });
  const trainer = new Trainer(kernels, models, expect ? expect.train : train);
  trainer.runs.forEach((r, i) => {
    copyExact(r.adam.m, need(tensors, `sae${i}.adam_m`, source, Float32Array), `sae${i}.adam_m`, source);
    copyExact(r.adam.v, need(tensors, `sae${i}.adam_v`, source, Float32Array), `sae${i}.adam_v`, source);
    copyExact(r.stepsSinceFired, need(tensors, `sae${i}.steps_since_fired`, source, Int32Array), `sae${i}.steps_since_fired`, source);
  });
  if (typeof meta.step !== "number" || !Number.isInteger(meta.step) || meta.step < 0) throw new UserError(`${source}: invalid step`);
  trainer.step = meta.step;
  return trainer;
}

function need<T extends Float32Array | Int32Array>(m: ReadonlyMap<string, Float32Array | Int32Array>, name: string, source: string, type: { new (n: number): T }): T {
  const t = m.get(name);
  if (!t) throw new UserError(`${source}: checkpoint is missing tensor "${name}"`);
  if (!(t instanceof type)) throw new UserError(`${source}: checkpoint tensor "${name}" has the wrong dtype`);
  return t as T;
}

function copyExact(dst: Float32Array | Int32Array, src: Float32Array | Int32Array, name: string, source: string): void {
  if (src.length !== dst.length) throw new UserError(`${source}: checkpoint tensor "${name}" has ${src.length} values, expected ${dst.length}`);
  dst.set(src);
}
