/**
 * The distributed side of `saelab sweep`: `--queue` runs the coordinator (enqueue, follow, store),
 * and `saelab sweep status --queue URL DIR` counts a results directory's cells by where they stand.
 */
import { resolve } from "node:path";
import { z } from "zod";
import { runQueuedSweep, throwIfFailed, type QueuedSweepEvent } from "../experiments/sweep-coordinator.js";
import type { SweepPlan } from "../experiments/sweep-grid.js";
import { cellJobId, cellState, DEFAULT_CONNECT_TIMEOUT_S, openSweepQueue, parseQueueAddress, type CellState, type SweepQueue } from "../experiments/sweep-queue.js";
import { loadSweepResults, type SweepRun } from "../experiments/sweep.js";
import type { Kernels } from "../tensor/kernels.js";
import { SAELAB_VERSION } from "../version.js";
import type { Command } from "./args.js";

/** Returns the result of `fn` on the queue at `url`, closing the connection afterwards. */
export async function withQueue<T>(url: string, timeoutS: number, fn: (q: SweepQueue) => Promise<T>): Promise<T> {
  const q = await openSweepQueue(parseQueueAddress(url), timeoutS * 1000);
  try {
    return await fn(q);
  } finally {
    await q.close();
  }
}

/** Runs the coordinator of a queued sweep; throws a UserError listing the cells that failed. */
export async function runOnQueue(opts: {
  plan: SweepPlan;
  out: string;
  kernels: Kernels;
  queue: string;
  saveSaes: string | null;
  connectTimeout: number;
  onEvent: (e: QueuedSweepEvent) => void;
}): Promise<SweepRun> {
  const run = await withQueue(opts.queue, opts.connectTimeout, (queue) =>
    runQueuedSweep({
      plan: opts.plan,
      out: opts.out,
      queue,
      kernels: { backend: opts.kernels.name, isa: opts.kernels.isa ?? "auto" },
      saveSaes: opts.saveSaes,
      version: SAELAB_VERSION,
      onEvent: opts.onEvent,
    }),
  );
  throwIfFailed(run);
  return run;
}

const SweepStatusSchema = z
  .object({
    dir: z.string().min(1).describe("The sweep's results directory (its manifest names the spec)."),
    queue: z.string().min(1).describe("redis://[USER:PASSWORD@]HOST:PORT[/DB] the sweep's cells were enqueued on."),
    json: z.boolean().default(false).describe("Print the counts and the failed cells as JSON."),
    connectTimeout: z.number().positive().default(DEFAULT_CONNECT_TIMEOUT_S).describe("Seconds to wait for Redis to answer before giving up."),
  })
  .strict();

export const sweepStatusCommand: Command<typeof SweepStatusSchema> = {
  path: ["sweep", "status"],
  summary: "Count a queued sweep's cells: waiting, active, done (stored in DIR or finished on the queue), failed.",
  schema: SweepStatusSchema,
  positionals: [{ key: "dir", name: "DIR" }],
  async run(opts, io) {
    parseQueueAddress(opts.queue);
    const dir = resolve(io.cwd, opts.dir);
    const { plan, missing } = loadSweepResults(dir);
    const states = new Map<number, CellState>(plan.cells.map((c) => [c.index, "collected"]));
    const failed: { cell: string; reason: string }[] = [];
    await withQueue(opts.queue, opts.connectTimeout, async (q) => {
      for (const cell of missing) {
        const s = await cellState(q.queue, plan.hash, cell);
        states.set(cell.index, s);
        if (s === "failed") failed.push({ cell: cell.id, reason: (await q.queue.getJob(cellJobId(plan.hash, cell)))?.failedReason ?? "" });
      }
    });
    const count = (...s: CellState[]) => [...states.values()].filter((v) => s.includes(v)).length;
    const counts = { cells: plan.cells.length, waiting: count("waiting"), active: count("active"), done: count("done", "collected"), failed: count("failed"), notQueued: count("not queued") };
    if (opts.json) {
      io.out(JSON.stringify({ ...counts, failedCells: failed }, null, 1));
      return 0;
    }
    io.out(
      `${plan.spec.name}: ${counts.cells} cells: ${counts.waiting} waiting, ${counts.active} active, ${counts.done} done (${count("collected")} stored in ${opts.dir}), ${counts.failed} failed` +
        (counts.notQueued > 0 ? `, ${counts.notQueued} not queued (run saelab sweep ... --queue to enqueue them)` : ""),
    );
    for (const f of failed) io.out(`  failed ${f.cell}: ${f.reason}`);
    return 0;
  },
};
