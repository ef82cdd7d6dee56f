/**
 * Mixed precision preserves the demo's outcomes (slow, behind SAELAB_SLOW): `saelab demo --precision
 * bf16` against the fp32 demo on seeds 1-5, each with its defaults, through main() as a user runs it.
 * Per SAE, the bf16 run's full absorption is within 0.05 of fp32's and its explained variance within
 * 0.005, and the regimes the reading names are the same: whether each SAE absorbs (full absorption at
 * least the reading's "some", 0.05) and whether a second parent-like latent is absorbed.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { SummaryRowSchema, type SummaryRow } from "../src/report/summary.js";

const SOME = 0.05; // src/report/reading.ts: the least full absorption the reading calls absorption

async function demoRows(seed: number, precision: "fp32" | "bf16"): Promise<SummaryRow[]> {
  const dir = mkdtempSync(join(tmpdir(), `saelab-demo-${precision}-${seed}-`));
  const stdout: string[] = [];
  const stderr: string[] = [];
  const io: CliIO = { out: (t) => stdout.push(t), err: (t) => stderr.push(t), isTTY: false, cwd: dir };
  const code = await main(["demo", "--json", "--seed", String(seed), "--precision", precision], io);
  expect(code, stderr.join("\n")).toBe(0);
  if (precision === "bf16") expect(stderr.join("\n")).toMatch(/precision bf16/);
  return (JSON.parse(stdout.join("\n")) as unknown[]).map((r) => SummaryRowSchema.parse(r));
}

describe.skipIf(!process.env.SAELAB_SLOW)("saelab demo --precision bf16 against fp32 (seeds 1-5)", () => {
  it.each([1, 2, 3, 4, 5])("seed %i: the same regimes, full absorption within 0.05 and explained variance within 0.005", async (seed) => {
    const fp32 = await demoRows(seed, "fp32");
    const bf16 = await demoRows(seed, "bf16");
    expect(bf16.map((r) => r.name)).toEqual(fp32.map((r) => r.name));
    for (const [i, a] of fp32.entries()) {
      const b = bf16[i]!;
      const what = `seed ${seed} ${a.name}: fp32 ${JSON.stringify(a)} bf16 ${JSON.stringify(b)}`;
      expect(Math.abs(b.explainedVariance - a.explainedVariance), what).toBeLessThanOrEqual(0.005);
      expect(b.fullAbsorption === null, what).toBe(a.fullAbsorption === null);
      if (a.fullAbsorption !== null && b.fullAbsorption !== null) expect(Math.abs(b.fullAbsorption - a.fullAbsorption), what).toBeLessThanOrEqual(0.05);
      expect((b.fullAbsorption ?? 0) >= SOME, what).toBe((a.fullAbsorption ?? 0) >= SOME);
      expect((b.secondParentAbsorption ?? 0) >= SOME, what).toBe((a.secondParentAbsorption ?? 0) >= SOME);
    }
    // The regimes: the untied standard SAE absorbs in both.
    expect(fp32.find((r) => r.name === "standard-untied")!.fullAbsorption!).toBeGreaterThanOrEqual(SOME);
    expect(bf16.find((r) => r.name === "standard-untied")!.fullAbsorption!).toBeGreaterThanOrEqual(SOME);
  }, 1_800_000);
});
