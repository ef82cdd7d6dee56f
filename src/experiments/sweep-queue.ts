/**
 * The Redis side of a distributed sweep: the `--queue redis://HOST:PORT[/DB]` address, a connection
 * that fails with a UserError within a stated time instead of retrying forever, the BullMQ queue
 * of sweep cells (one per Redis database) and the job each cell becomes. A job carries everything a
 * worker needs (the saelab version, the spec and its hash, the cell, the kernels), so a worker
 * anywhere computes the same bits as a local sweep.
 */
import { Queue, type Job, type JobsOptions } from "bullmq";
import { Redis } from "ioredis";
import { z } from "zod";
import { UserError } from "../errors.js";
import type { SweepCell, SweepPlan } from "./sweep-grid.js";

/** The BullMQ queue of sweep cells (one per Redis database: one sweep at a time runs on it). */
export const QUEUE_NAME = "saelab-sweep";
/** Seconds a coordinator or worker waits for Redis to answer before giving up. */
export const DEFAULT_CONNECT_TIMEOUT_S = 5;

/** A parsed `--queue` address. */
export interface QueueAddress {
  /** The URL as given (passed to ioredis). */
  url: string;
  /** The URL with any password masked, for messages. */
  shown: string;
  db: number;
}

/** Returns the address of a `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (or rediss:// for TLS) URL, or throws a UserError naming `flag`. */
export function parseQueueAddress(url: string, flag = "--queue"): QueueAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserError(`${flag} ${JSON.stringify(url)} is not a URL; give redis://HOST:PORT[/DB]`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") throw new UserError(`${flag} must be a redis:// (or rediss://) URL, got ${u.protocol}//...`);
  if (!u.hostname) throw new UserError(`${flag} ${url} names no host; give redis://HOST:PORT[/DB]`);
  const path = u.pathname.replace(/^\//, "");
  if (path !== "" && !/^\d+$/.test(path)) throw new UserError(`${flag}: the path of ${u.host}/${path} must be a database number (redis://HOST:PORT/DB)`);
  if (u.search || u.hash) throw new UserError(`${flag}: ${url} has a query or fragment; give redis://[USER:PASSWORD@]HOST:PORT[/DB]`);
  const masked = new URL(url);
  if (masked.password) masked.password = "***";
  return { url, shown: masked.toString(), db: path === "" ? 0 : Number(path) };
}

/**
 * Returns a connected client for BullMQ (which reconnects on its own once connected); throws a
 * UserError when Redis does not answer a PING within `timeoutMs` (refused, unknown host, wrong
 * password, or a server that accepts and stays silent).
 */
export async function connectRedis(address: QueueAddress, timeoutMs: number): Promise<Redis> {
  const probe = new Redis(address.url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // ioredis rejects connect() with "Connection is closed."; the cause (ECONNREFUSED, ENOTFOUND, ...) comes as an error event.
  let cause: Error | undefined;
  probe.on("error", (e: Error) => (cause ??= e));
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe.connect().then(() => probe.ping()),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
  } catch (e) {
    throw new UserError(`cannot reach Redis at ${address.shown} (${(cause ?? (e as Error)).message}); start redis-server there or fix --queue`);
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
  const client = new Redis(address.url, { maxRetriesPerRequest: null });
  client.on("error", () => {});
  return client;
}

/** What a cell's job carries (the version is checked before the rest is parsed: another version may shape it differently). */
export const CellJobSchema = z
  .object({
    saelab: z.string().describe("Version of the saelab that enqueued the job; a worker of another version refuses it."),
    specHash: z.string().describe("The spec's hash as the coordinator computed it; the worker recomputes it."),
    spec: z.record(z.string(), z.unknown()).describe("The parsed spec (defaults filled in)."),
    cell: z.object({ index: z.number().int().min(0), id: z.string() }).strict(),
    backend: z.string().describe("The coordinator's kernels, so every worker computes the same bits."),
    isa: z.string(),
    saveSaes: z.string().nullable().describe("Directory (shared by the workers) to save each cell's SAEs into, or null."),
  })
  .strict();
export type CellJob = z.infer<typeof CellJobSchema>;

/** Returns a cell's job id: the spec hash and the cell id, so enqueueing a cell twice adds nothing. */
export function cellJobId(hash: string, cell: Pick<SweepCell, "id">): string {
  return `${hash}-${cell.id}`;
}

/** Returns the job of `cell`. */
export function cellJob(plan: SweepPlan, cell: SweepCell, kernels: { backend: string; isa: string }, saveSaes: string | null, version: string): CellJob {
  return { saelab: version, specHash: plan.hash, spec: JSON.parse(JSON.stringify(plan.spec)) as Record<string, unknown>, cell: { index: cell.index, id: cell.id }, ...kernels, saveSaes };
}

/** Retries and their backoff (the defaults of `saelab sweep --queue`). */
export interface RetryPolicy {
  /** Tries of a cell that fails with a transient error (an unrecoverable one fails at once). */
  attempts: number;
  /** Delay before the first retry in ms; doubled for each later one. */
  backoffMs: number;
}

/** The defaults: 3 tries, 5 s then 10 s apart. */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 3, backoffMs: 5000 };

/** Returns the BullMQ options of a cell's job. */
export function cellJobOptions(hash: string, cell: SweepCell, retry: RetryPolicy): JobsOptions {
  // Finished jobs stay in Redis: their return values are the results a restarted coordinator collects.
  return { jobId: cellJobId(hash, cell), attempts: retry.attempts, backoff: { type: "exponential", delay: retry.backoffMs }, removeOnComplete: false, removeOnFail: false };
}

/** The cells queue on one Redis database, with its connection. */
export interface SweepQueue {
  address: QueueAddress;
  queue: Queue<CellJob>;
  connection: Redis;
  close(): Promise<void>;
}

/** Returns the cells queue at `address` (a UserError when Redis is unreachable within `timeoutMs`). */
export async function openSweepQueue(address: QueueAddress, timeoutMs: number): Promise<SweepQueue> {
  const connection = await connectRedis(address, timeoutMs);
  const queue = new Queue<CellJob>(QUEUE_NAME, { connection });
  return {
    address,
    queue,
    connection,
    async close() {
      await queue.close();
      connection.disconnect();
    },
  };
}

/** Job states that mean "not finished yet". */
const UNFINISHED = ["wait", "active", "delayed", "prioritized", "waiting-children"] as const;

/** Returns the ids of unfinished jobs on the queue that belong to another spec than `hash`. */
export async function foreignJobs(queue: Queue<CellJob>, hash: string): Promise<string[]> {
  const jobs = (await queue.getJobs([...UNFINISHED])) as (Job<CellJob> | undefined)[];
  return jobs.flatMap((j) => (j?.id && !j.id.startsWith(`${hash}-`) ? [j.id] : []));
}

/** Throws a UserError when the queue holds unfinished jobs of another spec (two sweeps would share the workers' queue). */
export async function checkQueueFree(q: SweepQueue, hash: string): Promise<void> {
  const other = await foreignJobs(q.queue, hash);
  if (other.length === 0) return;
  const hashes = [...new Set(other.map((id) => id.slice(0, id.indexOf("-"))))];
  throw new UserError(
    `the queue at ${q.address.shown} holds ${other.length} unfinished job${other.length === 1 ? "" : "s"} of another sweep spec (hash ${hashes.map((h) => h.slice(0, 12)).join(", ")}); ` +
      `wait for that sweep to finish, use another Redis database (e.g. .../${q.address.db + 1}), or empty this one (redis-cli -n ${q.address.db} FLUSHDB)`,
  );
}

/** Where one cell stands. */
export type CellState = "done" | "collected" | "active" | "waiting" | "failed" | "not queued";

/** Returns the state of `cell`'s job ("done" when its job completed, whether or not the coordinator stored it yet). */
export async function cellState(queue: Queue<CellJob>, hash: string, cell: SweepCell): Promise<Exclude<CellState, "collected">> {
  const s = await queue.getJobState(cellJobId(hash, cell));
  if (s === "completed") return "done";
  if (s === "failed") return "failed";
  if (s === "active") return "active";
  if (s === "unknown") return "not queued";
  return "waiting";
}
