/**
 * The coordinator of a distributed sweep: enqueues the cells its results directory does not hold
 * yet as BullMQ jobs (the job id is spec hash + cell id, so enqueueing again adds nothing), then
 * follows them, storing each returned result exactly as a local sweep stores it. Finished jobs stay
 * in Redis, so a coordinator stopped and started again collects what finished meanwhile; a failed
 * job is retried when a coordinator starts.
 */
import { Job } from "bullmq";
import { UserError } from "../errors.js";
import { writeFileAtomic } from "../io/atomic.js";
import type { SweepCell, SweepPlan } from "./sweep-grid.js";
import { cellJob, cellJobId, cellJobOptions, cellState, checkQueueFree, DEFAULT_RETRY, type CellJob, type RetryPolicy, type SweepQueue } from "./sweep-queue.js";
import { CellResultSchema, type CellResult } from "./sweep-results.js";
import { cellPath, startResults, type SweepEvent, type SweepRun } from "./sweep.js";

/** Events of a queued sweep: a local sweep's, plus a cell that failed for good. */
export type QueuedSweepEvent = SweepEvent | { type: "failed"; cell: SweepCell; reason: string };

/** Options of `runQueuedSweep`. */
export interface QueuedSweepOptions {
  plan: SweepPlan;
  /** The results directory. */
  out: string;
  queue: SweepQueue;
  /** The kernels every worker must use (the coordinator's), so results match a local run's. */
  kernels: { backend: string; isa: string };
  /** Directory the workers save each cell's SAEs into (shared by them), or null. */
  saveSaes: string | null;
  /** This saelab's version, written into every job. */
  version: string;
  retry?: RetryPolicy;
  /** How often to look at the jobs, in ms. */
  pollMs?: number;
  onEvent?: (e: QueuedSweepEvent) => void;
}

/** What a queued sweep did: a local sweep's figures, plus the cells that failed (with reasons). */
export interface QueuedSweepRun extends SweepRun {
  failed: { cell: SweepCell; reason: string }[];
}

/**
 * Returns every cell's result once each cell's job has finished (or failed: those are listed, and
 * their results are missing), storing each result in `out` as it arrives.
 */
export async function runQueuedSweep(opts: QueuedSweepOptions): Promise<QueuedSweepRun> {
  const { plan, out, queue: q } = opts;
  await checkQueueFree(q, plan.hash);
  const { results, todo } = startResults(plan, out, opts.onEvent);
  const retry = opts.retry ?? DEFAULT_RETRY;
  const enqueue = async (cell: SweepCell) => {
    await q.queue.add("cell", cellJob(plan, cell, opts.kernels, opts.saveSaes, opts.version), cellJobOptions(plan.hash, cell, retry));
  };
  for (const cell of todo) {
    const state = await cellState(q.queue, plan.hash, cell);
    if (state === "not queued") await enqueue(cell);
    else if (state === "failed") await (await jobOf(q, plan, cell)).retry("failed", { resetAttemptsMade: true, resetAttemptsStarted: true });
  }
  const failed: QueuedSweepRun["failed"] = [];
  let pending = todo;
  const pollMs = opts.pollMs ?? 500;
  while (pending.length > 0) {
    const still: SweepCell[] = [];
    for (const cell of pending) {
      const state = await cellState(q.queue, plan.hash, cell);
      if (state === "done") {
        const result = collect(plan, cell, (await jobOf(q, plan, cell)).returnvalue);
        if ("reason" in result) {
          failed.push({ cell, reason: result.reason });
          opts.onEvent?.({ type: "failed", cell, reason: result.reason });
          continue;
        }
        writeFileAtomic(cellPath(out, cell), `${JSON.stringify(result.raw, null, 1)}\n`);
        results[cell.index] = result.result;
        opts.onEvent?.({ type: "cell", cell, result: result.result });
        continue;
      }
      if (state === "failed") {
        const reason = (await jobOf(q, plan, cell)).failedReason || "failed (no reason recorded)";
        failed.push({ cell, reason });
        opts.onEvent?.({ type: "failed", cell, reason });
        continue;
      }
      // A job that vanished (Redis restarted without persistence, or flushed) is enqueued again.
      if (state === "not queued") await enqueue(cell);
      if (state === "active") {
        const progress = (await Job.fromId<CellJob>(q.queue, cellJobId(plan.hash, cell)))?.progress;
        if (typeof progress === "number") opts.onEvent?.({ type: "step", cell, step: progress });
      }
      still.push(cell);
    }
    pending = still;
    if (pending.length > 0) await new Promise((r) => setTimeout(r, pollMs));
  }
  return { results: results.filter((r): r is CellResult => r !== undefined), ran: todo.length - failed.length, skipped: plan.cells.length - todo.length, failed };
}

async function jobOf(q: SweepQueue, plan: SweepPlan, cell: SweepCell): Promise<Job<CellJob>> {
  const job = await Job.fromId<CellJob>(q.queue, cellJobId(plan.hash, cell));
  if (!job) throw new Error(`job ${cellJobId(plan.hash, cell)} vanished from ${q.address.shown}`);
  return job;
}

/** Returns a returned value checked to be this cell's result (the raw object keeps the worker's key order, so the file's bytes match a local run's). */
function collect(plan: SweepPlan, cell: SweepCell, value: unknown): { result: CellResult; raw: unknown } | { reason: string } {
  const r = CellResultSchema.safeParse(value);
  if (!r.success) return { reason: `the worker returned no cell result (${r.error.issues[0]?.message ?? "bad format"})` };
  if (r.data.specHash !== plan.hash || r.data.id !== cell.id) return { reason: `the worker returned the result of another spec or cell (${r.data.specHash.slice(0, 12)} ${r.data.id})` };
  return { result: r.data, raw: value };
}

/** Throws a UserError listing the failed cells of a queued sweep, if any. */
export function throwIfFailed(run: QueuedSweepRun): void {
  if (run.failed.length === 0) return;
  const lines = run.failed.slice(0, 10).map((f) => `  - cell ${f.cell.id}: ${f.reason}`);
  if (run.failed.length > 10) lines.push(`  ... and ${run.failed.length - 10} more`);
  throw new UserError(`${run.failed.length} sweep cell${run.failed.length === 1 ? "" : "s"} failed:\n${lines.join("\n")}\nfix the cause and run the same command again: failed cells are retried, finished ones kept`);
}
