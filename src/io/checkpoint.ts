/** Training checkpoints on disk: one safetensors file (tensors plus the JSON metadata), written atomically. */
import { existsSync } from "node:fs";
import { UserError } from "../errors.js";
import { readSafetensors, toFloat32, toInt32, writeSafetensors } from "./safetensors.js";

/** Writes a checkpoint (tensors and JSON-serialisable metadata) atomically to `path`. */
export function writeCheckpoint(path: string, data: { tensors: Record<string, { data: Float32Array | Int32Array; shape: number[] }>; meta: unknown }): void {
  writeSafetensors(path, data.tensors, { saelab: JSON.stringify(data.meta) });
}

/** Returns the tensors and metadata of the checkpoint at `path`. */
export function readCheckpoint(path: string): { tensors: Map<string, Float32Array | Int32Array>; meta: unknown } {
  if (!existsSync(path)) throw new UserError(`no checkpoint at ${path}`);
  const file = readSafetensors(path);
  const raw = file.metadata.saelab;
  if (raw === undefined) throw new UserError(`${path}: not a saelab checkpoint (no "saelab" metadata)`);
  let meta: unknown;
  try {
    meta = JSON.parse(raw);
  } catch (e) {
    throw new UserError(`${path}: checkpoint metadata is not valid JSON (${(e as Error).message})`);
  }
  const tensors = new Map<string, Float32Array | Int32Array>();
  for (const [name, t] of file.tensors) {
    const v = t.dtype === "I32" ? toInt32(t, name) : toFloat32(t, name);
    // A run never checkpoints NaN or Inf (it stops at the last good step), so such values mean a damaged file.
    const bad = v.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new UserError(`${path}: tensor "${name}" holds ${v[bad]} at index ${bad}; the checkpoint is damaged`);
    tensors.set(name, v);
  }
  return { tensors, meta };
}
