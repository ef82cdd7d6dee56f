/**
 * Backend selection: the native addon when it was built (see scripts/build-native.mjs), otherwise
 * the reference TypeScript kernels, with a warning the caller prints once. The native backend runs
 * on the best ISA library this CPU supports unless one is asked for.
 */
import { referenceKernels } from "./reference.js";
import { loadNativeAddon, nativeIsas, nativeKernels, NATIVE_ISAS, type IsaChoice } from "./native.js";
import type { Kernels } from "./kernels.js";

export type BackendChoice = "auto" | "native" | "reference";
export type { IsaChoice } from "./native.js";

/** The chosen kernels and, when the native addon was wanted but unavailable, why. */
export interface LoadedKernels {
  kernels: Kernels;
  warning?: string;
}

/** Returns the ISA choice named by a SAELAB_ISA value (undefined or "" = auto), or throws naming the allowed ones. */
export function parseIsa(value: string | undefined): IsaChoice {
  if (value === undefined || value === "" || value === "auto") return "auto";
  if ((NATIVE_ISAS as readonly string[]).includes(value)) return value as IsaChoice;
  throw new Error(`SAELAB_ISA must be one of ${NATIVE_ISAS.join(", ")} or auto, got "${value}"`);
}

/**
 * Returns kernels for `choice` ("auto" = native if available) on `isa` (default: SAELAB_ISA, else
 * the best the CPU runs). Asking for "native" explicitly when it is unavailable throws, and so does
 * an ISA this CPU cannot run. The environment variable SAELAB_BACKEND (native|reference) overrides "auto".
 */
export function loadKernels(choice: BackendChoice = "auto", isa?: IsaChoice): LoadedKernels {
  const env = process.env.SAELAB_BACKEND;
  if (choice === "auto" && env !== undefined && env !== "" && env !== "auto" && env !== "native" && env !== "reference") {
    throw new Error(`SAELAB_BACKEND must be "native", "reference" or "auto", got "${env}"`);
  }
  const want = choice === "auto" && (env === "native" || env === "reference") ? env : choice;
  if (want === "reference") return { kernels: referenceKernels() };
  const wantIsa = isa ?? parseIsa(process.env.SAELAB_ISA);
  const loaded = loadNativeAddon(wantIsa);
  if ("addon" in loaded) return { kernels: nativeKernels(loaded.addon) };
  const why = loaded.error;
  if (want === "native" || (wantIsa !== "auto" && nativeIsas().length > 0)) throw new Error(`backend "native" requested but ${why}`);
  return { kernels: referenceKernels(), warning: `saelab: ${why}; using the reference TypeScript backend (slower)` };
}

/**
 * Returns every backend available here, for suites and benchmarks: the reference always, and the
 * native addon on each ISA this CPU runs (only SAELAB_ISA's when it names one).
 */
export function availableKernels(): Kernels[] {
  const only = parseIsa(process.env.SAELAB_ISA);
  const isas = nativeIsas().filter((i) => only === "auto" || i === only);
  return [referenceKernels(), ...isas.map((i) => {
    const loaded = loadNativeAddon(i);
    if (!("addon" in loaded)) throw new Error(loaded.error);
    return nativeKernels(loaded.addon);
  })];
}

/** A backend's name with its ISA, e.g. "native (avx512)", for messages and test titles. */
export function backendLabel(k: Kernels): string {
  return k.isa ? `${k.name} (${k.isa})` : k.name;
}
