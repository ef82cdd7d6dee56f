/**
 * A training run's directory, the `TrainingOutput` of `saelab train` (and of any worker that keeps
 * its run on disk): checkpoint.safetensors, train_log.jsonl and the trained SAEs as SAELens
 * directories (the directory itself for one SAE, <dir>/<name> for several), each with saelab.json
 * recording the data, seed, training config and the last step's figures.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { readCheckpoint, writeCheckpoint } from "../io/checkpoint.js";
import { jsonlWriter } from "../io/jsonl.js";
import { saveSaelensSae } from "../io/saelens.js";
import type { TrainingOutput } from "../train/run.js";

export const CHECKPOINT_FILE = "checkpoint.safetensors";
export const LOG_FILE = "train_log.jsonl";

/** Returns the output that keeps a run in `dir`. */
export function runDirectory(dir: string): TrainingOutput {
  const ckPath = join(dir, CHECKPOINT_FILE);
  return {
    readCheckpoint: () => ({ ...readCheckpoint(ckPath), source: ckPath }),
    checkFresh() {
      if (existsSync(ckPath)) throw new UserError(`${dir} already holds a training run (${CHECKPOINT_FILE}); use --resume to continue it or choose another --out`);
    },
    writeCheckpoint: (data) => writeCheckpoint(ckPath, data),
    checkpointNote: () => (existsSync(ckPath) ? `the last good checkpoint is kept at ${ckPath}` : "no checkpoint had been written yet"),
    log: (resumed) => jsonlWriter(join(dir, LOG_FILE), { append: resumed }),
    saveSaes(saes, record, saelensMetadata) {
      const multi = saes.length > 1;
      return saes.map(({ sae, final }) => {
        const out = multi ? join(dir, sae.name) : dir;
        const { data, seed, train, steps } = record;
        saveSaelensSae(out, sae, { data, seed, train, training: { steps, log: multi ? join("..", LOG_FILE) : LOG_FILE, final } }, saelensMetadata);
        return out;
      });
    },
  };
}
