/**
 * `saelab sweep <spec.json> --out DIR` runs (or resumes) a sweep and writes report.html beside the
 * results; `saelab sweep report DIR` re-renders the report and the summary from a results directory,
 * finished or not. Both print the compact table and the summary of the pattern found (or, with
 * --json, one row per trained SAE).
 */
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import { readJsonFile } from "../io/world.js";
import { planSweep, saesPerCell, describeValues, type SweepPlan } from "../experiments/sweep-grid.js";
import { getSweepPreset, sweepPresetNames } from "../experiments/sweep-presets.js";
import { parseSweepSpec } from "../experiments/sweep-spec.js";
import { loadSweepResults, runSweep } from "../experiments/sweep.js";
import type { QueuedSweepEvent } from "../experiments/sweep-coordinator.js";
import { DEFAULT_CONNECT_TIMEOUT_S, parseQueueAddress } from "../experiments/sweep-queue.js";
import { runOnQueue } from "./sweep-queue.js";
import type { CellResult } from "../experiments/sweep-results.js";
import { sweepRows, sweepView } from "../report/sweep-data.js";
import { renderSweepHtml, type SweepReportMeta } from "../report/sweep-html.js";
import { renderSweepSummary, renderSweepTable } from "../report/sweep-text.js";
import type { CliIO, Command } from "./args.js";
import { shownPath } from "./paths.js";
import { createProgressBar } from "./progress.js";
import { backendLabel } from "../tensor/backend.js";
import { loadBackend } from "./train-run.js";
import { inlineSpecWorld } from "./world-source.js";

/** The report file a sweep writes into its results directory. */
export const SWEEP_REPORT_FILE = "report.html";

const SweepSchema = z
  .object({
    spec: z.string().min(1).optional().describe("The sweep spec, a JSON file (see docs/sweeps.md)."),
    preset: z.string().min(1).optional().describe(`A built-in spec instead of a file: ${sweepPresetNames().join(", ")}.`),
    out: z.string().min(1).default("saelab-sweep").describe("Results directory: manifest.json, cells/*.json and report.html. Rerunning with the same spec resumes."),
    json: z.boolean().default(false).describe("Print one JSON row per trained SAE instead of the table and summary."),
    backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
    workers: z
      .number()
      .int()
      .min(1)
      .max(16)
      .optional()
      .describe("Worker threads that train SAEs in parallel (default: the CPUs available, at most 4); the results do not depend on it."),
    queue: z
      .string()
      .min(1)
      .optional()
      .describe("redis://[USER:PASSWORD@]HOST:PORT[/DB]: enqueue the unfinished cells on this Redis for `saelab worker` processes (anywhere) and collect their results here."),
    "save-saes": z.string().min(1).optional().describe("With --queue: a directory every worker can write (shared storage) where each cell's SAEs are saved as <dir>/<cell>/<sae>."),
    connectTimeout: z.number().positive().default(DEFAULT_CONNECT_TIMEOUT_S).describe("With --queue: seconds to wait for Redis to answer before giving up."),
  })
  .strict();

const SweepReportSchema = z
  .object({
    dir: z.string().min(1).describe("A sweep results directory."),
    json: z.boolean().default(false).describe("Print one JSON row per trained SAE instead of the table and summary."),
  })
  .strict();

/** Returns the plan of the sweep spec file at `path`; a spec that plans an invalid cell is an error naming the file. */
export function planSweepFile(path: string): SweepPlan {
  const spec = parseSweepSpec(inlineSpecWorld(readJsonFile(path), path), path);
  try {
    return planSweep(spec);
  } catch (e) {
    if (e instanceof UserError) throw new UserError(`${path}: ${e.message}`);
    throw e;
  }
}

/** Returns the plan of the spec named by a file path or a preset. */
function loadPlan(opts: { spec?: string | undefined; preset?: string | undefined }, cwd: string): { plan: SweepPlan; source: string } {
  if ((opts.spec === undefined) === (opts.preset === undefined)) {
    throw new UserError(`sweep: give a spec .json file or --preset NAME (${sweepPresetNames().join(", ")}), ${opts.spec !== undefined ? "not both" : "one of them"}`);
  }
  if (opts.preset !== undefined) return { plan: planSweep(parseSweepSpec(getSweepPreset(opts.preset), `sweep preset ${opts.preset}`)), source: `--preset ${opts.preset}` };
  const path = resolve(cwd, opts.spec!);
  return { plan: planSweepFile(path), source: opts.spec! };
}

/** Prints the table and summary (or JSON rows) and writes report.html; returns the report's path. */
function report(io: CliIO, dir: string, given: string, plan: SweepPlan, results: readonly CellResult[], json: boolean, meta: SweepReportMeta): string {
  const view = sweepView(plan, results);
  const path = join(dir, SWEEP_REPORT_FILE);
  writeFileAtomic(path, renderSweepHtml(view, meta));
  if (json) io.out(JSON.stringify(sweepRows(results), null, 1));
  else io.out([renderSweepTable(view), "", ...renderSweepSummary(view).flatMap((p) => [p, ""]), `Report: ${join(shownPath(io.cwd, given, dir), SWEEP_REPORT_FILE)}`].join("\n"));
  return path;
}

export const sweepCommand: Command<typeof SweepSchema> = {
  path: ["sweep"],
  summary: "Sweep sparsity x co-occurrence x magnitude over SAE configs and report where absorption appears.",
  details:
    "A spec names a base world, axes that edit it (childGivenParent, parentProbability, childParentMagnitudeRatio, parentMagnitude),\n" +
    "sparsity levels (L1 for standard, L0 coefficient for jumprelu, k for the topk family), SAE configs, seeds and training settings.\n" +
    "Each cell (seed x world point) trains all its SAEs on one data stream and stores cells/<id>.json in --out; rerunning resumes.\n" +
    "report.html holds heatmaps of full absorption, SAEBench fraction, MCC, L0 and explained variance over each pair of axes.",
  schema: SweepSchema,
  positionals: [{ key: "spec", name: "spec.json", optional: true }],
  async run(opts, io) {
    const { plan, source } = loadPlan(opts, io.cwd);
    const out = resolve(io.cwd, opts.out);
    const kernels = loadBackend(opts.backend, io);
    if (opts.queue !== undefined && opts.workers !== undefined) throw new UserError("sweep: --workers sets this process's threads; with --queue the cells run in `saelab worker` processes (their --concurrency)");
    if (opts.queue === undefined && opts["save-saes"] !== undefined) throw new UserError("sweep: --save-saes goes with --queue (a local sweep keeps only the cell results)");
    const workers = opts.workers ?? Math.min(4, availableParallelism());
    const per = saesPerCell(plan);
    io.err(
      `saelab sweep ${plan.spec.name}: ${plan.cells.length} cells (${plan.spec.seeds.length} seed${plan.spec.seeds.length === 1 ? "" : "s"} x ${plan.cells.length / plan.spec.seeds.length} world points), ` +
        `${per} SAEs per cell, ${plan.spec.train.steps} steps of ${plan.spec.train.batchSize} samples, ${backendLabel(kernels)} backend, ` +
        (opts.queue === undefined ? `${workers} worker thread${workers === 1 ? "" : "s"}` : `cells queued on ${parseQueueAddress(opts.queue).shown}`),
    );
    const t0 = performance.now();
    const run =
      opts.queue === undefined
        ? await runSweep({ plan, out, kernels, workers, onEvent: progressHandler(io, plan) })
        : await runOnQueue({ plan, out, kernels, queue: opts.queue, saveSaes: opts["save-saes"] === undefined ? null : resolve(io.cwd, opts["save-saes"]), connectTimeout: opts.connectTimeout, onEvent: progressHandler(io, plan) });
    const wall = (performance.now() - t0) / 1000;
    const shown = shownPath(io.cwd, opts.out, out);
    io.err(`saelab sweep: ran ${run.ran} cell${run.ran === 1 ? "" : "s"}${run.skipped > 0 ? `, skipped ${run.skipped} already in ${shown}` : ""}, in ${wall.toFixed(1)} s`);
    const command = `saelab sweep ${source} --out ${shown}${opts.queue === undefined ? "" : ` --queue ${parseQueueAddress(opts.queue).shown}`}`;
    report(io, out, opts.out, plan, run.results, opts.json, { command, wallSeconds: wall });
    return 0;
  },
};

export const sweepReportCommand: Command<typeof SweepReportSchema> = {
  path: ["sweep", "report"],
  summary: "Re-render report.html and the summary of a sweep results directory (finished or not).",
  schema: SweepReportSchema,
  positionals: [{ key: "dir", name: "DIR" }],
  async run(opts, io) {
    const dir = resolve(io.cwd, opts.dir);
    const { plan, results, missing } = loadSweepResults(dir);
    if (missing.length > 0) io.err(`saelab sweep report: ${missing.length} of ${plan.cells.length} cells are not finished; the report covers the other ${results.length}`);
    report(io, dir, opts.dir, plan, results, opts.json, {});
    return 0;
  },
};

function progressHandler(io: CliIO, plan: SweepPlan): (e: QueuedSweepEvent) => void {
  const steps = plan.spec.train.steps;
  let bar: ReturnType<typeof createProgressBar> | null = null;
  let toRun = 0;
  let finished = 0;
  const current = new Map<number, number>();
  const draw = () => bar?.update(finished * steps + [...current.values()].reduce((a, b) => a + b, 0), { cells: `${finished}/${toRun}` });
  return (e) => {
    if (e.type === "start") {
      toRun = e.cells - e.finished;
      if (e.addedSeeds.length > 0) io.err(`saelab sweep: extending the stored sweep with seed${e.addedSeeds.length === 1 ? "" : "s"} ${e.addedSeeds.join(", ")}; its finished cells are kept`);
      if (e.finished > 0) io.err(`saelab sweep: resuming, ${e.finished} of ${e.cells} cells already finished`);
      bar = createProgressBar({ total: toRun * steps, label: "sweep", isTTY: io.isTTY, write: (t) => process.stderr.write(t), columns: process.stderr.columns, unit: "SAE-steps", rateOf: (d) => d * e.saesPerCell });
    } else if (e.type === "redo") {
      io.err(`saelab sweep: cell ${e.cell.id} will be run again: ${e.reason}`);
    } else if (e.type === "failed") {
      current.delete(e.cell.index);
      finished++;
      draw();
      if (finished === toRun) bar?.finish();
      io.err(`cell ${e.cell.id} ${describeValues(e.cell.values)} failed: ${e.reason}`);
    } else if (e.type === "step") {
      current.set(e.cell.index, e.step);
      draw();
    } else {
      current.delete(e.cell.index);
      finished++;
      draw();
      if (finished === toRun) bar?.finish();
      if (!io.isTTY) io.err(`cell ${finished}/${toRun} ${e.cell.id} ${describeValues(e.cell.values)}: trained in ${e.result.seconds.train.toFixed(1)} s, evaluated in ${e.result.seconds.eval.toFixed(1)} s`);
    }
  };
}
