/**
 * Backend selection: the native addon when it was built (see scripts/build-native.mjs), otherwise
 * the reference TypeScript kernels, with a warning the caller prints once. The native backend runs
 * on the best ISA library this CPU supports unless one is asked for.
 */
import { referenceKernels } from "./reference.js";
import { loadNativeAddon, nativeIsas, nativeKernels, NATIVE_ISAS, setNativeThreads, type IsaChoice } from "./native.js";
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

/** Returns the native thread count named by a SAELAB_THREADS value (undefined or "": the CPUs available), or throws. */
export function parseThreads(value: string | undefined): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new Error(`SAELAB_THREADS must be an integer from 1 to 64, got "${value}"`);
  return n;
}

/** Sizes the native thread pool from a SAELAB_THREADS value (the CLI and the benches pass the environment's, once, before any kernel runs). */
export function configureThreads(value: string | undefined): void {
  setNativeThreads(parseThreads(value));
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

/**
 * Returns kernels for `choice` ("auto" = native if available) on `isa` ("auto": the best the CPU
 * runs; the CLI and the benches pass SAELAB_ISA through parseIsa). Asking for "native" explicitly
 * when it is unavailable throws, and so does an ISA this CPU cannot run.
 */
export function loadKernels(choice: BackendChoice = "auto", isa: IsaChoice = "auto"): LoadedKernels {
  if (choice === "reference") return { kernels: referenceKernels() };
  const loaded = loadNativeAddon(isa);
  if ("addon" in loaded) return { kernels: nativeKernels(loaded.addon) };
  const why = loaded.error;
  if (choice === "native" || (isa !== "auto" && nativeIsas().length > 0)) throw new Error(`backend "native" requested but ${why}`);
  return { kernels: referenceKernels(), warning: `saelab: ${why}; using the reference TypeScript backend (slower)` };
}

/**
 * Returns every backend available here, for suites and benchmarks: the reference always, and the
 * native addon on each ISA this CPU runs (only `only`'s when it names one, e.g. parseIsa(SAELAB_ISA)).
 */
export function availableKernels(only: IsaChoice = "auto"): Kernels[] {
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
