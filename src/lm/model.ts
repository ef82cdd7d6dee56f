/**
 * A decoder-only transformer over any ModelSpec (spec.ts: GPT-2, the Llama family, llama2.c
 * checkpoints), with TransformerLens-style hook points.
 *
 * A forward pass takes several token sequences of any lengths and packs all their tokens into one
 * [rows, dModel] matrix, so the projections are single GEMMs over every token (Kernels.gemm, weights
 * [out, in] so transB) and no padding is computed. Attention reads each sequence's own KV-cache slot,
 * which makes the uncached forward, a cached prefill and one-token decoding the same computation.
 * With the native LM kernels every pass runs whole layers in native code (threaded, on packed
 * weights), returning to TypeScript only where a hook is registered; with the reference kernels,
 * steps of few rows use the fused per-layer kernels and larger ones Kernels.gemm. The reference fused
 * kernels cover the llama2.c layout (RMSNorm eps 1e-5, SwiGLU, no biases); every other spec runs the
 * general path (Kernels.gemm products, LM kernels for RoPE and attention, steps.ts). Both LM backends
 * run every attention variant (sliding windows, query scale, logit soft-capping, a query wider than
 * the model).
 */
import type { Kernels } from "../tensor/kernels.js";
import type { Llama2cCheckpoint } from "../io/llama2c.js";
import { UserError } from "../errors.js";
import { fromLlama2c } from "./families/llama.js";
import { buildParams, type ModelParams } from "./params.js";
import { ropeTableFor } from "./rope.js";
import { assertSupported, checkSpec, kvDim, qDim, type LoadedWeights, type ModelSpec } from "./spec.js";
import { packRows } from "./rows.js";
import { activate, addBias, normRows } from "./steps.js";
import { RMS_EPS, type KvCache, type LmKernels, type ModelBuffers, type RowInfo } from "./kernels.js";
import { BLOCK_HOOKS, EMBED_HOOK, HookRegistry, LN_FINAL_HOOK, POS_EMBED_HOOK, hookPointNames, parseHookName, type HookContext, type HookFn, type HookHandle, type HookSpec } from "./hooks.js";

/** Options of one forward pass. */
export interface ForwardOptions {
  /** Continue these cache slots (positions start at each slot's length); without one the pass starts at position 0. */
  cache?: KvCache;
  /** Cache slot of each input sequence; default 0, 1, 2, ... */
  slots?: readonly number[];
  /** Logits for every row ("all", [rows, vocab]), for each sequence's last row ("last", [sequences, vocab]) or none. Default "all". */
  logits?: "all" | "last" | "none";
  /** Run only blocks 0..stopAtLayer-1 and return the residual stream there (TransformerLens's stop_at_layer). */
  stopAtLayer?: number;
  /** Hooks for this pass only, run after the model's registered hooks. */
  hooks?: readonly HookSpec[];
}

/** What a forward pass returns. */
export interface ForwardResult {
  rows: number;
  /** [rows] input sequence of each row. */
  rowSeq: Int32Array;
  /** [rows] absolute position of each row. */
  rowPos: Int32Array;
  /** [sequences + 1] first row of each sequence. */
  seqStart: Int32Array;
  /** [rows, dModel] residual stream after the last block run (before ln_final). */
  residual: Float32Array;
  /** Logits as requested in ForwardOptions.logits. */
  logits?: Float32Array;
}

/** The compute backends a model runs on. */
export interface ModelBackends {
  kernels: Kernels;
  lm: LmKernels;
  /** Steps with at most this many rows use the fused LM kernels rather than GEMM calls. Default: every step with the native LM kernels, 64 rows with the reference ones. */
  fusedMaxRows?: number;
  /** Rows per chunk of per-row intermediates in large passes (keeps them in cache). Default 4096. */
  chunkRows?: number;
}

/** A transformer over a ModelSpec, with hook points. */
export class HookedModel {
  readonly spec: ModelSpec;
  readonly params: ModelParams;
  readonly hooks: HookRegistry;
  private readonly buffers: ModelBuffers;
  private readonly kernels: Kernels;
  private readonly lm: LmKernels;
  private readonly fusedMaxRows: number;
  private readonly chunkRows: number;
  /** Whether the fused per-layer LM kernels run this spec. */
  private readonly fusedOk: boolean;
  /** Reusable temporaries (large forward passes would otherwise fault in fresh pages every call). */
  private readonly scratch = new Map<string, Float32Array>();
  /** Forward passes in progress; a hook that runs the model again gets fresh buffers. */
  private depth = 0;

  constructor(loaded: LoadedWeights, backends: ModelBackends) {
    this.spec = checkSpec(loaded.spec, `model family ${loaded.spec.family}`);
    assertSupported(this.spec);
    const s = this.spec;
    this.params = buildParams(s, loaded.weights);
    this.hooks = new HookRegistry(s.nLayers, s.positions.kind === "learned");
    this.buffers = { buffer: this.params.buffer, layout: this.params.layout, rope: ropeTableFor(s, s.contextLength), windows: s.slidingWindow, attnScale: s.queryScale, attnSoftcap: s.attnSoftcap };
    this.kernels = backends.kernels;
    this.lm = backends.lm;
    const swiglu = s.gatedMlp && s.act === "silu";
    // The native fused kernels run both norms, biases, a SwiGLU or plain GELU/SiLU MLP, sequential
    // or parallel blocks and every attention variant (windows, scale, soft-capping) for a query as
    // wide as the model; the reference fused kernels only llama2.c's layout.
    this.fusedOk = !s.postNorms && s.finalSoftcap === undefined && qDim(s) === s.dModel &&
      (backends.lm.name === "native" ? swiglu ? !s.mlpBias : !s.gatedMlp : !s.parallelResidual && s.norm === "rms" && s.normEps === RMS_EPS && swiglu && !s.qkvBias && !s.oBias && !s.mlpBias);
    this.fusedMaxRows = !this.fusedOk ? 0 : (backends.fusedMaxRows ?? (backends.lm.name === "native" ? Number.MAX_SAFE_INTEGER : 64));
    this.chunkRows = Math.max(1, backends.chunkRows ?? 4096);
  }

  /** Returns the names of the backends in use ("gemm/lm"). */
  backendName(): string {
    return `${this.kernels.name}/${this.lm.name}`;
  }

  /** Returns every hook point name, in firing order. */
  hookNames(): string[] {
    const names = hookPointNames(this.spec.nLayers, this.spec.positions.kind === "learned");
    return this.spec.parallelResidual ? names.filter((n) => !n.endsWith(".hook_resid_mid")) : names;
  }

  /** Returns the block index of a hook name, or throws a UserError listing the valid names. */
  parseHook(name: string): ReturnType<typeof parseHookName> {
    const parsed = parseHookName(name, this.spec.nLayers, this.spec.positions.kind === "learned");
    if (this.spec.parallelResidual && parsed.point === "hook_resid_mid") throw new UserError(`hook point "${name}": a parallel-residual block (${this.spec.family}) has no resid_mid, as in TransformerLens`);
    return parsed;
  }

  /** Adds a hook that stays until its handle's remove(). */
  addHook(name: string, fn: HookFn): HookHandle {
    return this.hooks.add(name, fn);
  }

  /** Returns an empty KV cache for `slots` sequences of up to `cap` positions (default the model's context length). */
  newCache(slots: number, cap = this.spec.contextLength): KvCache {
    const s = this.spec;
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`cache slots must be a positive integer, got ${slots}`);
    if (!Number.isInteger(cap) || cap < 1 || cap > s.contextLength) throw new RangeError(`cache capacity must be 1..${s.contextLength}, got ${cap}`);
    const n = s.nLayers * slots * kvDim(s) * cap;
    return { slots, cap, nLayers: s.nLayers, kvDim: kvDim(s), k: new Float32Array(n), v: new Float32Array(n), lengths: new Int32Array(slots) };
  }

  /** Runs the model on token sequences and returns logits and/or the residual stream. */
  forward(seqs: readonly ArrayLike<number>[], opts: ForwardOptions = {}): ForwardResult {
    this.depth++;
    try {
      return this.forwardOnce(seqs, opts);
    } finally {
      this.depth--;
    }
  }

  /** Returns a temporary of n floats (contents undefined), reused across calls when not nested. */
  private temp(name: string, n: number): Float32Array {
    if (this.depth > 1) return new Float32Array(n);
    let b = this.scratch.get(name);
    if (!b || b.length < n) {
      b = new Float32Array(n);
      this.scratch.set(name, b);
    }
    return b.subarray(0, n);
  }

  private forwardOnce(seqs: readonly ArrayLike<number>[], opts: ForwardOptions): ForwardResult {
    const c = this.spec;
    const D = c.dModel;
    const KV = kvDim(c);
    const nSeq = seqs.length;
    const slots = opts.slots ?? seqs.map((_, i) => i);
    const stopAt = opts.stopAtLayer ?? c.nLayers;
    if (!Number.isInteger(stopAt) || stopAt < 0 || stopAt > c.nLayers) throw new RangeError(`stopAtLayer must be 0..${c.nLayers}, got ${stopAt}`);
    const mode = opts.logits ?? "all";
    if (mode === "last") seqs.forEach((q, i) => {
      if (q.length === 0) throw new RangeError(`sequence ${i} is empty, so it has no last-token logits`);
    });
    const given = opts.cache;
    if (given && (given.nLayers !== c.nLayers || given.kvDim !== KV || given.k.length < c.nLayers * given.slots * KV * given.cap || given.v.length !== given.k.length)) {
      throw new RangeError(`the KV cache (${given.nLayers} layers, kvDim ${given.kvDim}) was not made by this model's newCache()`);
    }
    const ri = packRows(seqs, slots, given, c);
    const { rows, rowSeq, rowPos, tokens, seqStart, starts } = ri;
    // Attention reads only positions this pass wrote, so a reused (unzeroed) temporary cache is safe.
    const tmpSlots = Math.max(1, nSeq);
    const tmpCap = Math.max(1, ri.maxEnd);
    const tmpN = c.nLayers * tmpSlots * KV * tmpCap;
    const cache = given ?? { slots: tmpSlots, cap: tmpCap, nLayers: c.nLayers, kvDim: KV, k: this.temp("cacheK", tmpN), v: this.temp("cacheV", tmpN), lengths: new Int32Array(tmpSlots) };
    const hooks = this.hooks.merged(opts.hooks);
    const ctxBase = { rows, dModel: D, rowSeq, rowPos, tokens };
    const fire = (name: string, layer: number, act: Float32Array): void => {
      const fns = hooks.get(name);
      if (!fns) return;
      const ctx: HookContext = { ...ctxBase, name, layer };
      for (const fn of fns) {
        const out = fn(act, ctx);
        if (out === undefined || out === act) continue;
        if (out.length !== act.length) throw new RangeError(`hook at ${name} returned ${out.length} values, expected ${act.length} (rows ${rows} x dModel ${D})`);
        act.set(out);
      }
    };
    const x = this.embed(tokens, rowPos, fire);
    if (rows > 0) {
      if (rows <= this.fusedMaxRows) this.blocksFused(x, ri, cache, stopAt, hooks, fire);
      else this.blocksGemm(x, ri, cache, stopAt, fire);
    }
    if (opts.cache) slots.forEach((s, i) => (opts.cache!.lengths[s] = starts[i]! + seqs[i]!.length));
    const result: ForwardResult = { rows, rowSeq, rowPos, seqStart, residual: x };
    const finalHooked = hooks.has(LN_FINAL_HOOK);
    if (stopAt < c.nLayers || (mode === "none" && !finalHooked)) return result;
    let xf = this.temp("xf", rows * D);
    const p = this.params;
    if (finalHooked) {
      this.norm(x, rows, undefined, undefined, xf);
      fire(LN_FINAL_HOOK, c.nLayers, xf);
      for (let i = 0; i < xf.length; i++) xf[i] = p.lnFinalB ? p.lnFinalW[i % D]! * xf[i]! + p.lnFinalB[i % D]! : p.lnFinalW[i % D]! * xf[i]!;
    } else {
      this.norm(x, rows, p.lnFinalW, p.lnFinalB, xf);
    }
    if (mode === "none") return result;
    let m = rows;
    if (mode === "last") {
      const last = new Float32Array(nSeq * D);
      for (let i = 0; i < nSeq; i++) {
        last.set(xf.subarray((seqStart[i + 1]! - 1) * D, seqStart[i + 1]! * D), i * D);
      }
      xf = last;
      m = nSeq;
    }
    const logits = new Float32Array(m * c.vocabSize);
    if (m <= this.fusedMaxRows) this.lm.classify(this.buffers, xf, m, logits);
    else this.project(xf, m, D, p.classifier, c.vocabSize, logits);
    const cap = c.finalSoftcap;
    if (cap !== undefined) for (let i = 0; i < logits.length; i++) logits[i] = cap * Math.tanh(logits[i]! / cap);
    result.logits = logits;
    return result;
  }

  /** Returns the residual stream [rows, dModel] at block 0: token (and position) embeddings, with their hooks. */
  private embed(tokens: Int32Array, rowPos: Int32Array, fire: (n: string, l: number, a: Float32Array) => void): Float32Array {
    const D = this.spec.dModel;
    const rows = tokens.length;
    const x = new Float32Array(rows * D);
    for (let i = 0; i < rows; i++) x.set(this.params.embedding.subarray(tokens[i]! * D, (tokens[i]! + 1) * D), i * D);
    // A float32 product, as HF scales Gemma's embedding (the tied unembedding stays unscaled).
    const scale = Math.fround(this.spec.embedScale);
    if (scale !== 1) for (let i = 0; i < x.length; i++) x[i] = x[i]! * scale;
    fire(EMBED_HOOK, 0, x);
    const pe = this.params.posEmbedding;
    if (pe) {
      const pos = this.temp("pos", rows * D);
      for (let i = 0; i < rows; i++) pos.set(pe.subarray(rowPos[i]! * D, (rowPos[i]! + 1) * D), i * D);
      fire(POS_EMBED_HOOK, 0, pos);
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + pos[i]!;
    }
    return x;
  }

  /** out = norm(x) * w + b for rows of x [rows, dModel] (w undefined: the normalised value only). */
  private norm(x: Float32Array, rows: number, w: Float32Array | undefined, b: Float32Array | undefined, out: Float32Array): void {
    const s = this.spec;
    if (s.norm === "rms") this.lm.rmsnorm(x, rows, s.dModel, w ?? new Float32Array(s.dModel).fill(1), out, s.normEps);
    else normRows(x, rows, s.dModel, s.norm, s.normEps, w, b, out);
  }

  /** Normalises a branch output [rows, dModel] in place (Gemma 2's post-attention and post-MLP norms). */
  private postNorm(x: Float32Array, rows: number, w: Float32Array, b: Float32Array | undefined): void {
    const t = this.temp("postNorm", rows * this.spec.dModel);
    this.norm(x, rows, w, b, t);
    x.set(t);
  }

  /** Runs a forward pass with extra hooks for this pass only. */
  runWithHooks(seqs: readonly ArrayLike<number>[], hooks: readonly HookSpec[], opts: Omit<ForwardOptions, "hooks"> = {}): ForwardResult {
    return this.forward(seqs, { ...opts, hooks: [...hooks] });
  }

  /** Runs a forward pass and returns copies of the activations at the selected hook points (all when `names` is omitted). */
  runWithCache(
    seqs: readonly ArrayLike<number>[],
    opts: ForwardOptions & { names?: readonly string[] | ((name: string) => boolean) } = {},
  ): { result: ForwardResult; cache: Map<string, Float32Array> } {
    const { names, ...rest } = opts;
    const want = typeof names === "function" ? names : names ? (n: string) => names.includes(n) : () => true;
    const cache = new Map<string, Float32Array>();
    const specs: HookSpec[] = this.hookNames().filter(want).map((n) => [n, (act) => void cache.set(n, act.slice())] as const);
    if (Array.isArray(names)) for (const n of names as readonly string[]) this.parseHook(n);
    const result = this.forward(seqs, { ...rest, hooks: [...(rest.hooks ?? []), ...specs] });
    return { result, cache };
  }

  /** out [m, n] = a [m, k] @ w^T, w [n, k]: the LM kernel for few rows, Kernels.gemm otherwise. */
  private project(a: Float32Array, m: number, k: number, w: Float32Array, n: number, out: Float32Array): void {
    if (m <= this.fusedMaxRows) this.lm.linear(a, m, k, w, n, out);
    else this.kernels.gemm({ a, b: w, out, m, n, k, transB: true });
  }

  private blocksGemm(x: Float32Array, ri: RowInfo, cache: KvCache, stopAt: number, fire: (n: string, l: number, a: Float32Array) => void): void {
    const c = this.spec;
    const R = ri.rows;
    const D = c.dModel;
    const Q = qDim(c);
    const KV = kvDim(c);
    const H = c.dMlp;
    const nIn = (c.gatedMlp ? 2 : 1) * H;
    // Per-row intermediates (qkv, h, ...) are made a chunk of rows at a time so they stay in cache;
    // causal attention allows it, as a row's keys come from its own or earlier rows of its sequence.
    const C = Math.min(R, this.chunkRows);
    const xb = this.temp("xb", C * D);
    const qkv = this.temp("qkv", C * (Q + 2 * KV));
    const h13 = this.temp("h13", C * nIn);
    const hb = this.temp("hb", C * H);
    const att = this.temp("att", R * Q);
    const branch = this.temp("branch", R * D);
    const chunks = (body: (r0: number, n: number) => void) => {
      for (let r0 = 0; r0 < R; r0 += C) body(r0, Math.min(C, R - r0));
    };
    // The branch is rounded to float32 before the residual add (no beta = 1 fusion), so a
    // pass-through hook leaves every bit unchanged.
    const addBranch = (name: string, l: number): void => {
      fire(name, l, branch);
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + branch[i]!;
    };
    const swiglu = c.gatedMlp && c.act === "silu";
    for (let l = 0; l < stopAt; l++) {
      const p = this.params.layers[l]!;
      fire(`blocks.${l}.hook_resid_pre`, l, x);
      chunks((r0, n) => {
        const sub: RowInfo = { rows: n, rowSlot: ri.rowSlot.subarray(r0, r0 + n), rowPos: ri.rowPos.subarray(r0, r0 + n) };
        this.norm(x.subarray(r0 * D, (r0 + n) * D), n, p.ln1w, p.ln1b, xb);
        this.project(xb, n, D, p.wqkv, Q + 2 * KV, qkv);
        addBias(qkv, n, Q + 2 * KV, p.bqkv);
        this.lm.ropeStore(this.buffers, qkv, sub, cache, l);
        this.lm.attention(this.buffers, qkv, sub, cache, l, att.subarray(r0 * Q, (r0 + n) * Q));
      });
      this.project(att, R, Q, p.wo, D, branch);
      addBias(branch, R, D, p.bo);
      if (p.ln1PostW) this.postNorm(branch, R, p.ln1PostW, p.ln1PostB);
      // A parallel block (GPT-NeoX) feeds the MLP the same residual as attention and has no resid_mid.
      const parallel = c.parallelResidual;
      if (parallel) fire(`blocks.${l}.hook_attn_out`, l, branch);
      else {
        addBranch(`blocks.${l}.hook_attn_out`, l);
        fire(`blocks.${l}.hook_resid_mid`, l, x);
      }
      const mlpOut = parallel ? this.temp("branch2", R * D) : branch;
      chunks((r0, n) => {
        this.norm(x.subarray(r0 * D, (r0 + n) * D), n, p.ln2w, p.ln2b, xb);
        this.project(xb, n, D, p.wIn, nIn, h13);
        addBias(h13, n, nIn, p.bIn);
        if (swiglu) this.lm.swiglu(h13, n, H, hb);
        else activate(h13, n, H, c.act, c.gatedMlp, hb);
        const out = mlpOut.subarray(r0 * D, (r0 + n) * D);
        this.project(hb, n, H, p.wOut, D, out);
        addBias(out, n, D, p.bOut);
      });
      if (p.ln2PostW) this.postNorm(mlpOut, R, p.ln2PostW, p.ln2PostB);
      if (parallel) {
        fire(`blocks.${l}.hook_mlp_out`, l, mlpOut);
        for (let i = 0; i < x.length; i++) x[i] = x[i]! + (mlpOut[i]! + branch[i]!);
      } else addBranch(`blocks.${l}.hook_mlp_out`, l);
      fire(`blocks.${l}.hook_resid_post`, l, x);
    }
  }

  private blocksFused(x: Float32Array, ri: RowInfo, cache: KvCache, stopAt: number, hooks: ReadonlyMap<string, HookFn[]>, fire: (n: string, l: number, a: Float32Array) => void): void {
    // resid_pre and resid_post fire between layers, so only hooks inside a block split it.
    const inner = (l: number) => hooks.size > 0 && INNER_HOOKS.some((h) => hooks.has(`blocks.${l}.${h}`));
    const between = (l: number) => hooks.has(`blocks.${l}.hook_resid_post`) || hooks.has(`blocks.${l + 1}.hook_resid_pre`);
    const tmp = this.temp("branch", ri.rows * this.spec.dModel);
    let l = 0;
    while (l < stopAt) {
      fire(`blocks.${l}.hook_resid_pre`, l, x);
      if (!inner(l)) {
        let to = l + 1;
        while (to < stopAt && !between(to - 1) && !inner(to)) to++;
        this.lm.layers(this.buffers, x, ri, cache, l, to);
        fire(`blocks.${to - 1}.hook_resid_post`, to - 1, x);
        l = to;
        continue;
      }
      this.lm.attnBlock(this.buffers, x, ri, cache, l, tmp);
      fire(`blocks.${l}.hook_attn_out`, l, tmp);
      if (this.spec.parallelResidual) {
        // Both branches read the block's input; their sum is added (as in blocksGemm).
        const mlp = this.temp("branch2", ri.rows * this.spec.dModel);
        this.lm.mlpBlock(this.buffers, x, ri.rows, l, mlp);
        fire(`blocks.${l}.hook_mlp_out`, l, mlp);
        for (let i = 0; i < x.length; i++) x[i] = x[i]! + (mlp[i]! + tmp[i]!);
        fire(`blocks.${l}.hook_resid_post`, l, x);
        l++;
        continue;
      }
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + tmp[i]!;
      fire(`blocks.${l}.hook_resid_mid`, l, x);
      this.lm.mlpBlock(this.buffers, x, ri.rows, l, tmp);
      fire(`blocks.${l}.hook_mlp_out`, l, tmp);
      for (let i = 0; i < x.length; i++) x[i] = x[i]! + tmp[i]!;
      fire(`blocks.${l}.hook_resid_post`, l, x);
      l++;
    }
  }
}

/** A llama2.c checkpoint as a hooked model (the Llama family's spec with llama2.c's weights). */
export class LlamaModel extends HookedModel {
  constructor(ckpt: Llama2cCheckpoint, backends: ModelBackends) {
    super(fromLlama2c(ckpt), backends);
  }
}

/** Hook points inside a block (the fused kernels stop there). */
const INNER_HOOKS = BLOCK_HOOKS.filter((h) => h !== "hook_resid_pre" && h !== "hook_resid_post");
