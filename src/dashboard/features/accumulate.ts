/**
 * The one-pass per-latent accumulator behind `saelab features`: for every latent its firing count,
 * activation sum and maximum, a log10 activation histogram, the top-k activating contexts and a
 * seeded reservoir sample of all its firings (sorted afterwards, these are the samples from lower
 * activation quantiles). A context is a window of rows around the firing row within its sequence,
 * with the latent's activation at every row of the window.
 *
 * Every decision depends only on the order of the rows, never on how they were cut into chunks: the
 * top-k keeps the highest activations with ties going to the earlier row (rows arrive in order, so a
 * tie never displaces), and the reservoir slot of a latent's n-th firing is a hash of (seed, latent, n).
 */
import type { SparseRows } from "../../tensor/kernels.js";
import { HIST_BINS, histBin } from "../../io/features-db.js";

/** Rows of data in order, whole sequences only (a window never crosses a chunk). */
export interface FeatureChunk {
  rows: number;
  /** [rows, dModel] */
  acts: Float32Array;
  /** [rows] token ids (LM data), or null (toy-world samples). */
  tokens: Int32Array | null;
  /** [rows] absolute positions (LM data), or null. */
  positions: Int32Array | null;
  /** [rows] sequence index of each row (a toy-world sample is its own sequence). */
  sequences: Int32Array;
  /** [rows, nFeatures] the true features of each toy-world sample, or null. */
  truth: SparseRows | null;
}

/** One stored context of a latent. */
export interface ContextEntry {
  activation: number;
  /** Global index of the firing row in the pass. */
  row: number;
  seq: number;
  pos: number;
  /** Index of the firing row inside `tokens` (-1 for a toy-world sample, whose tokens are its true features). */
  focus: number;
  /** Token ids of the window, or the ids of the true features that fired in a toy-world sample. */
  tokens: number[];
  /** The latent's activation at each token of the window, or each true feature's magnitude. */
  acts: number[];
}

/** Sizes of what is kept per latent. */
export interface AccumulatorOptions {
  dSae: number;
  /** Top-activating contexts kept per latent. */
  topK: number;
  /** Reservoir size per latent. */
  samples: number;
  seed: number;
  /** Rows of context before and after the firing row. */
  before: number;
  after: number;
}

/** Returns a 32-bit hash of three integers (seeded reservoir draws). */
export function hash3(a: number, b: number, c: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be59b, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) ^ Math.imul(c + 0x27d4eb2f, 0x165667b1);
  h = Math.imul(h ^ (h >>> 13), 0x297a2d39);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Per-latent state of the pass (plain arrays, so it can be stored and restored exactly). */
export class LatentAccumulator {
  readonly o: AccumulatorOptions;
  /** Rows seen so far. */
  rowsDone = 0;
  readonly nFires: Float64Array;
  readonly sumAct: Float64Array;
  readonly maxAct: Float32Array;
  /** [dSae, HIST_BINS] */
  readonly hist: Float64Array;
  /** [dSae, topK] a min-heap per latent (root = weakest kept) over (activation, row). */
  readonly topAct: Float32Array;
  readonly topRow: Float64Array;
  readonly topSize: Int32Array;
  readonly topCtx: (ContextEntry | undefined)[];
  /** [dSae, samples] the reservoir. */
  readonly sampleCtx: (ContextEntry | undefined)[];
  /** Latents whose contexts changed since the last `clearDirty`. */
  readonly dirty: Uint8Array;

  constructor(o: AccumulatorOptions) {
    this.o = o;
    const d = o.dSae;
    this.nFires = new Float64Array(d);
    this.sumAct = new Float64Array(d);
    this.maxAct = new Float32Array(d);
    this.hist = new Float64Array(d * HIST_BINS);
    this.topAct = new Float32Array(d * o.topK);
    this.topRow = new Float64Array(d * o.topK);
    this.topSize = new Int32Array(d);
    this.topCtx = new Array<ContextEntry | undefined>(d * o.topK);
    this.sampleCtx = new Array<ContextEntry | undefined>(d * o.samples);
    this.dirty = new Uint8Array(d);
  }

  /** Adds one chunk: `latents` [chunk.rows, dSae] are the SAE's activations on `chunk.acts`. */
  addChunk(chunk: FeatureChunk, latents: SparseRows): void {
    const { topK: K, samples: R, seed } = this.o;
    const { rowPtr, colIdx, values } = latents;
    for (let r = 0; r < chunk.rows; r++) {
      const row = this.rowsDone + r;
      for (let e = rowPtr[r]!; e < rowPtr[r + 1]!; e++) {
        const v = values[e]!;
        if (!(v > 0)) continue;
        const j = colIdx[e]!;
        const n = ++this.nFires[j]!;
        this.sumAct[j]! += v;
        if (v > this.maxAct[j]!) this.maxAct[j] = v;
        this.hist[j * HIST_BINS + histBin(v)]!++;
        if (K > 0 && (this.topSize[j]! < K || v > this.topAct[j * K]!)) {
          this.pushTop(j, v, row, this.context(chunk, latents, r, j, v, row));
        }
        if (R > 0) {
          const slot = n <= R ? n - 1 : hash3(seed, j, n) % n;
          if (slot < R) {
            this.sampleCtx[j * R + slot] = this.context(chunk, latents, r, j, v, row);
            this.dirty[j] = 1;
          }
        }
      }
    }
    this.rowsDone += chunk.rows;
  }

  /** Returns latent j's top contexts, highest activation first. */
  topContexts(j: number): ContextEntry[] {
    const K = this.o.topK;
    const out: ContextEntry[] = [];
    for (let i = 0; i < this.topSize[j]!; i++) out.push(this.topCtx[j * K + i]!);
    return out.sort((a, b) => b.activation - a.activation || a.row - b.row);
  }

  /** Returns latent j's reservoir, in slot order (undefined slots dropped). */
  sampleContexts(j: number): (ContextEntry | undefined)[] {
    const R = this.o.samples;
    return this.sampleCtx.slice(j * R, (j + 1) * R);
  }

  /** Restores latent j's top contexts (any order). */
  restoreTop(j: number, entries: readonly ContextEntry[]): void {
    this.topSize[j] = 0;
    for (const c of entries) this.pushTop(j, c.activation, c.row, c);
  }

  private pushTop(j: number, v: number, row: number, ctx: ContextEntry): void {
    const K = this.o.topK;
    const base = j * K;
    const act = this.topAct;
    const rows = this.topRow;
    const ctxs = this.topCtx;
    // "a is weaker than b": lower activation, or equal activation and a later row.
    const weaker = (a: number, b: number) => act[base + a]! < act[base + b]! || (act[base + a] === act[base + b] && rows[base + a]! > rows[base + b]!);
    const swap = (a: number, b: number) => {
      const t = act[base + a]!;
      act[base + a] = act[base + b]!;
      act[base + b] = t;
      const tr = rows[base + a]!;
      rows[base + a] = rows[base + b]!;
      rows[base + b] = tr;
      const tc = ctxs[base + a];
      ctxs[base + a] = ctxs[base + b];
      ctxs[base + b] = tc;
    };
    let size = this.topSize[j]!;
    if (size < K) {
      let i = size++;
      act[base + i] = v;
      rows[base + i] = row;
      ctxs[base + i] = ctx;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!weaker(i, p)) break;
        swap(i, p);
        i = p;
      }
      this.topSize[j] = size;
    } else {
      act[base] = v;
      rows[base] = row;
      ctxs[base] = ctx;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < size && weaker(l, m)) m = l;
        if (r < size && weaker(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    this.dirty[j] = 1;
  }

  private context(chunk: FeatureChunk, latents: SparseRows, r: number, j: number, v: number, row: number): ContextEntry {
    const seq = chunk.sequences[r]!;
    if (!chunk.tokens) {
      const t = chunk.truth;
      const tokens: number[] = [];
      const acts: number[] = [];
      if (t) {
        for (let e = t.rowPtr[r]!; e < t.rowPtr[r + 1]!; e++) {
          tokens.push(t.colIdx[e]!);
          acts.push(t.values[e]!);
        }
      }
      return { activation: v, row, seq, pos: 0, focus: -1, tokens, acts };
    }
    let lo = r;
    while (lo > 0 && r - lo < this.o.before && chunk.sequences[lo - 1] === seq) lo--;
    let hi = r;
    while (hi + 1 < chunk.rows && hi - r < this.o.after && chunk.sequences[hi + 1] === seq) hi++;
    const tokens: number[] = [];
    const acts: number[] = [];
    for (let i = lo; i <= hi; i++) {
      tokens.push(chunk.tokens[i]!);
      acts.push(i === r ? v : valueAt(latents, i, j));
    }
    return { activation: v, row, seq, pos: chunk.positions ? chunk.positions[r]! : r, focus: r - lo, tokens, acts };
  }
}

/** Returns entry (row, col) of a CSR matrix whose columns ascend within each row (0 when absent). */
export function valueAt(m: SparseRows, row: number, col: number): number {
  let lo = m.rowPtr[row]!;
  let hi = m.rowPtr[row + 1]! - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = m.colIdx[mid]!;
    if (c === col) return m.values[mid]!;
    if (c < col) lo = mid + 1;
    else hi = mid - 1;
  }
  return 0;
}
