/**
 * The default-suite fuzz sample: a fixed-seed batch of mutants for every parser in
 * scripts/fuzz/targets.ts, each run in a child process under the time and memory watchdog. Any crash,
 * hang, out-of-memory, non-UserError rejection, UserError that does not name the file, or inconsistent
 * acceptance fails the test with the mutant's index (reproduce with `npm run fuzz -- --only I`).
 */
import { describe, expect, it } from "vitest";
import { FAILING, runFuzz, type ParserResult } from "../scripts/fuzz/run.js";
import { mutantOf } from "../scripts/fuzz/mutate.js";
import { DEFAULT_TARGETS, TARGETS } from "../scripts/fuzz/targets.js";

const N = 300;
const SEED = 20261206;

describe("fuzz sample (fixed seed)", () => {
  let results: Promise<ParserResult[]> | undefined;
  const all = (): Promise<ParserResult[]> =>
    (results ??= runFuzz({ parsers: DEFAULT_TARGETS, n: N, seed: SEED, workers: 2, batch: 600, recycle: 50_000, timeoutMs: 10_000, memoryMiB: 1024 }));

  for (const name of DEFAULT_TARGETS) it(`${name}: no crash, hang, OOM, non-UserError rejection or inconsistent acceptance`, async () => {
    const r = (await all()).find((x) => x.parser === name)!;
    const bad = FAILING.flatMap((o) => (r.examples[o] ?? []).map((e) => `${o} at mutant ${e.i}: ${e.message}`));
    expect(bad).toEqual([]);
    // The seeds themselves load, and the mutants reach both outcomes.
    expect(r.counts["accepted-consistent"]).toBeGreaterThan(0);
    expect(r.counts["rejected-UserError"]).toBeGreaterThan(N / 10);
  });

  it("the watchdog classifies a hang, a death, heap exhaustion and a plain Error, and goes on after each", async () => {
    const [r] = await runFuzz({ parsers: ["watchdog-selftest"], n: 5, seed: 1, workers: 1, batch: 5, recycle: 50_000, timeoutMs: 1500, memoryMiB: 128, only: [0, 1, 2, 3, 4] });
    expect(r!.counts).toMatchObject({ "accepted-consistent": 1, hang: 1, crash: 1, oom: 1, "rejected-otherwise": 1 });
    expect(r!.examples.hang![0]!.i).toBe(1);
    expect(r!.examples.crash![0]!.i).toBe(2);
    expect(r!.examples.oom![0]!.i).toBe(3);
  });

  it("mutants are a pure function of (seed, index)", async () => {
    for (const t of TARGETS.slice(0, 3)) {
      const seeds = await t.seeds();
      for (const i of [0, seeds.length, 57]) expect(mutantOf(seeds, SEED, i)).toEqual(mutantOf(await t.seeds(), SEED, i));
    }
  });
});
