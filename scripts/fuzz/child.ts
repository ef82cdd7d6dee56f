/**
 * A fuzz worker process, kept alive across batches: it reads batches of segments (parser, from, to),
 * one JSON line each, from stdin, builds each mutant and runs it through the parser's loader,
 * printing "S parser i" before and one JSON result line after each mutant (so the parent can tell
 * which mutant a crash, hang or out-of-memory kill happened on) and "D" after each batch. It exits
 * when stdin closes. Usage: node --import tsx child.ts '<json ChildArgs>'.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { UserError } from "../../src/errors.js";
import { mutantOf, type FuzzFiles } from "./mutate.js";
import { targetNamed, type FuzzTarget } from "./targets.js";

/** A run of mutants of one parser. */
export interface Segment {
  parser: string;
  from: number;
  to: number;
  /** Re-running a mutant a child died on, alone. */
  confirm?: boolean;
}

/** Arguments of one child process (its batches come over stdin). */
export interface ChildArgs {
  seed: number;
  /** Scratch directory (each parser's mutant is written to <work>/<parser>). */
  work: string;
  /** When set, each mutant's files are also copied to <save>/<parser>-<i>. */
  save?: string;
}

/**
 * Writes the mutant's files into `dir`, removing those of the previous mutant that it lacks and
 * anything a loader left there (an SQLite -wal or -journal file), and skipping files whose bytes are
 * unchanged (cheaper than a fresh directory; loaders only read their files).
 */
function writeFiles(written: Map<string, FuzzFiles>, dir: string, files: FuzzFiles): void {
  const before = written.get(dir) ?? {};
  for (const old of Object.keys(before)) if (!(old in files)) rmSync(join(dir, old), { force: true });
  const top = new Set(Object.keys(files).map((n) => n.split("/")[0]!));
  for (const e of existsSync(dir) ? readdirSync(dir) : []) if (!top.has(e)) rmSync(join(dir, e), { recursive: true, force: true });
  for (const [name, bytes] of Object.entries(files)) {
    const had = before[name];
    if (had && Buffer.compare(had, bytes) === 0) continue;
    if (!had) mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), bytes);
  }
  written.set(dir, files);
}

const say = (line: string): void => {
  writeFileSync(1, `${line}\n`);
};

/** Runs one mutant; returns its outcome and message (paths inside the mutant shown as <dir>). */
async function runOne(target: FuzzTarget, dir: string, files: FuzzFiles): Promise<{ outcome: string; message: string }> {
  let outcome: string;
  let message = "";
  try {
    const loaded = await target.load(target.entry ? join(dir, target.entry) : dir);
    const problem = target.check(loaded, files);
    outcome = problem === undefined ? "accepted-consistent" : "accepted-with-problem";
    message = problem ?? "";
  } catch (e) {
    const err = e as Error;
    message = String(err?.message ?? err);
    if (err instanceof UserError) outcome = message.includes(dir) ? "rejected-UserError" : "rejected-UserError-unnamed";
    else {
      outcome = "rejected-otherwise";
      message = `${err?.name ?? typeof err}: ${message}`;
    }
  }
  return { outcome, message: message.split(dir).join("<dir>").slice(0, 400) };
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]!) as ChildArgs;
  const seedsOf = new Map<string, FuzzFiles[]>();
  const written = new Map<string, FuzzFiles>();
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    for (const seg of JSON.parse(line) as Segment[]) {
      const target = targetNamed(seg.parser);
      if (!seedsOf.has(seg.parser)) seedsOf.set(seg.parser, await target.seeds());
      const seeds = seedsOf.get(seg.parser)!;
      const dir = join(args.work, seg.parser);
      for (let i = seg.from; i < seg.to; i++) {
        const files = mutantOf(seeds, args.seed, i, target.mutable);
        writeFiles(written, dir, files);
        if (args.save) cpSync(dir, join(args.save, `${seg.parser}-${i}`), { recursive: true });
        say(`S ${seg.parser} ${i}`);
        const t0 = performance.now();
        const r = await runOne(target, dir, files);
        say(JSON.stringify({ parser: seg.parser, i, ...r, ms: performance.now() - t0 }));
      }
    }
    say("D");
  }
}

await main();
