/**
 * `saelab demo` end to end through main() with captured IO, on a reduced config (few steps): the
 * table, the reading, --json, report.html, the saved SAEs and world; worker threads do not change
 * the SAEs; the full default run (behind SAELAB_SLOW) shows the absorption.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { DEMO_SAE_NAMES, DemoConfigSchema, runDemo } from "../src/experiments/demo.js";
import { loadSaelensSae } from "../src/io/saelens.js";
import { loadWorld } from "../src/io/world.js";
import { SummaryRowSchema } from "../src/report/summary.js";
import { loadKernels } from "../src/tensor/backend.js";
import { getPreset } from "../src/toy/presets.js";
import { createWorld } from "../src/toy/world.js";
import { capture } from "./helpers/cli-io.js";


const SMALL = ["--steps", "60", "--batchSize", "256", "--evalSamples", "4000", "--workers", "1"];
const { kernels } = loadKernels();

describe("saelab demo (reduced config)", () => {
  let dir: string;
  let io: ReturnType<typeof capture>;
  let code: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-demo-"));
    io = capture(dir);
    code = await main(["demo", ...SMALL, "--out", "run"], io);
  });

  it("prints one table row per SAE with the issue's columns, and a reading", () => {
    expect(io.stderr.join("\n")).not.toMatch(/saelab: /);
    expect(code).toBe(0);
    const lines = io.text().split("\n");
    const header = lines[0]!;
    for (const col of ["L0", "expl.var", "MCC", "full abs", "partial", "SB frac"]) expect(header).toContain(col);
    for (const name of DEMO_SAE_NAMES) expect(lines.filter((l) => l.startsWith(`${name} `))).toHaveLength(1);
    expect(io.text()).toMatch(/On absorption-basic, 4 SAEs were evaluated on the same 4000 samples\./);
    expect(io.text()).toMatch(/saelab eval run\/standard-untied --world run\/world --n 4000$/m);
  });

  it("writes a self-contained report.html with heatmaps and absorption bars for every SAE", () => {
    const html = readFileSync(join(dir, "run", "report.html"), "utf8");
    expect(html.startsWith("<!DOCTYPE html>")).toBe(true);
    // Nothing to fetch: no scripts, no external URLs or linked resources.
    expect(html).not.toMatch(/<script|<link|https?:\/\/|src=/i);
    for (const name of DEMO_SAE_NAMES) {
      expect(html).toContain(`<figure class="heatmap" data-sae="${name}">`);
      expect(html).toContain(`<figure class="absorption" data-sae="${name}">`);
    }
    expect(html.match(/data-kind="decoder"/g)).toHaveLength(4);
    expect(html.match(/data-kind="encoder"/g)).toHaveLength(4);
    // Bars per parent>child edge of the world's hierarchy (parent 0, children 1-3).
    for (const edge of ["0&gt;1", "0&gt;2", "0&gt;3"]) expect(html).toContain(edge);
  });

  it("saves each SAE as a SAELens directory and the world beside them", () => {
    const world = loadWorld(join(dir, "run", "world"));
    const preset = createWorld(getPreset("absorption-basic"));
    expect(world.featureVectors).toEqual(preset.featureVectors);
    const results = JSON.parse(readFileSync(join(dir, "run", "results.json"), "utf8")) as { saes: { name: string; evaluation: { architecture: string; tied: boolean } }[] };
    expect(results.saes.map((s) => s.name)).toEqual([...DEMO_SAE_NAMES]);
    for (const s of results.saes) {
      const sae = join(dir, "run", s.name);
      expect(existsSync(join(sae, "cfg.json")) && existsSync(join(sae, "sae_weights.safetensors"))).toBe(true);
      const loaded = loadSaelensSae(sae, kernels);
      expect([loaded.sae.architecture, loaded.sae.tied, loaded.sae.dIn]).toEqual([s.evaluation.architecture, s.evaluation.tied, 50]);
      expect((loaded.saelab as unknown as { demo: { steps: number } }).demo.steps).toBe(60);
    }
  });

  it("--json prints the same rows as JSON, matching the saved evaluations", async () => {
    const j = capture(dir);
    expect(await main(["demo", ...SMALL, "--out", "run-json", "--json"], j)).toBe(0);
    const rows = JSON.parse(j.text()) as unknown[];
    expect(rows).toHaveLength(4);
    const parsed = rows.map((r) => SummaryRowSchema.strict().parse(r));
    expect(parsed.map((r) => r.name)).toEqual([...DEMO_SAE_NAMES]);
    const saved = JSON.parse(readFileSync(join(dir, "run-json", "results.json"), "utf8")) as {
      saes: { evaluation: { sparsity: { l0: number }; reconstruction: { explainedVariance: number }; recovery: { mcc: number }; absorption: { summary: Record<string, number | null> } } }[];
    };
    parsed.forEach((r, i) => {
      const e = saved.saes[i]!.evaluation;
      expect(r.l0).toBe(e.sparsity.l0);
      expect(r.explainedVariance).toBe(e.reconstruction.explainedVariance);
      expect(r.mcc).toBe(e.recovery.mcc);
      expect(r.fullAbsorption).toBe(e.absorption.summary.fullAbsorption);
      expect(r.partialRatio).toBe(e.absorption.summary.partialRatio);
      expect(r.saebenchAbsorptionFraction).toBe(e.absorption.summary.saebenchAbsorptionFraction);
    });
    // Same seeds and settings: the JSON run measured exactly what the table run measured.
    const first = JSON.parse(readFileSync(join(dir, "run", "results.json"), "utf8")) as { saes: unknown[] };
    expect(saved.saes).toEqual(first.saes);
  });

  it("--help lists every demo setting with its default, from the schema", async () => {
    const h = capture(dir);
    expect(await main(["demo", "--help"], h)).toBe(0);
    const defaults = DemoConfigSchema.parse({});
    for (const [k, v] of Object.entries(defaults)) expect(h.text()).toMatch(new RegExp(`--${k} .*\\[default: ${JSON.stringify(v).replace(/[[\]]/g, "\\$&")}\\]`));
  });

  it("rejects settings that make the experiment meaningless, naming the problem", async () => {
    const e1 = capture(dir);
    expect(await main(["demo", "--dSae", "4", "--matryoshkaPrefixes", "2", "--out", "bad"], e1)).toBe(1);
    expect(e1.stderr.join("\n")).toMatch(/dSae 4 is smaller than the world's 8 features/);
    const e2 = capture(dir);
    expect(await main(["demo", "--matryoshkaPrefixes", "16", "--out", "bad"], e2)).toBe(1);
    expect(e2.stderr.join("\n")).toMatch(/matryoshkaPrefixes\[0\]: must be below dSae \(16\)/);
    const e3 = capture(dir);
    expect(await main(["demo", "--l1", "0.1"], e3)).toBe(1);
    expect(e3.stderr.join("\n")).toMatch(/unknown flag --l1/);
    expect(existsSync(join(dir, "bad"))).toBe(false);
  });
});

describe("demo training in worker threads", () => {
  it("gives bitwise the same SAEs and evaluations as training in one thread", async () => {
    const world = createWorld(getPreset("absorption-basic"), { kernels });
    const config = { steps: 25, batchSize: 128, evalSamples: 2000 };
    const one = await runDemo({ world, kernels, config, workers: 1 });
    const steps: number[] = [];
    const two = await runDemo({ world, kernels, config, workers: 2, onStep: (s) => steps.push(s) });
    expect(two.saes.map((s) => s.name)).toEqual(one.saes.map((s) => s.name));
    two.saes.forEach((s, i) => {
      expect(s.params.buffer).toEqual(one.saes[i]!.params.buffer);
      expect(s.state.topkThreshold).toBe(one.saes[i]!.state.topkThreshold);
    });
    expect(two.evaluations).toEqual(one.evaluations);
    expect(steps.at(-1)).toBe(25);
    expect(steps.every((s, i) => i === 0 || s >= steps[i - 1]!)).toBe(true);
  });
});

describe.skipIf(!process.env.SAELAB_SLOW)("saelab demo with its defaults", () => {
  it("the untied standard SAE clearly absorbs the parent into its children, with good reconstruction", async () => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-demo-full-"));
    const io = capture(dir);
    expect(await main(["demo", "--json"], io)).toBe(0);
    const rows = (JSON.parse(io.text()) as unknown[]).map((r) => SummaryRowSchema.parse(r));
    const untied = rows.find((r) => r.name === "standard-untied")!;
    expect(untied.fullAbsorption).toBeGreaterThan(0.2);
    expect(untied.explainedVariance).toBeGreaterThan(0.9);
    expect(existsSync(join(dir, "saelab-demo", "report.html"))).toBe(true);
  });
});
