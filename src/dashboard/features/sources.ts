/**
 * Where `saelab features` reads its rows: activation shards (`saelab activations`), a model run over a
 * corpus, or a toy world's samples. Each source yields chunks of whole sequences in a fixed order and
 * can start again at any chunk boundary it produced earlier (`fromRow`), which is how a computation
 * resumes.
 */
import type { ActivationsDataset } from "../../io/activations.js";
import { extractActivations } from "../../lm/activations.js";
import type { HookedModel } from "../../lm/model.js";
import { BOS } from "../../lm/tokenizer.js";
import type { World } from "../../toy/types.js";
import type { FeatureChunk } from "./accumulate.js";

/** A stream of rows in a fixed order, cut into chunks of whole sequences. */
export interface FeatureSource {
  kind: "lm" | "world";
  dModel: number;
  /** Rows the pass reads (already capped by --tokens). */
  totalRows: number;
  /** What the source is, for the database's meta table and the resume check. */
  describe: Record<string, unknown>;
  /** Yields chunks starting at `fromRow`, which must be 0 or a chunk boundary of an earlier run. */
  chunks(fromRow: number): Iterable<FeatureChunk>;
}

/** Caps a chunk stream at `limit` rows in total (rows counted from 0). */
function* capped(chunks: Iterable<FeatureChunk>, fromRow: number, limit: number): Generator<FeatureChunk> {
  let at = fromRow;
  for (const c of chunks) {
    if (at >= limit) return;
    const take = Math.min(c.rows, limit - at);
    yield take === c.rows ? c : sliceChunk(c, 0, take);
    at += take;
  }
}

/** Returns rows [a, b) of a chunk. */
function sliceChunk(c: FeatureChunk, a: number, b: number): FeatureChunk {
  const D = c.acts.length / Math.max(1, c.rows);
  return {
    rows: b - a,
    acts: c.acts.subarray(a * D, b * D),
    tokens: c.tokens ? c.tokens.subarray(a, b) : null,
    positions: c.positions ? c.positions.subarray(a, b) : null,
    sequences: c.sequences.subarray(a, b),
    truth: c.truth,
  };
}

/** Returns activation shards as a source; chunks end at the last sequence start of each shard read. */
export function activationsSource(ds: ActivationsDataset, maxRows: number): FeatureSource {
  const totalRows = Math.min(maxRows, ds.totalTokens);
  const D = ds.dModel;
  const starts: number[] = [];
  let acc = 0;
  for (const s of ds.manifest.shards) {
    starts.push(acc);
    acc += s.tokens;
  }
  function* all(fromRow: number): Generator<FeatureChunk> {
    let shard = 0;
    while (shard + 1 < starts.length && starts[shard + 1]! <= fromRow) shard++;
    let carry: { acts: Float32Array; tokens: Int32Array; positions: Int32Array; sequences: Int32Array } | null = null;
    for (let s = shard; s < starts.length; s++) {
      const sh = ds.readShard(s);
      const skip = Math.max(0, fromRow - starts[s]!);
      let part = { acts: sh.activations.subarray(skip * D), tokens: sh.tokens.subarray(skip), positions: sh.positions.subarray(skip), sequences: sh.sequences.subarray(skip) };
      if (carry) part = concatRows(carry, part);
      const n = part.tokens.length;
      const last = s + 1 === starts.length;
      // Hold back the trailing sequence: it may continue in the next shard.
      let cut = n;
      if (!last && n > 0) {
        const lastSeq = part.sequences[n - 1]!;
        while (cut > 0 && part.sequences[cut - 1] === lastSeq) cut--;
      }
      if (cut > 0) yield { rows: cut, acts: part.acts.subarray(0, cut * D), tokens: part.tokens.subarray(0, cut), positions: part.positions.subarray(0, cut), sequences: part.sequences.subarray(0, cut), truth: null };
      carry = cut < n ? { acts: part.acts.slice(cut * D), tokens: part.tokens.slice(cut), positions: part.positions.slice(cut), sequences: part.sequences.slice(cut) } : null;
    }
  }
  return {
    kind: "lm",
    dModel: D,
    totalRows,
    describe: { type: "activations", dir: ds.dir, hook: ds.manifest.hook, totalTokens: ds.totalTokens, source: ds.manifest.source },
    chunks: (fromRow) => capped(all(fromRow), fromRow, totalRows),
  };
}

function concatRows(
  a: { acts: Float32Array; tokens: Int32Array; positions: Int32Array; sequences: Int32Array },
  b: { acts: Float32Array; tokens: Int32Array; positions: Int32Array; sequences: Int32Array },
) {
  const cat = <T extends Float32Array | Int32Array>(x: T, y: T, make: (n: number) => T): T => {
    const out = make(x.length + y.length);
    out.set(x, 0);
    out.set(y, x.length);
    return out;
  };
  return {
    acts: cat(a.acts, b.acts, (n) => new Float32Array(n)),
    tokens: cat(a.tokens, b.tokens, (n) => new Int32Array(n)),
    positions: cat(a.positions, b.positions, (n) => new Int32Array(n)),
    sequences: cat(a.sequences, b.sequences, (n) => new Int32Array(n)),
  };
}

/** Returns a model's activations at `hook` over token windows as a source (BOS rows dropped, as `saelab activations` does). */
export function modelSource(model: HookedModel, seqs: readonly Int32Array[], hook: string, maxRows: number, describe: Record<string, unknown>): FeatureSource {
  const rowsOf = seqs.map((s) => s.reduce((n, t) => n + (t === BOS ? 0 : 1), 0));
  const available = rowsOf.reduce((a, b) => a + b, 0);
  const totalRows = Math.min(maxRows, available);
  const batch = 32;
  function* all(fromRow: number): Generator<FeatureChunk> {
    // Chunks are groups of `batch` sequences, so a chunk boundary is a sequence-group boundary.
    let s0 = 0;
    let at = 0;
    while (s0 < seqs.length && at < fromRow) {
      for (let i = s0; i < Math.min(seqs.length, s0 + batch); i++) at += rowsOf[i]!;
      s0 += batch;
    }
    if (at !== fromRow) throw new Error(`cannot resume at row ${fromRow}: not a chunk boundary`);
    const base = s0;
    for (const rows of extractActivations(model, seqs.slice(base), { hook, batchSequences: batch })) {
      // extractActivations numbers sequences from the start of the slice it was given.
      const seq = rows.sequences.map((q) => q + base);
      yield { rows: rows.tokens.length, acts: rows.activations, tokens: rows.tokens, positions: rows.positions, sequences: seq, truth: null };
    }
  }
  return { kind: "lm", dModel: model.spec.dModel, totalRows, describe: { type: "model", hook, ...describe }, chunks: (fromRow) => capped(all(fromRow), fromRow, totalRows) };
}

/** Rows per toy-world chunk (the sampler's batch size, as saelab detect draws them). */
export const WORLD_CHUNK = 4096;

/** Returns `rows` samples of `world.sampler(seed)` as a source (each sample its own sequence, with its true features). */
export function worldSource(world: World, seed: number, rows: number, describe: Record<string, unknown>): FeatureSource {
  function* all(fromRow: number): Generator<FeatureChunk> {
    const sampler = world.sampler(seed);
    for (let at = 0; at < rows; at += WORLD_CHUNK) {
      const n = Math.min(WORLD_CHUNK, rows - at);
      const b = sampler.next(n);
      if (at < fromRow) continue;
      yield { rows: n, acts: b.acts, tokens: null, positions: null, sequences: Int32Array.from({ length: n }, (_, i) => at + i), truth: b.features };
    }
  }
  return { kind: "world", dModel: world.dModel, totalRows: rows, describe: { type: "world", seed, rows, ...describe }, chunks: all };
}
