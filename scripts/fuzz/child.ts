/**
 * A fuzz worker process: for each segment (parser, from, to) it builds the mutants and runs each
 * through the parser's loader, printing "S parser i" before and one JSON result line after each, so
 * the parent can tell which mutant a crash, hang or out-of-memory kill happened on.
 * Usage: node --import tsx child.ts '<json ChildArgs>'.
 */
import { cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { UserError } from "../../src/errors.js";
import { mutantOf, type FuzzFiles } from "./mutate.js";
import { targetNamed, type FuzzTarget } from "./targets.js";

/** A run of mutants of one parser. */
export interface Segment {
  parser: string;
  from: number;
  to: number;
}

/** Arguments of one child run. */
export interface ChildArgs {
  seed: number;
  segments: Segment[];
  /** Scratch directory (each parser's mutant is written to <work>/<parser>). */
  work: string;
  /** When set, each mutant's files are also copied to <save>/<parser>-<i>. */
  save?: string;
}

const written = new Map<string, Set<string>>();

/** Writes the mutant's files into `dir`, removing those of the previous mutant that it lacks (cheaper than a fresh directory). */
function writeFiles(dir: string, files: FuzzFiles): void {
  const before = written.get(dir) ?? new Set<string>();
  const names = new Set(Object.keys(files));
  for (const old of before) if (!names.has(old)) rmSync(join(dir, old), { force: true });
  for (const [name, bytes] of Object.entries(files)) {
    if (!before.has(name)) mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), bytes);
  }
  written.set(dir, names);
}

const say = (line: string): void => {
  writeFileSync(1, `${line}\n`);
};

/** Runs one mutant; returns its outcome and message (paths inside the mutant shown as <dir>). */
function runOne(target: FuzzTarget, dir: string, files: FuzzFiles): { outcome: string; message: string } {
  let outcome: string;
  let message = "";
  try {
    const loaded = target.load(target.entry ? join(dir, target.entry) : dir);
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

function main(): void {
  const args = JSON.parse(process.argv[2]!) as ChildArgs;
  const seedsOf = new Map<string, FuzzFiles[]>();
  for (const seg of args.segments) {
    const target = targetNamed(seg.parser);
    if (!seedsOf.has(seg.parser)) seedsOf.set(seg.parser, target.seeds());
    const seeds = seedsOf.get(seg.parser)!;
    const dir = join(args.work, seg.parser);
    for (let i = seg.from; i < seg.to; i++) {
      const files = mutantOf(seeds, args.seed, i);
      writeFiles(dir, files);
      if (args.save) cpSync(dir, join(args.save, `${seg.parser}-${i}`), { recursive: true });
      say(`S ${seg.parser} ${i}`);
      const t0 = performance.now();
      const r = runOne(target, dir, files);
      say(JSON.stringify({ parser: seg.parser, i, ...r, ms: performance.now() - t0 }));
    }
  }
}

main();
