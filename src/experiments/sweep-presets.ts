/** Built-in sweep specs, looked up by name (each a plain spec validated by SweepSpecSchema). */
import { UserError } from "../errors.js";
import type { SweepSpecInput } from "./sweep-spec.js";

/**
 * Sparsity level x P(child | parent) on absorption-basic (one parent with three mutually exclusive
 * children), for untied and tied standard and topk SAEs and a matryoshka_batchtopk SAE: where does
 * absorption appear, and does tying prevent it? Sized to finish in a few minutes on 2 cores.
 */
const absorptionL1xCooc: SweepSpecInput = {
  name: "absorption-l1xcooc",
  description:
    "absorption-basic with P(child | parent) swept from rare to the most three mutually exclusive children allow (1/3), crossed with four sparsity levels " +
    "(L1 for the standard SAEs, k for the topk family), for untied and tied standard and topk SAEs and a matryoshka_batchtopk SAE.",
  world: "absorption-basic",
  axes: {
    sparsity: { l1Coefficient: [0.03, 0.1, 0.3, 1], k: [4, 3, 2, 1] },
    childGivenParent: [0.05, 0.15, 0.25, 0.33],
  },
  saes: [
    { architecture: "standard", name: "standard-untied", dSae: 16 },
    { architecture: "standard", name: "standard-tied", dSae: 16, tying: "tied" },
    { architecture: "topk", name: "topk-untied", dSae: 16 },
    { architecture: "topk", name: "topk-tied", dSae: 16, tying: "tied" },
    { architecture: "matryoshka_batchtopk", name: "matryoshka_batchtopk", dSae: 16, matryoshkaWidths: [4, 16] },
  ],
  seeds: [1],
  train: { steps: 2000, batchSize: 1024, lr: 3e-3 },
  eval: { samples: 20_000 },
};

/**
 * Sparsity level x P(child | parent) x child/parent magnitude ratio on absorption-basic, for untied
 * and tied standard and topk SAEs: the three-way sweep, at a coarser grid than absorption-l1xcooc.
 */
const absorptionL1xCoocxMag: SweepSpecInput = {
  name: "absorption-l1xcoocxmag",
  description:
    "absorption-basic with P(child | parent) (0.15 or 1/3) crossed with the children's magnitude relative to the parent's (0.5, 1, 2) and three sparsity levels, " +
    "for untied and tied standard and topk SAEs.",
  world: "absorption-basic",
  axes: {
    sparsity: { l1Coefficient: [0.1, 0.3, 1], k: [3, 2, 1] },
    childGivenParent: [0.15, 0.33],
    childParentMagnitudeRatio: [0.5, 1, 2],
  },
  saes: [
    { architecture: "standard", name: "standard-untied", dSae: 16 },
    { architecture: "standard", name: "standard-tied", dSae: 16, tying: "tied" },
    { architecture: "topk", name: "topk-untied", dSae: 16 },
    { architecture: "topk", name: "topk-tied", dSae: 16, tying: "tied" },
  ],
  seeds: [1],
  train: { steps: 2000, batchSize: 1024, lr: 3e-3 },
  eval: { samples: 20_000 },
};

/** The built-in sweep specs by name. */
export const SWEEP_PRESETS = {
  "absorption-l1xcooc": absorptionL1xCooc,
  "absorption-l1xcoocxmag": absorptionL1xCoocxMag,
} as const satisfies Record<string, SweepSpecInput>;

/** Returns the names of the built-in sweep specs. */
export function sweepPresetNames(): string[] {
  return Object.keys(SWEEP_PRESETS);
}

/** Returns a copy of the named built-in spec, or throws a UserError listing the names. */
export function getSweepPreset(name: string): SweepSpecInput {
  if (!Object.hasOwn(SWEEP_PRESETS, name)) throw new UserError(`unknown sweep preset "${name}"; the presets are: ${sweepPresetNames().join(", ")}`);
  return structuredClone(SWEEP_PRESETS[name as keyof typeof SWEEP_PRESETS]);
}
