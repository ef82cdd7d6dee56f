/**
 * `saelab sweep` and `saelab sweep report` end to end through main() with captured IO, on a tiny
 * spec: the table and summary, report.html, resuming with the same command, --json rows matching
 * the stored cells, a partial directory's report, and the errors a user can make. The default
 * preset runs in full behind SAELAB_SLOW.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import type { CellResult } from "../src/experiments/sweep-results.js";
import { saveWorld } from "../src/io/world.js";
import { getPreset } from "../src/toy/presets.js";
import { createWorld } from "../src/toy/world.js";
import { capture } from "./helpers/cli-io.js";


const TINY = {
  name: "tiny-cli",
  world: "absorption-basic",
  axes: { sparsity: { l1Coefficient: [0.1, 0.5] }, childGivenParent: [0.1, 0.3] },
  saes: [
    { architecture: "standard", name: "untied", dSae: 12 },
    { architecture: "standard", name: "tied", dSae: 12, tying: "tied" },
  ],
  train: { steps: 40, batchSize: 128, lr: 3e-3 },
  eval: { samples: 2000 },
};

describe("saelab sweep (tiny spec)", () => {
  let dir: string;
  let first: ReturnType<typeof capture>;
  let code: number;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-sweep-cli-"));
    writeFileSync(join(dir, "spec.json"), JSON.stringify(TINY));
    first = capture(dir);
    code = await main(["sweep", "spec.json", "--out", "run", "--workers", "1"], first);
  });

  it("prints the table and the summary, and writes the cells and a self-contained report.html", () => {
    expect(first.errText()).not.toMatch(/saelab: /);
    expect(code).toBe(0);
    const text = first.text();
    expect(text).toMatch(/Full absorption; rows: sparsity; columns: P\(child\|parent\)/);
    expect(text).toMatch(/^untied\s+L1 0\.5\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+-?[\d.]+\s+-?[\d.]+\s+[\d.]+$/m);
    expect(text).toMatch(/^untied \(standard, untied\): full absorption/m);
    expect(text).toMatch(/^tied versus untied standard \(tied vs untied, 4 grid points\)/m);
    expect(text).toMatch(/Report: run\/report.html$/m);
    expect(first.errText()).toMatch(/saelab sweep tiny-cli: 2 cells \(1 seed x 2 world points\), 4 SAEs per cell, 40 steps of 128 samples/);
    expect(first.errText()).toMatch(/cell 2\/2 0001-seed1-childGivenParent0\.3 \(P\(child\|parent\) 0\.3\): trained in/);
    expect(readdirSync(join(dir, "run", "cells"))).toHaveLength(2);
    const html = readFileSync(join(dir, "run", "report.html"), "utf8");
    expect(html).not.toMatch(/<script|<link|https?:\/\/|src=/i);
    expect(html.match(/class="sweep-heatmap"/g)).toHaveLength(6 * 2);
    expect(html).toContain("saelab sweep spec.json --out run");
  });

  it("rerunning the same command resumes: nothing trains and the output is the same", async () => {
    const again = capture(dir);
    expect(await main(["sweep", "spec.json", "--out", "run", "--workers", "1"], again)).toBe(0);
    expect(again.errText()).toMatch(/resuming, 2 of 2 cells already finished/);
    expect(again.errText()).toMatch(/ran 0 cells, skipped 2 already in run/);
    expect(again.text()).toBe(first.text());
  });

  it("--json prints one row per trained SAE with the stored numbers", async () => {
    const j = capture(dir);
    expect(await main(["sweep", "spec.json", "--out", "run", "--json"], j)).toBe(0);
    const rows = JSON.parse(j.text()) as Record<string, unknown>[];
    expect(rows).toHaveLength(2 * 4);
    const cell = JSON.parse(readFileSync(join(dir, "run", "cells", "0001-seed1-childGivenParent0.3.json"), "utf8")) as CellResult;
    const row = rows.find((r) => r.cell === cell.id && r.sae === "tied" && r.sparsityValue === 0.5)!;
    const sae = cell.saes.find((s) => s.config === "tied" && s.value === 0.5)!;
    expect(row).toMatchObject({ childGivenParent: 0.3, tied: true, l0: sae.metrics.l0, mcc: sae.metrics.mcc, fullAbsorption: sae.metrics.fullAbsorption });
  });

  it("sweep report re-renders from the directory, and says when cells are missing", async () => {
    const r = capture(dir);
    expect(await main(["sweep", "report", "run"], r)).toBe(0);
    expect(r.text()).toBe(first.text());
    rmSync(join(dir, "run", "cells", "0000-seed1-childGivenParent0.1.json"));
    const partial = capture(dir);
    expect(await main(["sweep", "report", "run"], partial)).toBe(0);
    expect(partial.errText()).toMatch(/1 of 2 cells are not finished; the report covers the other 1/);
    expect(partial.text()).toMatch(/Only 1 of 2 cells are finished/);
    expect(readFileSync(join(dir, "run", "report.html"), "utf8")).toContain("1 of 2 cells finished");
  });

  it("refuses to resume into a directory of another spec", async () => {
    writeFileSync(join(dir, "spec2.json"), JSON.stringify({ ...TINY, seeds: [2] }));
    const e = capture(dir);
    expect(await main(["sweep", "spec2.json", "--out", "run"], e)).toBe(1);
    expect(e.errText()).toMatch(/holds results of a different sweep spec \(they differ at spec.seeds\[0\]\)/);
  });

  it("a spec's world may be a world config .json or a saved world directory, relative to the spec file; the numbers equal the preset's", async () => {
    const preset = getPreset("absorption-basic");
    mkdirSync(join(dir, "worlds"), { recursive: true });
    mkdirSync(join(dir, "specs"), { recursive: true });
    writeFileSync(join(dir, "worlds", "ab.json"), JSON.stringify(preset));
    saveWorld(join(dir, "worlds", "ab-dir"), createWorld(preset));
    const metrics = (out: string) =>
      readdirSync(join(dir, out, "cells")).sort().map((f) => (JSON.parse(readFileSync(join(dir, out, "cells", f), "utf8")) as CellResult).saes.map((x) => x.metrics));
    for (const [world, out] of [["../worlds/ab.json", "run-file"], ["../worlds/ab-dir", "run-dir"]] as const) {
      writeFileSync(join(dir, "specs", "spec.json"), JSON.stringify({ ...TINY, world }));
      const io = capture(dir);
      expect(await main(["sweep", "specs/spec.json", "--out", out, "--workers", "1"], io)).toBe(0);
    }
    // "run" (the preset) keeps only cell 0001 after the report test removed 0000.
    expect(metrics("run-file")).toEqual(metrics("run-dir"));
    expect(metrics("run-file")[1]).toEqual(metrics("run")[0]);
    writeFileSync(join(dir, "specs", "missing.json"), JSON.stringify({ ...TINY, world: "../worlds/nope.json" }));
    const e = capture(dir);
    expect(await main(["sweep", "specs/missing.json", "--out", "x"], e)).toBe(1);
    expect(e.errText()).toMatch(/missing\.json: world "\.\.\/worlds\/nope\.json": no such file or directory .*worlds\/nope\.json \(a world config \.json or a saved world directory, relative to the spec file\)/);
  });

  it("adding seeds to a finished sweep extends it: only the new seed's cells run", async () => {
    // run-dir is the finished sweep of specs/spec.json (world ../worlds/ab-dir, seed 1) from the test above.
    writeFileSync(join(dir, "specs", "spec3.json"), JSON.stringify({ ...TINY, world: "../worlds/ab-dir", seeds: [1, 4] }));
    const ext = capture(dir);
    expect(await main(["sweep", "specs/spec3.json", "--out", "run-dir", "--workers", "1"], ext)).toBe(0);
    expect(ext.errText()).toMatch(/extending the stored sweep with seed 4; its finished cells are kept/);
    expect(ext.errText()).toMatch(/ran 2 cells, skipped 2 already in run-dir/);
    expect(readdirSync(join(dir, "run-dir", "cells"))).toHaveLength(4);
  });

  it("names the problem for bad input", async () => {
    const cases: [string[], RegExp][] = [
      [["sweep"], /give a spec .json file or --preset NAME \(absorption-l1xcooc, absorption-l1xcoocxmag\), one of them/],
      [["sweep", "spec.json", "--preset", "absorption-l1xcooc"], /not both/],
      [["sweep", "--preset", "nope"], /unknown sweep preset "nope"; the presets are: absorption-l1xcooc, absorption-l1xcoocxmag/],
      [["sweep", "missing.json"], /cannot read .*missing.json/],
      [["sweep", "report", "."], /has no manifest.json: it is not a sweep results directory/],
    ];
    writeFileSync(join(dir, "bad.json"), JSON.stringify({ ...TINY, axes: { childGivenParent: [0.1, 2] } }));
    cases.push([["sweep", "bad.json"], /invalid .*bad.json:\n {2}- axes.childGivenParent\[1\]: must be <= 1/]);
    for (const [argv, message] of cases) {
      const e = capture(dir);
      expect(await main(argv, e)).toBe(1);
      expect(e.errText()).toMatch(message);
    }
    const h = capture(dir);
    expect(await main(["sweep", "--help"], h)).toBe(0);
    for (const flag of ["--preset", "--out", "--json", "--workers", "spec.json"]) expect(h.text()).toContain(flag);
  });
});

describe.skipIf(!process.env.SAELAB_SLOW)("saelab sweep --preset absorption-l1xcooc (full default sweep)", () => {
  it("finishes, and the untied standard SAE absorbs somewhere in the grid", async () => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-sweep-default-"));
    const io = capture(dir);
    expect(await main(["sweep", "--preset", "absorption-l1xcooc", "--out", "run", "--json"], io)).toBe(0);
    const rows = JSON.parse(io.text()) as { sae: string; fullAbsorption: number | null }[];
    expect(rows).toHaveLength(4 * 20);
    expect(Math.max(...rows.filter((r) => r.sae === "standard-untied").map((r) => r.fullAbsorption ?? -1))).toBeGreaterThan(0.1);
  }, 1_200_000);
});
