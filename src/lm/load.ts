/**
 * Loading a model by path: a Hugging Face snapshot directory (family from config.json's model_type)
 * or a llama2.c checkpoint file, with TransformerLens's weight processing for LayerNorm families
 * unless turned off (from_pretrained vs from_pretrained_no_processing).
 */
import { statSync } from "node:fs";
import { readHfSnapshot, type HfSnapshot } from "../io/hf-snapshot.js";
import { readLlama2cCheckpoint } from "../io/llama2c.js";
import { loadKernels } from "../tensor/backend.js";
import { fromLlama2c } from "./families/llama.js";
import { familyOf } from "./families/registry.js";
import { HookedModel, type ModelBackends } from "./model.js";
import { loadLmKernels } from "./native.js";
import { processWeights } from "./processing.js";
import type { LoadedWeights } from "./spec.js";

/** Options of loadModel. */
export interface LoadModelOptions {
  /** TransformerLens's weight processing (centred writing weights and unembedding) for LayerNorm families. Default true. */
  processing?: boolean;
  /** Compute backends; default the fastest available. */
  backends?: ModelBackends;
}

/** Returns a snapshot's spec and canonical weights (family from config.json's model_type). */
export function weightsFromSnapshot(snap: HfSnapshot): LoadedWeights {
  const source = `${snap.dir}/config.json`;
  const family = familyOf(snap.config.model_type, source);
  const spec = family.spec(snap.config, source);
  return { spec, weights: family.weights(spec, snap.tensors, snap.dir) };
}

/** Reads the weights at `path` (snapshot directory or llama2.c .bin), processed unless opts.processing is false. */
export async function loadWeights(path: string, opts: { processing?: boolean } = {}): Promise<LoadedWeights & { snapshot?: HfSnapshot }> {
  if (!statSync(path, { throwIfNoEntry: false })?.isDirectory()) return fromLlama2c(readLlama2cCheckpoint(path));
  const snapshot = await readHfSnapshot(path);
  const raw = weightsFromSnapshot(snapshot);
  const done = opts.processing === false ? raw : processWeights(raw.spec, raw.weights);
  return { ...done, snapshot };
}

/** Loads the model at `path` (an HF snapshot directory or a llama2.c checkpoint) as a hooked model. */
export async function loadModel(path: string, opts: LoadModelOptions = {}): Promise<HookedModel> {
  const loaded = await loadWeights(path, opts);
  const backends = opts.backends ?? { kernels: loadKernels().kernels, lm: loadLmKernels() };
  return new HookedModel(loaded, backends);
}
