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
 * Returns the backend asked for by `choice`, where "auto" defers to `fallback` (the environment's
 * SAELAB_BACKEND, which the CLI and the benches read once and pass here); throws on a value that
 * is not a backend. Library code never reads the environment itself.
 */
export function resolveBackend(choice: BackendChoice, fallback: string | undefined): BackendChoice {
  if (choice !== "auto" || fallback === undefined || fallback === "") return choice;
  if (fallback !== "auto" && fallback !== "native" && fallback !== "reference") throw new Error(`SAELAB_BACKEND must be "native", "reference" or "auto", got "${fallback}"`);
  return fallback;
}

/** Returns kernels for `choice` ("auto" = native if available). Asking for "native" explicitly when it is unavailable throws. */
export function loadKernels(choice: BackendChoice = "auto"): LoadedKernels {
  if (choice === "reference") return { kernels: referenceKernels() };
  const loaded = loadNativeAddon();
  if ("addon" in loaded) return { kernels: nativeKernels(loaded.addon) };
  const why = loaded.error;
  if (choice === "native") throw new Error(`backend "native" requested but ${why}`);
  return { kernels: referenceKernels(), warning: `saelab: ${why}; using the reference TypeScript backend (slower)` };
}

/** Returns every backend available here (the reference always, the native addon when it loads), for suites and benchmarks. */
export function availableKernels(): Kernels[] {
  const loaded = loadNativeAddon();
  return "addon" in loaded ? [referenceKernels(), nativeKernels(loaded.addon)] : [referenceKernels()];
}
