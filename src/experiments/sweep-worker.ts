/**
 * A sweep worker: a BullMQ worker on the cells queue that checks each job (saelab version, spec
 * hash, cell) and runs its cell in a worker thread with the code a local sweep uses, returning the
 * cell result. A job that can never succeed (another version, a spec that hashes differently here,
 * a bad config, a diverged SAE) fails at once with the reason (BullMQ's UnrecoverableError); any
 * other error is retried with backoff by the job's options; a worker killed mid-cell leaves a job
 * whose lock expires, and BullMQ's stalled-job check hands it to another worker.
 */
import { UnrecoverableError, Worker, type Job } from "bullmq";
import type { Redis } from "ioredis";
import { planSweep } from "./sweep-grid.js";
import { parseSweepSpec } from "./sweep-spec.js";
import { startModuleThread } from "./parallel.js";
import { CellJobSchema, QUEUE_NAME, type CellJob } from "./sweep-queue.js";
import type { CellResult } from "./sweep-results.js";

/** What the cell thread (cell-worker.ts) is given. */
export interface CellThreadJob {
  spec: Record<string, unknown>;
  cellIndex: number;
  backend: string;
  isa: string;
  /** Directory to save the cell's SAEs into (as <dir>/<cell id>/<sae name>), or null. */
  saveDir: string | null;
  /** Least time between two progress messages. */
  progressMs: number;
}

/** Messages from the cell thread. */
export type CellThreadMessage = { type: "step"; step: number } | { type: "done"; result: CellResult } | { type: "error"; message: string; user: boolean };

/** What a worker reports. */
export type SweepWorkerEvent =
  | { type: "start"; jobId: string; cell: string }
  | { type: "done"; jobId: string; cell: string; seconds: number }
  | { type: "failed"; jobId: string; cell: string; reason: string; final: boolean }
  /** A job of another saelab version: the worker should stop taking jobs. */
  | { type: "refused"; jobId: string; reason: string };

/** Options of `startSweepWorker`. */
export interface SweepWorkerOptions {
  connection: Redis;
  /** Cells run at once (each in its own thread). */
  concurrency: number;
  /** This saelab's version; jobs of another are refused. */
  version: string;
  /** Directory to save every cell's SAEs into (overrides the coordinator's), or null. */
  saveSaes: string | null;
  /** A job's lock lasts this long (renewed every half); a killed worker's job is free again after it. */
  lockMs?: number;
  /** How often this worker looks for stalled jobs (those whose worker died). */
  stalledMs?: number;
  onEvent?: (e: SweepWorkerEvent) => void;
}

/** Default lock time and stalled-job check interval (BullMQ's): a killed worker's cell restarts within about a minute. */
export const DEFAULT_LOCK_MS = 30_000;

/** Returns a BullMQ worker on the cells queue; its `run()` takes jobs until it is closed. */
export function startSweepWorker(opts: SweepWorkerOptions): Worker<CellJob, CellResult> {
  const worker = new Worker<CellJob, CellResult>(QUEUE_NAME, (job) => processCell(job, opts), {
    connection: opts.connection,
    concurrency: opts.concurrency,
    lockDuration: opts.lockMs ?? DEFAULT_LOCK_MS,
    stalledInterval: opts.stalledMs ?? DEFAULT_LOCK_MS,
    // A cell that kills its worker twice (e.g. out of memory) fails instead of killing every worker in turn.
    maxStalledCount: 2,
    autorun: false,
  });
  worker.on("failed", (job, err) => {
    if (!job?.id) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    opts.onEvent?.({ type: "failed", jobId: job.id, cell: cellIdOf(job), reason: err.message, final });
  });
  worker.on("error", () => {});
  return worker;
}

function cellIdOf(job: Job): string {
  const c = (job.data as { cell?: { id?: unknown } } | undefined)?.cell?.id;
  return typeof c === "string" ? c : String(job.id);
}

/** Checks a job and returns its cell's result (run in a worker thread). */
async function processCell(job: Job<CellJob, CellResult>, opts: SweepWorkerOptions): Promise<CellResult> {
  const jobId = job.id ?? "?";
  const raw = job.data as unknown as Record<string, unknown>;
  if (raw?.saelab !== opts.version) {
    const reason = `refused by a worker of saelab ${opts.version}: the job was enqueued by saelab ${String(raw?.saelab ?? "(unknown version)")}; run workers and coordinator of one version`;
    opts.onEvent?.({ type: "refused", jobId, reason });
    throw new UnrecoverableError(reason);
  }
  const parsed = CellJobSchema.safeParse(raw);
  if (!parsed.success) throw new UnrecoverableError(`not a saelab sweep cell job (${parsed.error.issues[0]?.message ?? "bad format"})`);
  const data = parsed.data;
  let hash: string;
  let cellId: string | undefined;
  try {
    const plan = planSweep(parseSweepSpec(data.spec, "sweep spec in the job"));
    hash = plan.hash;
    cellId = plan.cells[data.cell.index]?.id;
  } catch (e) {
    throw new UnrecoverableError((e as Error).message);
  }
  if (hash !== data.specHash) {
    throw new UnrecoverableError(
      `spec hash mismatch: the job's spec hashes to ${hash.slice(0, 12)} on this worker but to ${data.specHash.slice(0, 12)} on the coordinator (a preset or default differs between the two installations)`,
    );
  }
  if (cellId !== data.cell.id) throw new UnrecoverableError(`the job's cell ${data.cell.id} is not cell ${data.cell.index} of its spec (${cellId ?? "none"})`);
  opts.onEvent?.({ type: "start", jobId, cell: data.cell.id });
  const t0 = performance.now();
  const result = await runInThread(
    { spec: data.spec, cellIndex: data.cell.index, backend: data.backend, isa: data.isa, saveDir: opts.saveSaes ?? data.saveSaes, progressMs: Math.min(1000, (opts.lockMs ?? DEFAULT_LOCK_MS) / 4) },
    (step) => void job.updateProgress(step).catch(() => {}),
  );
  opts.onEvent?.({ type: "done", jobId, cell: data.cell.id, seconds: (performance.now() - t0) / 1000 });
  return result;
}

/** Returns the result of the cell thread; a user error (bad config, diverged SAE) is unrecoverable. */
function runInThread(job: CellThreadJob, onStep: (step: number) => void): Promise<CellResult> {
  return new Promise((resolvePromise, reject) => {
    const thread = startModuleThread("cell-worker", job);
    let settled = false;
    thread.on("message", (m: CellThreadMessage) => {
      if (m.type === "step") onStep(m.step);
      else {
        settled = true;
        if (m.type === "done") resolvePromise(m.result);
        else reject(m.user ? new UnrecoverableError(m.message) : new Error(m.message));
      }
    });
    thread.on("error", (e) => {
      settled = true;
      reject(e);
    });
    thread.on("exit", (code) => {
      if (!settled) reject(new Error(`the cell thread exited with code ${code} before finishing`));
    });
  });
}
