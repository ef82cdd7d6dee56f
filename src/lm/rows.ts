/**
 * The rows of a forward pass: several token sequences of any lengths packed into one list of rows
 * (tokens), each with its sequence, cache slot and absolute position, after checking the sequences
 * against the model's vocabulary and context length and the KV cache they continue.
 */
import { UserError } from "../errors.js";
import type { KvCache, RowInfo } from "./kernels.js";

/** The packed rows of a pass. */
export interface PackedRows extends RowInfo {
  /** [rows] input sequence of each row. */
  rowSeq: Int32Array;
  /** [rows] token id of each row. */
  tokens: Int32Array;
  /** [sequences + 1] first row of each sequence. */
  seqStart: Int32Array;
  /** [sequences] position of each sequence's first row (its slot's length in the cache, else 0). */
  starts: number[];
  /** The largest end position of any sequence. */
  maxEnd: number;
}

/** What packing needs to know about the model. */
export interface RowLimits {
  vocabSize: number;
  contextLength: number;
}

/** Returns the rows of `seqs` continuing `cache` slots `slots` (without a cache, from position 0), or throws naming the bad sequence. */
export function packRows(seqs: readonly ArrayLike<number>[], slots: readonly number[], cache: KvCache | undefined, m: RowLimits): PackedRows {
  const nSeq = seqs.length;
  if (slots.length !== nSeq) throw new RangeError(`got ${nSeq} sequences but ${slots.length} slots`);
  if (new Set(slots).size !== slots.length) throw new RangeError("each sequence needs its own cache slot");
  let maxEnd = 0;
  let rows = 0;
  const starts = slots.map((s, i) => {
    const start = cache ? (cache.lengths[s] ?? NaN) : 0;
    if (cache && !(s >= 0 && s < cache.slots)) throw new RangeError(`slot ${s} is outside the cache's ${cache.slots} slots`);
    const end = start + seqs[i]!.length;
    if (end > m.contextLength) throw new UserError(`sequence ${i} would reach ${end} tokens, more than the model's context length ${m.contextLength}`);
    if (cache && end > cache.cap) throw new RangeError(`sequence ${i} would reach ${end} tokens, more than the cache capacity ${cache.cap}`);
    maxEnd = Math.max(maxEnd, end);
    rows += seqs[i]!.length;
    return start;
  });
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
      if (!Number.isInteger(tok) || tok < 0 || tok >= m.vocabSize) throw new RangeError(`sequence ${i}, token ${t}: id ${tok} is outside the vocabulary 0..${m.vocabSize - 1}`);
      rowSeq[r] = i;
      rowPos[r] = starts[i]! + t;
      rowSlot[r] = slots[i]!;
      tokens[r] = tok;
    }
  }
  seqStart[nSeq] = rows;
  return { rows, rowSlot, rowPos, rowSeq, tokens, seqStart, starts, maxEnd };
}
