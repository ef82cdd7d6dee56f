/**
 * The sentencepiece-style BPE tokenizer of llama2.c, with the same results as its run.c: text is
 * prefixed with a dummy space, split into UTF-8 codepoints (up to 4 bytes, as run.c reads them),
 * each looked up as a piece or else spelled as byte tokens 3..258, then the adjacent pair whose
 * merged piece has the highest score is merged, leftmost first on ties, until no pair merges.
 * The merge loop uses a heap instead of run.c's quadratic rescans; the order of merges, and so the
 * tokens, is the same (the test checks it against a transcription of run.c's loop).
 */
import type { Llama2cVocab } from "../io/llama2c.js";

export const BOS = 1;
export const EOS = 2;
const BYTE_TOKEN_OFFSET = 3;

/** Options for `encode`. */
export interface EncodeOptions {
  /** Prepend BOS (token 1). Default true. */
  bos?: boolean;
  /** Append EOS (token 2). Default false. */
  eos?: boolean;
}

/** A llama2.c tokenizer: encode text to token ids and decode ids back to text. */
export class Tokenizer {
  readonly vocabSize: number;
  private readonly pieces: readonly Uint8Array[];
  private readonly scores: Float32Array;
  /** Piece bytes (as a latin1 string) to the first token id with that piece. */
  private readonly lookup = new Map<string, number>();
  /** Byte value of each token of the form <0xXX>, or -1. */
  private readonly byteValue: Int16Array;

  constructor(vocab: Llama2cVocab) {
    this.pieces = vocab.pieces;
    this.scores = vocab.scores;
    this.vocabSize = vocab.pieces.length;
    this.byteValue = new Int16Array(this.vocabSize).fill(-1);
    for (let i = 0; i < this.vocabSize; i++) {
      const key = latin1(vocab.pieces[i]!);
      if (!this.lookup.has(key)) this.lookup.set(key, i);
      const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(key);
      if (m) this.byteValue[i] = parseInt(m[1]!, 16);
    }
  }

  /** Returns the bytes of token `id`. */
  piece(id: number): Uint8Array {
    const p = this.pieces[id];
    if (!p) throw new RangeError(`token id ${id} is outside the vocabulary (0..${this.vocabSize - 1})`);
    return p;
  }

  /** Returns the token ids of `text`, as llama2.c's encode() produces them. */
  encode(text: string, opts: EncodeOptions = {}): Int32Array {
    const bytes = new TextEncoder().encode(text);
    const out: number[] = [];
    if (opts.bos ?? true) out.push(BOS);
    const start = out.length;
    if (bytes.length > 0) {
      const space = this.lookup.get(" ");
      if (space === undefined) throw new Error("tokenizer has no \" \" piece for the dummy prefix");
      out.push(space);
    }
    let len = 0;
    const buf = new Uint8Array(4);
    for (let i = 0; i < bytes.length; i++) {
      const c = bytes[i]!;
      if ((c & 0xc0) !== 0x80) len = 0;
      buf[len++] = c;
      const next = i + 1 < bytes.length ? bytes[i + 1]! : 0;
      if ((next & 0xc0) === 0x80 && len < 4) continue;
      const id = this.lookup.get(latin1(buf.subarray(0, len)));
      if (id !== undefined) out.push(id);
      else for (let j = 0; j < len; j++) out.push(buf[j]! + BYTE_TOKEN_OFFSET);
      len = 0;
    }
    const merged = this.merge(out.slice(start));
    const result = out.slice(0, start).concat(merged);
    if (opts.eos) result.push(EOS);
    return Int32Array.from(result);
  }

  /** Returns the bytes token `id` prints as after token `prev` (llama2.c's decode: no leading space after BOS, <0xXX> is a byte). */
  decodePiece(prev: number, id: number): Uint8Array {
    const b = this.byteValue[id] ?? -1;
    if (b >= 0) return Uint8Array.of(b);
    const p = this.piece(id);
    return prev === BOS && p[0] === 0x20 ? p.subarray(1) : p;
  }

  /** Returns the text of a token sequence (bytes joined, then read as UTF-8). */
  decode(tokens: ArrayLike<number>, prev = -1): string {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < tokens.length; i++) {
      const id = tokens[i]!;
      const p = this.decodePiece(i === 0 ? prev : tokens[i - 1]!, id);
      parts.push(p);
      total += p.length;
    }
    const all = new Uint8Array(total);
    let off = 0;
    for (const p of parts) {
      all.set(p, off);
      off += p.length;
    }
    return new TextDecoder().decode(all);
  }

  /** Merges adjacent pairs by score; ties go to the leftmost pair, exactly as run.c's rescanning loop. */
  private merge(tokens: number[]): number[] {
    const n = tokens.length;
    if (n < 2) return tokens;
    const id = Int32Array.from(tokens);
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    const alive = new Uint8Array(n).fill(1);
    /** Version of each node; a heap entry is stale once its left or right node changed. */
    const version = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const heap = new PairHeap();
    const consider = (i: number): void => {
      const j = next[i]!;
      if (i < 0 || j < 0) return;
      const m = this.lookup.get(latin1Concat(this.pieces[id[i]!]!, this.pieces[id[j]!]!));
      // run.c starts its search at best_score = -1e10 with a strict >, so such pairs never merge.
      if (m === undefined || !(this.scores[m]! > -1e10)) return;
      heap.push({ score: this.scores[m]!, left: i, right: j, merged: m, vl: version[i]!, vr: version[j]! });
    };
    for (let i = 0; i + 1 < n; i++) consider(i);
    for (;;) {
      const e = heap.pop();
      if (!e) break;
      const { left: i, right: j } = e;
      if (!alive[i] || !alive[j] || next[i] !== j || version[i] !== e.vl || version[j] !== e.vr) continue;
      id[i] = e.merged;
      version[i]!++;
      alive[j] = 0;
      const k = next[j]!;
      next[i] = k;
      if (k >= 0) prev[k] = i;
      if (prev[i]! >= 0) consider(prev[i]!);
      consider(i);
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]!) out.push(id[i]!);
    return out;
  }
}

interface PairEntry {
  score: number;
  left: number;
  right: number;
  merged: number;
  vl: number;
  vr: number;
}

/** Max-heap on score, then on the smaller left position (node order is sequence order, so this is "leftmost"). */
class PairHeap {
  private readonly a: PairEntry[] = [];
  private better(x: PairEntry, y: PairEntry): boolean {
    return x.score > y.score || (x.score === y.score && x.left < y.left);
  }
  push(e: PairEntry): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): PairEntry | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let b = i;
        if (l < a.length && this.better(a[l]!, a[b]!)) b = l;
        if (r < a.length && this.better(a[r]!, a[b]!)) b = r;
        if (b === i) break;
        [a[i], a[b]] = [a[b]!, a[i]!];
        i = b;
      }
    }
    return top;
  }
}

function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]!);
  return s;
}

function latin1Concat(a: Uint8Array, b: Uint8Array): string {
  return latin1(a) + latin1(b);
}
