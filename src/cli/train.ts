/**
 * `saelab train`: trains one or more SAEs on a toy world's data stream (--world or --preset) or on
 * a model's activation shards (--activations); the body is in train-run.ts.
 */
import { z } from "zod";
import { UserError } from "../errors.js";
import { presetNames } from "../toy/presets.js";
import type { Command } from "./args.js";
import { checkInputFile, checkOutputDir } from "./paths.js";
import { activationsDataSource } from "./activations-source.js";
import { loadBackend, runTrain, saeConfigHelp, trainFlagsShape, worldInput } from "./train-run.js";
import { loadWorldSource, worldSourceLabel, WorldSourceSchema } from "./world-source.js";

const TrainSchema = WorldSourceSchema.extend({
  activations: z.string().min(1).optional().describe("A directory of activation shards written by `saelab activations` (in place of --world/--preset)."),
  ...trainFlagsShape,
}).strict();

/** Throws a UserError unless exactly one data source (--world, --preset, --activations) is given. */
export function checkTrainSource(opts: { world?: string | undefined; preset?: string | undefined; activations?: string | undefined }): void {
  const given = (["world", "preset", "activations"] as const).filter((k) => opts[k] !== undefined);
  if (given.length > 1) throw new UserError(`give one data source, not ${given.map((k) => `--${k} ${opts[k]}`).join(" and ")}`);
  if (given.length === 0) {
    throw new UserError(
      `no world given: pass a config .json file or saved world directory (--world PATH), --preset NAME (${presetNames().join(", ")}), or activation shards (--activations DIR)`,
    );
  }
}

export const trainCommand: Command<typeof TrainSchema> = {
  path: ["train"],
  summary: "Train SAEs (any architecture, tied or untied) on a toy world or on LM activations; writes SAELens SAE directories.",
  details:
    "Every SAE in the --sae file is trained on the same batches. On a world (--world or --preset), step s draws\n" +
    "world.sampler(mixSeed(seed, s)); on activation shards (--activations DIR, from `saelab activations`), batches are\n" +
    "drawn shuffled with --seed, cycling over the shards (reshuffled each pass) for as many steps as asked. Either way\n" +
    "--resume ends with the weights of an uninterrupted run. A NaN or Inf loss stops the run and keeps the last good\n" +
    "checkpoint. Events go to <out>/train_log.jsonl; a progress bar shows on a terminal, ten plain lines otherwise.\n" +
    "The result gives each SAE's losses (mse: ||x - x_hat||^2 summed over dimensions, averaged over the batch, as SAELens\n" +
    "trains; saelab splice reports MSE per element) and the explained variance of the last batch.\n\n" +
    "Defaults: lr 3e-4 and l1Coefficient 1 are SAELens's defaults, kept so a SAELens config trains the same. The README's\n" +
    "toy examples set l1Coefficient 0.3: on absorption-basic (dSae 64, 2000 steps of 1024) L1 1 leaves explained variance\n" +
    "0.70 (L0 0.6-1.6), L1 0.3 reaches 0.97-0.98 (L0 3-5); lr 3e-3 (the demo's, used in the examples) and 3e-4 end within\n" +
    "0.004 of each other there, so the default stays SAELens's.\n\n" +
    saeConfigHelp(),
  schema: TrainSchema,
  async run(opts, io) {
    checkTrainSource(opts);
    checkInputFile(io.cwd, opts.sae, "sae", "an SAE config JSON file (see saelab train --help)");
    checkOutputDir(io.cwd, opts.out, "out");
    const kernels = loadBackend(opts.backend, io);
    if (opts.activations !== undefined) {
      const { source, dataset } = activationsDataSource(opts.activations, io.cwd);
      const m = dataset.manifest;
      const passes = (opts.steps * opts.batchSize) / dataset.totalTokens;
      io.err(`saelab train: activations ${dataset.dir} (${m.hook}, dModel ${m.dModel}, ${m.totalTokens} rows${passes > 1 ? `; ${opts.steps} steps x ${opts.batchSize} rows make ${passes.toFixed(1)} passes over them` : ""})`);
      return runTrain(opts, io, source, kernels);
    }
    const world = loadWorldSource(opts, io.cwd, { kernels });
    io.err(`saelab train: world ${worldSourceLabel(opts)} (dModel ${world.dModel}, ${world.nFeatures} features)`);
    return runTrain(opts, io, worldInput(world), kernels);
  },
};
