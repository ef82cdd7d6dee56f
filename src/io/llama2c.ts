/**
 * llama2.c file formats. Checkpoints use the "legacy" layout of llama2.c's run.c: seven little-endian
 * int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len; a negative vocab_size
 * means the classifier is stored separately), then float32 arrays token_embedding, rms_att, wq, wk,
 * wv, wo, rms_ffn, w1, w2, w3, rms_final, two unused RoPE tables, and the classifier if unshared.
 * Tokenizers (`tok512.bin` style): int32 max_token_length, then per token float32 score, int32 byte
 * length and the bytes. Parsing checks every size against the header, so a truncated, padded or
 * differently laid out file is an error naming the problem.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic.js";
import { UserError } from "../errors.js";

/** The seven header fields, with the sign of vocab_size turned into `sharedClassifier`. */
export interface Llama2cConfig {
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  /** True when vocab_size was positive: the classifier is the token embedding. */
  sharedClassifier: boolean;
}

/** The weights as stored, each a fresh float32 array (layers stacked along the first axis). */
export interface Llama2cWeights {
  /** [vocab, dim] */
  tokenEmbedding: Float32Array;
  /** [layers, dim] */
  rmsAtt: Float32Array;
  /** [layers, dim, dim] (out, in) */
  wq: Float32Array;
  /** [layers, kvDim, dim] */
  wk: Float32Array;
  /** [layers, kvDim, dim] */
  wv: Float32Array;
  /** [layers, dim, dim] */
  wo: Float32Array;
  /** [layers, dim] */
  rmsFfn: Float32Array;
  /** [layers, hidden, dim] */
  w1: Float32Array;
  /** [layers, dim, hidden] */
  w2: Float32Array;
  /** [layers, hidden, dim] */
  w3: Float32Array;
  /** [dim] */
  rmsFinal: Float32Array;
  /** [vocab, dim], only when the classifier is not shared. */
  wcls?: Float32Array;
}

/** A parsed checkpoint. */
export interface Llama2cCheckpoint {
  config: Llama2cConfig;
  weights: Llama2cWeights;
}

/** A parsed tokenizer: each token's bytes and merge score. */
export interface Llama2cVocab {
  maxTokenLength: number;
  pieces: Uint8Array[];
  scores: Float32Array;
}

const HEADER_BYTES = 28;
const MAGIC_AK42 = 0x616b3432;
const MAX_DIM = 1 << 16;
const BYTE_TOKENS_END = 259;

/** Returns [name, element count] for each stored array, in file order (the RoPE tables included). */
export function checkpointArrays(c: Llama2cConfig): [keyof Llama2cWeights | "ropeReal" | "ropeImag", number][] {
  const headSize = c.dim / c.nHeads;
  const kvDim = c.nKvHeads * headSize;
  const L = c.nLayers;
  const out: [keyof Llama2cWeights | "ropeReal" | "ropeImag", number][] = [
    ["tokenEmbedding", c.vocabSize * c.dim],
    ["rmsAtt", L * c.dim],
    ["wq", L * c.dim * c.dim],
    ["wk", L * kvDim * c.dim],
    ["wv", L * kvDim * c.dim],
    ["wo", L * c.dim * c.dim],
    ["rmsFfn", L * c.dim],
    ["w1", L * c.hiddenDim * c.dim],
    ["w2", L * c.dim * c.hiddenDim],
    ["w3", L * c.hiddenDim * c.dim],
    ["rmsFinal", c.dim],
    ["ropeReal", (c.seqLen * headSize) / 2],
    ["ropeImag", (c.seqLen * headSize) / 2],
  ];
  if (!c.sharedClassifier) out.push(["wcls", c.vocabSize * c.dim]);
  return out;
}

/** Returns the exact byte size of a legacy checkpoint with this config. */
export function checkpointBytes(c: Llama2cConfig): number {
  return HEADER_BYTES + 4 * checkpointArrays(c).reduce((a, [, n]) => a + n, 0);
}

/** Validates the header fields' mutual consistency, returning an error message or undefined. */
export function configProblem(c: Llama2cConfig): string | undefined {
  const fields: [string, number][] = [
    ["dim", c.dim], ["hidden_dim", c.hiddenDim], ["n_layers", c.nLayers], ["n_heads", c.nHeads],
    ["n_kv_heads", c.nKvHeads], ["vocab_size", c.vocabSize], ["seq_len", c.seqLen],
  ];
  for (const [name, v] of fields) {
    if (!Number.isInteger(v) || v <= 0) return `${name} = ${v} must be a positive integer`;
    if (v > MAX_DIM * 64) return `${name} = ${v} is implausibly large`;
  }
  if (c.dim % c.nHeads !== 0) return `dim = ${c.dim} is not divisible by n_heads = ${c.nHeads}`;
  if ((c.dim / c.nHeads) % 2 !== 0) return `head size dim / n_heads = ${c.dim / c.nHeads} must be even for rotary embeddings`;
  if (c.nKvHeads > c.nHeads || c.nHeads % c.nKvHeads !== 0) return `n_heads = ${c.nHeads} is not a multiple of n_kv_heads = ${c.nKvHeads}`;
  return undefined;
}

/** Parses a legacy llama2.c checkpoint, checking the header and the exact file size. */
export function parseLlama2cCheckpoint(buf: Uint8Array, source = "<buffer>"): Llama2cCheckpoint {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: not a valid llama2.c checkpoint: ${msg}`);
  };
  if (buf.byteLength < HEADER_BYTES) fail(`only ${buf.byteLength} bytes, shorter than the 28-byte header (truncated?)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const h = Array.from({ length: 7 }, (_, i) => dv.getInt32(i * 4, true));
  if (dv.getUint32(0, true) === MAGIC_AK42) {
    fail(`it starts with the magic "ak42" of llama2.c's versioned export (version ${dv.getInt32(4, true)}); only the legacy layout (export with --version 0 / legacy_export) is supported`);
  }
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = h as [number, number, number, number, number, number, number];
  const config: Llama2cConfig = { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabRaw), seqLen, sharedClassifier: vocabRaw > 0 };
  const problem = configProblem(config);
  if (problem) fail(`bad header (${h.join(", ")}): ${problem}${looksLikeTokenizer(buf) ? "; the file reads as a llama2.c tokenizer: were the model and tokenizer paths swapped?" : ""}`);
  const want = checkpointBytes(config);
  if (buf.byteLength < want) fail(`the header (dim ${dim}, hidden ${hiddenDim}, ${nLayers} layers, ${nHeads}/${nKvHeads} heads, vocab ${vocabRaw}, seq_len ${seqLen}) needs ${want} bytes but the file has ${buf.byteLength} (truncated?)`);
  if (buf.byteLength > want) fail(`the header (dim ${dim}, hidden ${hiddenDim}, ${nLayers} layers, ${nHeads}/${nKvHeads} heads, vocab ${vocabRaw}, seq_len ${seqLen}) needs ${want} bytes but the file has ${buf.byteLength - want} more; it has another layout (a separate classifier with a positive vocab_size?)`);
  const weights: Partial<Llama2cWeights> = {};
  let off = HEADER_BYTES;
  for (const [name, count] of checkpointArrays(config)) {
    if (name !== "ropeReal" && name !== "ropeImag") {
      const arr = readF32(buf, off, count);
      const bad = firstNonFinite(arr);
      if (bad >= 0) fail(`${name}[${bad}] is ${arr[bad]}; the weights must be finite`);
      weights[name] = arr;
    }
    off += count * 4;
  }
  return { config, weights: weights as Llama2cWeights };
}

/** Serialises a checkpoint in the legacy layout (RoPE tables filled as llama2.c's export does). */
export function serializeLlama2cCheckpoint(ckpt: Llama2cCheckpoint): Uint8Array[] {
  const c = ckpt.config;
  const problem = configProblem(c);
  if (problem) throw new UserError(`cannot write llama2.c checkpoint: ${problem}`);
  const header = new Uint8Array(HEADER_BYTES);
  const dv = new DataView(header.buffer);
  [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, c.sharedClassifier ? c.vocabSize : -c.vocabSize, c.seqLen].forEach((v, i) => dv.setInt32(i * 4, v, true));
  const parts: Uint8Array[] = [header];
  const headSize = c.dim / c.nHeads;
  for (const [name, count] of checkpointArrays(c)) {
    let arr: Float32Array;
    if (name === "ropeReal" || name === "ropeImag") {
      arr = new Float32Array(count);
      for (let p = 0; p < c.seqLen; p++) {
        for (let i = 0; i < headSize / 2; i++) {
          const a = p / Math.pow(10000, (2 * i) / headSize);
          arr[p * (headSize / 2) + i] = name === "ropeReal" ? Math.cos(a) : Math.sin(a);
        }
      }
    } else {
      const w = ckpt.weights[name];
      if (!w) throw new UserError(`cannot write llama2.c checkpoint: missing weights "${name}"`);
      if (w.length !== count) throw new UserError(`cannot write llama2.c checkpoint: "${name}" has ${w.length} values, the config needs ${count}`);
      arr = w;
    }
    parts.push(f32Bytes(arr));
  }
  return parts;
}

/** Parses a llama2.c tokenizer file with `vocabSize` tokens (all tokens up to the end when omitted). */
export function parseLlama2cTokenizer(buf: Uint8Array, source = "<buffer>", vocabSize?: number): Llama2cVocab {
  const fail = (msg: string): never => {
    throw new UserError(`${source}: not a valid llama2.c tokenizer: ${msg}`);
  };
  if (buf.byteLength < 4) fail(`only ${buf.byteLength} bytes (truncated?)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const maxTokenLength = dv.getInt32(0, true);
  if (maxTokenLength <= 0 || maxTokenLength > 4096) fail(`max_token_length = ${maxTokenLength} is not plausible`);
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  let off = 4;
  while (vocabSize === undefined ? off < buf.byteLength : pieces.length < vocabSize) {
    const i = pieces.length;
    if (off + 8 > buf.byteLength) fail(`token ${i} starts at byte ${off} but the file ends at ${buf.byteLength} (truncated?)`);
    const score = dv.getFloat32(off, true);
    const len = dv.getInt32(off + 4, true);
    if (!Number.isFinite(score)) fail(`token ${i} has score ${score}`);
    if (len < 0 || len > maxTokenLength) fail(`token ${i} has byte length ${len}, outside 0..max_token_length (${maxTokenLength})`);
    if (off + 8 + len > buf.byteLength) fail(`token ${i} needs ${len} bytes at ${off + 8} but the file ends at ${buf.byteLength} (truncated?)`);
    pieces.push(new Uint8Array(buf.buffer, buf.byteOffset + off + 8, len).slice());
    scores.push(score);
    off += 8 + len;
  }
  if (off !== buf.byteLength) fail(`${buf.byteLength - off} bytes are left after ${pieces.length} tokens (is this the tokenizer for a model with a different vocabulary?)`);
  const problem = vocabProblem(pieces);
  if (problem) fail(`${problem}${vocabSize === undefined ? " (truncated?)" : ""}`);
  return { maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

/**
 * Returns what a llama2.c vocabulary lacks, or undefined: run.c's encode spells unknown bytes as
 * tokens 3..258 (`<0x00>`..`<0xFF>`, sentencepiece byte fallback) and starts with the " " piece.
 */
function vocabProblem(pieces: readonly Uint8Array[]): string | undefined {
  if (pieces.length < BYTE_TOKENS_END) return `it holds ${pieces.length} tokens; a llama2.c tokenizer has at least ${BYTE_TOKENS_END} (3 special tokens and 256 byte tokens)`;
  for (let b = 0; b < 256; b++) {
    const want = `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;
    if (Buffer.from(pieces[3 + b]!).toString("latin1") !== want) return `token ${3 + b} should be the byte token ${want}`;
  }
  if (!pieces.some((p) => p.length === 1 && p[0] === 0x20)) return 'it has no " " token (the dummy prefix every encoding starts with)';
  return undefined;
}

/** Serialises a tokenizer in llama2.c's format. */
export function serializeLlama2cTokenizer(v: Llama2cVocab): Uint8Array {
  const total = 4 + v.pieces.reduce((a, p) => a + 8 + p.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setInt32(0, v.maxTokenLength, true);
  let off = 4;
  v.pieces.forEach((p, i) => {
    dv.setFloat32(off, v.scores[i] ?? 0, true);
    dv.setInt32(off + 4, p.length, true);
    out.set(p, off + 8);
    off += 8 + p.length;
  });
  return out;
}

/** Reads and parses a legacy llama2.c checkpoint file. */
export function readLlama2cCheckpoint(path: string): Llama2cCheckpoint {
  return parseLlama2cCheckpoint(readBytes(path, "checkpoint"), path);
}

/** Reads and parses a llama2.c tokenizer file, expecting `vocabSize` tokens when given. */
export function readLlama2cTokenizer(path: string, vocabSize?: number): Llama2cVocab {
  return parseLlama2cTokenizer(readBytes(path, "tokenizer"), path, vocabSize);
}

/** Writes a checkpoint atomically. */
export function writeLlama2cCheckpoint(path: string, ckpt: Llama2cCheckpoint): void {
  writeFileAtomic(path, serializeLlama2cCheckpoint(ckpt));
}

/** Writes a tokenizer atomically. */
export function writeLlama2cTokenizer(path: string, vocab: Llama2cVocab): void {
  writeFileAtomic(path, serializeLlama2cTokenizer(vocab));
}

/** Returns the directory of the shared stories260K model (../shared/models/stories260K beside the package root). */
export function sharedModelDir(): string {
  return fileURLToPath(new URL("../../../shared/models/stories260K/", import.meta.url));
}

/** Returns the shared stories260K model and tokenizer paths when both files exist, else undefined. */
export function sharedModelFiles(): { model: string; tokenizer: string } | undefined {
  const dir = sharedModelDir();
  const model = join(dir, "stories260K.bin");
  const tokenizer = join(dir, "tok512.bin");
  return existsSync(model) && existsSync(tokenizer) ? { model, tokenizer } : undefined;
}

function looksLikeTokenizer(buf: Uint8Array): boolean {
  try {
    parseLlama2cTokenizer(buf);
    return true;
  } catch {
    return false;
  }
}

function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UserError(`cannot read llama2.c ${what} ${path}: ${(e as Error).message}`);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function readF32(buf: Uint8Array, off: number, count: number): Float32Array {
  // A plain Uint8Array's slice copies (a Node Buffer's slice would be a view of the whole file).
  if (LITTLE_ENDIAN) return new Float32Array(new Uint8Array(buf.buffer, buf.byteOffset + off, count * 4).slice().buffer);
  const dv = new DataView(buf.buffer, buf.byteOffset + off, count * 4);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = dv.getFloat32(i * 4, true);
  return out;
}

function f32Bytes(arr: Float32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  const out = new Uint8Array(arr.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < arr.length; i++) dv.setFloat32(i * 4, arr[i]!, true);
  return out;
}

/** Returns the index of the first NaN or infinity in `arr`, or -1. */
export function firstNonFinite(arr: Float32Array): number {
  for (let i = 0; i < arr.length; i++) if (!Number.isFinite(arr[i]!)) return i;
  return -1;
}
