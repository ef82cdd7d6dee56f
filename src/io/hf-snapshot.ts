/**
 * Reads a Hugging Face snapshot directory as save_pretrained writes it: config.json, and
 * model.safetensors or shards listed in model.safetensors.index.json, with tokenizer files noted
 * when present. Tensors keep their stored names (a family file maps them) and become float32.
 * (Minimal version; the full reader with its bad-input errors comes from issue 9b.)
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { readSafetensors, toFloat32 } from "./safetensors.js";

/** A snapshot's config and tensors. */
export interface HfSnapshot {
  dir: string;
  config: Record<string, unknown>;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  /** Path of tokenizer.json when present. */
  tokenizerJson?: string;
  tokenizerConfig?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
}

function readJson(path: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new UserError(`${path}: not a JSON object`);
  return v as Record<string, unknown>;
}

/** Reads a snapshot directory (config.json + safetensors weights). */
export async function readHfSnapshot(dir: string): Promise<HfSnapshot> {
  const cfgPath = join(dir, "config.json");
  if (!existsSync(cfgPath)) throw new UserError(`${dir}: no config.json (is this a Hugging Face snapshot directory?)`);
  const config = readJson(cfgPath);
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  let files: string[];
  if (existsSync(single)) files = [single];
  else if (existsSync(index)) {
    const map = readJson(index).weight_map;
    if (typeof map !== "object" || map === null) throw new UserError(`${index}: field "weight_map" is missing`);
    files = [...new Set(Object.values(map as Record<string, string>))].map((f) => join(dir, f));
  } else throw new UserError(`${dir}: neither model.safetensors nor model.safetensors.index.json`);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const f of files) {
    if (!existsSync(f)) throw new UserError(`${index}: shard ${f} is missing`);
    let file;
    try {
      file = readSafetensors(f);
    } catch (e) {
      throw new UserError((e as Error).message);
    }
    for (const [name, t] of file.tensors) tensors.set(name, { shape: t.shape, data: toFloat32(t, `${f}: ${name}`) });
  }
  const opt = (name: string) => (existsSync(join(dir, name)) ? readJson(join(dir, name)) : undefined);
  const snap: HfSnapshot = { dir, config, tensors };
  if (existsSync(join(dir, "tokenizer.json"))) snap.tokenizerJson = join(dir, "tokenizer.json");
  const tc = opt("tokenizer_config.json");
  if (tc) snap.tokenizerConfig = tc;
  const gc = opt("generation_config.json");
  if (gc) snap.generationConfig = gc;
  const sm = opt("special_tokens_map.json");
  if (sm) snap.specialTokensMap = sm;
  return snap;
}
