/**
 * `npm run crash-trials -- [--trials N] [--seed S] [--commands train,sweep,features,activations] [--work DIR]`:
 * kills `saelab train`, `sweep`, `features` and `activations` with SIGKILL at random moments, resumes them, and
 * compares every output file byte for byte with an uninterrupted run's; prints
 * trials / killed / resumed / identical / lost / corrupt per command and exits 1 unless all match.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sharedModelDir } from "../src/io/llama2c.js";
import { crashTrials, trialCommands, type TrialResult } from "./crash-trials/run.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const trials = Number(flag("trials") ?? 5);
const seed = Number(flag("seed") ?? 1);
const modelDir = existsSync(join(sharedModelDir(), "stories260K.bin")) ? sharedModelDir() : undefined;
const wanted = flag("commands")?.split(",");
const commands = trialCommands(modelDir).filter((c) => !wanted || wanted.includes(c.name));
const work = flag("work") ?? mkdtempSync(join(tmpdir(), "saelab-crash-trials-"));
const results: TrialResult[] = [];
for (const cmd of commands) {
  results.push(await crashTrials(cmd, trials, seed, work, (l) => process.stderr.write(`${l}\n`)));
}
const head = ["command", "trials", "killed", "resumed", "identical", "lost", "corrupt", "temp leftovers", "reference s"];
const rows = results.map((r) => [r.command, r.trials, r.killed, r.resumed, r.identical, r.lost, r.corrupt, r.leftovers, r.referenceSeconds.toFixed(1)].map(String));
const widths = head.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c]!.length)));
const fmt = (row: string[]) => `| ${row.map((v, c) => (c === 0 ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join(" | ")} |`;
console.log(`npm run crash-trials -- --trials ${trials} --seed ${seed}`);
console.log([fmt(head), `|${widths.map((w, c) => (c === 0 ? "-".repeat(w + 2) : `${"-".repeat(w + 1)}:`)).join("|")}|`, ...rows.map(fmt)].join("\n"));
for (const r of results) for (const e of r.examples) console.log(`  ${r.command}: ${e}`);
const ok = results.every((r) => r.identical === r.trials && r.lost === 0 && r.corrupt === 0);
if (ok && !flag("work")) rmSync(work, { recursive: true, force: true });
else console.log(`trial directories kept in ${work}`);
process.exitCode = ok ? 0 : 1;
