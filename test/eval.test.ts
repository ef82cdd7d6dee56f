/**
 * `saelab eval`: re-measures SAEs saved by `saelab demo` with exactly the demo's numbers, and
 * refuses inputs that do not belong together with an error naming the problem.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { DEMO_SAE_NAMES } from "../src/experiments/demo.js";
import { SaeEvaluationSchema } from "../src/metrics/schemas.js";
import { getPreset } from "../src/toy/presets.js";
import { capture } from "./helpers/cli-io.js";


describe("saelab eval", () => {
  let dir: string;
  let results: { saes: { name: string; evaluation: unknown }[] };
  let demoErr = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-eval-"));
    const io = capture(dir);
    // The demo's default evaluation stream, so the round trip below is the plain command the demo suggests.
    // An absolute --out: the demo prints it absolute.
    const code = await main(["demo", "--steps", "40", "--batchSize", "256", "--workers", "1", "--out", join(dir, "d"), "--json"], io);
    if (code !== 0) throw new Error(io.errors());
    demoErr = io.errors();
    results = JSON.parse(readFileSync(join(dir, "d", "results.json"), "utf8")) as typeof results;
  });

  it("the demo prints the paths it wrote absolute when --out is absolute, and progress lines off a terminal", () => {
    // Off a terminal, training progress comes as ten plain lines.
    expect(demoErr.match(/^train \d+\/40 \(\d+%\) \| /gm)).toHaveLength(10);
    expect(demoErr).toContain(`wrote ${join(dir, "d", "report.html")}, ${join(dir, "d", "results.json")}, 4 SAE directories and ${join(dir, "d", "world")}/`);
  });

  it.each(DEMO_SAE_NAMES)("re-measures the demo's %s with the same numbers (saelab eval d/%s --world d/world)", async (name) => {
    const io = capture(dir);
    expect(await main(["eval", `d/${name}`, "--world", "d/world", "--json"], io)).toBe(0);
    const out = JSON.parse(io.text()) as { evaluation: unknown; summary: { name: string } };
    expect(SaeEvaluationSchema.parse(out.evaluation)).toEqual(results.saes.find((s) => s.name === name)!.evaluation);
    expect(out.summary.name).toBe(name);
  });

  it("gives the same numbers with the preset the world came from, and others on another stream", async () => {
    const run = async (argv: string[]) => {
      const io = capture(dir);
      expect(await main(["eval", "d/standard-untied", "--preset", "absorption-basic", ...argv, "--json"], io)).toBe(0);
      return (JSON.parse(io.text()) as { evaluation: { nSamples: number; reconstruction: unknown } }).evaluation;
    };
    expect(await run([])).toEqual(results.saes[0]!.evaluation);
    const a = await run(["--n", "3000", "--seed", "7"]);
    const b = await run(["--n", "3000", "--seed", "8"]);
    expect([a.nSamples, b.nSamples]).toEqual([3000, 3000]);
    expect(b.reconstruction).not.toEqual(a.reconstruction);
  });

  it("prints the results table, the per-edge table and a reading", async () => {
    const io = capture(dir);
    expect(await main(["eval", "d/topk", "--world", "d/world", "--n", "3000", "--seed", "7"], io)).toBe(0);
    const text = io.text();
    expect(text).toMatch(/^d\/topk: topk, 50 -> 16 latents; world d\/world \(8 features\); 3000 samples, seed 7/);
    expect(text).toMatch(/\ntopk +topk +no +16 /);
    // One edge row per child of parent 0.
    expect(text.match(/\ntopk +0 +[123] /g)).toHaveLength(3);
    expect(text).toMatch(/On d\/world, 1 SAE was evaluated on 3000 samples\./);
  });

  it("measures several SAEs on the same samples: one table, and each with the numbers it gets alone", async () => {
    const io = capture(dir);
    expect(await main(["eval", "d/topk", "d/standard-tied", "--world", "d/world", "--n", "3000", "--seed", "7", "--json"], io)).toBe(0);
    const both = JSON.parse(io.text()) as { n: number; saes: { sae: string; summary: { name: string }; evaluation: unknown }[] };
    expect(both.n).toBe(3000);
    expect(both.saes.map((s) => [s.sae, s.summary.name])).toEqual([["d/topk", "topk"], ["d/standard-tied", "standard-tied"]]);
    for (const s of both.saes) {
      const alone = capture(dir);
      expect(await main(["eval", s.sae, "--world", "d/world", "--n", "3000", "--seed", "7", "--json"], alone)).toBe(0);
      expect(s.evaluation).toEqual((JSON.parse(alone.text()) as { evaluation: unknown }).evaluation);
    }
    const text = capture(dir);
    expect(await main(["eval", "d/topk", "d/standard-tied", "--world", "d/world", "--n", "3000", "--seed", "7"], text)).toBe(0);
    expect(text.text()).toMatch(/^2 SAEs on world d\/world \(8 features\); 3000 samples, seed 7:\n {2}topk: d\/topk, topk, 50 -> 16 latents\n {2}standard-tied: d\/standard-tied, standard \(tied\), 50 -> 16 latents\n/);
    expect(text.text()).toMatch(/\ntopk +topk +no +16 /);
    expect(text.text()).toMatch(/\nstandard-tied +standard +yes +16 /);
  });

  it("prints every edge-level note, not only in --json", async () => {
    const json = capture(dir);
    expect(await main(["eval", "d/standard-untied", "d/matryoshka_batchtopk", "--world", "d/world", "--n", "2000", "--json"], json)).toBe(0);
    const saes = (JSON.parse(json.text()) as { saes: { summary: { name: string }; evaluation: { notes: string[] } }[] }).saes;
    const notes = saes.flatMap((s) => s.evaluation.notes.map((n) => `  ${s.summary.name}: ${n}`));
    expect(notes.length).toBeGreaterThan(0);
    const io = capture(dir);
    expect(await main(["eval", "d/standard-untied", "d/matryoshka_batchtopk", "--world", "d/world", "--n", "2000"], io)).toBe(0);
    const text = io.text();
    expect(text).toContain("\nNotes (where measures disagree or are undefined):\n");
    for (const n of notes) expect(text).toContain(`\n${n}`);
  });

  it("--report DIR writes the demo's report.html for the SAEs, and prints an absolute path when given one", async () => {
    const out = join(dir, "cmp");
    const io = capture(dir);
    expect(await main(["eval", "d/topk", "d/standard-tied", "--world", "d/world", "--n", "2000", "--report", out], io)).toBe(0);
    const html = readFileSync(join(out, "report.html"), "utf8");
    for (const id of ["results", "edges", "absorption-bars", "heatmaps", "density", "notes"]) expect(html).toContain(`<section id="${id}">`);
    expect(html).toContain("<td>topk</td>");
    expect(html).toContain("<td>standard-tied</td>");
    expect(html).toContain("saelab eval d/topk d/standard-tied --world d/world --n 2000 --seed");
    expect(io.text()).toMatch(new RegExp(`\nReport: ${out.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}/report\\.html$`));
    const rel = capture(dir);
    expect(await main(["eval", "d/topk", "--world", "d/world", "--n", "2000", "--report", "cmp2"], rel)).toBe(0);
    expect(rel.text()).toMatch(/\nReport: cmp2\/report\.html$/);
  });

  it("rejects a world whose dModel is not the SAE's input width", async () => {
    const cfg = { ...getPreset("absorption-basic"), dModel: 20 };
    writeFileSync(join(dir, "narrow.json"), JSON.stringify(cfg));
    const io = capture(dir);
    expect(await main(["eval", "d/standard-tied", "--world", "narrow.json"], io)).toBe(1);
    expect(io.errors()).toMatch(/the SAE in d\/standard-tied reads 50-dimensional inputs but world narrow\.json has dModel 20/);
    expect(io.text()).toBe("");
  });

  it("notes a world config other than the one the SAE was trained on", async () => {
    const cfg = { ...getPreset("absorption-basic"), seed: 99 };
    writeFileSync(join(dir, "other.json"), JSON.stringify(cfg));
    const io = capture(dir);
    expect(await main(["eval", "d/standard-tied", "--world", "other.json", "--n", "500"], io)).toBe(0);
    expect(io.errors()).toMatch(/was trained on a different world config than other\.json/);
  });

  it("names what is wrong with the SAE path or the world source", async () => {
    const cases: [string[], RegExp][] = [
      [["eval", "missing", "--preset", "absorption-basic"], /SAE directory missing does not exist/],
      [["eval", "d/world", "--preset", "absorption-basic"], /d\/world is not a SAELens SAE directory: cfg\.json is missing/],
      [["eval", "narrow.json", "--preset", "absorption-basic"], /narrow\.json is a file, not a SAELens SAE directory/],
      [["eval", "d/topk"], /no world given/],
      [["eval", "d/topk", "--preset", "absorption-basic", "--world", "d/world"], /give either a world .* or --preset absorption-basic, not both/],
      [["eval", "d/topk", "--preset", "nope"], /unknown world preset "nope"/],
      [["eval", "--preset", "absorption-basic"], /sae: missing: give the SAE directory as the first argument/],
    ];
    for (const [argv, re] of cases) {
      const io = capture(dir);
      expect(await main(argv, io)).toBe(1);
      expect(io.errors()).toMatch(re);
    }
  });
});
