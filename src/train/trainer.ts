/**
 * The trainer: one data stream, many SAEs (dictionary_learning training.py). Every batch updates
 * every SAE, so SAEs compared with each other (tied vs untied, TopK vs Matryoshka) see identical data.
 * Logging goes to an injected event sink; checkpoints to an injected callback (only src/io and
 * src/cli touch the file system).
 */
import type { Kernels } from "../tensor/kernels.js";
import { mixSeed } from "../tensor/rng.js";
import { UserError } from "../errors.js";
import { createSae, type Sae } from "../sae/model.js";
import { initDecoderBias } from "../sae/init.js";
import { viewsOf, type ParamViews } from "../sae/params.js";
import type { SaeConfig } from "../sae/registry.js";
import { createWorkspace, forwardBackward, type StepResult } from "../sae/step.js";
import { penaltyOf, type Workspace } from "../sae/arch.js";
import type { TrainConfig } from "./config.js";
import { TrainingDivergedError, type EventSink, type SaeStepStats } from "./events.js";
import { adamState, optimizerStep, packedEncoder, type AdamState } from "./optimizer.js";
import { lrSchedule, warmUp, type Schedule } from "./schedules.js";
import type { TrainingStream } from "./stream.js";

/** One SAE being trained: the model, its gradient buffer, optimizer and dead-latent state. */
export interface TrainRun {
  readonly sae: Sae;
  readonly grads: ParamViews;
  readonly adam: AdamState;
  /** [dSae]: steps since each latent last fired. */
  readonly stepsSinceFired: Int32Array;
  /** [dSae]: 1 where stepsSinceFired exceeds the dead-latent window. */
  readonly deadMask: Uint8Array;
  readonly lr: Schedule;
  readonly coefficient: Schedule | null;
  last: { result: StepResult; lr: number; coefficient: number; dead: number; optimizerFlops: number } | null;
}

/** Trains several SAEs of the same input width on a shared stream of batches. */
export class Trainer {
  readonly runs: TrainRun[];
  /** Number of completed steps. */
  step = 0;
  readonly dIn: number;
  /** Step buffers shared by SAEs of the same shape (they run one after another), keyed by shape and batch. */
  private readonly workspaces = new Map<string, Workspace>();
  /** Mean over the last batch's rows of ||x - mean(x)||^2 (the denominator of its explained variance). */
  private lastBatchVariance = NaN;

  constructor(
    readonly kernels: Kernels,
    saes: readonly Sae[],
    readonly config: TrainConfig,
  ) {
    if (saes.length === 0) throw new UserError("nothing to train: no SAE configs given");
    const names = new Set<string>();
    this.dIn = saes[0]!.dIn;
    for (const s of saes) {
      if (names.has(s.name)) throw new UserError(`two SAEs are named "${s.name}"; give each a distinct "name"`);
      names.add(s.name);
      if (s.dIn !== this.dIn) throw new UserError(`SAE "${s.name}" has dIn ${s.dIn} but "${saes[0]!.name}" has ${this.dIn}; SAEs on one stream share dIn`);
    }
    this.runs = saes.map((sae) => {
      const coef = penaltyOf(sae.def, sae.config);
      return {
        sae,
        grads: viewsOf(sae.layout, new Float32Array(sae.layout.size)),
        adam: adamState(sae),
        stepsSinceFired: new Int32Array(sae.dSae),
        deadMask: new Uint8Array(sae.dSae),
        lr: lrSchedule({
          lr: sae.config.lr ?? config.lr,
          totalSteps: config.steps,
          warmUpSteps: config.lrWarmUpSteps,
          decay: config.lrDecay,
          decaySteps: config.lrDecaySteps,
          endFactor: config.lrEndFactor,
        }),
        coefficient: coef ? warmUp(coef.value, coef.warmUpSteps) : null,
        last: null,
      };
    });
  }

  /** Floating-point operations of the last step, over all SAEs. */
  get flopsPerStep(): number {
    let f = 0;
    for (const r of this.runs) if (r.last) f += r.last.result.flops.dense + r.last.result.flops.sparse + r.last.result.flops.other + r.last.optimizerFlops;
    return f;
  }

  /** Trains every SAE on one batch x [batch, dIn]; throws TrainingDivergedError (before updating that SAE) on a non-finite loss. */
  trainStep(x: Float32Array): void {
    const n = this.dIn;
    if (x.length === 0 || x.length % n !== 0) throw new UserError(`a batch has ${x.length} values, not a whole number of rows of width ${n}`);
    const B = x.length / n;
    if (this.step === 0) for (const r of this.runs) initDecoderBias(r.sae, x, B);
    const cfg = this.config;
    for (const r of this.runs) {
      let numDead = 0;
      for (let j = 0; j < r.sae.dSae; j++) {
        const dead = r.stepsSinceFired[j]! > cfg.deadLatentWindow ? 1 : 0;
        r.deadMask[j] = dead;
        numDead += dead;
      }
      const coefficient = r.coefficient ? r.coefficient(this.step) : 0;
      const { result, ctx } = forwardBackward({
        kernels: this.kernels, sae: r.sae, def: r.sae.def, levels: r.sae.levels, grads: r.grads, ws: this.workspaceFor(r.sae, B), x, batch: B, coefficient, deadMask: r.deadMask, numDead,
        bf16: cfg.precision === "bf16",
        packedW: packedEncoder(r.adam),
      });
      if (!Number.isFinite(result.loss)) throw new TrainingDivergedError(r.sae.name, this.step, result.losses, allFinite(x));
      const lr = r.lr(this.step);
      const optimizerFlops = optimizerStep(this.kernels, r.sae, r.grads, r.adam, lr, this.step + 1, { beta1: cfg.adamBeta1, beta2: cfg.adamBeta2, eps: cfg.adamEps }, cfg.precision === "bf16");
      r.sae.def.commit?.(r.sae, ctx);
      const fired = ctx.ws.fired;
      for (let j = 0; j < r.sae.dSae; j++) r.stepsSinceFired[j] = fired[j] ? 0 : r.stepsSinceFired[j]! + 1;
      r.last = { result, lr, coefficient, dead: numDead, optimizerFlops };
    }
    this.lastBatchVariance = batchVariance(x, B, n);
    this.step++;
  }

  private workspaceFor(sae: Sae, batch: number): Workspace {
    const key = `${sae.dIn}x${sae.dSae}:${sae.levels.map((l) => l.width).join(",")}:${batch}`;
    let ws = this.workspaces.get(key);
    if (!ws) {
      ws = createWorkspace(sae, sae.levels, batch, (n) => this.kernels.alloc(n));
      this.workspaces.set(key, ws);
    }
    return ws;
  }

  /** Returns the per-SAE figures of the last step. */
  stats(): SaeStepStats[] {
    return this.runs.map((r) => {
      const last = r.last;
      const s: SaeStepStats = {
        name: r.sae.name,
        loss: last?.result.loss ?? NaN,
        losses: last?.result.losses ?? {},
        l0: last?.result.l0 ?? NaN,
        dead: last?.dead ?? 0,
        lr: last?.lr ?? 0,
      };
      const mse = last?.result.losses.mse;
      if (mse !== undefined && this.lastBatchVariance > 0) s.explainedVariance = 1 - mse / this.lastBatchVariance;
      if (r.coefficient) s.coefficient = last?.coefficient ?? 0;
      if (r.sae.def.commit) s.threshold = r.sae.state.topkThreshold;
      return s;
    });
  }
}

/** Returns a trainer with freshly initialised SAEs; every SAE draws its initial weights from the same seed, so equal sizes start equal. */
export function createTrainer(kernels: Kernels, saes: readonly SaeConfig[], config: TrainConfig, dIn?: number): Trainer {
  const initSeed = mixSeed(config.seed, "init");
  return new Trainer(kernels, saes.map((c) => createSae(kernels, c, { ...(dIn !== undefined ? { dIn } : {}), seed: initSeed })), config);
}

function allFinite(x: Float32Array): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return false;
  return true;
}

/** Options of `train`. */
export interface TrainOptions {
  trainer: Trainer;
  /** A training stream (read from the trainer's step, at the config's batch size and seed) or any iterable of [batch, dIn] arrays, consumed from its current position. */
  data: TrainingStream | Iterable<Float32Array>;
  sink?: EventSink;
  /** Called every `checkpointEvery` steps (except after the last one) to persist `trainer`. */
  onCheckpoint?: (trainer: Trainer) => void;
  /** Called after every step (e.g. to draw a progress bar). */
  onStep?: (trainer: Trainer, info: { tokens: number; tokensPerSec: number }) => void;
  /** Clock in milliseconds (injected so tests are deterministic). */
  now?: () => number;
}

/** What a finished run did. */
export interface TrainSummary {
  steps: number;
  tokens: number;
  seconds: number;
  reason: "done" | "data exhausted";
}

/** Runs the trainer until `config.steps` steps are done or the data ends; returns what it did. */
export function train(opts: TrainOptions): TrainSummary {
  const { trainer, sink } = opts;
  const now = opts.now ?? (() => performance.now());
  const cfg = trainer.config;
  const data = opts.data;
  let source: Iterable<Float32Array>;
  if ("batches" in data && typeof data.batches === "function") {
    if (data.dIn !== trainer.dIn) throw new UserError(`the training data has width ${data.dIn} but the SAEs read ${trainer.dIn}`);
    source = data.batches(trainer.step, cfg.batchSize, cfg.seed);
  } else source = data as Iterable<Float32Array>;
  sink?.({
    type: "start",
    step: trainer.step,
    steps: cfg.steps,
    batchSize: cfg.batchSize,
    backend: trainer.kernels.name,
    resumed: trainer.step > 0,
    saes: trainer.runs.map((r) => ({ name: r.sae.name, architecture: r.sae.architecture, tying: r.sae.config.tying, dIn: r.sae.dIn, dSae: r.sae.dSae, parameters: r.sae.layout.size })),
  });
  const t0 = now();
  let tokens = 0;
  // Events count tokens over the whole run, so a resumed run logs what an uninterrupted one does.
  const before = trainer.step * cfg.batchSize;
  let reason: TrainSummary["reason"] = "data exhausted";
  if (trainer.step >= cfg.steps) reason = "done";
  else {
    for (const x of source) {
      const stepIndex = trainer.step;
      try {
        trainer.trainStep(x);
      } catch (e) {
        if (e instanceof TrainingDivergedError) sink?.({ type: "diverged", step: stepIndex, sae: e.sae, losses: e.losses });
        throw e;
      }
      tokens += x.length / trainer.dIn;
      const seconds = (now() - t0) / 1000;
      const tokensPerSec = seconds > 0 ? tokens / seconds : 0;
      opts.onStep?.(trainer, { tokens, tokensPerSec });
      if (trainer.step % cfg.logEvery === 0 || trainer.step === cfg.steps) {
        sink?.({ type: "step", step: trainer.step, tokens: before + tokens, tokensPerSec, flopsPerStep: trainer.flopsPerStep, saes: trainer.stats() });
      }
      if (trainer.step >= cfg.steps) {
        reason = "done";
        break;
      }
      if (cfg.checkpointEvery > 0 && trainer.step % cfg.checkpointEvery === 0 && opts.onCheckpoint) {
        opts.onCheckpoint(trainer);
        sink?.({ type: "checkpoint", step: trainer.step });
      }
    }
  }
  const seconds = (now() - t0) / 1000;
  sink?.({ type: "end", step: trainer.step, tokens: before + tokens, seconds, reason });
  return { steps: trainer.step, tokens, seconds, reason };
}

/** Returns the mean over rows of ||x_r - mean(x)||^2 for x [batch, dIn], summed in double precision. */
function batchVariance(x: Float32Array, batch: number, dIn: number): number {
  const mean = new Float64Array(dIn);
  let ss = 0;
  for (let r = 0; r < batch; r++) {
    const o = r * dIn;
    for (let j = 0; j < dIn; j++) {
      const v = x[o + j]!;
      mean[j] = mean[j]! + v;
      ss += v * v;
    }
  }
  let mm = 0;
  for (let j = 0; j < dIn; j++) mm += mean[j]! * mean[j]!;
  return (ss - mm / batch) / batch;
}
