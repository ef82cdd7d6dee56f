/**
 * Sweep axes. A world axis is a named pure function (base world config, value) -> world config that
 * edits the world's explicit hierarchy: how often a child fires with its parent, how often the parent
 * fires, how strong children are relative to their parent. The sparsity axis edits SAE configs
 * instead: level i sets each architecture's sparsity parameter (its registry entry's
 * `sparsityParameter`: L1 for standard, L0 for jumprelu, k for the topk family) to the i-th value of
 * that parameter's list.
 *
 * Edits work on configured marginals, so they need `compensateProbabilities: true` (otherwise a
 * child's configured probability is a per-draw chance, not its marginal) and an explicit hierarchy
 * (`hierarchy.nodes`: a generated forest's shape is only known once built). Anything an edit cannot
 * honour is a UserError naming the axis, the value and the reason; nothing is clamped.
 */
import { z } from "zod";
import { UserError } from "../errors.js";
import { finite } from "../schema.js";
import { Rng } from "../tensor/rng.js";
import { WorldConfigSchema, type MagnitudeProfile, type WorldConfig } from "../toy/config.js";
import { firingProfile, magnitudeProfile } from "../toy/profiles.js";
import { architectureDefs, isArchitectureId, type ArchitectureId } from "../sae/registry.js";

/** One world axis: what its value means and the edit it makes. */
export interface WorldAxisDef {
  /** Short label for tables and plots. */
  label: string;
  /** What the value sets (help text and docs). */
  description: string;
  /** Values allowed: a probability in [0, 1], or a positive number. */
  domain: "probability" | "positive";
  /** The edit: a new, validated config; `base` is not modified. */
  edit(base: WorldConfig, value: number): WorldConfig;
}

interface Edge {
  parent: number;
  child: number;
  mutuallyExclusive: boolean;
  siblings: number;
}

/** Returns the explicit hierarchy's edges, parents before their children, or throws naming the axis. */
function explicitEdges(cfg: WorldConfig, axis: string): Edge[] {
  const nodes = cfg.hierarchy?.nodes;
  if (!nodes || nodes.length === 0) {
    throw new UserError(
      `sweep axis ${axis} edits the world's hierarchy, but the base world has ${cfg.hierarchy?.generate ? "a generated forest (hierarchy.generate)" : "no hierarchy"}; ` +
        "give explicit parent -> children lists in hierarchy.nodes",
    );
  }
  if (!cfg.compensateProbabilities) {
    throw new UserError(`sweep axis ${axis} sets marginal firing rates, so the base world needs compensateProbabilities: true (without it a child's configured probability is a per-draw chance, not its marginal)`);
  }
  const parentOf = new Map<number, number>();
  for (const n of nodes) for (const c of n.children) parentOf.set(c, n.feature);
  const depth = (f: number): number => {
    let d = 0;
    for (let p = parentOf.get(f); p !== undefined; p = parentOf.get(p)) d++;
    return d;
  };
  return [...nodes]
    .sort((a, b) => depth(a.feature) - depth(b.feature) || a.feature - b.feature)
    .flatMap((n) => n.children.map((child) => ({ parent: n.feature, child, mutuallyExclusive: n.mutuallyExclusive, siblings: n.children.length })));
}

/** Roots of the explicit trees: parents that are nobody's child. */
function treeRoots(edges: readonly Edge[]): number[] {
  const children = new Set(edges.map((e) => e.child));
  return [...new Set(edges.map((e) => e.parent))].filter((p) => !children.has(p));
}

/** Returns every feature's configured probability as an editable list (dense features are refused by `setProbability`). */
function probabilities(cfg: WorldConfig): number[] {
  return Array.from(firingProfile(cfg));
}

function setProbability(cfg: WorldConfig, p: number[], f: number, value: number, axis: string): void {
  if (cfg.dense?.features.includes(f)) throw new UserError(`sweep axis ${axis} would set the probability of feature ${f}, which the base world lists as dense (dense.probability overrides it)`);
  if (!(value >= 0 && value <= 1)) throw new UserError(`sweep axis ${axis} would give feature ${f} firing probability ${value}, outside [0, 1]`);
  p[f] = value;
}

/** Returns a magnitude profile as one value per feature, exactly as createWorld computes it (folded-normal draws included). */
function magnitudes(cfg: WorldConfig, key: "mean" | "std"): number[] {
  return Array.from(magnitudeProfile(cfg.magnitude[key], cfg.nFeatures, new Rng(cfg.seed).fork(`magnitude.${key}`)));
}

/** Returns `edited` validated as a world config, naming the axis and value when it is not one. */
function revalidate(edited: WorldConfig, axis: string, value: number): WorldConfig {
  const r = WorldConfigSchema.safeParse(edited);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new UserError(`sweep axis ${axis} = ${value} makes an invalid world: ${why}`);
  }
  return r.data;
}

function withFiring(base: WorldConfig, p: number[], axis: string, value: number): WorldConfig {
  return revalidate({ ...structuredClone(base), firing: { kind: "list", probabilities: p } }, axis, value);
}

/** Scales feature f's mean to `mean` and its std by the same factor, so the spread stays proportional. */
function scaleMagnitude(mean: number[], std: number[], f: number, to: number): void {
  const factor = to / mean[f]!;
  mean[f] = to;
  std[f] = std[f]! * factor;
}

function withMagnitudes(base: WorldConfig, mean: number[], std: number[], axis: string, value: number): WorldConfig {
  const list = (values: number[]): MagnitudeProfile => ({ kind: "list", values });
  return revalidate({ ...structuredClone(base), magnitude: { mean: list(mean), std: list(std) } }, axis, value);
}

/** The world axes by name; a spec's `axes` object has one optional key per entry, applied in this order. */
export const WORLD_AXES = {
  parentProbability: {
    label: "P(parent)",
    domain: "probability",
    description:
      "Marginal firing probability of every tree root of the explicit hierarchy; each descendant's marginal is scaled by the same factor, so P(child | parent) stays as configured.",
    edit(base, value) {
      const axis = "parentProbability";
      const edges = explicitEdges(base, axis);
      const p = probabilities(base);
      const old = [...p];
      for (const r of treeRoots(edges)) {
        if (!(old[r]! > 0)) throw new UserError(`sweep axis ${axis}: root ${r} has probability 0 in the base world, so its children's conditional rates are undefined`);
        setProbability(base, p, r, value, axis);
      }
      for (const e of edges) setProbability(base, p, e.child, (old[e.child]! / old[e.parent]!) * p[e.parent]!, axis);
      return withFiring(base, p, axis, value);
    },
  },
  childGivenParent: {
    label: "P(child|parent)",
    domain: "probability",
    description:
      "P(child fires | parent fires) for every parent -> child edge of the explicit hierarchy: each child's marginal becomes value x its parent's marginal. Mutually exclusive siblings need value x (number of siblings) <= 1.",
    edit(base, value) {
      const axis = "childGivenParent";
      const edges = explicitEdges(base, axis);
      const p = probabilities(base);
      for (const e of edges) {
        if (e.mutuallyExclusive && value * e.siblings > 1 + 1e-12) {
          throw new UserError(`sweep axis ${axis} = ${value}: feature ${e.parent} has ${e.siblings} mutually exclusive children, so P(child | parent) can be at most 1/${e.siblings} = ${(1 / e.siblings).toFixed(4)}`);
        }
        setProbability(base, p, e.child, value * p[e.parent]!, axis);
      }
      return withFiring(base, p, axis, value);
    },
  },
  parentMagnitude: {
    label: "parent magnitude",
    domain: "positive",
    description: "Mean magnitude of every tree root of the explicit hierarchy (its std scales with it); children keep theirs, so the child/parent ratio changes too.",
    edit(base, value) {
      const axis = "parentMagnitude";
      const edges = explicitEdges(base, axis);
      const mean = magnitudes(base, "mean");
      const std = magnitudes(base, "std");
      for (const r of treeRoots(edges)) scaleMagnitude(mean, std, r, value);
      return withMagnitudes(base, mean, std, axis, value);
    },
  },
  childParentMagnitudeRatio: {
    label: "child/parent magnitude",
    domain: "positive",
    description: "Each child's mean magnitude becomes value x its parent's mean magnitude (its std scales with it), for every edge of the explicit hierarchy.",
    edit(base, value) {
      const axis = "childParentMagnitudeRatio";
      const edges = explicitEdges(base, axis);
      const mean = magnitudes(base, "mean");
      const std = magnitudes(base, "std");
      for (const e of edges) scaleMagnitude(mean, std, e.child, value * mean[e.parent]!);
      return withMagnitudes(base, mean, std, axis, value);
    },
  },
} as const satisfies Record<string, WorldAxisDef>;

export type WorldAxisName = keyof typeof WORLD_AXES;
/** World axis names in application order (roots before children, so conditional edits see the final parent). */
export const WORLD_AXIS_NAMES = Object.keys(WORLD_AXES) as WorldAxisName[];

/** Returns the world config after applying each given axis value in WORLD_AXIS_NAMES order. */
export function applyWorldAxes(base: WorldConfig, values: Partial<Record<WorldAxisName, number>>): WorldConfig {
  let cfg = base;
  for (const name of WORLD_AXIS_NAMES) {
    const v = values[name];
    if (v !== undefined) cfg = WORLD_AXES[name].edit(cfg, v);
  }
  return cfg;
}

/** The sparsity parameter each architecture's sweep sets (from the registry; architectures without one are absent). */
export const SPARSITY_PARAMETER: Readonly<Partial<Record<ArchitectureId, string>>> = Object.fromEntries(
  architectureDefs().flatMap((d) => (d.sparsityParameter ? [[d.id, d.sparsityParameter]] : [])),
);

/** Returns the parameter the sparsity axis sets for an architecture id (anything a spec holds), or undefined when it has none. */
export function sparsityParameterOf(architecture: unknown): string | undefined {
  return isArchitectureId(architecture) ? SPARSITY_PARAMETER[architecture] : undefined;
}

/** Returns the architectures whose sparsity parameter is `param`. */
export function architecturesWithSparsity(param: string): ArchitectureId[] {
  return (Object.keys(SPARSITY_PARAMETER) as ArchitectureId[]).filter((a) => SPARSITY_PARAMETER[a] === param);
}

/** One list per sparsity parameter in the registry; the values are checked against each SAE's own config schema at each level. */
function sparsityLists(): Record<string, z.ZodOptional<z.ZodArray<z.ZodNumber>>> {
  const lists: Record<string, z.ZodOptional<z.ZodArray<z.ZodNumber>>> = {};
  // Penalty coefficients first, then counts (k): the key order of every manifest written so far.
  const penalties = new Set<string | undefined>(architectureDefs().map((d) => d.penalty?.coefficient));
  const params = [...new Set(Object.values(SPARSITY_PARAMETER))].sort((a, b) => Number(penalties.has(b)) - Number(penalties.has(a)));
  for (const param of params) {
    const archs = architecturesWithSparsity(param);
    lists[param] = z
      .array(finite().refine((v) => v >= 0, "must be >= 0"))
      .min(1)
      .optional()
      .describe(`${param} of ${archs.slice(0, -1).join(", ")}${archs.length > 1 ? " and " : ""}${archs.at(-1)} SAEs, one per level.`);
  }
  return lists;
}

/** The sparsity axis: one list per parameter, all of the same length; level i uses the i-th value of each. */
export const SparsityAxisSchema = z
  .object(sparsityLists())
  .strict()
  .describe("Sparsity levels: level i sets each SAE's sparsity parameter to the i-th value of its list (order the lists from weak to strong sparsity).");
export type SparsityAxis = z.infer<typeof SparsityAxisSchema>;

/** Returns the number of levels of a sparsity axis (the common length of its lists). */
export function sparsityLevels(axis: SparsityAxis): number {
  const lengths = Object.values(axis).flatMap((l) => (l ? [l.length] : []));
  return lengths.length === 0 ? 0 : Math.max(...lengths);
}
