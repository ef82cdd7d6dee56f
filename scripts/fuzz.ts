/**
 * `npm run fuzz -- [--parser NAME[,NAME]] [--n N] [--seed S] [--workers W] [--from F] [--batch B] [--recycle R]
 * [--timeout-ms T] [--memory-mib M] [--only I,J] [--save DIR]`: mutation-fuzzes every parser a
 * user's file reaches (scripts/fuzz/targets.ts) and prints a table of outcomes; exits 1 on any
 * crash, hang, out-of-memory, non-UserError rejection, unnamed UserError or inconsistent acceptance.
 */
import { availableParallelism } from "node:os";
import { FAILING, formatTable, runFuzz } from "./fuzz/run.js";
import { DEFAULT_TARGETS, TARGETS } from "./fuzz/targets.js";

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const parsers = flag("parser")?.split(",") ?? DEFAULT_TARGETS;
for (const p of parsers) if (!TARGETS.some((t) => t.name === p)) throw new Error(`unknown parser "${p}"; the parsers are: ${TARGETS.map((t) => t.name).join(", ")}`);
const n = Number(flag("n") ?? 2000);
const seed = Number(flag("seed") ?? 1);
const only = flag("only")?.split(",").map(Number);
const t0 = Date.now();
const results = await runFuzz({
  parsers,
  n,
  from: Number(flag("from") ?? 0),
  seed,
  workers: Number(flag("workers") ?? Math.min(2, availableParallelism())),
  batch: Number(flag("batch") ?? 2000),
  recycle: Number(flag("recycle") ?? 50_000),
  timeoutMs: Number(flag("timeout-ms") ?? 10_000),
  memoryMiB: Number(flag("memory-mib") ?? 1024),
  ...(only ? { only } : {}),
  ...(flag("save") ? { save: flag("save")! } : {}),
  onProgress: (done, total) => process.stderr.write(`fuzz: ${done} of ${total} mutants (${((Date.now() - t0) / 1000).toFixed(0)} s)\n`),
});
console.log(`npm run fuzz -- --n ${n} --seed ${seed}${flag("from") ? ` --from ${flag("from")}` : ""}${flag("parser") ? ` --parser ${flag("parser")}` : ""}`);
console.log(formatTable(results));
console.log(`${results.reduce((a, r) => a + r.n, 0)} mutants in ${((Date.now() - t0) / 1000).toFixed(0)} s wall`);
let failed = false;
for (const r of results) {
  for (const o of FAILING) {
    for (const ex of r.examples[o] ?? []) {
      failed = true;
      console.log(`  ${r.parser} mutant ${ex.i} ${o}: ${ex.message}  (reproduce: npm run fuzz -- --parser ${r.parser} --seed ${seed} --only ${ex.i} --save DIR)`);
    }
  }
}
process.exitCode = failed ? 1 : 0;
