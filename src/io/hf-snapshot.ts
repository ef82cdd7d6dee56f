/**
 * Hugging Face snapshot directories, as `save_pretrained` (or `huggingface-cli download`) leaves them:
 *   config.json                          the model config (model_type, sizes, eps, rope, ...)
 *   model.safetensors                    all weights, or
 *   model.safetensors.index.json         {"weight_map": {tensor name: shard file}} and the shards
 *   tokenizer.json                       the fast tokenizer (+ tokenizer_config.json,
 *                                        special_tokens_map.json, generation_config.json if present)
 * Weights stored as F32, F16 or BF16 come back as float32 (4 bytes a parameter: 4 GB per billion),
 * under the names they are stored with; a shard is read, converted and dropped before the next, so
 * peak memory is the converted weights plus one shard file. Every problem is a UserError naming the
 * file and the field.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";
import { firstNonFinite } from "./llama2c.js";
import { parseSafetensors, toFloat32, writeSafetensors, type SafetensorsDtype, type TensorToWrite } from "./safetensors.js";

export const HF_CONFIG = "config.json";
export const HF_WEIGHTS = "model.safetensors";
export const HF_WEIGHTS_INDEX = "model.safetensors.index.json";
export const HF_TOKENIZER = "tokenizer.json";
export const HF_TOKENIZER_CONFIG = "tokenizer_config.json";
export const HF_SPECIAL_TOKENS_MAP = "special_tokens_map.json";
export const HF_GENERATION_CONFIG = "generation_config.json";

/** One weight converted to float32, with its stored shape. */
export interface HfTensor {
  shape: number[];
  data: Float32Array;
}

/** A snapshot directory read into memory. */
export interface HfSnapshot {
  dir: string;
  config: Record<string, unknown>;
  /** Every tensor of every weight file, under its stored name. */
  tensors: Map<string, HfTensor>;
  /** Path of tokenizer.json, when present. */
  tokenizerJson?: string;
  tokenizerConfig?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
  /** The dtype each tensor was stored as. */
  storedDtypes: Map<string, SafetensorsDtype>;
  /** The weight files read, in order. */
  weightFiles: string[];
}

/** Reads a snapshot directory: config, weights (single file or index + shards) and tokenizer files. */
export async function readHfSnapshot(dir: string): Promise<HfSnapshot> {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: not a directory (a Hugging Face snapshot directory, as save_pretrained writes it, is expected)`);
  const configPath = join(dir, HF_CONFIG);
  if (!existsSync(configPath)) throw new UserError(`${dir}: ${HF_CONFIG} is missing; a Hugging Face snapshot directory (as save_pretrained writes it) has one`);
  const config = readJsonObject(configPath);
  const weightFiles = weightFilesOf(dir, readIndex(dir));
  const tensors = new Map<string, HfTensor>();
  const storedDtypes = new Map<string, SafetensorsDtype>();
  for (const { file, expected } of weightFiles) {
    const path = join(dir, file);
    const parsed = await readSafetensorsFile(path);
    for (const name of expected ?? []) {
      if (!parsed.tensors.has(name)) throw new UserError(`${join(dir, HF_WEIGHTS_INDEX)}: weight_map["${name}"] names shard ${file}, which has no tensor "${name}"`);
    }
    for (const [name, raw] of parsed.tensors) {
      if (tensors.has(name)) throw new UserError(`${path}: tensor "${name}" is also stored in another weight file`);
      const data = toFloat32(raw, name);
      const bad = firstNonFinite(data);
      if (bad >= 0) throw new UserError(`${path}: tensor "${name}" holds ${data[bad]} at index ${bad}; weights must be finite`);
      tensors.set(name, { shape: [...raw.shape], data });
      storedDtypes.set(name, raw.dtype);
    }
  }
  const tokenizerPath = join(dir, HF_TOKENIZER);
  const optional = (f: string) => (existsSync(join(dir, f)) ? readJsonObject(join(dir, f)) : undefined);
  return {
    dir,
    config,
    tensors,
    ...(existsSync(tokenizerPath) ? { tokenizerJson: tokenizerPath } : {}),
    ...withDefined("tokenizerConfig", optional(HF_TOKENIZER_CONFIG)),
    ...withDefined("generationConfig", optional(HF_GENERATION_CONFIG)),
    ...withDefined("specialTokensMap", optional(HF_SPECIAL_TOKENS_MAP)),
    storedDtypes,
    weightFiles: weightFiles.map((w) => w.file),
  };
}

/** Returns the snapshot's tokenizer.json path, or throws a UserError saying it is needed and missing. */
export function requireTokenizerJson(snap: Pick<HfSnapshot, "dir" | "tokenizerJson">): string {
  if (snap.tokenizerJson) return snap.tokenizerJson;
  throw new UserError(`${snap.dir}: ${HF_TOKENIZER} is missing, and this command needs the model's tokenizer (save it with tokenizer.save_pretrained(DIR), or download it with the model)`);
}

/** What `writeHfSnapshot` writes. */
export interface HfSnapshotToWrite {
  config: Record<string, unknown>;
  /** Tensors in file order, under their HF names. */
  tensors: Record<string, { shape: readonly number[]; data: Float32Array }>;
  /** Storage dtype of every tensor (default F32). */
  dtype?: "F32" | "F16" | "BF16";
  /** Number of shards (default 1: a single model.safetensors); more writes model-0000i-of-0000n.safetensors + the index. */
  shards?: number;
  /** tokenizer.json's contents (an object or its JSON text). */
  tokenizer?: Record<string, unknown> | string;
  tokenizerConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
}

/** Writes a snapshot directory as save_pretrained lays it out (each file atomically). */
export function writeHfSnapshot(dir: string, snap: HfSnapshotToWrite): void {
  mkdirSync(dir, { recursive: true });
  const json = (f: string, v: unknown) => writeFileAtomic(join(dir, f), `${typeof v === "string" ? v : JSON.stringify(v, null, 2)}\n`);
  const names = Object.keys(snap.tensors);
  const shards = Math.max(1, Math.min(snap.shards ?? 1, names.length));
  const tensorOf = (name: string): TensorToWrite => ({ ...snap.tensors[name]!, dtype: snap.dtype ?? "F32" });
  if (shards === 1) {
    writeSafetensors(join(dir, HF_WEIGHTS), Object.fromEntries(names.map((n) => [n, tensorOf(n)])), { format: "pt" });
  } else {
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    const pad = (i: number) => String(i).padStart(5, "0");
    for (let s = 0; s < shards; s++) {
      const file = `model-${pad(s + 1)}-of-${pad(shards)}.safetensors`;
      const part = names.slice(Math.floor((s * names.length) / shards), Math.floor(((s + 1) * names.length) / shards));
      writeSafetensors(join(dir, file), Object.fromEntries(part.map((n) => [n, tensorOf(n)])), { format: "pt" });
      for (const n of part) {
        weightMap[n] = file;
        totalSize += snap.tensors[n]!.data.length * (snap.dtype === "F16" || snap.dtype === "BF16" ? 2 : 4);
      }
    }
    json(HF_WEIGHTS_INDEX, { metadata: { total_size: totalSize }, weight_map: weightMap });
  }
  json(HF_CONFIG, snap.config);
  if (snap.tokenizer !== undefined) json(HF_TOKENIZER, snap.tokenizer);
  if (snap.tokenizerConfig) json(HF_TOKENIZER_CONFIG, snap.tokenizerConfig);
  if (snap.specialTokensMap) json(HF_SPECIAL_TOKENS_MAP, snap.specialTokensMap);
  if (snap.generationConfig) json(HF_GENERATION_CONFIG, snap.generationConfig);
}

type Index = { weightMap: Map<string, string> } | null;

function readIndex(dir: string): Index {
  const path = join(dir, HF_WEIGHTS_INDEX);
  if (!existsSync(path)) return null;
  const idx = readJsonObject(path);
  const wm = idx.weight_map;
  if (typeof wm !== "object" || wm === null || Array.isArray(wm)) throw new UserError(`${path}: field "weight_map" must be an object of tensor name -> shard file`);
  const weightMap = new Map<string, string>();
  for (const [name, file] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof file !== "string" || file.length === 0 || file.includes("/") || file.includes("\\") || file.startsWith(".")) {
      throw new UserError(`${path}: weight_map["${name}"] must be a shard file name in the same directory, got ${JSON.stringify(file)}`);
    }
    weightMap.set(name, file);
  }
  if (weightMap.size === 0) throw new UserError(`${path}: field "weight_map" is empty`);
  return { weightMap };
}

/** The weight files to read, each with the tensors the index says it holds. */
function weightFilesOf(dir: string, index: Index): { file: string; expected?: string[] }[] {
  if (index) {
    const byFile = new Map<string, string[]>();
    for (const [name, file] of index.weightMap) byFile.set(file, [...(byFile.get(file) ?? []), name]);
    for (const [file, names] of byFile) {
      if (!existsSync(join(dir, file))) throw new UserError(`${join(dir, HF_WEIGHTS_INDEX)}: weight_map["${names[0]}"] names shard ${file}, which is missing from ${dir}`);
    }
    return [...byFile].map(([file, expected]) => ({ file, expected }));
  }
  if (existsSync(join(dir, HF_WEIGHTS))) return [{ file: HF_WEIGHTS }];
  const hint = existsSync(join(dir, "pytorch_model.bin")) || existsSync(join(dir, "pytorch_model.bin.index.json"))
    ? " (it has pytorch_model.bin: only safetensors weights are read; in Python, model.save_pretrained(DIR, safe_serialization=True) writes them)"
    : "";
  throw new UserError(`${dir}: neither ${HF_WEIGHTS} nor ${HF_WEIGHTS_INDEX} is present${hint}`);
}

/** Node's readFile stops at 2 GiB; a typed array holds up to 4 GiB here, so larger files are read in chunks. */
const MAX_FILE_BYTES = 2 ** 32 - 1;
const CHUNK = 1 << 30;

async function readSafetensorsFile(path: string): Promise<ReturnType<typeof parseSafetensors>> {
  const size = statSync(path).size;
  if (size > MAX_FILE_BYTES) throw new UserError(`${path}: ${size} bytes is more than one weight file may hold here (4 GiB); re-save with model.save_pretrained(DIR, max_shard_size="2GB")`);
  const buf = new Uint8Array(size);
  const fh = await open(path, "r");
  try {
    for (let off = 0; off < size;) {
      const { bytesRead } = await fh.read(buf, off, Math.min(CHUNK, size - off), off);
      if (bytesRead === 0) throw new UserError(`${path}: file ended after ${off} of ${size} bytes while reading`);
      off += bytesRead;
    }
  } finally {
    await fh.close();
  }
  try {
    return parseSafetensors(buf, path);
  } catch (e) {
    throw e instanceof UserError ? e : new UserError((e as Error).message);
  }
}

/** Returns the JSON object in `path`, or throws a UserError naming the file. */
export function readJsonObject(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new UserError(`${path}: expected a JSON object`);
  return v as Record<string, unknown>;
}

function withDefined<K extends string, V>(key: K, v: V | undefined): Partial<Record<K, V>> {
  return v === undefined ? {} : ({ [key]: v } as Record<K, V>);
}
