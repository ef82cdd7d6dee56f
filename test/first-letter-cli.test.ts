/**
 * `saelab absorption` end to end on stories260K: a small --demo in the default suite (few training
 * steps and epochs), re-measuring one of its SAEs from its saved directory, and bad input. The full
 * --demo with its defaults runs behind SAELAB_SLOW.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { sharedModelFiles } from "../src/io/llama2c.js";
import { absorptionSchemaErrors } from "./helpers/saebench-schema.js";
import { capture } from "./helpers/cli-io.js";


const SMALL = ["--steps", "150", "--sequences", "16", "--dSae", "64", "--max_k_value", "3", "--k_sparse_probe_num_epochs", "5", "--probe_num_epochs", "10", "--detectorMaxRows", "4000"];
const EVAL_FLAGS = SMALL.slice(8);

describe.skipIf(!sharedModelFiles())("saelab absorption on stories260K (small demo)", () => {
  const dir = mkdtempSync(join(tmpdir(), "saelab-absorption-"));
  let demo: { stdout: string; code: number };

  it("--demo trains two SAEs, says what is measurable, and writes a report and SAEBench JSON that validates", async () => {
    const io = capture(dir);
    const code = await main(["absorption", "--demo", ...SMALL, "--out", "out"], io);
    demo = { code, stdout: io.stdout.join("\n") };
    expect(code).toBe(0);
    const text = demo.stdout;
    expect(text).toMatch(/^SAE\s+letters\s+abs frac\s+full abs\s+split\s+det pairs/m);
    expect(text).toMatch(/^standard\s+\d+/m);
    expect(text).toMatch(/^topk\s+\d+/m);
    expect(text).toContain("202 single-token alphabetic words");
    expect(text).toContain("token position -12 from the end");
    expect(text).toMatch(/Flagged: min_feats_for_eval lowered from 20 \(SAEBench\) to \d+/);
    expect(text).toMatch(/The detector \(no labels, 4000 prompt positions\) has \d+ confident pairs/);
    const html = readFileSync(join(dir, "out", "report.html"), "utf8");
    expect(html).toContain("<svg");
    expect(html).not.toMatch(/https?:\/\//);
    for (const sae of ["standard", "topk"]) {
      const j = JSON.parse(readFileSync(join(dir, "out", `${sae}_eval_results.json`), "utf8")) as Record<string, unknown>;
      expect(absorptionSchemaErrors(j)).toEqual([]);
      expect((j.eval_config as Record<string, unknown>).model_name).toBe("stories260K");
      expect((j.eval_result_unstructured as { flags: string[] }).flags[0]).toMatch(/min_feats_for_eval lowered/);
      expect(existsSync(join(dir, "out", sae, "cfg.json"))).toBe(true);
    }
  });

  it("re-measuring a saved demo SAE from its directory gives the demo's numbers", async () => {
    expect(demo.code).toBe(0);
    const io = capture(dir);
    // The model comes from the SAE's cfg.json (stories260K), the hook from its hook_name.
    expect(await main(["absorption", "out/topk", ...EVAL_FLAGS, "--min_feats_for_eval", "1", "--out", "again", "--json"], io)).toBe(0);
    const again = JSON.parse(io.stdout.join("")) as { saes: Record<string, { saebench: { eval_result_metrics: unknown; eval_result_details: unknown } }> };
    const first = JSON.parse(readFileSync(join(dir, "out", "topk_eval_results.json"), "utf8")) as { eval_result_metrics: unknown; eval_result_details: unknown };
    expect(again.saes.topk!.saebench.eval_result_metrics).toEqual(first.eval_result_metrics);
    expect(again.saes.topk!.saebench.eval_result_details).toEqual(first.eval_result_details);
  });

  it("refuses bad input with a clear message", async () => {
    const cases: [string[], RegExp][] = [
      [["absorption"], /give the SAE directory as the first argument, or --demo/],
      [["absorption", "out/topk", "--demo"], /either --demo or an SAE directory/],
      [["absorption", "nowhere"], /nowhere.*cfg\.json is missing|not a SAELens SAE directory/],
      [["absorption", "--demo", "--max_k_value", "0"], /max_k_value/],
      [["absorption", "--demo", "--min_GT_probe_f1", "NaN"], /min_GT_probe_f1/],
    ];
    for (const [argv, msg] of cases) {
      const io = capture(dir);
      expect(await main(argv, io)).toBe(1);
      expect(io.stderr.join("\n")).toMatch(msg);
    }
  });
});

describe.skipIf(!process.env.SAELAB_SLOW || !sharedModelFiles())("saelab absorption --demo with its defaults", () => {
  it("runs end to end in under 3 minutes and reports every SAE", async () => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-absorption-full-"));
    const io = capture(dir);
    const t0 = performance.now();
    expect(await main(["absorption", "--demo", "--out", "out"], io)).toBe(0);
    const seconds = (performance.now() - t0) / 1000;
    expect(seconds).toBeLessThan(180);
    const text = io.stdout.join("\n");
    expect(text).toMatch(/The letter probe passes min_GT_probe_f1 0\.6 on [1-9]\d* of 26 letters/);
    for (const sae of ["standard", "topk"]) {
      const j = JSON.parse(readFileSync(join(dir, "out", `${sae}_eval_results.json`), "utf8")) as Record<string, unknown>;
      expect(absorptionSchemaErrors(j)).toEqual([]);
    }
    const run = JSON.parse(readFileSync(join(dir, "out", "absorption.json"), "utf8")) as { saes: { detector: { confidentPairs: number; precision: number | null } }[] };
    for (const s of run.saes) expect(s.detector.confidentPairs).toBeGreaterThan(0);
  }, 400_000);
});
