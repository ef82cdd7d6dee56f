/**
 * `saelab worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--save-saes DIR]`: takes sweep
 * cells from the queue until stopped (Ctrl-C: finishes the cells it holds, then exits), printing a
 * line per cell. A job of another saelab version is refused (it fails with the reason) and the
 * worker exits with status 1.
 */
import { hostname } from "node:os";
import { resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { connectRedis, DEFAULT_CONNECT_TIMEOUT_S, parseQueueAddress } from "../experiments/sweep-queue.js";
import { DEFAULT_LOCK_MS, startSweepWorker, type SweepWorkerEvent } from "../experiments/sweep-worker.js";
import { SAELAB_VERSION } from "../version.js";
import type { CliIO, Command } from "./args.js";

const WorkerSchema = z
  .object({
    queue: z.string().min(1).describe("redis://[USER:PASSWORD@]HOST:PORT[/DB] of the coordinator's queue (saelab sweep SPEC --out DIR --queue URL)."),
    concurrency: z.number().int().min(1).max(64).default(1).describe("Cells run at once, each in its own thread (about one per core)."),
    "save-saes": z.string().min(1).optional().describe("Save every cell's SAEs here as <dir>/<cell>/<sae> (SAELens directories), instead of where the coordinator asked."),
    connectTimeout: z.number().positive().default(DEFAULT_CONNECT_TIMEOUT_S).describe("Seconds to wait for Redis to answer before giving up."),
    lockMs: z.number().int().min(200).default(DEFAULT_LOCK_MS).describe("A held cell's lock time in ms (renewed while it runs); after a crash its cell is free again after this."),
    stalledMs: z.number().int().min(100).default(DEFAULT_LOCK_MS).describe("How often to look for cells whose worker died, in ms."),
  })
  .strict();

export const workerCommand: Command<typeof WorkerSchema> = {
  path: ["worker"],
  summary: "Take sweep cells from a Redis queue (saelab sweep --queue), train and evaluate them, return the results.",
  schema: WorkerSchema,
  async run(opts, io) {
    const address = parseQueueAddress(opts.queue);
    const connection = await connectRedis(address, opts.connectTimeout * 1000);
    let refused: string | null = null;
    const worker = startSweepWorker({
      connection,
      concurrency: opts.concurrency,
      version: SAELAB_VERSION,
      saveSaes: opts["save-saes"] === undefined ? null : resolve(io.cwd, opts["save-saes"]),
      lockMs: opts.lockMs,
      stalledMs: opts.stalledMs,
      onEvent: (e) => {
        report(io, e);
        if (e.type === "refused" && refused === null) {
          refused = e.reason;
          void worker.close();
        }
      },
    });
    io.err(`saelab worker ${SAELAB_VERSION} on ${hostname()}: taking cells from ${address.shown}, ${opts.concurrency} at a time (Ctrl-C stops after the cells in hand)`);
    const stop = () => {
      io.err("saelab worker: stopping after the cells in hand (Ctrl-C again to quit now; those cells then run again elsewhere)");
      process.once("SIGINT", () => process.exit(130));
      void worker.close();
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    try {
      await worker.run();
    } finally {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      await worker.close();
      connection.disconnect();
    }
    if (refused !== null) throw new UserError(`worker: ${refused}`);
    return 0;
  },
};

function report(io: CliIO, e: SweepWorkerEvent): void {
  if (e.type === "start") io.err(`cell ${e.cell}: started`);
  else if (e.type === "done") io.err(`cell ${e.cell}: finished in ${e.seconds.toFixed(1)} s`);
  else if (e.type === "failed") io.err(`cell ${e.cell}: failed${e.final ? "" : " (will be retried)"}: ${e.reason}`);
}
