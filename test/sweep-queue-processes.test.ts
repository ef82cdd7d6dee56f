/**
 * Distributed sweeps with every part a separate `saelab` process on a real redis-server: two
 * workers, one killed with SIGKILL mid-cell (its job stalls and the other worker runs it), and a
 * coordinator killed mid-sweep and started again. In both, every cell finishes exactly once and the
 * cell files are byte-equal to a local sweep's (wall times aside). Slow (several processes
 * under tsx): behind SAELAB_SLOW; sweep-queue.test.ts runs the in-process versions by default.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Job } from "bullmq";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { planSweep } from "../src/experiments/sweep-grid.js";
import { cellJobId, openSweepQueue, parseQueueAddress } from "../src/experiments/sweep-queue.js";
import { parseSweepSpec } from "../src/experiments/sweep-spec.js";
import { runSweep } from "../src/experiments/sweep.js";
import { loadKernels } from "../src/tensor/backend.js";
import { HAVE_REDIS, startRedis, type TestRedis } from "./helpers/redis-server.js";

const SPEC = {
  name: "queue-processes",
  world: "absorption-basic",
  axes: { childGivenParent: [0.1, 0.3] },
  saes: [
    { architecture: "standard", name: "std", dSae: 12, l1Coefficient: 0.3 },
    { architecture: "topk", name: "topk", dSae: 12, k: 2, tying: "tied" },
  ],
  seeds: [1, 2],
  train: { steps: 300, batchSize: 256, lr: 3e-3 },
  eval: { samples: 2000 },
};
const plan = planSweep(parseSweepSpec(SPEC));
const CLI = new URL("../scripts/crash-trials/cli.ts", import.meta.url).pathname;
/** tsx's loader by absolute URL (the processes run in a temporary directory); vitest has no import.meta.resolve. */
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
/** Short locks so a killed worker's cell is free again within about two seconds. */
const FAST_STALL = ["--lockMs", "1500", "--stalledMs", "500"];

/** A saelab process with its stderr so far. */
interface Proc {
  child: ChildProcess;
  stderr(): string;
  exited: Promise<number | null>;
}

const started: Proc[] = [];

function saelab(args: string[], cwd: string): Proc {
  const child = spawn(process.execPath, ["--import", TSX, CLI, ...args], { cwd, stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, SAELAB_DEBUG: "" } });
  let text = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (c: string) => (text += c));
  const p = { child, stderr: () => text, exited: new Promise<number | null>((r) => child.once("exit", (code) => r(code))) };
  started.push(p);
  return p;
}

async function waitFor<T>(what: string, probe: () => T | undefined | null | false, ms = 90_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Cells a worker's log says it finished. */
const finishedIn = (log: string) => [...log.matchAll(/^cell (\S+): finished/gm)].map((m) => m[1]!);
const masked = (path: string) => readFileSync(path, "utf8").replace(/"seconds": \{[^}]*\}/, '"seconds": {}');

describe.skipIf(!HAVE_REDIS || !process.env.SAELAB_SLOW)("distributed sweep, every part its own process", () => {
  let redis: TestRedis;
  let root: string;
  beforeAll(async () => {
    redis = await startRedis();
    root = mkdtempSync(join(tmpdir(), "saelab-queue-procs-"));
    writeFileSync(join(root, "spec.json"), JSON.stringify(SPEC));
    await runSweep({ plan, out: join(root, "local"), kernels: loadKernels().kernels, workers: 1 });
  });
  afterEach(async () => {
    for (const p of started.splice(0)) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
      await p.exited;
    }
  });
  afterAll(async () => {
    await redis?.stop();
  });

  const expectLocalCells = (dir: string) => {
    const names = readdirSync(join(root, "local", "cells")).sort();
    expect(readdirSync(join(root, dir, "cells")).sort()).toEqual(names);
    for (const n of names) expect(masked(join(root, dir, "cells", n)), n).toBe(masked(join(root, "local", "cells", n)));
  };

  it("a worker killed with SIGKILL mid-cell: the other worker runs its cell, each cell finishes once, results equal the local run's", async () => {
    const url = `${redis.url}/0`;
    const a = saelab(["worker", "--queue", url, ...FAST_STALL], root);
    const b = saelab(["worker", "--queue", url, ...FAST_STALL], root);
    await waitFor("both workers", () => /taking cells/.test(a.stderr()) && /taking cells/.test(b.stderr()));
    const coordinator = saelab(["sweep", "spec.json", "--out", "distributed", "--queue", url], root);
    const victim = await waitFor("worker A to start a cell", () => /^cell (\S+): started/m.exec(a.stderr())?.[1]);
    await new Promise((r) => setTimeout(r, 700));
    expect(finishedIn(a.stderr())).not.toContain(victim);
    a.child.kill("SIGKILL");
    expect(await a.exited).toBe(null);
    expect(await coordinator.exited).toBe(0);
    b.child.kill("SIGTERM");
    expect(await b.exited).toBe(0);
    const finished = [...finishedIn(a.stderr()), ...finishedIn(b.stderr())].sort();
    expect(finished).toEqual(plan.cells.map((c) => c.id).sort());
    expect(finishedIn(b.stderr())).toContain(victim);
    expect(b.stderr()).toMatch(new RegExp(`cell ${victim}: started[^]*cell ${victim}: finished`));
    expectLocalCells("distributed");
    const q = await openSweepQueue(parseQueueAddress(url), 5000);
    try {
      expect(await q.queue.getJobCounts("completed", "failed", "wait", "active")).toEqual({ completed: plan.cells.length, failed: 0, wait: 0, active: 0 });
      const job = await Job.fromId(q.queue, cellJobId(plan.hash, plan.cells.find((c) => c.id === victim)!));
      expect(job!.stalledCounter).toBe(1);
    } finally {
      await q.close();
    }
  });

  it("a coordinator killed mid-sweep and started again: no cell lost or run twice", async () => {
    const url = `${redis.url}/1`;
    const w = saelab(["worker", "--queue", url, ...FAST_STALL], root);
    const first = saelab(["sweep", "spec.json", "--out", "restarted", "--queue", url], root);
    await waitFor("the first cell stored", () => /^cell 1\/4 /m.test(first.stderr()));
    first.child.kill("SIGKILL");
    await first.exited;
    // Cells finish while no coordinator runs; the next one collects them from Redis.
    await waitFor("a cell finished without a coordinator", () => finishedIn(w.stderr()).length >= 3);
    const second = saelab(["sweep", "spec.json", "--out", "restarted", "--queue", url], root);
    expect(await second.exited).toBe(0);
    expect(second.stderr()).toMatch(/saelab sweep: resuming, [1-3] of 4 cells already finished/);
    w.child.kill("SIGTERM");
    expect(await w.exited).toBe(0);
    expect(finishedIn(w.stderr()).sort()).toEqual(plan.cells.map((c) => c.id).sort());
    expectLocalCells("restarted");
    expect(readFileSync(join(root, "restarted", "report.html"), "utf8")).toMatch(/queue-processes/);
  });
});
