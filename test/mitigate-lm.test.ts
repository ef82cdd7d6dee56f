/**
 * `saelab mitigate` on LM activations keeps the source SAE's cfg.json data fields (hook_name,
 * model_name, context_size, prepend_bos...), so `saelab splice` runs on its output with no extra
 * flags: both the refitted un-absorbed SAE (standard) and the tying fine-tune (topk). mitigate itself
 * reports before and after: confident pairs, and splice figures equal to what saelab splice reports
 * for the original and the saved directory on the same windows.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { sharedModelFiles } from "../src/io/llama2c.js";

function io(cwd: string): CliIO & { text(): string; errText(): string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, cwd, text: () => out.join("\n"), errText: () => err.join("\n") };
}

const meta = (dir: string) => (JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8")) as { metadata: Record<string, unknown> }).metadata;

describe.skipIf(!sharedModelFiles())("mitigate then splice on stories260K activations", () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-mitigate-lm-"));
    const q = io(dir);
    expect(await main(["activations", "--hook", "blocks.2.hook_resid_post", "--sequences", "12", "--seqLen", "96", "--shardTokens", "400", "--out", "acts"], q)).toBe(0);
    writeFileSync(join(dir, "std.json"), JSON.stringify({ architecture: "standard", dSae: 48, l1Coefficient: 1 }));
    writeFileSync(join(dir, "topk.json"), JSON.stringify({ architecture: "topk", dSae: 48, k: 4 }));
    for (const s of ["std", "topk"]) expect(await main(["train", "--activations", "acts", "--sae", `${s}.json`, "--steps", "150", "--batchSize", "128", "--lr", "0.003", "--out", s], q)).toBe(0);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("the saved SAEs keep hook_name, model_name, context_size and prepend_bos, and splice reads them", async () => {
    const q = io(dir);
    expect(await main(["mitigate", "std", "--activations", "acts", "--out", "std-m"], q)).toBe(0);
    expect(await main(["mitigate", "topk", "--activations", "acts", "--out", "topk-m", "--fineTuneSteps", "5", "--fineTuneFrom", "original"], q)).toBe(0);
    for (const [src, out] of [["std", "std-m"], ["topk", "topk-m-tie-finetuned"]] as const) {
      const before = meta(join(dir, src));
      const after = meta(join(dir, out));
      expect(before.hook_name).toBe("blocks.2.hook_resid_post");
      for (const k of ["hook_name", "model_name", "context_size", "prepend_bos"]) {
        expect(before[k], k).toBeDefined();
        expect(after[k], `${out} ${k}`).toEqual(before[k]);
      }
      const s = io(dir);
      expect(await main(["splice", out, "--sequences", "2", "--seqLen", "32"], s), s.errText()).toBe(0);
      expect(s.text()).toMatch(/at blocks\.2\.hook_resid_post/);
      expect(s.text()).toMatch(/loss recovered\s+0\.\d+/);
    }
  });

  it("reports confident pairs and splice figures before and after, equal to saelab splice's on the same windows", async () => {
    const q = io(dir);
    expect(await main(["mitigate", "std", "--activations", "acts", "--out", "std-m2", "--spliceSequences", "3", "--spliceSeqLen", "40"], q), q.errText()).toBe(0);
    expect(q.text()).toMatch(/Before and after \(confident pairs: the detector on the same \d+ inputs; splice-in at blocks\.2\.hook_resid_post on 3 sampled windows of 40 tokens/);
    expect(q.text()).toMatch(/\noriginal +\d+ +0\.\d{4} +\d\.\d{4} +\d+\.\d\d +-?\d\.\d{4}\n/);
    expect(q.text()).toMatch(/\nsaved \(refit\) +\d+ +-?\d\.\d{4} +\d\.\d{4} +\d+\.\d\d +-?\d\.\d{4}/);
    const j = io(dir);
    expect(await main(["mitigate", "std", "--activations", "acts", "--out", "std-m3", "--spliceSequences", "3", "--spliceSeqLen", "40", "--json"], j)).toBe(0);
    type Row = { name: string; confidentPairs: number; splice: { lossRecovered: number; klSae: number; l0: number; explainedVariance: number } };
    const ba = (JSON.parse(j.text()) as { beforeAfter: { saes: Row[]; splice: { hook: string; sequences: number } } }).beforeAfter;
    expect(ba.splice).toMatchObject({ hook: "blocks.2.hook_resid_post", sequences: 3 });
    expect(ba.saes.map((r) => r.name)).toEqual(["original", "saved (refit)"]);
    // The confident pairs after are the detector's on the saved directory, read from disk.
    const d = io(dir);
    expect(await main(["detect", "std-m3", "--activations", "acts", "--json", "--no-baseline"], d)).toBe(0);
    expect(ba.saes[1]!.confidentPairs).toBe((JSON.parse(d.text()) as { detection: { summary: { confidentPairs: number } } }).detection.summary.confidentPairs);
    for (const [row, sae] of [[ba.saes[0]!, "std"], [ba.saes[1]!, "std-m3"]] as const) {
      const s = io(dir);
      expect(await main(["splice", sae, "--sequences", "3", "--seqLen", "40", "--json"], s), s.errText()).toBe(0);
      const want = JSON.parse(s.text()) as Row["splice"];
      for (const k of ["lossRecovered", "klSae", "l0", "explainedVariance"] as const) expect(row.splice[k], `${sae} ${k}`).toBeCloseTo(want[k], 4);
    }
  });
});
