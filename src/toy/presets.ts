/**
 * Built-in worlds, looked up by name. Each is a plain config validated by WorldConfigSchema.
 */
import { UserError } from "../errors.js";
import type { WorldConfigInput } from "./config.js";

/**
 * One parent (feature 0) with three mutually exclusive children (1-3) and four independent
 * features, orthogonal in 50 dimensions. Compensation keeps the marginals as written: the parent
 * fires in 25% of samples, each child in 6% (so 72% of the parent's firings carry a child), which
 * is the regime where an L1 SAE folds the parent into its children.
 */
const absorptionBasic: WorldConfigInput = {
  nFeatures: 8,
  dModel: 50,
  seed: 0,
  firing: { kind: "list", probabilities: [0.25, 0.06, 0.06, 0.06, 0.1, 0.1, 0.05, 0.05] },
  magnitude: { mean: { kind: "constant", value: 1 }, std: { kind: "constant", value: 0.1 } },
  hierarchy: { nodes: [{ feature: 0, children: [1, 2, 3], mutuallyExclusive: true }] },
  compensateProbabilities: true,
};

/**
 * SynthSAEBench-16k (Chanin & Garriga-Alonso, 2026) as configured in SAELens's docs, except that
 * the 100-step orthogonalisation is off (see docs/toy-worlds.md: it costs ~80 TFLOP).
 */
const synthSaeBench16k: WorldConfigInput = {
  nFeatures: 16384,
  dModel: 768,
  seed: 42,
  firing: { kind: "zipf", exponent: 0.5, max: 0.4, min: 5e-4 },
  magnitude: {
    mean: { kind: "linear", start: 5, end: 4 },
    std: { kind: "folded_normal", mean: 0.5, std: 0.5 },
  },
  hierarchy: {
    generate: { roots: 128, branching: 4, depth: 3, mutuallyExclusivePortion: 1 },
    scaleChildrenByParent: true,
  },
  correlation: { kind: "low_rank", rank: 25, scale: 0.1 },
  biasNorm: 0.5,
  compensateProbabilities: true,
};

/** The built-in worlds by name. */
export const PRESETS = {
  "absorption-basic": absorptionBasic,
  "synthsaebench-16k": synthSaeBench16k,
} as const satisfies Record<string, WorldConfigInput>;

export type PresetName = keyof typeof PRESETS;

/** Returns the names of the built-in worlds. */
export function presetNames(): PresetName[] {
  return Object.keys(PRESETS) as PresetName[];
}

/** Returns a copy of the named preset's config, or throws a UserError listing the valid names. */
export function getPreset(name: string): WorldConfigInput {
  if (!Object.hasOwn(PRESETS, name)) {
    throw new UserError(`unknown world preset "${name}"; the presets are: ${presetNames().join(", ")}`);
  }
  return structuredClone(PRESETS[name as PresetName]) as WorldConfigInput;
}
