/**
 * `npm run bench:sweep-queue` (after `npm run build`): cells per minute of the default sweep preset
 * run three ways in one run: the local thread-based sweep (`saelab sweep --workers 2`), and the
 * queued sweep (`saelab sweep --queue`) with 1 and with 2 `saelab worker` processes on a
 * redis-server started here. Every run is the built CLI (dist/) in its own process, timed from the
 * sweep command's start to its exit (workers are started, and idle, before). Each queued run's cell
 * files are checked byte-equal to the local run's (wall times aside). SAELAB_BENCH_PRESET picks
 * another preset, SAELAB_BENCH_STEPS shortens training for a quick look (not the figure to quote).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getSweepPreset } from "../src/experiments/sweep-presets.js";
import { planSweep } from "../src/experiments/sweep-grid.js";
import { parseSweepSpec } from "../src/experiments/sweep-spec.js";
import { startRedis } from "../test/helpers/redis-server.js";

const BIN = fileURLToPath(new URL("../bin/saelab.js", import.meta.url));
if (!existsSync(fileURLToPath(new URL("../dist/cli/main.js", import.meta.url)))) {
  console.error("bench:sweep-queue runs the built CLI: run `npm run build` first");
  process.exit(1);
}
const presetName = process.env.SAELAB_BENCH_PRESET ?? "absorption-l1xcooc";
const preset = getSweepPreset(presetName);
const steps = process.env.SAELAB_BENCH_STEPS ? Number(process.env.SAELAB_BENCH_STEPS) : undefined;
const spec = steps === undefined ? preset : { ...preset, train: { ...preset.train, steps } };
const plan = planSweep(parseSweepSpec(spec));
const work = mkdtempSync(join(tmpdir(), "saelab-bench-sweep-queue-"));
writeFileSync(join(work, "spec.json"), JSON.stringify(spec));

console.log(
  `bench:sweep-queue  preset ${presetName}${steps === undefined ? "" : ` with ${steps} steps (SAELAB_BENCH_STEPS: not the preset's figure)`}: ${plan.cells.length} cells of ` +
    `${plan.saes.reduce((n, s) => n + s.levels.length, 0)} SAEs; ${cpus()[0]?.model ?? "cpu"}, ${cpus().length} cores, node ${process.version}`,
);
console.log("(timings under load are not figures to quote: run on a quiet machine)");

function start(args: string[]): { child: ChildProcess; exited: Promise<number | null>; stderr: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { cwd: work, stdio: ["ignore", "ignore", "pipe"] });
  let text = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (c: string) => (text += c));
  return { child, stderr: () => text, exited: new Promise((r) => child.once("exit", (code) => r(code))) };
}

/** Returns the wall seconds of a sweep command (which must succeed). */
async function timed(args: string[]): Promise<number> {
  const t0 = performance.now();
  const p = start(args);
  const code = await p.exited;
  if (code !== 0) throw new Error(`saelab ${args.join(" ")} exited with ${code}:\n${p.stderr().slice(-2000)}`);
  return (performance.now() - t0) / 1000;
}

const masked = (path: string) => readFileSync(path, "utf8").replace(/"seconds": \{[^}]*\}/, '"seconds": {}');
const sameAsLocal = (dir: string) => readdirSync(join(work, "local", "cells")).every((n) => masked(join(work, dir, "cells", n)) === masked(join(work, "local", "cells", n)));

const rows: string[][] = [];
const row = (name: string, seconds: number, identical: string) => rows.push([name, String(plan.cells.length), seconds.toFixed(1), ((plan.cells.length / seconds) * 60).toFixed(2), identical]);

row("local sweep, 2 worker threads", await timed(["sweep", "spec.json", "--out", "local", "--workers", "2"]), "(reference)");
const redis = await startRedis();
try {
  for (const n of [1, 2]) {
    const url = `${redis.url}/${n}`;
    const workers = Array.from({ length: n }, () => start(["worker", "--queue", url]));
    while (!workers.every((w) => /taking cells/.test(w.stderr()))) await new Promise((r) => setTimeout(r, 50));
    const seconds = await timed(["sweep", "spec.json", "--out", `queued-${n}`, "--queue", url]);
    for (const w of workers) w.child.kill("SIGTERM");
    await Promise.all(workers.map((w) => w.exited));
    row(`queued sweep, ${n} worker process${n === 1 ? "" : "es"}`, seconds, sameAsLocal(`queued-${n}`) ? "yes" : "NO");
  }
} finally {
  await redis.stop();
}
const head = ["run", "cells", "wall s", "cells/min", "identical to local"];
const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
const fmt = (r: string[]) => `| ${r.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(" | ")} |`;
console.log([fmt(head), `|${widths.map((w, c) => (c === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...rows.map(fmt)].join("\n"));
rmSync(work, { recursive: true, force: true });
if (rows.some((r) => r[4] === "NO")) process.exitCode = 1;
