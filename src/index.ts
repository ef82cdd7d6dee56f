/** saelab's public library entry point. */
export { Rng, mixSeed } from "./tensor/rng.js";
export type { Kernels, SparseRows, GemmArgs, AdamArgs } from "./tensor/kernels.js";
export { referenceKernels } from "./tensor/reference.js";
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors } from "./io/safetensors.js";
export { readNpy, writeNpy, NpyStreamWriter } from "./io/npy.js";
export { UserError, ConfigError, parseConfig } from "./errors.js";
export { createWorld, WorldConfigSchema } from "./toy/world.js";
export type { WorldConfig, WorldConfigInput, ToyWorld, CreateWorldOptions } from "./toy/world.js";
export type { World, WorldTruth, WorldBatch, WorldSampler } from "./toy/types.js";
export { PRESETS, getPreset, presetNames } from "./toy/presets.js";
export { describeWorld } from "./toy/describe.js";
export { saveWorld, loadWorld } from "./io/world.js";
