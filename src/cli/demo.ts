/**
 * `saelab demo`: trains an untied and a tied standard SAE, a topk and a matryoshka_batchtopk SAE on
 * one data stream from the absorption-basic world, evaluates them on one evaluation stream, prints
 * the results table with a reading, and writes report.html, results.json, the SAEs (SAELens
 * directories) and the world to --out, so `saelab eval` can re-measure any of them.
 */
import { availableParallelism } from "node:os";
import { join, relative, resolve } from "node:path";
import { z } from "zod";
import { parseConfig } from "../errors.js";
import { DEMO_WORLD_DIR, DemoConfigSchema, runDemo, saveDemo, type DemoConfig, type DemoResult } from "../experiments/demo.js";
import { DEFAULT_EVAL_SAMPLES, DEFAULT_EVAL_SEED } from "../experiments/evaluate.js";
import { writeFileAtomic } from "../io/atomic.js";
import { presetNames } from "../toy/presets.js";
import type { ToyWorld } from "../toy/world.js";
import type { Kernels } from "../tensor/kernels.js";
import { renderReportHtml } from "../report/html.js";
import { renderReading } from "../report/reading.js";
import { summaryRows, type ReportInput } from "../report/summary.js";
import { renderTable } from "../report/text.js";
import type { CliIO, Command } from "./args.js";
import { shownPath } from "./paths.js";
import { createProgressBar, createProgressLines, progressBar } from "./progress.js";
import { backendLabel } from "../tensor/backend.js";
import { loadBackend } from "./train-run.js";
import { loadWorldSource } from "./world-source.js";

const DemoSchema = z
  .object({
    ...DemoConfigSchema.shape,
    out: z.string().min(1).default("saelab-demo").describe("Directory for report.html, results.json, the trained SAEs and the world."),
    json: z.boolean().default(false).describe("Print the results table as JSON (one object per SAE) instead of the table and reading."),
    backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
    workers: z
      .number()
      .int()
      .min(1)
      .max(4)
      .optional()
      .describe("Worker threads that train the SAEs in parallel (default: the CPUs available, at most 4); the results do not depend on it."),
  })
  .strict();

type DemoFlags = z.infer<typeof DemoSchema>;

/** The report file the demo writes. */
export const REPORT_FILE = "report.html";
/** The full evaluations (the report's input) as JSON. */
export const RESULTS_FILE = "results.json";

/** Returns the world named by the demo's `world` setting: a preset name first, otherwise a path. */
export function demoWorld(name: string, cwd: string, kernels: Kernels): ToyWorld {
  const isPreset = (presetNames() as string[]).includes(name);
  return loadWorldSource(isPreset ? { preset: name } : { world: name }, cwd, { kernels });
}

/** Returns the command line that reproduces a run, with only the flags that differ from the defaults. */
function commandLine(opts: DemoFlags): string {
  const defaults = DemoSchema.parse({});
  const flags = Object.entries(opts)
    .filter(([k, v]) => JSON.stringify(v) !== JSON.stringify((defaults as Record<string, unknown>)[k]))
    .map(([k, v]) => (typeof v === "boolean" ? `--${k}` : `--${k} ${Array.isArray(v) ? v.join(",") : String(v)}`));
  return ["saelab demo", ...flags].join(" ");
}

export const demoCommand: Command<typeof DemoSchema> = {
  path: ["demo"],
  summary: "Train tied and untied SAEs on the absorption-basic world and report absorption.",
  details:
    "Four SAEs (untied standard, tied standard, topk, matryoshka_batchtopk) are trained on the same batches, then measured on\n" +
    "the same evaluation samples: L0, explained variance, MCC against the true features, and absorption of each parent into\n" +
    "its children. --out gets report.html (self-contained), results.json, one SAELens directory per SAE and the world, so\n" +
    "`saelab eval <out>/<sae> --world <out>/world` re-measures any of them with the same numbers.",
  schema: DemoSchema,
  async run(opts, io) {
    const config: DemoConfig = parseConfig(
      DemoConfigSchema,
      Object.fromEntries(Object.keys(DemoConfigSchema.shape).map((k) => [k, (opts as Record<string, unknown>)[k]])),
      "arguments to 'saelab demo'",
    );
    const out = resolve(io.cwd, opts.out);
    const kernels = loadBackend(opts.backend, io);
    const world = demoWorld(config.world, io.cwd, kernels);
    const workers = opts.workers ?? Math.min(4, availableParallelism());
    io.err(`saelab demo: world ${config.world} (${world.nFeatures} features in ${world.dModel} dimensions), 4 SAEs of ${config.dSae} latents, ${config.steps} steps of ${config.batchSize} samples on the ${backendLabel(kernels)} backend${config.precision === "bf16" ? ` (precision bf16, ${kernels.bf16})` : ""}, ${workers} worker thread${workers === 1 ? "" : "s"}`);
    const result = await runWithProgress(config, world, kernels, workers, io);
    const input: ReportInput = {
      title: `saelab demo: absorption on ${config.world}`,
      world: { name: config.world, nFeatures: world.nFeatures, dModel: world.dModel },
      command: commandLine(opts),
      saes: result.evaluations,
    };
    const dirs = saveDemo(out, result, world);
    writeFileAtomic(join(out, RESULTS_FILE), `${JSON.stringify({ ...input, demo: result.config }, null, 1)}\n`);
    writeFileAtomic(join(out, REPORT_FILE), renderReportHtml(input));
    const shown = shownPath(io.cwd, opts.out, out);
    io.err(
      `saelab demo: trained in ${result.trainSeconds.toFixed(1)} s, evaluated on ${config.evalSamples} samples in ${result.evalSeconds.toFixed(1)} s; ` +
        `wrote ${join(shown, REPORT_FILE)}, ${join(shown, RESULTS_FILE)}, ${dirs.length} SAE directories and ${join(shown, DEMO_WORLD_DIR)}/`,
    );
    if (opts.json) {
      io.out(JSON.stringify(summaryRows(input), null, 2));
      return 0;
    }
    // The eval flags that reproduce the demo's evaluation stream, when they are not eval's defaults.
    const evalFlags = `${config.evalSamples !== DEFAULT_EVAL_SAMPLES ? ` --n ${config.evalSamples}` : ""}${config.evalSeed !== DEFAULT_EVAL_SEED ? ` --seed ${config.evalSeed}` : ""}`;
    const first = join(shown, relative(out, dirs[0]!));
    io.out([renderTable(input), "", renderReading(input), "", `Report: ${join(shown, REPORT_FILE)}`, `Re-measure one: saelab eval ${first} --world ${join(shown, DEMO_WORLD_DIR)}${evalFlags}`].join("\n"));
    return 0;
  },
};

async function runWithProgress(config: DemoConfig, world: ToyWorld, kernels: Kernels, workers: number, io: CliIO): Promise<DemoResult> {
  const common = { total: config.steps, label: "train", unit: "samples", rateOf: (done: number) => done * config.batchSize };
  // On a terminal a redrawn bar; in a log (stderr not a TTY) ten plain lines, as saelab train.
  const bar = io.isTTY
    ? createProgressBar({ ...common, isTTY: true, write: (t) => process.stderr.write(t), columns: process.stderr.columns })
    : createProgressLines({ ...common, every: Math.max(1, Math.ceil(config.steps / 10)), writeLine: (t) => io.err(t) });
  const evalBar = progressBar(io, "evaluate");
  try {
    let finished = false;
    return await runDemo({
      world,
      config,
      kernels,
      workers,
      onStep: (step, l0) => {
        if (finished) return;
        bar.update(step, { L0: l0.map((v) => (Number.isFinite(v) ? v.toFixed(1) : "-")).join("/") });
        if (step === config.steps) {
          finished = true;
          bar.finish();
        }
      },
      onEvalProgress: (done, total) => evalBar.update(done, total),
    });
  } finally {
    evalBar.finish();
  }
}
