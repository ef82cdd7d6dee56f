/**
 * Backend selection: the native addon when it was built (see scripts/build-native.mjs), otherwise
 * the reference TypeScript kernels, with a warning the caller prints once.
 */
import { referenceKernels } from "./reference.js";
import { loadNativeAddon, nativeKernels } from "./native.js";
import type { Kernels } from "./kernels.js";

export type BackendChoice = "auto" | "native" | "reference";

/** The chosen kernels and, when the native addon was wanted but unavailable, why. */
export interface LoadedKernels {
  kernels: Kernels;
  warning?: string;
}

/**
 * Returns kernels for `choice` ("auto" = native if available). Asking for "native" explicitly when
 * it is unavailable throws. The environment variable SAELAB_BACKEND (native|reference) overrides "auto".
 */
export function loadKernels(choice: BackendChoice = "auto"): LoadedKernels {
  const env = process.env.SAELAB_BACKEND;
  if (choice === "auto" && env !== undefined && env !== "" && env !== "auto" && env !== "native" && env !== "reference") {
    throw new Error(`SAELAB_BACKEND must be "native", "reference" or "auto", got "${env}"`);
  }
  const want = choice === "auto" && (env === "native" || env === "reference") ? env : choice;
  if (want === "reference") return { kernels: referenceKernels() };
  const loaded = loadNativeAddon();
  if ("addon" in loaded) return { kernels: nativeKernels(loaded.addon) };
  const why = loaded.error;
  if (want === "native") throw new Error(`backend "native" requested but ${why}`);
  return { kernels: referenceKernels(), warning: `saelab: ${why}; using the reference TypeScript backend (slower)` };
}

/** Returns every backend available here (the reference always, the native addon when it loads), for suites and benchmarks. */
export function availableKernels(): Kernels[] {
  const loaded = loadNativeAddon();
  return "addon" in loaded ? [referenceKernels(), nativeKernels(loaded.addon)] : [referenceKernels()];
}
