/**
 * `saelab mitigate` on LM activations keeps the source SAE's cfg.json data fields (hook_name,
 * model_name, context_size, prepend_bos...), so `saelab splice` runs on its output with no extra
 * flags: both the refitted un-absorbed SAE (standard) and the tying fine-tune (topk).
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
});
