/**
 * The fuzz driver: splits the mutants of every parser into segments and feeds them in batches
 * (`batch` mutants each) to `workers` long-lived child processes under a time and memory watchdog;
 * after a death it re-runs the mutant the child died on alone in a fresh child (classifying it as a
 * crash, hang or out of memory if it dies again) and goes on after it; tallies the outcomes per parser.
 */
import { spawn, type ChildProcess } from "node:child_process";
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
  /** Start at mutant `from` (a run split into pieces: --from 50000 --n 100000 is its second half). */
  from?: number;
  seed: number;
  /** Concurrent child processes. */
  workers: number;
  /** Mutants sent to a child at a time. */
  batch: number;
  /** A child is replaced by a fresh one after this many mutants (bounds what a long-lived process accumulates). */
  recycle: number;
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

/**
 * A child process kept alive across batches (no start-up, seed building or JIT warm-up per batch),
 * each mutant under the watchdog: a mutant running past the time limit is a hang, a child past the
 * memory limit is out of memory, and a death is attributed to the mutant it happened on.
 */
class FuzzChild {
  /** Mutants finished by this child. */
  mutants = 0;
  dead = false;
  private readonly proc: ChildProcess;
  private readonly work: string;
  private readonly exited: Promise<void>;
  private job: { segments: Segment[]; confirm: boolean; last?: { parser: string; i: number }; resolve: (left: Segment[]) => void } | undefined;
  private current: { parser: string; i: number } | undefined;
  private started = Date.now();
  private killedFor: "hang" | "oom" | undefined;
  private stderr = "";

  constructor(private readonly opts: FuzzOptions, private readonly record: Record_) {
    // Mutants are many small files written and read once: tmpfs when there is one.
    this.work = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "saelab-fuzz-"));
    const args: ChildArgs = { seed: opts.seed, work: this.work, ...(opts.save ? { save: opts.save } : {}) };
    this.proc = spawn(process.execPath, [`--max-old-space-size=${opts.memoryMiB}`, "--import", "tsx", CHILD, JSON.stringify(args)], { stdio: ["pipe", "pipe", "pipe"] });
    this.proc.stdin!.on("error", () => {}); // a dead child's closed pipe: its death is handled on "close"
    let buf = "";
    this.proc.stdout!.setEncoding("utf8");
    this.proc.stdout!.on("data", (chunk: string) => {
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        this.line(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    this.proc.stderr!.setEncoding("utf8");
    this.proc.stderr!.on("data", (c: string) => {
      this.stderr = (this.stderr + c).slice(-4000);
    });
    // Start-up and seed building are not a mutant's time: the clock runs from each "S parser i".
    const timer = setInterval(() => {
      if (!this.job) return;
      const ms = Date.now() - this.started;
      if (this.current && ms > opts.timeoutMs) this.killedFor = "hang";
      else if (rssMiB(this.proc.pid!) > opts.memoryMiB * 1.5) this.killedFor = "oom";
      else if (!this.current && ms > 120_000) this.killedFor = "hang";
      if (this.killedFor) this.proc.kill("SIGKILL");
    }, 100);
    this.exited = new Promise((resolveExit) => {
      this.proc.on("close", (code, signal) => {
        clearInterval(timer);
        this.dead = true;
        rmSync(this.work, { recursive: true, force: true });
        this.died(code, signal);
        resolveExit();
      });
    });
  }

  private line(line: string): void {
    const job = this.job;
    if (!job) return;
    if (line.startsWith("S ")) {
      const [, parser, i] = line.split(" ");
      this.current = { parser: parser!, i: Number(i) };
      this.started = Date.now();
    } else if (line.startsWith("{")) {
      const r = JSON.parse(line) as { parser: string; i: number; outcome: Outcome; message: string; ms: number };
      this.record(r.parser, r.i, r.outcome, r.message, r.ms);
      this.mutants++;
      job.last = this.current;
      this.current = undefined;
      this.started = Date.now();
    } else if (line === "D") {
      this.job = undefined;
      job.resolve([]);
    }
  }

  private died(code: number | null, signal: NodeJS.Signals | null): void {
    const job = this.job;
    this.job = undefined;
    if (!job) return;
    // The mutant it died on (or, dying between mutants, the one after the last finished).
    const at = this.current ?? nextAfter(job.segments, job.last);
    if (!at) return job.resolve([]);
    const oom = this.killedFor === "oom" || /heap out of memory|Allocation failed/i.test(this.stderr);
    const outcome: Outcome = oom ? "oom" : this.killedFor === "hang" ? "hang" : "crash";
    const rest = remainderAfter(job.segments, at);
    // A death is counted once it recurs with the mutant alone in a fresh child (a child can also die of
    // its surroundings: load, or what earlier mutants left in a long-lived process).
    if (!job.confirm) return job.resolve([{ parser: at.parser, from: at.i, to: at.i + 1, confirm: true }, ...rest]);
    this.record(at.parser, at.i, outcome, `${outcome} (exit ${code ?? signal}): ${this.stderr.trim().split("\n").slice(-3).join(" | ").slice(0, 300)}`, 0);
    job.resolve(rest);
  }

  /** Runs a batch; resolves with the segments left undone after a death (empty when it finished). */
  run(segments: Segment[], confirm: boolean): Promise<Segment[]> {
    if (this.dead) return Promise.resolve(segments);
    return new Promise((resolveJob) => {
      this.job = { segments, confirm, resolve: resolveJob };
      this.current = undefined;
      this.killedFor = undefined;
      this.started = Date.now();
      this.proc.stdin!.write(`${JSON.stringify(segments)}\n`);
    });
  }

  /** Ends the child (it exits when its stdin closes) and waits for it. */
  close(): Promise<void> {
    this.proc.stdin!.end();
    return this.exited;
  }
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
    results.set(parser, { parser, n: opts.only ? opts.only.length : opts.n - (opts.from ?? 0), counts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<Outcome, number>, examples: {}, seconds: 0 });
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
  for (let from = opts.from ?? 0; from < maxN; from += chunk) for (const parser of opts.parsers) queue.push({ parser, from, to: Math.min(opts.n, from + chunk) });
  if (opts.only) for (const parser of opts.parsers) for (const i of opts.only) queue.push({ parser, from: i, to: i + 1 });
  const take = (): Segment[] => {
    if (queue[0]?.confirm) return [queue.shift()!];
    const out: Segment[] = [];
    let size = 0;
    while (queue.length && size < opts.batch && !queue[0]!.confirm) {
      const s = queue.shift()!;
      out.push(s);
      size += s.to - s.from;
    }
    return out;
  };
  const worker = async (): Promise<void> => {
    let child: FuzzChild | undefined;
    for (let segs = take(); segs.length; segs = take()) {
      let left: Segment[];
      if (segs.some((x) => x.confirm)) {
        const alone = new FuzzChild(opts, record);
        left = await alone.run(segs, true);
        await alone.close();
      } else {
        if (!child || child.dead || child.mutants >= opts.recycle) {
          await child?.close();
          child = new FuzzChild(opts, record);
        }
        left = await child.run(segs, false);
      }
      queue.unshift(...left);
      opts.onProgress?.(done, total);
    }
    await child?.close();
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
