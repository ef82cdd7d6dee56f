/**
 * A training run's directory, the `TrainingOutput` of `saelab train` (and of any worker that keeps
 * its run on disk): checkpoint.safetensors, train_log.jsonl and the trained SAEs as SAELens
 * directories (the directory itself for one SAE, <dir>/<name> for several), each with saelab.json
 * recording the data, seed, training config and the last step's figures.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { UserError } from "../errors.js";
import { readCheckpoint, writeCheckpoint } from "../io/checkpoint.js";
import { jsonlWriter } from "../io/jsonl.js";
import { writeFileAtomic } from "../io/atomic.js";
import type { TrainEvent } from "../train/events.js";
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
    log(resumed, step) {
      const path = join(dir, LOG_FILE);
      if (!resumed) return jsonlWriter(path, { append: false });
      // A resumed run continues the log the uninterrupted run would have written: events past the
      // checkpoint are dropped, and its own start event is not written again.
      rewindTrainLog(path, step);
      const write = jsonlWriter(path, { append: true });
      return (e: TrainEvent) => {
        if (e.type !== "start") write(e);
      };
    },
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

/** Cuts a train_log.jsonl back to what an uninterrupted run had written when it checkpointed at `step`. */
export function rewindTrainLog(path: string, step: number): void {
  const kept: string[] = [];
  const text = existsSync(path) ? readFileSync(path, "utf8") : "";
  for (const line of text.split("\n")) {
    let e: { type?: unknown; step?: unknown };
    try {
      e = JSON.parse(line) as typeof e;
    } catch {
      continue;
    }
    if (typeof e.step === "number" && (e.step < step || (e.step === step && e.type !== "checkpoint"))) kept.push(line);
  }
  if (step > 0) kept.push(JSON.stringify({ type: "checkpoint", step } satisfies TrainEvent));
  writeFileAtomic(path, kept.map((l) => `${l}\n`).join(""));
}
