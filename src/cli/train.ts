/** `saelab train`: trains one or more SAEs on a toy world's data stream (the body is in train-run.ts). */
import type { Command } from "./args.js";
import { loadBackend, runTrain, saeConfigHelp, trainFlagsShape, worldDataSource } from "./train-run.js";
import { loadWorldSource, worldSourceLabel, WorldSourceSchema } from "./world-source.js";

const TrainSchema = WorldSourceSchema.extend(trainFlagsShape).strict();

export const trainCommand: Command<typeof TrainSchema> = {
  path: ["train"],
  summary: "Train SAEs (any architecture, tied or untied) on a toy world; writes SAELens SAE directories.",
  details:
    "Every SAE in the --sae file is trained on the same batches: step s draws world.sampler(mixSeed(seed, s)), so --resume\n" +
    "continues without replay and ends with the weights of an uninterrupted run. A NaN or Inf loss stops the run and keeps\n" +
    "the last good checkpoint. Events go to <out>/train_log.jsonl; a progress bar shows on a terminal.\n\n" +
    saeConfigHelp(),
  schema: TrainSchema,
  async run(opts, io) {
    const kernels = loadBackend(opts.backend, io);
    const world = loadWorldSource(opts, io.cwd, { kernels });
    io.err(`saelab train: world ${worldSourceLabel(opts)} (dModel ${world.dModel}, ${world.nFeatures} features)`);
    return runTrain(opts, io, worldDataSource(world, { world: world.config }), kernels);
  },
};
