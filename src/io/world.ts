/**
 * Saved worlds: a directory holding `world.json` (the validated config) and `world.safetensors`
 * with `feature_vectors` [nFeatures, dModel] and `bias` [dModel] (SAELens's tensor names), plus
 * `firing_probability` [nFeatures] (the exact marginals, used to detect a config and tensors that
 * do not belong together) and, for a low-rank copula, `correlation_factor` [nFeatures, rank] and
 * `correlation_diag` [nFeatures]. Loading rebuilds the world from the config with the stored
 * tensors, so a loaded world samples exactly the same streams as the one that was saved.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseConfig, UserError } from "../errors.js";
import { createWorld, WorldConfigSchema, type CreateWorldOptions, type ToyWorld } from "../toy/world.js";
import type { World } from "../toy/types.js";
import { writeFileAtomic } from "./atomic.js";
import { getFloat32, readSafetensors, writeSafetensors, type TensorToWrite } from "./safetensors.js";

export const WORLD_CONFIG_FILE = "world.json";
export const WORLD_TENSORS_FILE = "world.safetensors";

/** Writes `world` to `dir` (created if needed): tensors first, then the config, each atomically. */
export function saveWorld(dir: string, world: World): void {
  const config = parseConfig(WorldConfigSchema, world.config, "world config");
  const n = world.nFeatures;
  const d = world.dModel;
  if (config.nFeatures !== n || config.dModel !== d) throw new Error(`saveWorld: the world's config says ${config.nFeatures}x${config.dModel} but its tensors are ${n}x${d}`);
  const tensors: Record<string, TensorToWrite> = {
    feature_vectors: { data: world.featureVectors, shape: [n, d] },
    bias: { data: world.bias, shape: [d] },
    firing_probability: { data: Float32Array.from(world.firingProbability), shape: [n] },
  };
  const copula = (world as Partial<ToyWorld>).copula;
  if (copula?.kind === "lowRank") {
    tensors.correlation_factor = { data: copula.factor, shape: [n, copula.rank] };
    tensors.correlation_diag = { data: Float32Array.from(copula.diag), shape: [n] };
  }
  writeSafetensors(join(dir, WORLD_TENSORS_FILE), tensors, { format: "saelab-world", version: "1" });
  writeFileAtomic(join(dir, WORLD_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
}

/** Returns true when `dir` looks like a saved world directory. */
export function isWorldDir(dir: string): boolean {
  return existsSync(join(dir, WORLD_CONFIG_FILE)) && statSync(dir).isDirectory();
}

/** Reads a JSON file, throwing a UserError that names the file on any problem. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new UserError(`cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new UserError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/** Returns the world saved in `dir`, after checking every tensor's shape and values against its config. */
export function loadWorld(dir: string, options: Omit<CreateWorldOptions, "saved"> = {}): ToyWorld {
  const configPath = join(dir, WORLD_CONFIG_FILE);
  const tensorPath = join(dir, WORLD_TENSORS_FILE);
  if (!existsSync(configPath)) throw new UserError(`${dir} is not a saved world directory (no ${WORLD_CONFIG_FILE})`);
  if (!existsSync(tensorPath)) throw new UserError(`${dir} has ${WORLD_CONFIG_FILE} but no ${WORLD_TENSORS_FILE}`);
  const config = parseConfig(WorldConfigSchema, readJsonFile(configPath), configPath);
  const n = config.nFeatures;
  const d = config.dModel;
  const fail = (msg: string): never => {
    throw new UserError(`${tensorPath}: ${msg}`);
  };
  // Both already throw UserErrors that name tensorPath.
  const file = readSafetensors(tensorPath);
  const get = (name: string, shape: number[]): Float32Array => {
    const v = getFloat32(file, name, shape, tensorPath);
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) fail(`tensor "${name}" has a non-finite value at flat index ${i}`);
    return v;
  };
  const featureVectors = get("feature_vectors", [n, d]);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += featureVectors[i * d + k]! ** 2;
    if (Math.abs(Math.sqrt(s) - 1) > 1e-4) fail(`feature_vectors row ${i} has norm ${Math.sqrt(s).toPrecision(6)}; feature directions must be unit vectors`);
  }
  const bias = get("bias", [d]);
  let norm = 0;
  for (let k = 0; k < d; k++) norm += bias[k]! * bias[k]!;
  norm = Math.sqrt(norm);
  if (Math.abs(norm - config.biasNorm) > 1e-4 * Math.max(1, config.biasNorm)) fail(`bias has norm ${norm.toPrecision(6)} but the config says biasNorm ${config.biasNorm}`);
  let correlationFactor: Float32Array | undefined;
  if (config.correlation && config.correlation.kind !== "full") {
    const t = file.tensors.get("correlation_factor");
    if (!t || t.shape.length !== 2) fail(`the config has a ${config.correlation.kind} correlation but there is no 2-D tensor "correlation_factor"`);
    const rank = t!.shape[1]!;
    correlationFactor = get("correlation_factor", [n, rank]);
    const diag = get("correlation_diag", [n]);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < rank; k++) s += correlationFactor[i * rank + k]! ** 2;
      if (!(s < 1) || Math.abs(1 - s - diag[i]!) > 1e-5) fail(`correlation_factor row ${i} and correlation_diag[${i}] do not give unit variance`);
    }
  }
  const world = createWorld(config, { ...options, saved: { featureVectors, bias, ...(correlationFactor ? { correlationFactor } : {}) } });
  const stored = get("firing_probability", [n]);
  for (let i = 0; i < n; i++) {
    if (Math.abs(stored[i]! - world.firingProbability[i]!) > 1e-6 + 1e-5 * world.firingProbability[i]!) {
      fail(`firing_probability[${i}] is ${stored[i]} but ${WORLD_CONFIG_FILE} implies ${world.firingProbability[i]}: the config and the tensors do not belong together`);
    }
  }
  return world;
}
