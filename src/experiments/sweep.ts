/**
 * The sweep runner: trains and evaluates every cell of a plan and stores one JSON per cell in a
 * results directory, atomically, beside a manifest of the spec. Re-running with the same spec skips
 * finished cells, and a spec that only adds seeds extends the directory (sweep-extend.ts); a
 * directory holding another spec's results is refused. A cell's SAEs train on
 * one stream (step s: `world.sampler(mixSeed(seed, s))`, as `saelab train` draws it) from one
 * initialisation seed, split over worker threads without changing a bit, then are evaluated on one
 * evaluation stream; so the same spec gives the same numbers whatever the worker count or the
 * interruptions.
 */
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { readJsonFile } from "../io/world.js";
import type { Kernels } from "../tensor/kernels.js";
import type { WorldBatch } from "../toy/types.js";
import { createWorld } from "../toy/world.js";
import type { Sae } from "../sae/model.js";
import { evaluateSaes, sampleBatches } from "../metrics/evaluate.js";
import { EVAL_BATCH } from "./evaluate.js";
import { trainInWorkers, trainOnWorld } from "./parallel.js";
import { describeValues, planSweep, saesPerCell, type SweepCell, type SweepPlan } from "./sweep-grid.js";
import { WorldStatsAccumulator } from "./sweep-measure.js";
import { CELL_FORMAT, CellResultSchema, ManifestSchema, SWEEP_FORMAT, sweepMetrics, type CellResult, type Manifest } from "./sweep-results.js";
import { canonicalJson } from "../json.js";
import { addedSeeds, extendResults } from "./sweep-extend.js";
import { parseSweepSpec, sweepTrainConfig } from "./sweep-spec.js";

/** The manifest's file name. */
export const MANIFEST_FILE = "manifest.json";
/** The directory of cell files. */
export const CELLS_DIR = "cells";

/** Returns the path of a cell's result file. */
export function cellPath(dir: string, cell: Pick<SweepCell, "id">): string {
  return join(dir, CELLS_DIR, `${cell.id}.json`);
}

/** Returns the manifest describing `plan`. */
export function manifestOf(plan: SweepPlan): Manifest {
  return {
    format: SWEEP_FORMAT,
    specHash: plan.hash,
    spec: JSON.parse(JSON.stringify(plan.spec)) as Record<string, unknown>,
    baseWorld: JSON.parse(JSON.stringify(plan.baseWorld)) as Record<string, unknown>,
    cells: plan.cells.map((c) => ({ index: c.index, id: c.id, seed: c.seed, values: c.values as Record<string, number> })),
  };
}

/** Returns the first path at which two JSON values differ, e.g. `axes.childGivenParent[2]`, or null. */
export function firstDifference(a: unknown, b: unknown, path = ""): string | null {
  if (canonicalJson(a) === canonicalJson(b)) return null;
  const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const d = firstDifference(a[i], b[i], `${path}[${i}]`);
      if (d) return d;
    }
  } else if (isObj(a) && isObj(b) && !Array.isArray(a) && !Array.isArray(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const d = firstDifference(a[k], b[k], path ? `${path}.${k}` : k);
      if (d) return d;
    }
  }
  return path || "(top level)";
}

/** Returns the manifest of `dir`, or null when there is none; throws when it is unreadable. */
export function readManifest(dir: string): Manifest | null {
  const path = join(dir, MANIFEST_FILE);
  if (!existsSync(path)) return null;
  const r = ManifestSchema.safeParse(readJsonFile(path));
  if (!r.success) throw new UserError(`${path} is not a saelab sweep manifest (${r.error.issues[0]?.message ?? "bad format"})`);
  return r.data;
}

/**
 * Prepares `dir` for `plan`: writes the manifest, or checks that an existing one is the same spec;
 * returns the seeds `plan` adds when it extends the stored spec with more seeds (else []).
 */
export function openResultsDir(dir: string, plan: SweepPlan): number[] {
  const old = readManifest(dir);
  if (old) {
    if (old.specHash === plan.hash) return [];
    const now = manifestOf(plan);
    const added = addedSeeds(old, now);
    if (added) {
      extendResults(old, plan, (c) => cellPath(dir, c), join(dir, MANIFEST_FILE), `${JSON.stringify(now, null, 1)}\n`);
      return added;
    }
    const where = firstDifference({ spec: old.spec, baseWorld: old.baseWorld }, { spec: now.spec, baseWorld: now.baseWorld });
    throw new UserError(
      `${dir} holds results of a different sweep spec (they differ at ${where}); resuming would mix results. ` +
        "Use another --out directory, or delete this one to start over",
    );
  }
  if (existsSync(dir) && readdirSync(dir).length > 0) {
    throw new UserError(`${dir} exists, is not empty and has no ${MANIFEST_FILE}: it is not a sweep results directory; choose another --out`);
  }
  writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifestOf(plan), null, 1)}\n`);
  return [];
}

/** Returns the stored result of `cell`, or null with the reason when it is missing or unusable. */
export function readCell(dir: string, cell: SweepCell, hash: string): { result: CellResult } | { result: null; reason: string } {
  const path = cellPath(dir, cell);
  if (!existsSync(path)) return { result: null, reason: "missing" };
  let raw: unknown;
  try {
    raw = readJsonFile(path);
  } catch (e) {
    return { result: null, reason: (e as Error).message };
  }
  const r = CellResultSchema.safeParse(raw);
  if (!r.success) return { result: null, reason: `${path} is not a cell result (${r.error.issues[0]?.message ?? "bad format"})` };
  if (r.data.specHash !== hash || r.data.id !== cell.id) return { result: null, reason: `${path} belongs to another spec or cell` };
  return { result: r.data };
}

/** Progress and outcome events of a sweep. */
export type SweepEvent =
  | { type: "start"; cells: number; finished: number; saesPerCell: number; steps: number; addedSeeds: number[] }
  | { type: "redo"; cell: SweepCell; reason: string }
  | { type: "step"; cell: SweepCell; step: number }
  | { type: "cell"; cell: SweepCell; result: CellResult };

/** Options of `runSweep`. */
export interface RunSweepOptions {
  plan: SweepPlan;
  /** The results directory. */
  out: string;
  kernels: Kernels;
  /** Worker threads (1: train in this thread); results do not depend on it. */
  workers: number;
  onEvent?: (e: SweepEvent) => void;
}

/** What a sweep run did. */
export interface SweepRun {
  /** Every cell's result, in plan order. */
  results: CellResult[];
  ran: number;
  skipped: number;
}

/**
 * Opens `out` for `plan` and returns the stored results (by cell index) and the cells still to
 * run; emits a "redo" event per unusable cell file and the "start" event.
 */
export function startResults(plan: SweepPlan, out: string, onEvent?: (e: SweepEvent) => void): { results: (CellResult | undefined)[]; todo: SweepCell[] } {
  const added = openResultsDir(out, plan);
  const results = new Array<CellResult | undefined>(plan.cells.length);
  const todo: SweepCell[] = [];
  for (const cell of plan.cells) {
    const r = readCell(out, cell, plan.hash);
    if (r.result) results[cell.index] = r.result;
    else {
      if (r.reason !== "missing") onEvent?.({ type: "redo", cell, reason: r.reason });
      todo.push(cell);
    }
  }
  onEvent?.({ type: "start", cells: plan.cells.length, finished: plan.cells.length - todo.length, saesPerCell: saesPerCell(plan), steps: plan.spec.train.steps, addedSeeds: added });
  return { results, todo };
}

/** Returns every cell's result, running the cells that `out` does not hold yet and storing each as it finishes. */
export async function runSweep(opts: RunSweepOptions): Promise<SweepRun> {
  const { plan, out } = opts;
  const { results, todo } = startResults(plan, out, opts.onEvent);
  const perCell = saesPerCell(plan);
  // Few SAEs per cell: run several cells at once, so every worker has work.
  const workers = Math.max(1, opts.workers);
  const atOnce = Math.max(1, Math.min(todo.length, Math.floor(workers / perCell)));
  const perRun = Math.max(1, Math.floor(workers / atOnce));
  let next = 0;
  // After a failure the other lanes finish (and store) the cell they are on, but start no other.
  let failed = false;
  const lane = async () => {
    while (next < todo.length && !failed) {
      const cell = todo[next++]!;
      try {
        const result = await runCell(plan, cell, opts.kernels, workers > 1 ? perRun : 1, (step) => opts.onEvent?.({ type: "step", cell, step }));
        writeFileAtomic(cellPath(out, cell), `${JSON.stringify(result, null, 1)}\n`);
        results[cell.index] = result;
        opts.onEvent?.({ type: "cell", cell, result });
      } catch (e) {
        failed = true;
        // A diverged SAE (or any input problem) names the cell, so the user knows which corner of the grid failed.
        if (e instanceof UserError) throw new UserError(`sweep cell ${cell.id} ${describeValues(cell.values)}: ${e.message}`);
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: atOnce }, lane));
  return { results: results as CellResult[], ran: todo.length, skipped: plan.cells.length - todo.length };
}

/**
 * Returns one cell's result: its SAEs trained on one stream (in `workers` threads, or in this one
 * when workers is 1) and evaluated on the spec's evaluation stream, with the world's measured stats.
 * `onTrained` sees the trained SAEs with their names (to save them) before the evaluation.
 */
export async function runCell(
  plan: SweepPlan,
  cell: SweepCell,
  kernels: Kernels,
  workers: number,
  onStep?: (step: number) => void,
  onTrained?: (saes: readonly { name: string; sae: Sae }[]) => void,
): Promise<CellResult> {
  const world = createWorld(cell.worldConfig, { kernels });
  const entries = plan.saes.flatMap((s) => s.levels.map((l, level) => ({ sae: s, level, value: l.value, config: l.config })));
  const configs = entries.map((e) => e.config);
  const train = sweepTrainConfig(plan.spec, cell.seed);
  const t0 = performance.now();
  let saes: Sae[];
  if (workers > 1) {
    saes = await trainInWorkers({ world, configs, train, kernels, workers, ...(onStep ? { onProgress: (step: number) => onStep(step) } : {}) });
  } else {
    saes = trainOnWorld(kernels, world, configs, train, onStep ? (t) => onStep(t.step) : undefined).runs.map((r) => r.sae);
  }
  const t1 = performance.now();
  onTrained?.(saes.map((sae, i) => ({ name: entries[i]!.config.name ?? entries[i]!.sae.name, sae })));
  const stats = new WorldStatsAccumulator(world);
  function* measured(batches: Iterable<WorldBatch>): Generator<WorldBatch> {
    for (const b of batches) {
      stats.add(b);
      yield b;
    }
  }
  const ev = plan.spec.eval;
  const evals = evaluateSaes(saes, world, measured(sampleBatches(world.sampler(ev.seed), ev.samples, EVAL_BATCH)), ev.options ?? {}, kernels);
  const t2 = performance.now();
  return {
    format: CELL_FORMAT,
    specHash: plan.hash,
    index: cell.index,
    id: cell.id,
    seed: cell.seed,
    values: cell.values as Record<string, number>,
    world: stats.finish(),
    saes: entries.map((e, i) => ({
      name: e.config.name ?? e.sae.name,
      config: e.sae.name,
      level: e.value === null ? null : e.level,
      parameter: e.sae.parameter,
      value: e.value,
      architecture: e.sae.architecture,
      tied: evals[i]!.tied,
      ...sweepMetrics(evals[i]!),
      notes: evals[i]!.notes,
    })),
    seconds: { train: (t1 - t0) / 1000, eval: (t2 - t1) / 1000 },
  };
}

/** A results directory as read back: its plan and the cells finished so far. */
export interface SweepResults {
  plan: SweepPlan;
  /** Finished cells, in plan order. */
  results: CellResult[];
  /** Cells not finished (or unusable). */
  missing: SweepCell[];
}

/** Returns the plan and finished cells stored in `dir` (for `saelab sweep report`). */
export function loadSweepResults(dir: string): SweepResults {
  const manifest = readManifest(dir);
  if (!manifest) throw new UserError(`${dir} has no ${MANIFEST_FILE}: it is not a sweep results directory (run saelab sweep <spec.json> --out ${dir} first)`);
  const plan = planSweep(parseSweepSpec(manifest.spec, join(dir, MANIFEST_FILE)));
  if (plan.hash !== manifest.specHash) {
    const where = firstDifference(manifest.baseWorld, manifestOf(plan).baseWorld);
    throw new UserError(
      `${join(dir, MANIFEST_FILE)}: its spec no longer hashes to its specHash (${where ? `the base world now differs at ${where}: a preset changed since these results were written` : "written by another saelab version, or edited by hand"})`,
    );
  }
  const results: CellResult[] = [];
  const missing: SweepCell[] = [];
  for (const cell of plan.cells) {
    const r = readCell(dir, cell, plan.hash);
    if (r.result) results.push(r.result);
    else missing.push(cell);
  }
  return { plan, results, missing };
}
