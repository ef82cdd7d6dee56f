/**
 * `saelab eval <sae-dir>... --world <config|dir> | --preset NAME`: measures saved SAEs against a toy
 * world's true features (reconstruction, sparsity, recovery, absorption) on one evaluation stream and
 * prints the results table, the per-edge absorption table, a reading and the edge-level notes, or the
 * evaluation as JSON; --report DIR writes the demo's report.html for them.
 */
import { existsSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { canonicalJson } from "../json.js";
import { DEFAULT_EVAL_SAMPLES, DEFAULT_EVAL_SEED, evaluateOnWorld } from "../experiments/evaluate.js";
import { writeFileAtomic } from "../io/atomic.js";
import { loadSaelensSae } from "../io/saelens.js";
import { seed } from "../schema.js";
import { renderReportHtml } from "../report/html.js";
import { renderReading } from "../report/reading.js";
import { summaryRows, type ReportInput } from "../report/summary.js";
import { renderEdgeTable, renderNotes, renderTable } from "../report/text.js";
import type { Command } from "./args.js";
import { REPORT_FILE } from "./demo.js";
import { checkOutputDir, shownPath } from "./paths.js";
import { resolveSaeDir } from "./sae-source.js";
import { progressBar } from "./progress.js";
import { loadBackend } from "./train-run.js";
import { loadWorldSource, worldSourceLabel, WorldSourceSchema } from "./world-source.js";

const EvalSchema = WorldSourceSchema.extend({
  sae: z
    .array(z.string().min(1), { error: "missing: give the SAE directory as the first argument" })
    .min(1, "missing: give the SAE directory as the first argument")
    .describe("SAELens SAE directories (cfg.json + sae_weights.safetensors), e.g. written by saelab train or saelab demo; several are measured on the same samples, one table."),
  n: z.number().int().positive().default(DEFAULT_EVAL_SAMPLES).describe("Number of evaluation samples drawn from the world."),
  seed: seed().default(DEFAULT_EVAL_SEED).describe("Seed of the evaluation stream (the demo evaluates with the same default)."),
  json: z.boolean().default(false).describe("Print the evaluation as JSON instead of tables: one SAE as {sae, world, n, seed, summary, evaluation}, several as {world, n, seed, saes: [{sae, summary, evaluation}]}."),
  report: z.string().min(1).optional().describe("Also write report.html (the demo's self-contained report) for these SAEs into this directory."),
  backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
}).strict();

/** Returns a name per SAE for the tables: its directory's base name, or the argument as given where base names collide. */
function saeNames(args: readonly string[], dirs: readonly string[]): string[] {
  const bases = dirs.map((d) => basename(d));
  return bases.map((b, i) => (bases.filter((x) => x === b).length > 1 ? args[i]! : b));
}

export const evalCommand: Command<typeof EvalSchema> = {
  path: ["eval"],
  summary: "Measure saved SAEs against a toy world's true features: reconstruction, L0, MCC, absorption (several: one table).",
  details:
    "The world must have each SAE's input width as its dModel. The evaluation samples are world.sampler(seed), so the same\n" +
    "world, --n and --seed give the same numbers (saelab demo evaluates with the defaults), and several SAEs given together\n" +
    "are measured on the same samples. --report DIR writes the report.html saelab demo writes.",
  schema: EvalSchema,
  positionals: [{ key: "sae", name: "sae-dir", variadic: true }],
  async run(opts, io) {
    const dirs: string[] = [];
    for (const arg of opts.sae) {
      const dir = await resolveSaeDir(arg, io);
      if (!existsSync(dir)) throw new UserError(`SAE directory ${arg} does not exist`);
      if (!statSync(dir).isDirectory()) throw new UserError(`${arg} is a file, not a SAELens SAE directory (cfg.json + sae_weights.safetensors)`);
      dirs.push(dir);
    }
    if (opts.report !== undefined) checkOutputDir(io.cwd, opts.report, "report");
    const kernels = loadBackend(opts.backend, io);
    const world = loadWorldSource(opts, io.cwd, { kernels });
    const label = worldSourceLabel(opts);
    const loaded = dirs.map((dir, i) => {
      const { sae, saelab } = loadSaelensSae(dir, kernels);
      const arg = opts.sae[i]!;
      if (sae.dIn !== world.dModel) {
        throw new UserError(`the SAE in ${arg} reads ${sae.dIn}-dimensional inputs but world ${label} has dModel ${world.dModel}: evaluate it on the world it was trained on`);
      }
      const trainedOn = (saelab?.data as { world?: unknown } | undefined)?.world;
      if (trainedOn !== undefined && canonicalJson(trainedOn) !== canonicalJson(world.config)) {
        io.err(`saelab eval: note: ${arg} was trained on a different world config than ${label} (same dModel, so it is evaluated anyway)`);
      }
      return sae;
    });
    const bar = progressBar(io, "evaluate");
    let evaluations;
    try {
      evaluations = evaluateOnWorld(loaded, world, { n: opts.n, seed: opts.seed, onProgress: (d, t) => bar.update(d, t) }, kernels);
    } finally {
      bar.finish();
    }
    const names = saeNames(opts.sae, dirs);
    const input: ReportInput = {
      title: `saelab eval ${opts.sae.join(" ")}`,
      world: { name: label, nFeatures: world.nFeatures, dModel: world.dModel },
      command: ["saelab eval", ...opts.sae, opts.preset !== undefined ? `--preset ${opts.preset}` : `--world ${opts.world}`, `--n ${opts.n}`, `--seed ${opts.seed}`].join(" "),
      saes: names.map((name, i) => ({ name, evaluation: evaluations[i]! })),
    };
    let reportLine = "";
    if (opts.report !== undefined) {
      const out = resolve(io.cwd, opts.report);
      writeFileAtomic(join(out, REPORT_FILE), renderReportHtml(input));
      reportLine = `Report: ${join(shownPath(io.cwd, opts.report, out), REPORT_FILE)}`;
    }
    if (opts.json) {
      const summary = summaryRows(input);
      const meta = { world: input.world, n: opts.n, seed: opts.seed };
      const one = (i: number) => ({ sae: opts.sae[i]!, summary: summary[i], evaluation: evaluations[i] });
      io.out(JSON.stringify(opts.sae.length === 1 ? { sae: opts.sae[0], ...meta, summary: summary[0], evaluation: evaluations[0] } : { ...meta, saes: opts.sae.map((_, i) => one(i)) }));
      if (reportLine) io.err(`saelab eval: ${reportLine}`);
      return 0;
    }
    const describe = (i: number) => `${loaded[i]!.architecture}${loaded[i]!.tied ? " (tied)" : ""}, ${loaded[i]!.dIn} -> ${loaded[i]!.dSae} latents`;
    const stream = `world ${label} (${world.nFeatures} features); ${opts.n} samples, seed ${opts.seed}`;
    const heading = opts.sae.length === 1 ? [`${opts.sae[0]}: ${describe(0)}; ${stream}`] : [`${opts.sae.length} SAEs on ${stream}:`, ...opts.sae.map((a, i) => `  ${names[i]}: ${a}, ${describe(i)}`)];
    io.out([...heading, "", renderTable(input), "", renderEdgeTable(input), "", renderReading(input), "", renderNotes(input), ...(reportLine ? ["", reportLine] : [])].join("\n"));
    return 0;
  },
};
