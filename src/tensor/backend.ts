/**
 * Backend selection: the native addon when it was built (see scripts/build-native.mjs), otherwise
 * the reference TypeScript kernels, with a warning the caller prints once.
 */
import { referenceKernels } from "./reference.js";
import type { Kernels } from "./kernels.js";

export type BackendChoice = "auto" | "native" | "reference";

/** The chosen kernels and, when the native addon was wanted but unavailable, why. */
export interface LoadedKernels {
  kernels: Kernels;
  warning?: string;
}

/**
 * Returns kernels for `choice` ("auto" = native if available). Asking for "native" explicitly when
 * it is unavailable throws. The environment variable SAELAB_BACKEND overrides "auto".
 */
export function loadKernels(choice: BackendChoice = "auto"): LoadedKernels {
  const env = process.env.SAELAB_BACKEND;
  const want = choice === "auto" && (env === "native" || env === "reference") ? env : choice;
  if (want === "reference") return { kernels: referenceKernels() };
  // The native addon is not built yet: the compute-core work adds it here.
  const why = "the native compute addon is not available";
  if (want === "native") throw new Error(`backend "native" requested but ${why}`);
  return { kernels: referenceKernels(), warning: `saelab: ${why}; using the reference TypeScript backend (slower)` };
}
