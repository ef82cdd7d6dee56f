/**
 * `saelab eval <sae-dir> --world <config|dir> | --preset NAME`: measures a saved SAE against a toy
 * world's true features (reconstruction, sparsity, recovery, absorption) and prints the results
 * table, the per-edge absorption table and a reading, or the full evaluation as JSON.
 */
import { existsSync, statSync } from "node:fs";
import { basename } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { canonicalJson } from "../json.js";
import { DEFAULT_EVAL_SAMPLES, DEFAULT_EVAL_SEED, evaluateOnWorld } from "../experiments/evaluate.js";
import { loadSaelensSae } from "../io/saelens.js";
import { seed } from "../schema.js";
import { renderReading } from "../report/reading.js";
import { summaryRows, type ReportInput } from "../report/summary.js";
import { renderEdgeTable, renderTable } from "../report/text.js";
import type { Command } from "./args.js";
import { resolveSaeDir } from "./sae-source.js";
import { progressBar } from "./progress.js";
import { loadBackend } from "./train-run.js";
import { loadWorldSource, worldSourceLabel, WorldSourceSchema } from "./world-source.js";

const EvalSchema = WorldSourceSchema.extend({
  sae: z
    .string({ error: "missing: give the SAE directory as the first argument" })
    .min(1)
    .describe("A SAELens SAE directory (cfg.json + sae_weights.safetensors), e.g. one written by saelab train or saelab demo."),
  n: z.number().int().positive().default(DEFAULT_EVAL_SAMPLES).describe("Number of evaluation samples drawn from the world."),
  seed: seed().default(DEFAULT_EVAL_SEED).describe("Seed of the evaluation stream (the demo evaluates with the same default)."),
  json: z.boolean().default(false).describe("Print the full evaluation as JSON instead of tables."),
  backend: z.enum(["auto", "native", "reference"]).default("auto").describe("Compute backend (auto: native when built)."),
}).strict();

export const evalCommand: Command<typeof EvalSchema> = {
  path: ["eval"],
  summary: "Measure a saved SAE against a toy world's true features: reconstruction, L0, MCC, absorption.",
  details:
    "The world must have the SAE's input width as its dModel. The evaluation samples are world.sampler(seed), so the same\n" +
    "world, --n and --seed give the same numbers (saelab demo evaluates with the defaults).",
  schema: EvalSchema,
  positionals: [{ key: "sae", name: "sae-dir" }],
  async run(opts, io) {
    const dir = await resolveSaeDir(opts.sae, io);
    if (!existsSync(dir)) throw new UserError(`SAE directory ${opts.sae} does not exist`);
    if (!statSync(dir).isDirectory()) throw new UserError(`${opts.sae} is a file, not a SAELens SAE directory (cfg.json + sae_weights.safetensors)`);
    const kernels = loadBackend(opts.backend, io);
    const world = loadWorldSource(opts, io.cwd, { kernels });
    const { sae, saelab } = loadSaelensSae(dir, kernels);
    const label = worldSourceLabel(opts);
    if (sae.dIn !== world.dModel) {
      throw new UserError(`the SAE in ${opts.sae} reads ${sae.dIn}-dimensional inputs but world ${label} has dModel ${world.dModel}: evaluate it on the world it was trained on`);
    }
    const trainedOn = (saelab?.data as { world?: unknown } | undefined)?.world;
    if (trainedOn !== undefined && canonicalJson(trainedOn) !== canonicalJson(world.config)) {
      io.err(`saelab eval: note: ${opts.sae} was trained on a different world config than ${label} (same dModel, so it is evaluated anyway)`);
    }
    const bar = progressBar(io, "evaluate");
    let evaluation;
    try {
      [evaluation] = evaluateOnWorld([sae], world, { n: opts.n, seed: opts.seed, onProgress: (d, t) => bar.update(d, t) }, kernels);
    } finally {
      bar.finish();
    }
    const name = basename(dir);
    const input: ReportInput = {
      title: `saelab eval ${opts.sae}`,
      world: { name: label, nFeatures: world.nFeatures, dModel: world.dModel },
      saes: [{ name, evaluation: evaluation! }],
    };
    if (opts.json) {
      io.out(JSON.stringify({ sae: opts.sae, world: input.world, n: opts.n, seed: opts.seed, summary: summaryRows(input)[0], evaluation }));
      return 0;
    }
    io.out(
      [
        `${opts.sae}: ${sae.architecture}${sae.tied ? " (tied)" : ""}, ${sae.dIn} -> ${sae.dSae} latents; world ${label} (${world.nFeatures} features); ${opts.n} samples, seed ${opts.seed}`,
        "",
        renderTable(input),
        "",
        renderEdgeTable(input),
        "",
        renderReading(input),
      ].join("\n"),
    );
    return 0;
  },
};
