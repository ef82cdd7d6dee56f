/**
 * One training runner for every caller (`saelab train`, the sweep and demo workers, the tying
 * fine-tune, distributed workers): SAEs from configs (or given starting SAEs) trained on a training
 * stream, with resume, periodic checkpoints, the divergence rules and the saving of the results all
 * going through the `TrainingOutput` it is given (a directory in the CLI, see
 * src/experiments/run-dir.ts; nothing when omitted, for in-memory runs). It writes nothing itself
 * and prints nothing: progress goes to the callbacks, events to the output's log and the sink.
 */
import { UserError } from "../errors.js";
import { canonicalJson } from "../json.js";
import type { Kernels } from "../tensor/kernels.js";
import type { Sae } from "../sae/model.js";
import { resolveSaeConfig, type ResolvedSaeConfig, type SaeConfig } from "../sae/registry.js";
import { nonFiniteParams, restoreTrainer, snapshotTrainer, type CheckpointData } from "./checkpoint.js";
import type { TrainConfig } from "./config.js";
import { TrainingDivergedError, type EventSink, type SaeStepStats, type TrainEvent } from "./events.js";
import type { TrainingStream } from "./stream.js";
import { createTrainer, train, Trainer, type TrainSummary } from "./trainer.js";

/** A stored checkpoint as an output hands it back. */
export interface StoredCheckpoint {
  tensors: ReadonlyMap<string, Float32Array | Int32Array>;
  meta: unknown;
  /** Where it is, for messages (e.g. its path). */
  source: string;
}

/** What a finished run records with each saved SAE (saelab.json in a directory output). */
export interface RunRecord {
  /** The description of the data and the seed, as checked on resume. */
  data: unknown;
  seed: number;
  train: TrainConfig;
  /** Completed steps. */
  steps: number;
}

/** Where a run keeps its checkpoint, its event log and its trained SAEs. */
export interface TrainingOutput {
  /** Returns the stored checkpoint (throwing a UserError naming it when there is none or it is unreadable). */
  readCheckpoint(): StoredCheckpoint;
  /** Throws a UserError when a run was already started here (a fresh run must not overwrite it). */
  checkFresh(): void;
  writeCheckpoint(data: CheckpointData): void;
  /** Returns what a diverged run says about its checkpoint ("the last good checkpoint is kept at ..." or that none was written). */
  checkpointNote(): string;
  /** Returns the sink of this session's events (after the earlier sessions' when resuming). */
  log(resumed: boolean): EventSink;
  /** Writes the trained SAEs with their last step's figures and the run's record; returns where each went. */
  saveSaes(saes: readonly { sae: Sae; final: SaeStepStats }[], record: RunRecord, saelensMetadata: Record<string, unknown> | undefined): string[];
}

/** Options of `runTraining`. */
export interface RunTrainingOptions {
  kernels: Kernels;
  /** SAE configs, initialised from the training seed (their dIn is the stream's). */
  saes?: readonly SaeConfig[];
  /** Or SAEs to start from as they are (e.g. a fine-tune); exactly one of `saes` and `start`. */
  start?: readonly Sae[];
  train: TrainConfig;
  data: TrainingStream;
  /** JSON description of the data (e.g. the world config), recorded with the seed and checked on resume. */
  dataDescription?: unknown;
  /** SAELens cfg.json metadata for the saved SAEs (model_name, hook_name, ...), when the data comes from a model. */
  saelensMetadata?: Record<string, unknown>;
  /** Where checkpoints, the event log and the trained SAEs go; omitted: the run stays in memory. */
  output?: TrainingOutput;
  /** Continue the run stored in `output`. */
  resume?: boolean;
  /** Receives every event (besides the output's log). */
  sink?: EventSink;
  /** Called once the trainer is ready, before the first step of this session. */
  onStart?: (trainer: Trainer, resumed: boolean) => void;
  /** Called after every step. */
  onStep?: (trainer: Trainer) => void;
  /** Clock in milliseconds (injected so tests are deterministic). */
  now?: () => number;
}

/** What a run did. */
export interface TrainingResult {
  trainer: Trainer;
  /** The trained SAEs, in config order. */
  saes: Sae[];
  /** This session's steps, tokens and time; null when a resumed run had already finished. */
  summary: TrainSummary | null;
  /** Where the output saved each SAE (empty without an output, or when nothing was left to do). */
  saved: string[];
}

/** Trains (or resumes) a run to `train.steps` steps or the end of the data; returns the trained SAEs. */
export function runTraining(opts: RunTrainingOptions): TrainingResult {
  const { kernels, train: cfg, data, output } = opts;
  if ((opts.saes === undefined) === (opts.start === undefined)) throw new Error("runTraining: give exactly one of saes and start");
  const saes: ResolvedSaeConfig[] | null = opts.saes ? opts.saes.map((c) => resolveSaeConfig(c, data.dIn)) : null;
  const record = { data: opts.dataDescription, seed: cfg.seed };
  let trainer: Trainer;
  if (opts.resume) {
    if (!output) throw new Error("runTraining: resume needs an output to resume from");
    if (!saes) throw new Error("runTraining: resume needs the SAE configs");
    const ck = output.readCheckpoint();
    const was = (ck.meta as { extra?: unknown } | null)?.extra;
    if (canonicalJson(was) !== canonicalJson(record)) throw new UserError(`${ck.source}: cannot resume, the data source or seed changed`);
    trainer = restoreTrainer(kernels, ck.tensors, ck.meta, ck.source, { train: cfg, saes });
    if (trainer.step >= cfg.steps) return { trainer, saes: trainer.runs.map((r) => r.sae), summary: null, saved: [] };
  } else {
    output?.checkFresh();
    trainer = saes ? createTrainer(kernels, saes, cfg, data.dIn) : new Trainer(kernels, opts.start!, cfg);
  }
  const resumed = opts.resume === true;
  opts.onStart?.(trainer, resumed);
  const log = output?.log(resumed);
  const sink = log || opts.sink ? (e: TrainEvent) => (log?.(e), opts.sink?.(e)) : undefined;
  const saveCheckpoint = (t: Trainer): void => {
    const bad = nonFiniteParams(t);
    if (bad.length) throw new UserError(`training diverged: parameters ${bad.join(", ")} hold NaN or Inf after step ${t.step}; ${output!.checkpointNote()}`);
    output!.writeCheckpoint(snapshotTrainer(t, record));
  };
  let summary: TrainSummary;
  try {
    summary = train({
      trainer,
      data,
      ...(sink ? { sink } : {}),
      ...(output ? { onCheckpoint: saveCheckpoint } : {}),
      ...(opts.onStep ? { onStep: opts.onStep } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
  } catch (e) {
    if (output && e instanceof TrainingDivergedError) throw new UserError(`${e.message}; ${output.checkpointNote()}`);
    throw e;
  }
  let saved: string[] = [];
  if (output) {
    const final = trainer.stats();
    saved = output.saveSaes(trainer.runs.map((r, i) => ({ sae: r.sae, final: final[i]! })), { ...record, train: cfg, steps: trainer.step }, opts.saelensMetadata);
    // The final checkpoint comes last: a finished checkpoint means the saved SAEs are complete.
    saveCheckpoint(trainer);
  }
  return { trainer, saes: trainer.runs.map((r) => r.sae), summary, saved };
}
