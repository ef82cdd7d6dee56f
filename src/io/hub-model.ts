/**
 * Models by Hub id (`EleutherAI/pythia-70m-deduped`, `google/gemma-2-2b`, `gpt2`): the snapshot files
 * a model needs (config, safetensors weights or shards with their index, tokenizer files), fetched
 * through ./hub.ts into the standard Hugging Face cache.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { snapshotDownload, type HubConfig, type Snapshot } from "./hub.js";

const MODEL_FILES = new Set(["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "model.safetensors", "model.safetensors.index.json"]);

/** Whether a root-level repo file belongs to what saelab loads (PyTorch .bin, ONNX, Flax and the like are skipped). */
export function isModelFile(path: string): boolean {
  return !path.includes("/") && (MODEL_FILES.has(path) || /^model-\d+-of-\d+\.safetensors$/.test(path));
}

/** Returns what a snapshot still lacks to be loaded (config.json, tokenizer.json, the weights or a listed shard), or null. */
export function missingModelFile(dir: string): string | null {
  for (const f of ["config.json", "tokenizer.json"]) if (!existsSync(join(dir, f))) return f;
  if (existsSync(join(dir, "model.safetensors"))) return null;
  const index = join(dir, "model.safetensors.index.json");
  if (!existsSync(index)) return "model.safetensors (or model.safetensors.index.json with its shards)";
  let map: Record<string, string>;
  try {
    map = (JSON.parse(readFileSync(index, "utf8")) as { weight_map: Record<string, string> }).weight_map;
  } catch {
    return "a readable model.safetensors.index.json";
  }
  for (const shard of new Set(Object.values(map ?? {}))) if (!existsSync(join(dir, shard))) return shard;
  return null;
}

/** Returns the snapshot directory of a model repo at `revision`, downloading the missing model files. */
export async function fetchModelSnapshot(cfg: HubConfig, repo: string, revision?: string): Promise<Snapshot> {
  return snapshotDownload(cfg, {
    repo,
    revision,
    include: isModelFile,
    isComplete: (d) => missingModelFile(d) === null,
    describeMissing: (d) => missingModelFile(d) ?? "nothing",
  });
}
