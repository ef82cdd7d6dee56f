/**
 * Worker-thread entry of a queued sweep cell (sweep-worker.ts): plans the job's spec, runs the cell
 * with the code a local sweep uses (`runCell`), optionally saves its SAEs, and sends the result
 * back. It runs off the worker process's main thread so that BullMQ can renew the job's lock while
 * the cell trains.
 */
import { join } from "node:path";
import { parentPort, workerData } from "node:worker_threads";
import { UserError } from "../errors.js";
import { saveSaelensSae } from "../io/saelens.js";
import type { Sae } from "../sae/model.js";
import { loadKernels, type BackendChoice, type IsaChoice } from "../tensor/backend.js";
import { TrainingDivergedError } from "../train/events.js";
import { planSweep } from "./sweep-grid.js";
import { parseSweepSpec } from "./sweep-spec.js";
import { runCell } from "./sweep.js";
import type { CellThreadJob, CellThreadMessage } from "./sweep-worker.js";

const port = parentPort;
if (!port) throw new Error("cell-worker.ts runs only as a worker thread");
const job = workerData as CellThreadJob;
const send = (m: CellThreadMessage) => port.postMessage(m);
try {
  const { kernels } = loadKernels(job.backend as BackendChoice, job.isa as IsaChoice);
  const plan = planSweep(parseSweepSpec(job.spec, "sweep spec in the job"));
  const cell = plan.cells[job.cellIndex];
  if (!cell) throw new UserError(`the job's cell index ${job.cellIndex} is outside its spec's ${plan.cells.length} cells`);
  let last = 0;
  const onStep = (step: number) => {
    const now = Date.now();
    if (now - last < job.progressMs && step !== plan.spec.train.steps) return;
    last = now;
    send({ type: "step", step });
  };
  const save = job.saveDir
    ? (saes: readonly { name: string; sae: Sae }[]) => {
        for (const { name, sae } of saes) {
          saveSaelensSae(join(job.saveDir!, cell.id, name), sae, { sweep: { name: plan.spec.name, specHash: plan.hash, cell: cell.id, seed: cell.seed, values: cell.values } });
        }
      }
    : undefined;
  const result = await runCell(plan, cell, kernels, 1, onStep, save);
  send({ type: "done", result });
} catch (e) {
  send({ type: "error", message: (e as Error).message, user: e instanceof UserError || e instanceof TrainingDivergedError });
}
