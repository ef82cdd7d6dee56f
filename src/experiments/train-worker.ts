/** Worker-thread entry of `trainInWorkers` (parallel.ts): rebuilds the world, trains its SAEs, sends them back. */
import { parentPort, workerData } from "node:worker_threads";
import { UserError } from "../errors.js";
import { TrainingDivergedError } from "../train/events.js";
import { loadKernels, type BackendChoice, type IsaChoice } from "../tensor/backend.js";
import { createWorld } from "../toy/world.js";
import { exportTrained, trainOnWorld, type TrainJob, type WorkerMessage } from "./parallel.js";

const port = parentPort;
if (!port) throw new Error("train-worker.ts runs only as a worker thread");
const job = workerData as TrainJob;
const send = (m: WorkerMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
try {
  const { kernels } = loadKernels(job.backend as BackendChoice, job.isa as IsaChoice);
  const w = job.world;
  const world = createWorld(w.config, { kernels, saved: { featureVectors: w.featureVectors, bias: w.bias, ...(w.correlationFactor ? { correlationFactor: w.correlationFactor } : {}) } });
  const trainer = trainOnWorld(kernels, world, job.saes, job.train, (t) => {
    if (t.step % job.progressEvery === 0 || t.step === job.train.steps) send({ type: "step", step: t.step, l0: t.stats().map((s) => s.l0) });
  });
  const saes = exportTrained(trainer);
  send({ type: "done", saes }, saes.map((s) => s.buffer.buffer as ArrayBuffer));
} catch (e) {
  send({ type: "error", message: (e as Error).message, user: e instanceof UserError || e instanceof TrainingDivergedError });
}
