/**
 * The fuzz driver: splits the mutants of every parser into segments, packs segments into child
 * processes (`batch` mutants each, `workers` at a time) run under a time and memory watchdog,
 * restarts after the mutant a child died on (classifying it as a crash, hang or out of memory), and
 * tallies the outcomes per parser.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildArgs, Segment } from "./child.js";

export const OUTCOMES = [
  "accepted-consistent", "accepted-with-problem", "rejected-UserError", "rejected-UserError-unnamed", "rejected-otherwise", "crash", "hang", "oom",
] as const;
export type Outcome = (typeof OUTCOMES)[number];
/** Outcomes that make a fuzz run fail. */
export const FAILING: readonly Outcome[] = ["accepted-with-problem", "rejected-UserError-unnamed", "rejected-otherwise", "crash", "hang", "oom"];

/** One parser's tally, with a few examples (mutant index and message) of each outcome. */
export interface ParserResult {
  parser: string;
  n: number;
  counts: Record<Outcome, number>;
  examples: Partial<Record<Outcome, { i: number; message: string }[]>>;
  /** Time spent inside the loader and check, summed over mutants. */
  seconds: number;
}

/** Fuzz settings. */
export interface FuzzOptions {
  parsers: readonly string[];
  /** Mutants per parser (the first few are the unmutated seeds). */
  n: number;
  seed: number;
  /** Concurrent child processes. */
  workers: number;
  /** Mutants per child process. */
  batch: number;
  /** A mutant running longer than this is a hang. */
  timeoutMs: number;
  /** A child whose V8 heap passes this (or whose resident memory passes 1.5x it) is out of memory. */
  memoryMiB: number;
  /** Run only these mutant indices (reproduction). */
  only?: readonly number[];
  save?: string;
  /** Called after each child exits with the mutants done so far. */
  onProgress?: (done: number, total: number) => void;
}

const CHILD = new URL("./child.ts", import.meta.url).pathname;

function rssMiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

type Record_ = (parser: string, i: number, o: Outcome, message: string, ms: number) => void;

/** Runs segments in one child; resolves with the segments left undone after a death (empty when it finished). */
function runChild(segments: Segment[], opts: FuzzOptions, record: Record_): Promise<Segment[]> {
  // Mutants are many small files written and read once: tmpfs when there is one.
  const work = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "saelab-fuzz-"));
  const args: ChildArgs = { seed: opts.seed, segments, work, ...(opts.save ? { save: opts.save } : {}) };
  return new Promise((resolveJob) => {
    const child = spawn(process.execPath, [`--max-old-space-size=${opts.memoryMiB}`, "--import", "tsx", CHILD, JSON.stringify(args)], { stdio: ["ignore", "pipe", "pipe"] });
    let current: { parser: string; i: number } | undefined;
    let last: { parser: string; i: number } | undefined;
    let started = Date.now();
    let killedFor: "hang" | "oom" | undefined;
    let buf = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith("S ")) {
          const [, parser, i] = line.split(" ");
          current = { parser: parser!, i: Number(i) };
          started = Date.now();
        } else if (line.startsWith("{")) {
          const r = JSON.parse(line) as { parser: string; i: number; outcome: Outcome; message: string; ms: number };
          record(r.parser, r.i, r.outcome, r.message, r.ms);
          last = current;
          current = undefined;
          started = Date.now();
        }
      }
    });
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (c: string) => {
      stderr = (stderr + c).slice(-4000);
    });
    // Startup (tsx, the seeds) is not a mutant's time: the clock runs from each "S parser i".
    const timer = setInterval(() => {
      if (current && Date.now() - started > opts.timeoutMs) killedFor = "hang";
      else if (rssMiB(child.pid!) > opts.memoryMiB * 1.5) killedFor = "oom";
      else if (!current && Date.now() - started > 120_000) killedFor = "hang";
      if (killedFor) child.kill("SIGKILL");
    }, 100);
    child.on("close", (code, signal) => {
      clearInterval(timer);
      rmSync(work, { recursive: true, force: true });
      if (!current && code === 0) return resolveJob([]);
      // The mutant it died on (or, dying between mutants, the one after the last finished).
      const at = current ?? nextAfter(segments, last);
      if (!at) return resolveJob([]);
      const oom = killedFor === "oom" || /heap out of memory|Allocation failed/i.test(stderr);
      const outcome: Outcome = oom ? "oom" : killedFor === "hang" ? "hang" : "crash";
      record(at.parser, at.i, outcome, `${outcome} (exit ${code ?? signal}): ${stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 300)}`, 0);
      resolveJob(remainderAfter(segments, at));
    });
  });
}

function nextAfter(segments: readonly Segment[], last: { parser: string; i: number } | undefined): { parser: string; i: number } | undefined {
  if (!last) return segments[0] && segments[0].from < segments[0].to ? { parser: segments[0].parser, i: segments[0].from } : undefined;
  const rest = remainderAfter(segments, last);
  return rest[0] ? { parser: rest[0].parser, i: rest[0].from } : undefined;
}

/** Returns the segments' mutants after `at` (which is in one of them). */
function remainderAfter(segments: readonly Segment[], at: { parser: string; i: number }): Segment[] {
  const k = segments.findIndex((s) => s.parser === at.parser && at.i >= s.from && at.i < s.to);
  const out = segments.slice(k + 1);
  const s = segments[k]!;
  if (at.i + 1 < s.to) out.unshift({ parser: s.parser, from: at.i + 1, to: s.to });
  return out;
}

/** Fuzzes the parsers with `opts.workers` children in parallel; returns one tally per parser. */
export async function runFuzz(opts: FuzzOptions): Promise<ParserResult[]> {
  const results = new Map<string, ParserResult>();
  for (const parser of opts.parsers) {
    results.set(parser, { parser, n: opts.only ? opts.only.length : opts.n, counts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>, examples: {}, seconds: 0 });
  }
  let done = 0;
  const total = [...results.values()].reduce((a, r) => a + r.n, 0);
  const record: Record_ = (parser, i, o, message, ms) => {
    const r = results.get(parser)!;
    r.counts[o]++;
    r.seconds += ms / 1000;
    const list = (r.examples[o] ??= []);
    if (list.length < 3) list.push({ i, message });
    done++;
  };
  // Segments of at most `batch` mutants, interleaving parsers so every child sees several.
  const queue: Segment[] = [];
  const chunk = Math.max(1, Math.ceil(opts.batch / opts.parsers.length));
  const maxN = opts.only ? 0 : opts.n;
  for (let from = 0; from < maxN; from += chunk) for (const parser of opts.parsers) queue.push({ parser, from, to: Math.min(opts.n, from + chunk) });
  if (opts.only) for (const parser of opts.parsers) for (const i of opts.only) queue.push({ parser, from: i, to: i + 1 });
  const take = (): Segment[] => {
    const out: Segment[] = [];
    let size = 0;
    while (queue.length && size < opts.batch) {
      const s = queue.shift()!;
      out.push(s);
      size += s.to - s.from;
    }
    return out;
  };
  const worker = async (): Promise<void> => {
    for (let segs = take(); segs.length; segs = take()) {
      const left = await runChild(segs, opts, record);
      queue.unshift(...left);
      opts.onProgress?.(done, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.workers) }, worker));
  return [...results.values()];
}

/** Formats results as a table: one row per parser, one column per outcome. */
export function formatTable(results: readonly ParserResult[]): string {
  const short: Record<Outcome, string> = {
    "accepted-consistent": "accepted-ok", "accepted-with-problem": "accepted-bad", "rejected-UserError": "UserError", "rejected-UserError-unnamed": "UserError-unnamed",
    "rejected-otherwise": "other-error", crash: "crash", hang: "hang", oom: "oom",
  };
  const head = ["parser", "mutants", ...OUTCOMES.map((o) => short[o]), "loader s"];
  const rows = results.map((r) => [r.parser, String(r.n), ...OUTCOMES.map((o) => String(r.counts[o])), r.seconds.toFixed(1)]);
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
  const fmt = (row: string[]) => `| ${row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(" | ")} |`;
  return [fmt(head), `|${widths.map((w, c) => (c === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...rows.map(fmt)].join("\n");
}
