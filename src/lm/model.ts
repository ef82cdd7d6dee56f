/**
 * A Llama-architecture transformer (llama2.c's model) with TransformerLens-style hook points.
 *
 * A forward pass takes several token sequences of any lengths and packs all their tokens into one
 * [rows, dim] matrix, so the projections are single GEMMs over every token (Kernels.gemm, weights
 * [out, in] so transB) and no padding is computed. Attention reads each sequence's own KV-cache slot,
 * which makes the uncached forward, a cached prefill and one-token decoding the same computation.
 * With the native LM kernels every pass runs whole layers in native code (threaded, on packed
 * weights), returning to TypeScript only where a hook is registered; with the reference kernels,
 * steps of few rows use the fused per-layer kernels and larger ones Kernels.gemm.
 */
import type { Kernels } from "../tensor/kernels.js";
import type { Llama2cCheckpoint } from "../io/llama2c.js";
import { UserError } from "../errors.js";
import { buildParams, modelConfig, ropeTable, type ModelConfig, type ModelParams } from "./params.js";
import { RMS_EPS, type KvCache, type LmKernels, type ModelBuffers, type RowInfo } from "./kernels.js";
import { BLOCK_HOOKS, HookRegistry, LN_FINAL_HOOK, hookPointNames, parseHookName, type HookContext, type HookFn, type HookHandle, type HookSpec } from "./hooks.js";

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
  /** [rows, dim] residual stream after the last block run (before ln_final). */
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

/** A llama2.c transformer with hook points. */
export class LlamaModel {
  readonly config: ModelConfig;
  readonly params: ModelParams;
  readonly hooks: HookRegistry;
  private readonly buffers: ModelBuffers;
  private readonly kernels: Kernels;
  private readonly lm: LmKernels;
  private readonly fusedMaxRows: number;
  private readonly chunkRows: number;
  /** Reusable temporaries (large forward passes would otherwise fault in fresh pages every call). */
  private readonly scratch = new Map<string, Float32Array>();
  /** Forward passes in progress; a hook that runs the model again gets fresh buffers. */
  private depth = 0;

  constructor(ckpt: Llama2cCheckpoint, backends: ModelBackends) {
    this.config = modelConfig(ckpt.config);
    this.params = buildParams(ckpt);
    this.hooks = new HookRegistry(this.config.nLayers);
    this.buffers = { buffer: this.params.buffer, layout: this.params.layout, rope: ropeTable(this.config.seqLen, this.config.headSize) };
    this.kernels = backends.kernels;
    this.lm = backends.lm;
    this.fusedMaxRows = backends.fusedMaxRows ?? (backends.lm.name === "native" ? Number.MAX_SAFE_INTEGER : 64);
    this.chunkRows = Math.max(1, backends.chunkRows ?? 4096);
  }

  /** Returns the names of the backends in use ("gemm/lm"). */
  backendName(): string {
    return `${this.kernels.name}/${this.lm.name}`;
  }

  /** Returns every hook point name, in firing order. */
  hookNames(): string[] {
    return hookPointNames(this.config.nLayers);
  }

  /** Adds a hook that stays until its handle's remove(). */
  addHook(name: string, fn: HookFn): HookHandle {
    return this.hooks.add(name, fn);
  }

  /** Returns an empty KV cache for `slots` sequences of up to `cap` positions (default the model's seq_len). */
  newCache(slots: number, cap = this.config.seqLen): KvCache {
    if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`cache slots must be a positive integer, got ${slots}`);
    if (!Number.isInteger(cap) || cap < 1 || cap > this.config.seqLen) throw new RangeError(`cache capacity must be 1..${this.config.seqLen}, got ${cap}`);
    const n = this.config.nLayers * slots * this.config.kvDim * cap;
    return { slots, cap, nLayers: this.config.nLayers, kvDim: this.config.kvDim, k: new Float32Array(n), v: new Float32Array(n), lengths: new Int32Array(slots) };
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
    const c = this.config;
    const nSeq = seqs.length;
    const slots = opts.slots ?? seqs.map((_, i) => i);
    if (slots.length !== nSeq) throw new RangeError(`got ${nSeq} sequences but ${slots.length} slots`);
    if (new Set(slots).size !== slots.length) throw new RangeError("each sequence needs its own cache slot");
    const stopAt = opts.stopAtLayer ?? c.nLayers;
    if (!Number.isInteger(stopAt) || stopAt < 0 || stopAt > c.nLayers) throw new RangeError(`stopAtLayer must be 0..${c.nLayers}, got ${stopAt}`);
    const mode = opts.logits ?? "all";
    if (mode === "last") seqs.forEach((q, i) => {
      if (q.length === 0) throw new RangeError(`sequence ${i} is empty, so it has no last-token logits`);
    });
    const given = opts.cache;
    if (given && (given.nLayers !== c.nLayers || given.kvDim !== c.kvDim || given.k.length < c.nLayers * given.slots * c.kvDim * given.cap || given.v.length !== given.k.length)) {
      throw new RangeError(`the KV cache (${given.nLayers} layers, kvDim ${given.kvDim}) was not made by this model's newCache()`);
    }
    let maxEnd = 0;
    let rows = 0;
    const starts = slots.map((s, i) => {
      const start = opts.cache ? (opts.cache.lengths[s] ?? NaN) : 0;
      if (opts.cache && !(s >= 0 && s < opts.cache.slots)) throw new RangeError(`slot ${s} is outside the cache's ${opts.cache.slots} slots`);
      const end = start + seqs[i]!.length;
      if (end > c.seqLen) throw new UserError(`sequence ${i} would reach ${end} tokens, more than the model's context length ${c.seqLen}`);
      if (opts.cache && end > opts.cache.cap) throw new RangeError(`sequence ${i} would reach ${end} tokens, more than the cache capacity ${opts.cache.cap}`);
      maxEnd = Math.max(maxEnd, end);
      rows += seqs[i]!.length;
      return start;
    });
    // Attention reads only positions this pass wrote, so a reused (unzeroed) temporary cache is safe.
    const tmpSlots = Math.max(1, nSeq);
    const tmpCap = Math.max(1, maxEnd);
    const tmpN = c.nLayers * tmpSlots * c.kvDim * tmpCap;
    const cache = opts.cache ?? { slots: tmpSlots, cap: tmpCap, nLayers: c.nLayers, kvDim: c.kvDim, k: this.temp("cacheK", tmpN), v: this.temp("cacheV", tmpN), lengths: new Int32Array(tmpSlots) };
    const rowSeq = new Int32Array(rows);
    const rowPos = new Int32Array(rows);
    const rowSlot = new Int32Array(rows);
    const tokens = new Int32Array(rows);
    const seqStart = new Int32Array(nSeq + 1);
    let r = 0;
    for (let i = 0; i < nSeq; i++) {
      seqStart[i] = r;
      const seq = seqs[i]!;
      for (let t = 0; t < seq.length; t++, r++) {
        const tok = seq[t]!;
        if (!Number.isInteger(tok) || tok < 0 || tok >= c.vocabSize) throw new RangeError(`sequence ${i}, token ${t}: id ${tok} is outside the vocabulary 0..${c.vocabSize - 1}`);
        rowSeq[r] = i;
        rowPos[r] = starts[i]! + t;
        rowSlot[r] = slots[i]!;
        tokens[r] = tok;
      }
    }
    seqStart[nSeq] = rows;
    const ri: RowInfo = { rows, rowSlot, rowPos };
    const hooks = this.hooks.merged(opts.hooks);
    const x = new Float32Array(rows * c.dim);
    for (let i = 0; i < rows; i++) x.set(this.params.embedding.subarray(tokens[i]! * c.dim, (tokens[i]! + 1) * c.dim), i * c.dim);
    const ctxBase = { rows, dModel: c.dim, rowSeq, rowPos, tokens };
    const fire = (name: string, layer: number, act: Float32Array): void => {
      const fns = hooks.get(name);
      if (!fns) return;
      const ctx: HookContext = { ...ctxBase, name, layer };
      for (const fn of fns) {
        const out = fn(act, ctx);
        if (out === undefined || out === act) continue;
        if (out.length !== act.length) throw new RangeError(`hook at ${name} returned ${out.length} values, expected ${act.length} (rows ${rows} x dModel ${c.dim})`);
        act.set(out);
      }
    };
    if (rows > 0) {
      if (rows <= this.fusedMaxRows) this.blocksFused(x, ri, cache, stopAt, hooks, fire);
      else this.blocksGemm(x, ri, cache, stopAt, hooks, fire);
    }
    if (opts.cache) slots.forEach((s, i) => (opts.cache!.lengths[s] = starts[i]! + seqs[i]!.length));
    const result: ForwardResult = { rows, rowSeq, rowPos, seqStart, residual: x };
    const finalHooked = hooks.has(LN_FINAL_HOOK);
    if (stopAt < c.nLayers || (mode === "none" && !finalHooked)) return result;
    let xf = this.temp("xf", rows * c.dim);
    if (finalHooked) {
      this.lm.rmsnorm(x, rows, c.dim, new Float32Array(c.dim).fill(1), xf, RMS_EPS);
      fire(LN_FINAL_HOOK, c.nLayers, xf);
      for (let i = 0; i < xf.length; i++) xf[i] = this.params.rmsFinal[i % c.dim]! * xf[i]!;
    } else {
      this.lm.rmsnorm(x, rows, c.dim, this.params.rmsFinal, xf, RMS_EPS);
    }
    if (mode === "none") return result;
    let m = rows;
    if (mode === "last") {
      const last = new Float32Array(nSeq * c.dim);
      for (let i = 0; i < nSeq; i++) {
        last.set(xf.subarray((seqStart[i + 1]! - 1) * c.dim, seqStart[i + 1]! * c.dim), i * c.dim);
      }
      xf = last;
      m = nSeq;
    }
    const logits = new Float32Array(m * c.vocabSize);
    if (m <= this.fusedMaxRows) this.lm.classify(this.buffers, xf, m, logits);
    else this.kernels.gemm({ a: xf, b: this.params.classifier, out: logits, m, n: c.vocabSize, k: c.dim, transB: true });
    result.logits = logits;
    return result;
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
    if (Array.isArray(names)) for (const n of names as readonly string[]) parseHookName(n, this.config.nLayers);
    const result = this.forward(seqs, { ...rest, hooks: [...(rest.hooks ?? []), ...specs] });
    return { result, cache };
  }

  /** out [m, n] = a [m, k] @ w^T, w [n, k]: the LM kernel for few rows, Kernels.gemm otherwise. */
  private project(a: Float32Array, m: number, k: number, w: Float32Array, n: number, out: Float32Array): void {
    if (m <= this.fusedMaxRows) this.lm.linear(a, m, k, w, n, out);
    else this.kernels.gemm({ a, b: w, out, m, n, k, transB: true });
  }

  private blocksGemm(x: Float32Array, ri: RowInfo, cache: KvCache, stopAt: number, hooks: ReadonlyMap<string, HookFn[]>, fire: (n: string, l: number, a: Float32Array) => void): void {
    const c = this.config;
    const R = ri.rows;
    const D = c.dim;
    // Per-row intermediates (qkv, h13, ...) are made a chunk of rows at a time so they stay in cache;
    // causal attention allows it, as a row's keys come from its own or earlier rows of its sequence.
    const C = Math.min(R, this.chunkRows);
    const xb = this.temp("xb", C * D);
    const qkv = this.temp("qkv", C * (D + 2 * c.kvDim));
    const h13 = this.temp("h13", C * 2 * c.hiddenDim);
    const hb = this.temp("hb", C * c.hiddenDim);
    const att = this.temp("att", R * D);
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
    for (let l = 0; l < stopAt; l++) {
      const p = this.params.layers[l]!;
      fire(`blocks.${l}.hook_resid_pre`, l, x);
      chunks((r0, n) => {
        const sub: RowInfo = { rows: n, rowSlot: ri.rowSlot.subarray(r0, r0 + n), rowPos: ri.rowPos.subarray(r0, r0 + n) };
        this.lm.rmsnorm(x.subarray(r0 * D, (r0 + n) * D), n, D, p.rmsAtt, xb, RMS_EPS);
        this.project(xb, n, D, p.wqkv, D + 2 * c.kvDim, qkv);
        this.lm.ropeStore(this.buffers, qkv, sub, cache, l);
        this.lm.attention(this.buffers, qkv, sub, cache, l, att.subarray(r0 * D, (r0 + n) * D));
      });
      this.project(att, R, D, p.wo, D, branch);
      addBranch(`blocks.${l}.hook_attn_out`, l);
      fire(`blocks.${l}.hook_resid_mid`, l, x);
      chunks((r0, n) => {
        this.lm.rmsnorm(x.subarray(r0 * D, (r0 + n) * D), n, D, p.rmsFfn, xb, RMS_EPS);
        this.project(xb, n, D, p.w13, 2 * c.hiddenDim, h13);
        this.lm.swiglu(h13, n, c.hiddenDim, hb);
        this.project(hb, n, c.hiddenDim, p.w2, D, branch.subarray(r0 * D, (r0 + n) * D));
      });
      addBranch(`blocks.${l}.hook_mlp_out`, l);
      fire(`blocks.${l}.hook_resid_post`, l, x);
    }
  }

  private blocksFused(x: Float32Array, ri: RowInfo, cache: KvCache, stopAt: number, hooks: ReadonlyMap<string, HookFn[]>, fire: (n: string, l: number, a: Float32Array) => void): void {
    // resid_pre and resid_post fire between layers, so only hooks inside a block split it.
    const inner = (l: number) => hooks.size > 0 && INNER_HOOKS.some((h) => hooks.has(`blocks.${l}.${h}`));
    const between = (l: number) => hooks.has(`blocks.${l}.hook_resid_post`) || hooks.has(`blocks.${l + 1}.hook_resid_pre`);
    const tmp = this.temp("branch", ri.rows * this.config.dim);
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

/** Hook points inside a block (the fused kernels stop there). */
const INNER_HOOKS = BLOCK_HOOKS.filter((h) => h !== "hook_resid_pre" && h !== "hook_resid_post");
