/** saelab's public library entry point. */
export { Rng, mixSeed } from "./tensor/rng.js";
export type { Kernels, SparseRows, GemmArgs, AdamArgs } from "./tensor/kernels.js";
export { referenceKernels } from "./tensor/reference.js";
export { loadKernels, availableKernels, type BackendChoice, type LoadedKernels } from "./tensor/backend.js";
export { emptySparse, reserveSparse } from "./tensor/kernels.js";
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors } from "./io/safetensors.js";
export { readNpy, writeNpy, NpyStreamWriter } from "./io/npy.js";
export { UserError, ConfigError, parseConfig } from "./errors.js";
