/**
 * Steering vector files: `NAME.safetensors` holds one F32 [dModel] tensor per layer, named
 * `layers.{L}`, and `NAME.json` beside it records the layers, the layer type and the settings the
 * vector was trained or applied with (aggregator, token index, multiplier, ...).
 */
import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";
import { parseConfig, UserError } from "../errors.js";
import { writeFileAtomic } from "./atomic.js";
import { getFloat32, readSafetensors, writeSafetensors } from "./safetensors.js";

export const STEERING_FORMAT = "saelab-steering-vector";

/** The JSON sidecar of a steering vector. */
export const SteeringFileSchema = z.object({
  format: z.literal(STEERING_FORMAT).describe("Always \"saelab-steering-vector\"."),
  version: z.literal(1).describe("Format version."),
  layerType: z.enum(["decoder_block", "self_attn", "mlp"]).describe("Which activation of each layer the vector applies to."),
  layers: z.array(z.number().int().nonnegative()).min(1).describe("Blocks with a vector (tensor layers.{L} in the safetensors file)."),
  dModel: z.number().int().positive().describe("Width of each vector."),
  settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}).describe("How the vector was made or is meant to be applied."),
}).strict();
export type SteeringFile = z.infer<typeof SteeringFileSchema>;

/** A steering vector as stored. */
export interface StoredSteeringVector {
  layerActivations: Map<number, Float32Array>;
  layerType: SteeringFile["layerType"];
  settings: SteeringFile["settings"];
}

/** Returns the JSON sidecar path for a .safetensors path. */
export function steeringJsonPath(path: string): string {
  return path.replace(/\.safetensors$/, "") + ".json";
}

/** Writes the vector to `path` (.safetensors) and its JSON beside it, atomically each. */
export function saveSteeringVector(path: string, v: StoredSteeringVector): void {
  if (!path.endsWith(".safetensors")) throw new UserError(`steering vector path ${path} must end in .safetensors`);
  const layers = [...v.layerActivations.keys()].sort((a, b) => a - b);
  const dModel = v.layerActivations.get(layers[0]!)!.length;
  const tensors = Object.fromEntries(layers.map((l) => [`layers.${l}`, { data: v.layerActivations.get(l)!, shape: [dModel] }]));
  writeSafetensors(path, tensors, { format: STEERING_FORMAT });
  const meta: SteeringFile = { format: STEERING_FORMAT, version: 1, layerType: v.layerType, layers, dModel, settings: v.settings };
  writeFileAtomic(steeringJsonPath(path), `${JSON.stringify(meta, null, 2)}\n`);
}

/** Reads a vector written by saveSteeringVector, checking the JSON against the tensors. */
export function loadSteeringVector(path: string): StoredSteeringVector {
  const jpath = steeringJsonPath(path);
  if (!existsSync(jpath)) throw new UserError(`${path}: missing ${jpath} (the layers and settings of the steering vector)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(jpath, "utf8"));
  } catch (e) {
    throw new UserError(`${jpath}: not valid JSON (${(e as Error).message})`);
  }
  const meta = parseConfig(SteeringFileSchema, raw, jpath);
  const f = readSafetensors(path);
  const names = new Set(meta.layers.map((l) => `layers.${l}`));
  for (const k of f.tensors.keys()) if (!names.has(k)) throw new UserError(`${path}: tensor "${k}" is not among the layers listed in ${jpath}`);
  const layerActivations = new Map(meta.layers.map((l) => {
    const v = getFloat32(f, `layers.${l}`, [meta.dModel], path);
    if (!v.every(Number.isFinite)) throw new UserError(`${path}: layers.${l} holds a non-finite value`);
    return [l, v] as const;
  }));
  return { layerActivations, layerType: meta.layerType, settings: meta.settings };
}
