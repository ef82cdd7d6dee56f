/**
 * What an architecture supplies to the shared loss recipe (src/sae/step.ts): its nonlinearity for
 * training and for inference, its own loss terms, and the running statistics it keeps. Everything
 * else (encoder product, decoding, reconstruction loss, backward through the encoder, tying) is the
 * base's job, so every architecture logs its losses by name in the same way.
 */
import type { z } from "zod";
import type { EncodeSelect, Kernels, SparseRows } from "../tensor/kernels.js";
import type { ParamViews } from "./params.js";
import type { BaseConfig } from "./config.js";

/** Floating-point operations of one training step, by kind (a multiply-add counts as 2). */
export interface FlopCount {
  /** The dense encoder product [batch, dIn] x [dIn, dSae]. */
  dense: number;
  /** Sparse products over the latents that fired (decode, decoder and encoder gradients, AuxK, STE window). */
  sparse: number;
  /** Element-wise and vector work (losses, bias gradients, norms, tying loss, optimizer). */
  other: number;
}

/** The running statistics an SAE keeps besides its parameters (checkpointed with them). */
export interface SaeState {
  /** BatchTopK: the running estimate of the inference threshold (float64, as SAELens keeps it). */
  topkThreshold: number;
}

/** The parts of an SAE a step needs: sizes, config, parameters, running state. */
export interface SaeCore<C extends AnyArchConfig = AnyArchConfig> {
  readonly config: C & { dIn: number };
  readonly dIn: number;
  readonly dSae: number;
  readonly params: ParamViews;
  readonly state: SaeState;
  /** Returns a reusable Float32Array of `n` elements kept by the SAE under `key` (inference scratch). */
  scratch(key: string, n: number): Float32Array;
}

/** A prefix level of the reconstruction loss: latents [0, width) reconstruct x, weighted by multiplier. */
export interface LevelSpec {
  width: number;
  multiplier: number;
  /** Name of its loss term ("mse" for the full width). */
  lossName: string;
}

/** Sparse latents of one level and the gradient of the loss with respect to their values. */
export interface ActiveLevel {
  /** [batch, dSae] entries of this level (column indices are global). */
  s: SparseRows;
  /** [capacity]: dLoss/dValue for each entry; the activation passes it unchanged to the pre-activation. */
  grad: Float32Array;
}

/** Extra pre-activation gradients (e.g. AuxK's dead latents), as a sparse pattern and values. */
export interface ExtraGrad {
  s: SparseRows;
  grad: Float32Array;
}

/** Preallocated buffers for one SAE at one batch size. */
export interface Workspace {
  batch: number;
  /** [batch, dIn]: x - b_dec (or x). */
  xc: Float32Array;
  /** [batch, dSae]: pre-activations. */
  pre: Float32Array;
  /** Latent activations (training nonlinearity). */
  acts: SparseRows;
  /** One per loss level (the first aliases `acts` when there is a single level). */
  levels: ActiveLevel[];
  /** [batch, dIn] per level: reconstruction error, then (in place) the summed output gradient. */
  err: Float32Array[];
  /** [dSae]: 1 for latents active in at least one sample of the last step (training nonlinearity). */
  fired: Uint8Array;
  /** [dSae]: each latent's activations summed over the batch and levels (filled when the architecture has valueGradBias). */
  actSum: Float32Array;
  /** Scratch that architectures may use, keyed by name, created on first use. */
  scratch: Map<string, Float32Array | Float64Array | SparseRows | Uint8Array>;
}

/** Everything one forward/backward pass works with. */
export interface StepCtx {
  readonly kernels: Kernels;
  readonly sae: SaeCore;
  readonly grads: ParamViews;
  readonly ws: Workspace;
  /** [batch, dIn]. */
  readonly x: Float32Array;
  readonly batch: number;
  /** The current sparsity coefficient (after warm-up) for architectures that have one. */
  readonly coefficient: number;
  /** [dSae]: 1 for latents dead over the tracking window, or null when not tracked. */
  readonly deadMask: Uint8Array | null;
  readonly numDead: number;
  /** Named loss terms, each already weighted; the total loss is their sum. */
  readonly losses: Record<string, number>;
  /** Extra pre-activation gradient sets added by architecture terms. */
  readonly extras: ExtraGrad[];
  /** [batch, dIn]: the full-width reconstruction error x_hat - x while `residualTerms` runs (null otherwise). */
  residual: Float32Array | null;
  readonly flops: FlopCount;
  /** Mixed precision: ws.pre holds the bf16 product's pre-activations (for the top-k selections raised by proposalBias), so a selection from it is settled on exact values (src/sae/bf16.ts). */
  readonly bf16: boolean;
}

/** The inference architectures SAELens has; every trained SAE is saved as one of them. */
export type SaelensArchitecture = "standard" | "topk" | "jumprelu";

/** How an architecture is stored as (and read back from) a SAELens SAE directory (src/io/saelens.ts). */
export interface SaelensFacts<C extends AnyArchConfig> {
  /** The SAELens architecture the trained SAE is saved as for inference. */
  readonly architecture: SaelensArchitecture;
  /** Extra SAELens cfg.json fields of the saved inference SAE. */
  fields?(sae: SaeCore<C>): Record<string, unknown>;
  /** The SAELens training-architecture details recorded in cfg.json metadata. */
  trainingDetails(cfg: C): Record<string, unknown>;
  /**
   * For the one architecture a plain SAELens directory of `architecture` (no saelab.json) loads as:
   * this architecture's own config fields, read from cfg.json through `positiveInt` (which names the
   * file and field when the value is bad).
   */
  load?(cfg: Readonly<Record<string, unknown>>, positiveInt: (field: string) => number): Record<string, unknown>;
  /**
   * Weight tensors (beyond W_enc, W_dec, b_enc, b_dec) and cfg.json fields that only a SAELens SAE of
   * `architecture` has: a directory of another architecture holding one contradicts itself (a
   * jumprelu directory whose `architecture` key is misspelled would otherwise load as standard and
   * drop its threshold). `cfgFields` maps each field to the one value that also means "off" (e.g.
   * rescale_acts_by_decoder_norm: false), or null when any value contradicts. Given on the
   * architecture that has `load`.
   */
  readonly own?: { readonly tensors?: readonly string[]; readonly cfgFields?: Readonly<Record<string, unknown>> };
}

/** How the mitigation refit (src/detect/refit.ts) saves an un-absorbed copy of an SAE of this architecture. */
export type RefitFacts<C extends AnyArchConfig> =
  /** A plain SAE of `architecture` (a registered id) with a refitted encoder, keeping the config fields `keep` returns. */
  | { readonly architecture: string; keep?(cfg: C): Record<string, unknown> }
  /** No un-absorbed copy can be saved, for the reason given ("its fixed k cannot ..."). */
  | { readonly refused: string };

/** An architecture's contribution: its config schema, nonlinearity, loss terms and the facts other layers need about it. */
export interface ArchitectureDef<C extends AnyArchConfig> {
  /** The id, spelled as SAELens spells it: the `architecture` literal of the config. */
  readonly id: C["architecture"];
  /** The strict config schema (its `architecture` field is the literal `id`). */
  readonly schema: z.ZodType<C>;
  /** One-line description for help text. */
  readonly summary: string;
  /** Whether the architecture has a learned per-latent threshold parameter. */
  readonly hasThresholdParam: boolean;
  /** Initial value of the threshold parameter. */
  initialThreshold?(cfg: C): number;
  /** The config field a sweep's sparsity axis sets (absent: the architecture cannot be on a sparsity axis). */
  readonly sparsityParameter?: keyof C & string;
  /** The config fields of the sparsity penalty's coefficient and its warm-up, when the architecture has a penalty. */
  readonly penalty?: { readonly coefficient: keyof C & string; readonly warmUpSteps: keyof C & string };
  /** How it is saved as and loaded from SAELens. */
  readonly saelens: SaelensFacts<C>;
  /** How the mitigation refit treats it. */
  readonly refit: RefitFacts<C>;
  /** The reconstruction levels (one, of full width, except for Matryoshka SAEs). */
  levels(cfg: C & { dIn: number }): LevelSpec[];
  /** Training nonlinearity: fills `ctx.ws.acts` from `ctx.ws.pre`. */
  activateTrain(ctx: StepCtx): void;
  /**
   * The same nonlinearity as a selection the encoder kernel can apply while the pre-activations are
   * in cache (then activateTrain is not called), and whether the step needs `ws.pre` afterwards.
   */
  fusedSelect?(ctx: StepCtx): { select: EncodeSelect; keepPre: boolean };
  /** Inference nonlinearity: sparse latents of `pre` [rows, dSae]. */
  activateInfer(sae: SaeCore<C>, kernels: Kernels, pre: Float32Array, rows: number, out: SparseRows): SparseRows;
  /** Terms that need the full-width reconstruction error x_hat - x (`ctx.residual`). */
  residualTerms?(ctx: StepCtx): void;
  /**
   * A per-latent constant added to the loss gradient of every active latent's value (an L1 penalty's
   * c * ||W_dec[j]||), which the step adds while it computes those gradients; `terms` then finds each
   * latent's summed activation over the batch in `ws.actSum`.
   */
  valueGradBias?(ctx: StepCtx): Float32Array;
  /** Terms added after the reconstruction backward (level grads hold dLoss/dValue from reconstruction). */
  terms?(ctx: StepCtx): void;
  /** Updates running statistics after a committed training step (not during gradient checks). */
  commit?(sae: SaeCore<C>, ctx: StepCtx): void;
}

/** Any architecture's parsed config: the base fields and an `architecture` id. */
export type AnyArchConfig = BaseConfig & { architecture: string };

/** Returns the sparsity coefficient and its warm-up steps of `cfg`, or null when its architecture has no penalty. */
export function penaltyOf<C extends AnyArchConfig>(def: ArchitectureDef<C>, cfg: C): { value: number; warmUpSteps: number } | null {
  if (!def.penalty) return null;
  return { value: cfg[def.penalty.coefficient] as number, warmUpSteps: cfg[def.penalty.warmUpSteps] as number };
}

/** Returns a scratch Float32Array of at least `n` elements from the workspace (allocated once). */
export function scratchF32(ws: Workspace, key: string, n: number): Float32Array {
  const have = ws.scratch.get(key);
  if (have instanceof Float32Array && have.length >= n) return have;
  const a = new Float32Array(Math.max(n, 1));
  ws.scratch.set(key, a);
  return a;
}

/** Returns a scratch Float64Array of at least `n` elements from the workspace (allocated once). */
export function scratchF64(ws: Workspace, key: string, n: number): Float64Array {
  const have = ws.scratch.get(key);
  if (have instanceof Float64Array && have.length >= n) return have;
  const a = new Float64Array(Math.max(n, 1));
  ws.scratch.set(key, a);
  return a;
}

/** Returns a scratch sparse matrix from the workspace (allocated once, grown by the kernels). */
export function scratchSparse(ws: Workspace, key: string, rows: number, cols: number): SparseRows {
  const have = ws.scratch.get(key);
  if (have && !(have instanceof Float32Array) && !(have instanceof Float64Array) && !(have instanceof Uint8Array)) return have;
  const s: SparseRows = { rows, cols, rowPtr: new Int32Array(rows + 1), colIdx: new Int32Array(1), values: new Float32Array(1), nnz: 0 };
  ws.scratch.set(key, s);
  return s;
}

/** Returns a sparse matrix sharing `s`'s pattern with other values, reusing the object kept under `key`. */
export function withValues(ws: Workspace, key: string, s: SparseRows, values: Float32Array): SparseRows {
  const v = scratchSparse(ws, key, s.rows, s.cols);
  v.rows = s.rows;
  v.cols = s.cols;
  v.rowPtr = s.rowPtr;
  v.colIdx = s.colIdx;
  v.values = values;
  v.nnz = s.nnz;
  return v;
}
