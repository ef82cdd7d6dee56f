/**
 * Grid expansion: a parsed spec becomes a plan of cells. A cell is one seed and one value of every
 * swept world axis; all its SAEs (each SAE config at each sparsity level) train on one data stream
 * and are evaluated on one evaluation stream. Every cell's world is built here once, so an edit that
 * produces an invalid world, or marginals that compensation cannot reach, fails before training.
 */
import { UserError } from "../errors.js";
import { createWorld } from "../toy/world.js";
import type { WorldConfig } from "../toy/config.js";
import { applyWorldAxes, WORLD_AXES, WORLD_AXIS_NAMES, type WorldAxisName } from "./sweep-axes.js";
import { baseWorldConfig, specHash, sweepSaes, type SweepSae, type SweepSpec } from "./sweep-spec.js";

/** One cell of the grid. */
export interface SweepCell {
  /** Position in the plan (cells run in this order: seeds outermost, then world axes in WORLD_AXIS_NAMES order). */
  index: number;
  /** File-name-safe identity, e.g. `0003-seed1-childGivenParent0.5`. */
  id: string;
  seed: number;
  /** The value of each swept world axis in this cell. */
  values: Partial<Record<WorldAxisName, number>>;
  /** The base world after this cell's edits. */
  worldConfig: WorldConfig;
}

/** A validated, expanded sweep. */
export interface SweepPlan {
  spec: SweepSpec;
  hash: string;
  baseWorld: WorldConfig;
  /** The swept world axes with their values, in application order. */
  worldAxes: { name: WorldAxisName; values: number[] }[];
  saes: SweepSae[];
  cells: SweepCell[];
}

/** Returns the cartesian product of `lists` (the first list varies slowest). */
export function cartesian<T>(lists: readonly (readonly T[])[]): T[][] {
  return lists.reduce<T[][]>((acc, list) => acc.flatMap((prefix) => list.map((v) => [...prefix, v])), [[]]);
}

/** Returns the plan of a parsed spec, building each cell's world to check it. */
export function planSweep(spec: SweepSpec): SweepPlan {
  const baseWorld = baseWorldConfig(spec);
  const worldAxes = WORLD_AXIS_NAMES.filter((n) => spec.axes[n] !== undefined).map((name) => ({ name, values: [...spec.axes[name]!] }));
  const points = cartesian(worldAxes.map((a) => a.values));
  const worlds = points.map((point) => {
    const values = Object.fromEntries(worldAxes.map((a, i) => [a.name, point[i]!])) as Partial<Record<WorldAxisName, number>>;
    const where = describeValues(values);
    let worldConfig: WorldConfig;
    try {
      worldConfig = applyWorldAxes(baseWorld, values);
    } catch (e) {
      throw new UserError(`sweep cell ${where}: ${(e as Error).message}`);
    }
    const built = createWorld(worldConfig);
    if (built.unreachable.length > 0) {
      const f = built.unreachable;
      throw new UserError(
        `sweep cell ${where}: feature${f.length > 1 ? "s" : ""} ${f.join(", ")} cannot reach ${f.length > 1 ? "their" : "its"} configured firing rate ` +
          `(configured ${f.map((i) => built.targetProbability[i]!.toFixed(4)).join(", ")}, reachable ${f.map((i) => built.firingProbability[i]!.toFixed(4)).join(", ")}); choose smaller values`,
      );
    }
    return { values, worldConfig };
  });
  const cells: SweepCell[] = [];
  for (const seed of spec.seeds) {
    for (const w of worlds) {
      const index = cells.length;
      const tail = worldAxes.map((a) => `${a.name}${w.values[a.name]}`).join("-");
      cells.push({ index, id: `${String(index).padStart(4, "0")}-seed${seed}${tail ? `-${tail}` : ""}`, seed, values: w.values, worldConfig: w.worldConfig });
    }
  }
  return { spec, hash: specHash(spec), baseWorld, worldAxes, saes: sweepSaes(spec), cells };
}

/** Returns "(label value, ...)" for a cell's world-axis values, or "(base world)". */
export function describeValues(values: Partial<Record<WorldAxisName, number>>): string {
  const parts = WORLD_AXIS_NAMES.filter((n) => values[n] !== undefined).map((n) => `${WORLD_AXES[n].label} ${values[n]}`);
  return parts.length > 0 ? `(${parts.join(", ")})` : "(base world)";
}

/** Returns the number of SAEs trained in each cell (SAE configs x sparsity levels). */
export function saesPerCell(plan: SweepPlan): number {
  return plan.saes.reduce((s, c) => s + c.levels.length, 0);
}
