/**
 * Activation shards: a directory with `manifest.json` and `shard-00000.safetensors`, ... Each shard
 * holds `activations` F32 [tokens, dModel] and, row for row, `tokens`, `positions` and `sequences`
 * (I32 [tokens]: token id, absolute position, and index of the source sequence). The manifest is
 * written last, so a directory without one is an interrupted extraction.
 *
 * The reader yields [batch, dModel] Float32Array batches in file order, or shuffled with a seed: the
 * shard order is permuted and rows are permuted within a window of a few shards, which mixes
 * sequences without holding the whole set in memory. Same seed, same batches.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { Rng } from "../tensor/rng.js";
import { writeFileAtomic } from "./atomic.js";
import { getFloat32, readSafetensors, toInt32, writeSafetensors } from "./safetensors.js";

export const ACTIVATIONS_FORMAT = "saelab-activations";

const ShardEntrySchema = z.object({
  file: z.string().regex(/^[\w.-]+$/, "must be a plain file name inside the directory"),
  tokens: z.number().int().nonnegative(),
}).strict();

/** The manifest of an activations directory. */
export const ActivationsManifestSchema = z.object({
  format: z.literal(ACTIVATIONS_FORMAT).describe("Always \"saelab-activations\"."),
  version: z.literal(1).describe("Format version."),
  hook: z.string().min(1).describe("Hook point the activations were read at, e.g. blocks.2.hook_resid_post."),
  dModel: z.number().int().positive().describe("Width of each activation row."),
  dtype: z.literal("float32").describe("Element type of the activations."),
  totalTokens: z.number().int().nonnegative().describe("Rows over all shards."),
  shards: z.array(ShardEntrySchema).describe("Shard files in order, with their row counts."),
  source: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}).describe("Provenance: model, tokenizer, corpus, settings."),
}).strict().superRefine((m, ctx) => {
  const sum = m.shards.reduce((a, s) => a + s.tokens, 0);
  if (sum !== m.totalTokens) ctx.addIssue({ code: "custom", path: ["totalTokens"], message: `is ${m.totalTokens} but the shards hold ${sum} rows` });
});
export type ActivationsManifest = z.infer<typeof ActivationsManifestSchema>;

/** One shard's contents. */
export interface ActivationShard {
  /** [tokens, dModel] */
  activations: Float32Array;
  /** [tokens] */
  tokens: Int32Array;
  /** [tokens] */
  positions: Int32Array;
  /** [tokens] */
  sequences: Int32Array;
}

/** Writes rows into shards of `shardTokens` rows; call finish() to write the last shard and the manifest. */
export class ActivationShardWriter {
  private readonly pending: ActivationShard[] = [];
  private pendingRows = 0;
  private readonly shards: { file: string; tokens: number }[] = [];
  private total = 0;
  private finished = false;

  constructor(
    readonly dir: string,
    readonly hook: string,
    readonly dModel: number,
    readonly shardTokens = 65536,
  ) {
    if (!Number.isInteger(shardTokens) || shardTokens < 1) throw new UserError(`shard size must be a positive integer, got ${shardTokens}`);
    if (existsSync(join(dir, "manifest.json"))) throw new UserError(`${dir} already holds an activations manifest; choose a new --out directory`);
  }

  /** Adds rows (activations [n, dModel] with their token ids, positions and sequence indices). */
  append(rows: ActivationShard): void {
    if (this.finished) throw new Error("ActivationShardWriter: append after finish");
    const n = rows.tokens.length;
    if (rows.activations.length !== n * this.dModel || rows.positions.length !== n || rows.sequences.length !== n) {
      throw new Error(`ActivationShardWriter: ${n} tokens need ${n * this.dModel} activations and ${n} positions/sequences`);
    }
    for (let i = 0; i < rows.activations.length; i++) {
      if (!Number.isFinite(rows.activations[i]!)) throw new UserError(`activation ${i % this.dModel} of row ${Math.floor(i / this.dModel)} is ${rows.activations[i]}; refusing to write non-finite activations`);
    }
    this.pending.push(rows);
    this.pendingRows += n;
    while (this.pendingRows >= this.shardTokens) this.flush(this.shardTokens);
  }

  /** Writes the remaining rows and the manifest; returns the manifest. */
  finish(source: Record<string, string | number | boolean> = {}): ActivationsManifest {
    if (this.pendingRows > 0) this.flush(this.pendingRows);
    this.finished = true;
    const manifest: ActivationsManifest = {
      format: ACTIVATIONS_FORMAT, version: 1, hook: this.hook, dModel: this.dModel, dtype: "float32",
      totalTokens: this.total, shards: this.shards, source,
    };
    writeFileAtomic(join(this.dir, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    return manifest;
  }

  private flush(n: number): void {
    const D = this.dModel;
    const out: ActivationShard = { activations: new Float32Array(n * D), tokens: new Int32Array(n), positions: new Int32Array(n), sequences: new Int32Array(n) };
    let filled = 0;
    while (filled < n) {
      const head = this.pending[0]!;
      const take = Math.min(n - filled, head.tokens.length);
      out.activations.set(head.activations.subarray(0, take * D), filled * D);
      out.tokens.set(head.tokens.subarray(0, take), filled);
      out.positions.set(head.positions.subarray(0, take), filled);
      out.sequences.set(head.sequences.subarray(0, take), filled);
      filled += take;
      if (take === head.tokens.length) this.pending.shift();
      else this.pending[0] = { activations: head.activations.subarray(take * D), tokens: head.tokens.subarray(take), positions: head.positions.subarray(take), sequences: head.sequences.subarray(take) };
    }
    this.pendingRows -= n;
    const file = `shard-${String(this.shards.length).padStart(5, "0")}.safetensors`;
    writeSafetensors(join(this.dir, file), {
      activations: { data: out.activations, shape: [n, D] },
      tokens: { data: out.tokens, shape: [n] },
      positions: { data: out.positions, shape: [n] },
      sequences: { data: out.sequences, shape: [n] },
    }, { format: ACTIVATIONS_FORMAT, hook: this.hook });
    this.shards.push({ file, tokens: n });
    this.total += n;
  }
}

/** Options of ActivationsDataset.batches. */
export interface BatchOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Permute shards and rows (within a window of `bufferShards` shards). Default false. */
  shuffle?: boolean;
  /** Seed of the permutation. Default 0. */
  seed?: number;
  /** Passes over the data (each shuffled differently). Default 1. */
  epochs?: number;
  /** Drop a final batch smaller than batchSize. Default false. */
  dropLast?: boolean;
  /** Shards mixed together when shuffling. Default 4. */
  bufferShards?: number;
}

/** An activations directory opened for reading. */
export interface ActivationsDataset {
  readonly dir: string;
  readonly manifest: ActivationsManifest;
  readonly dModel: number;
  readonly totalTokens: number;
  /** Returns shard i, checked against the manifest. */
  readShard(i: number): ActivationShard;
  /** Yields [batch, dModel] batches (each a fresh array), deterministically for a given seed. */
  batches(opts: BatchOptions): Iterable<Float32Array>;
}

/** Opens an activations directory, validating its manifest. */
export function openActivations(dir: string): ActivationsDataset {
  const mpath = join(dir, "manifest.json");
  if (!existsSync(mpath)) throw new UserError(`${dir}: no manifest.json; not an activations directory, or its extraction did not finish`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(mpath, "utf8"));
  } catch (e) {
    throw new UserError(`${mpath}: not valid JSON (${(e as Error).message})`);
  }
  const manifest = parseConfig(ActivationsManifestSchema, raw, mpath);
  const D = manifest.dModel;
  const readShard = (i: number): ActivationShard => {
    const entry = manifest.shards[i];
    if (!entry) throw new RangeError(`shard ${i} does not exist (${manifest.shards.length} shards)`);
    const path = join(dir, entry.file);
    const f = readSafetensors(path);
    const n = entry.tokens;
    const activations = getFloat32(f, "activations", [n, D], path);
    for (let j = 0; j < activations.length; j++) {
      if (!Number.isFinite(activations[j]!)) throw new UserError(`${path}: activation row ${Math.floor(j / D)} holds ${activations[j]}`);
    }
    const ints = (name: string): Int32Array => {
      const t = f.tensors.get(name);
      if (!t || t.shape.length !== 1 || t.shape[0] !== n) throw new UserError(`${path}: tensor "${name}" must have shape [${n}]`);
      return toInt32(t, name);
    };
    return { activations, tokens: ints("tokens"), positions: ints("positions"), sequences: ints("sequences") };
  };
  return {
    dir,
    manifest,
    dModel: D,
    totalTokens: manifest.totalTokens,
    readShard,
    batches: (opts) => batchIterator(manifest, readShard, opts),
  };
}

function* batchIterator(manifest: ActivationsManifest, readShard: (i: number) => ActivationShard, opts: BatchOptions): Generator<Float32Array> {
  const D = manifest.dModel;
  const B = opts.batchSize;
  if (!Number.isInteger(B) || B < 1) throw new RangeError(`batchSize must be a positive integer, got ${B}`);
  const epochs = opts.epochs ?? 1;
  const window = opts.shuffle ? Math.max(1, opts.bufferShards ?? 4) : 1;
  let carry: Float32Array = new Float32Array(0);
  for (let e = 0; e < epochs; e++) {
    const rng = new Rng(opts.seed ?? 0).fork(`epoch ${e}`);
    const order = manifest.shards.map((_, i) => i);
    if (opts.shuffle) rng.shuffle(order);
    for (let w = 0; w < order.length; w += window) {
      const parts = order.slice(w, w + window).map((i) => readShard(i).activations);
      const rows = parts.reduce((a, p) => a + p.length / D, 0);
      let pool: Float32Array = new Float32Array(carry.length + rows * D);
      pool.set(carry, 0);
      let off = carry.length;
      for (const p of parts) {
        pool.set(p, off);
        off += p.length;
      }
      if (opts.shuffle) pool = permuteRows(pool, D, rng);
      const nRows = pool.length / D;
      const full = Math.floor(nRows / B);
      for (let b = 0; b < full; b++) yield pool.slice(b * B * D, (b + 1) * B * D);
      carry = pool.slice(full * B * D);
    }
  }
  if (carry.length > 0 && !opts.dropLast) yield carry;
}

function permuteRows(pool: Float32Array, D: number, rng: Rng): Float32Array {
  const n = pool.length / D;
  const perm = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const out = new Float32Array(pool.length);
  for (let i = 0; i < n; i++) out.set(pool.subarray(perm[i]! * D, (perm[i]! + 1) * D), i * D);
  return out;
}
