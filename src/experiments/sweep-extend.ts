/**
 * Extending a sweep with more seeds: when a results directory holds a spec that differs from the new
 * one only by having fewer seeds (same grid, SAEs, training, evaluation and base world), its finished
 * cells are kept, re-labelled for the new spec (its hash, and the cell's index and id in the new
 * plan), and only the new seeds' cells run. The manifest is rewritten last, so an interrupted
 * extension is picked up by the next run (cells carrying either hash are accepted).
 */
import { existsSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../io/atomic.js";
import { readJsonFile } from "../io/world.js";
import { canonicalJson } from "../json.js";
import type { SweepCell, SweepPlan } from "./sweep-grid.js";
import { CellResultSchema, type Manifest } from "./sweep-results.js";

/** Returns the seeds `plan` adds to the spec in `old`, or null when the specs differ otherwise (or the new one drops a seed). */
export function addedSeeds(old: Manifest, now: Manifest): number[] | null {
  const oldSeeds = (old.spec.seeds ?? []) as number[];
  const newSeeds = (now.spec.seeds ?? []) as number[];
  if (!oldSeeds.every((s) => newSeeds.includes(s))) return null;
  const same = canonicalJson({ ...old.spec, seeds: null, baseWorld: old.baseWorld }) === canonicalJson({ ...now.spec, seeds: null, baseWorld: now.baseWorld });
  if (!same) return null;
  const added = newSeeds.filter((s) => !oldSeeds.includes(s));
  return added.length > 0 ? added : null;
}

/**
 * Re-labels the finished cells of `old` (stored under `cellPathOf`) as cells of `plan`, writes
 * `manifestText` as the new manifest at `manifestPath`, and returns how many cells were kept.
 */
export function extendResults(old: Manifest, plan: SweepPlan, cellPathOf: (cell: Pick<SweepCell, "id">) => string, manifestPath: string, manifestText: string): number {
  const key = (seed: number, values: Record<string, number>) => canonicalJson({ seed, values });
  const byKey = new Map(plan.cells.map((c) => [key(c.seed, c.values as Record<string, number>), c]));
  let kept = 0;
  for (const o of old.cells) {
    const cell = byKey.get(key(o.seed, o.values));
    const from = cellPathOf(o);
    if (!cell || !existsSync(from)) continue;
    const r = CellResultSchema.safeParse(safeRead(from));
    if (!r.success || (r.data.specHash !== old.specHash && r.data.specHash !== plan.hash) || r.data.seed !== o.seed) continue;
    const to = cellPathOf(cell);
    writeFileAtomic(to, `${JSON.stringify({ ...r.data, specHash: plan.hash, index: cell.index, id: cell.id }, null, 1)}\n`);
    if (to !== from) rmSync(from, { force: true });
    kept++;
  }
  writeFileAtomic(manifestPath, manifestText);
  return kept;
}

function safeRead(path: string): unknown {
  try {
    return readJsonFile(path);
  } catch {
    return null;
  }
}
