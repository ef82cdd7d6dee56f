/**
 * Distributed sweeps on a real redis-server (started here on a free port, no persistence): the
 * coordinator and a worker in this process give cell files byte-equal to a local sweep's (wall times
 * aside); and the bad inputs: an unreachable or silent Redis (a UserError within the timeout), a queue
 * holding another spec's jobs, a job of another saelab version, a spec-hash mismatch and a bad
 * config (failed at once, not retried), a transient error (retried with backoff up to the maximum).
 * Workers as separate processes, killed with SIGKILL, are in sweep-queue-processes.test.ts.
 */
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Job } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { runQueuedSweep } from "../src/experiments/sweep-coordinator.js";
import { planSweep, type SweepPlan } from "../src/experiments/sweep-grid.js";
import { cellJob, cellJobId, cellJobOptions, openSweepQueue, parseQueueAddress, type SweepQueue } from "../src/experiments/sweep-queue.js";
import { parseSweepSpec, type SweepSpecInput } from "../src/experiments/sweep-spec.js";
import { startSweepWorker, type SweepWorkerEvent } from "../src/experiments/sweep-worker.js";
import { runSweep } from "../src/experiments/sweep.js";
import { loadKernels } from "../src/tensor/backend.js";
import { SAELAB_VERSION } from "../src/version.js";
import { freePort, HAVE_REDIS, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { capture } from "./helpers/cli-io.js";

const { kernels } = loadKernels();
const KERNELS = { backend: kernels.name, isa: kernels.isa ?? "auto" };

const TINY: SweepSpecInput = {
  name: "tiny-queue",
  world: "absorption-basic",
  axes: { sparsity: { l1Coefficient: [0.1, 0.5], k: [2, 1] }, childGivenParent: [0.1, 0.3] },
  saes: [
    { architecture: "standard", name: "std", dSae: 12 },
    { architecture: "topk", name: "topk", dSae: 12, tying: "tied" },
  ],
  train: { steps: 30, batchSize: 128, lr: 3e-3 },
  eval: { samples: 1500 },
};
const plan = (over: Partial<SweepSpecInput> = {}): SweepPlan => planSweep(parseSweepSpec({ ...TINY, ...over }));


/** A cell file without its wall times, the only bytes that differ between identical runs. */
const masked = (path: string) => readFileSync(path, "utf8").replace(/"seconds": \{[^}]*\}/, '"seconds": {}');

/** Returns the events of a library worker on `q` run until `until` holds, then closed. */
async function runWorkerUntil(q: SweepQueue, until: (events: SweepWorkerEvent[]) => boolean, version = SAELAB_VERSION): Promise<SweepWorkerEvent[]> {
  const events: SweepWorkerEvent[] = [];
  const worker = startSweepWorker({ connection: q.connection, concurrency: 1, version, saveSaes: null, lockMs: 2000, stalledMs: 1000, onEvent: (e) => events.push(e) });
  const done = new Promise<void>((r) => {
    const check = setInterval(() => {
      if (until(events)) {
        clearInterval(check);
        r();
      }
    }, 50);
  });
  const running = worker.run();
  await done;
  await worker.close();
  await running;
  return events;
}

describe.skipIf(!HAVE_REDIS)("distributed sweep on a real Redis", () => {
  let redis: TestRedis;
  let root: string;
  const queues: SweepQueue[] = [];
  const queueAt = async (db: number) => {
    const q = await openSweepQueue(parseQueueAddress(`${redis.url}/${db}`), 5000);
    queues.push(q);
    return q;
  };
  beforeAll(async () => {
    redis = await startRedis();
    root = mkdtempSync(join(tmpdir(), "saelab-sweep-queue-"));
  });
  afterAll(async () => {
    for (const q of queues) await q.close();
    await redis?.stop();
  });

  it("a coordinator and a worker give the local sweep's cell files byte for byte, and a second coordinator enqueues nothing", async () => {
    const p = plan();
    await runSweep({ plan: p, out: join(root, "local"), kernels, workers: 1 });
    const q = await queueAt(0);
    const worker = startSweepWorker({ connection: q.connection, concurrency: 2, version: SAELAB_VERSION, saveSaes: join(root, "saes"), lockMs: 2000, stalledMs: 1000 });
    const running = worker.run();
    const run = await runQueuedSweep({ plan: p, out: join(root, "queued"), queue: q, kernels: KERNELS, saveSaes: null, version: SAELAB_VERSION, pollMs: 100 });
    expect([run.ran, run.skipped, run.failed]).toEqual([2, 0, []]);
    const names = readdirSync(join(root, "local", "cells")).sort();
    expect(readdirSync(join(root, "queued", "cells")).sort()).toEqual(names);
    for (const n of names) expect(masked(join(root, "queued", "cells", n))).toBe(masked(join(root, "local", "cells", n)));
    expect(readFileSync(join(root, "queued", "manifest.json"), "utf8")).toBe(readFileSync(join(root, "local", "manifest.json"), "utf8"));
    // --save-saes: every SAE of every cell as a SAELens directory.
    expect(readdirSync(join(root, "saes", p.cells[1]!.id)).sort()).toEqual(["std.L0", "std.L1", "topk.L0", "topk.L1"]);
    expect(readdirSync(join(root, "saes", p.cells[1]!.id, "topk.L1")).sort()).toContain("sae_weights.safetensors");
    // The same sweep again (another directory): its jobs exist, so it only collects their results.
    const again = await runQueuedSweep({ plan: p, out: join(root, "queued-again"), queue: q, kernels: KERNELS, saveSaes: null, version: SAELAB_VERSION, pollMs: 100 });
    expect(again.ran).toBe(2);
    expect(await q.queue.getJobCounts("completed", "wait", "active", "failed")).toEqual({ completed: 2, wait: 0, active: 0, failed: 0 });
    await worker.close();
    await running;
    // sweep status counts the stored cells as done.
    const io = capture(root);
    const lines: string[] = [];
    io.out = (t) => lines.push(t);
    expect(await main(["sweep", "status", "--queue", redis.url, "queued"], io)).toBe(0);
    expect(lines.join("\n")).toMatch(/tiny-queue: 2 cells: 0 waiting, 0 active, 2 done \(2 stored in queued\), 0 failed/);
  });

  it("an unreachable Redis is a clear error, at once when refused and within --connectTimeout when silent", async () => {
    writeFileSync(join(root, "spec.json"), JSON.stringify(TINY));
    const port = await freePort();
    let io = capture(root);
    let t0 = Date.now();
    expect(await main(["sweep", "spec.json", "--out", "unreachable", "--queue", `redis://127.0.0.1:${port}/0`], io)).toBe(1);
    expect(io.errText()).toMatch(new RegExp(`saelab: cannot reach Redis at redis://127.0.0.1:${port}/0 \\(.*ECONNREFUSED.*\\); start redis-server there or fix --queue`));
    expect(Date.now() - t0).toBeLessThan(5000);
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    const silentPort = await new Promise<number>((r) => silent.listen(0, "127.0.0.1", () => r((silent.address() as { port: number }).port)));
    try {
      io = capture(root);
      t0 = Date.now();
      expect(await main(["worker", "--queue", `redis://127.0.0.1:${silentPort}`, "--connectTimeout", "1"], io)).toBe(1);
      expect(io.errText()).toMatch(/cannot reach Redis at redis:\/\/127.0.0.1:\d+ \(no answer within 1 s\)/);
      expect(Date.now() - t0).toBeLessThan(3000);
    } finally {
      sockets.forEach((s) => s.destroy());
      silent.close();
    }
    io = capture(root);
    expect(await main(["sweep", "spec.json", "--out", "x", "--queue", "http://127.0.0.1:6379"], io)).toBe(1);
    expect(io.errText()).toMatch(/--queue must be a redis:\/\/ \(or rediss:\/\/\) URL, got http:/);
    io = capture(root);
    expect(await main(["sweep", "status", "--queue", `redis://127.0.0.1:${port}/zero`, "x"], io)).toBe(1);
    expect(io.errText()).toMatch(/saelab: --queue: the path of 127.0.0.1:\d+\/zero must be a database number \(redis:\/\/HOST:PORT\/DB\)/);
  });

  it("refuses a queue holding another spec's unfinished jobs, naming the way out", async () => {
    const q = await queueAt(2);
    const other = plan({ seeds: [7] });
    await q.queue.add("cell", cellJob(other, other.cells[0]!, KERNELS, null, SAELAB_VERSION), cellJobOptions(other.hash, other.cells[0]!, { attempts: 1, backoffMs: 100 }));
    const io = capture(root);
    expect(await main(["sweep", "spec.json", "--out", "busy", "--queue", `${redis.url}/2`], io)).toBe(1);
    expect(io.errText()).toMatch(
      new RegExp(`holds 1 unfinished job of another sweep spec \\(hash ${other.hash.slice(0, 12)}\\); wait for that sweep to finish, use another Redis database \\(e.g. .../3\\), or empty this one \\(redis-cli -n 2 FLUSHDB\\)`),
    );
  });

  it("a job of another saelab version is refused: the job fails with the reason, unretried, and the worker exits 1", async () => {
    const q = await queueAt(3);
    const p = plan();
    const id = cellJobId(p.hash, p.cells[0]!);
    await q.queue.add("cell", cellJob(p, p.cells[0]!, KERNELS, null, "0.0.0-other"), cellJobOptions(p.hash, p.cells[0]!, { attempts: 3, backoffMs: 100 }));
    const io = capture(root);
    expect(await main(["worker", "--queue", `${redis.url}/3`], io)).toBe(1);
    expect(io.errText()).toMatch(new RegExp(`saelab: worker: refused by a worker of saelab ${SAELAB_VERSION}: the job was enqueued by saelab 0.0.0-other`));
    const job = await Job.fromId(q.queue, id);
    expect([await job!.getState(), job!.attemptsMade]).toEqual(["failed", 1]);
    expect(job!.failedReason).toMatch(/refused by a worker of saelab/);
  });

  it("a spec-hash mismatch and a bad config fail at once with the reason; a transient error is retried up to the maximum", async () => {
    const q = await queueAt(4);
    const p = plan();
    const [c0, c1] = [p.cells[0]!, p.cells[1]!];
    const forged = { ...cellJob(p, c0, KERNELS, null, SAELAB_VERSION), specHash: "f".repeat(64) };
    await q.queue.add("cell", forged, { ...cellJobOptions(p.hash, c0, { attempts: 3, backoffMs: 100 }), jobId: "forged" });
    const bad = cellJob(p, c1, KERNELS, null, SAELAB_VERSION);
    (bad.spec.train as Record<string, unknown>).lr = -1;
    await q.queue.add("cell", bad, { ...cellJobOptions(p.hash, c1, { attempts: 3, backoffMs: 100 }), jobId: "bad-config" });
    await q.queue.add("cell", { ...cellJob(p, c1, KERNELS, null, SAELAB_VERSION), isa: "no-such-isa" }, { ...cellJobOptions(p.hash, c1, { attempts: 2, backoffMs: 200 }), jobId: "transient" });
    const events = await runWorkerUntil(q, (ev) => ev.filter((e) => e.type === "failed" && e.final).length === 3);
    const finals = Object.fromEntries(events.flatMap((e) => (e.type === "failed" && e.final ? [[e.jobId, e.reason]] : [])));
    expect(finals.forged).toMatch(/spec hash mismatch: the job's spec hashes to [0-9a-f]{12} on this worker but to ffffffffffff on the coordinator/);
    expect(finals["bad-config"]).toMatch(/invalid sweep spec in the job:\n\s+- train.lr/);
    expect(finals.transient).toMatch(/the native ISA "no-such-isa" is not available on this CPU/);
    const attempts = async (id: string) => (await Job.fromId(q.queue, id))!.attemptsMade;
    expect([await attempts("forged"), await attempts("bad-config"), await attempts("transient")]).toEqual([1, 1, 2]);
    // The coordinator reports failed cells and says how to retry them.
    const spec = join(root, "spec-failing.json");
    writeFileSync(spec, JSON.stringify({ ...TINY, name: "failing" }));
    const failing = plan({ name: "failing" });
    await q.queue.obliterate({ force: true });
    const io = capture(root);
    const coordinator = main(["sweep", spec, "--out", "failing", "--queue", `${redis.url}/4`], io);
    // Once the coordinator has enqueued its cells, their jobs are spoiled (a bad learning rate) so that they fail at once.
    while (((await q.queue.getJobCounts("wait")).wait ?? 0) < failing.cells.length) await new Promise((r) => setTimeout(r, 50));
    for (const c of failing.cells) {
      const job = await Job.fromId(q.queue, cellJobId(failing.hash, c));
      await job?.updateData({ ...job.data, spec: { ...job.data.spec, train: { ...(job.data.spec.train as object), lr: -1 } } });
    }
    await runWorkerUntil(q, (ev) => ev.filter((e) => e.type === "failed").length === failing.cells.length);
    expect(await coordinator).toBe(1);
    expect(io.errText()).toMatch(/saelab: 2 sweep cells failed:\n {2}- cell 0000-seed1-childGivenParent0.1: invalid sweep spec in the job/);
    expect(io.errText()).toMatch(/run the same command again: failed cells are retried, finished ones kept/);
    // Run again: the coordinator puts the failed cells back in the queue (they fail again here, the data being spoiled).
    const again = capture(root);
    const second = main(["sweep", spec, "--out", "failing", "--queue", `${redis.url}/4`], again);
    const retried = await runWorkerUntil(q, (ev) => ev.filter((e) => e.type === "failed").length === failing.cells.length);
    expect(retried.filter((e) => e.type === "failed").map((e) => e.type === "failed" && e.cell).sort()).toEqual(failing.cells.map((c) => c.id));
    expect(await second).toBe(1);
    expect(again.errText()).toMatch(/saelab: 2 sweep cells failed/);
  });
});
