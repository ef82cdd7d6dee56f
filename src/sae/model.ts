/**
 * An SAE of any registered architecture and tying variant: one parameter buffer with named views,
 * running state, and the inference methods of the SaeModel contract. Training (forward/backward)
 * lives in step.ts and works on the same object.
 */
import type { Kernels, SparseRows } from "../tensor/kernels.js";
import { emptySparse } from "../tensor/kernels.js";
import { Rng } from "../tensor/rng.js";
import type { AnyArchConfig, ArchitectureDef, LevelSpec, SaeCore, SaeState, Workspace } from "./arch.js";
import { initParams, transposeInto } from "./init.js";
import { paramLayout, viewsOf, type ParamLayout, type ParamViews } from "./params.js";
import { architectureOf, resolveSaeConfig, type ResolvedSaeConfig, type SaeConfig } from "./registry.js";
import { createWorkspace, encodePre } from "./step.js";
import type { ArchitectureId, SaeModel } from "./types.js";

/** A trainable (and encodable) SAE. */
export class Sae implements SaeModel, SaeCore<AnyArchConfig> {
  readonly config: ResolvedSaeConfig;
  readonly def: ArchitectureDef<AnyArchConfig>;
  readonly layout: ParamLayout;
  readonly params: ParamViews;
  readonly levels: readonly LevelSpec[];
  readonly state: SaeState = { topkThreshold: 0 };
  readonly kernels: Kernels;
  private readonly scratchMap = new Map<string, Float32Array>();
  private readonly workspaces = new Map<number, Workspace>();
  private infer: { batch: number; xc: Float32Array; pre: Float32Array } | null = null;

  /** Wraps `buffer` (or a zeroed one) as an SAE of `config`; use `createSae` for an initialised one. */
  constructor(kernels: Kernels, config: ResolvedSaeConfig, buffer?: Float32Array) {
    this.kernels = kernels;
    this.config = config;
    this.def = architectureOf(config);
    this.layout = paramLayout(config.dIn, config.dSae, {
      tied: config.tying === "tied" || config.tying === "tied_gain",
      gain: config.tying === "tied_gain",
      threshold: this.def.hasThresholdParam,
    });
    this.params = viewsOf(this.layout, buffer ?? kernels.alloc(this.layout.size));
    this.levels = this.def.levels(config);
  }

  get architecture(): ArchitectureId {
    return this.config.architecture;
  }
  get tied(): boolean {
    return this.config.tying === "tied" || this.config.tying === "tied_gain";
  }
  get dIn(): number {
    return this.config.dIn;
  }
  get dSae(): number {
    return this.config.dSae;
  }
  get name(): string {
    return this.config.name ?? `${this.config.architecture}-${this.config.tying}`;
  }
  get W_dec(): Float32Array {
    return this.params.W_dec;
  }
  get b_enc(): Float32Array {
    return this.params.b_enc;
  }
  get b_dec(): Float32Array {
    return this.params.b_dec;
  }
  /** JumpReLU: the learned threshold parameter; BatchTopK family: a new [dSae] array of the running threshold. */
  get threshold(): Float32Array | undefined {
    if (this.params.threshold) return this.params.threshold;
    if (this.def.saelens.architecture === "jumprelu") return new Float32Array(this.dSae).fill(this.state.topkThreshold);
    return undefined;
  }
  /** Whether x - b_dec (rather than x) is encoded. */
  get applyBDecToInput(): boolean {
    return this.config.applyBDecToInput;
  }

  /** Returns a reusable buffer of `n` floats kept under `key`. */
  scratch(key: string, n: number): Float32Array {
    let a = this.scratchMap.get(key);
    if (!a || a.length !== n) {
      a = new Float32Array(n);
      this.scratchMap.set(key, a);
    }
    return a;
  }

  /** Returns the training workspace for batch size `batch` (allocated on first use, then reused). */
  workspace(batch: number): Workspace {
    let ws = this.workspaces.get(batch);
    if (!ws) {
      ws = createWorkspace(this, this.levels, batch, (n) => this.kernels.alloc(n));
      this.workspaces.set(batch, ws);
    }
    return ws;
  }

  /** Frees the cached training and inference buffers. */
  releaseBuffers(): void {
    this.workspaces.clear();
    this.infer = null;
  }

  /** Returns the encoder as [dIn, dSae] (a copy; for tied SAEs W_dec^T with the gain folded in). */
  encoderWeights(): Float32Array {
    const { dIn, dSae } = this;
    if (this.params.W_enc) return Float32Array.from(this.params.W_enc);
    const out = transposeInto(this.params.W_dec, dSae, dIn, new Float32Array(dIn * dSae));
    const g = this.params.encoder_gain;
    if (g) for (let i = 0; i < dIn; i++) for (let j = 0; j < dSae; j++) out[i * dSae + j] = out[i * dSae + j]! * g[j]!;
    return out;
  }

  /** Returns the pre-activations [batch, dSae] of x [batch, dIn]. */
  preActivations(x: Float32Array, batch: number, out?: Float32Array): Float32Array {
    const buf = this.inferBuffers(batch);
    const pre = out ?? new Float32Array(batch * this.dSae);
    if (pre.length < batch * this.dSae) throw new Error(`preActivations: out has ${pre.length} values, needs ${batch * this.dSae}`);
    this.checkInput(x, batch);
    encodePre(this.kernels, this, x, batch, buf.xc, pre);
    return pre;
  }

  /** Returns the inference-mode latents of x [batch, dIn] as a sparse [batch, dSae] matrix. */
  encode(x: Float32Array, batch: number, out?: SparseRows): SparseRows {
    const buf = this.inferBuffers(batch);
    this.checkInput(x, batch);
    encodePre(this.kernels, this, x, batch, buf.xc, buf.pre);
    return this.def.activateInfer(this, this.kernels, buf.pre, batch, out ?? emptySparse(batch, this.dSae));
  }

  /** Returns the reconstruction [batch, dIn] = acts @ W_dec + b_dec. */
  decode(acts: SparseRows, out?: Float32Array): Float32Array {
    const n = this.dIn;
    if (acts.cols !== this.dSae) throw new Error(`decode: latents have ${acts.cols} columns, the SAE has ${this.dSae}`);
    const y = out ?? new Float32Array(acts.rows * n);
    if (y.length < acts.rows * n) throw new Error(`decode: out has ${y.length} values, needs ${acts.rows * n}`);
    for (let r = 0; r < acts.rows; r++) y.set(this.params.b_dec, r * n);
    this.kernels.spmm(acts, this.params.W_dec, n, y, true);
    return y;
  }

  private checkInput(x: Float32Array, batch: number): void {
    if (!Number.isInteger(batch) || batch < 0) throw new Error(`batch must be a non-negative integer, got ${batch}`);
    if (x.length < batch * this.dIn) throw new Error(`input has ${x.length} values, expected ${batch} x ${this.dIn}`);
  }

  private inferBuffers(batch: number): { xc: Float32Array; pre: Float32Array } {
    if (!this.infer || this.infer.batch !== batch) {
      this.infer = { batch, xc: new Float32Array(batch * this.dIn), pre: new Float32Array(batch * this.dSae) };
    }
    return this.infer;
  }
}

/** Returns a freshly initialised SAE for `config` (dIn from the config or `dIn`), drawing weights from `seed`. */
export function createSae(kernels: Kernels, config: SaeConfig, opts: { dIn?: number; seed: number }): Sae {
  const sae = new Sae(kernels, resolveSaeConfig(config, opts.dIn));
  initParams(sae, sae.def, new Rng(opts.seed));
  return sae;
}
