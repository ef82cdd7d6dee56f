/**
 * The sweep runner on a tiny sweep: one JSON per cell plus a manifest; an interrupted run resumed
 * (with another worker count) skips the finished cells and ends with exactly the numbers of an
 * uninterrupted run; a directory of another spec, or one that is not a sweep's, is refused; an
 * unreadable cell file is run again.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { planSweep } from "../src/experiments/sweep-grid.js";
import type { CellResult } from "../src/experiments/sweep-results.js";
import { parseSweepSpec, type SweepSpecInput } from "../src/experiments/sweep-spec.js";
import { cellPath, loadSweepResults, MANIFEST_FILE, runSweep, type SweepEvent } from "../src/experiments/sweep.js";
import { loadKernels } from "../src/tensor/backend.js";

const { kernels } = loadKernels();

const TINY: SweepSpecInput = {
  name: "tiny",
  world: "absorption-basic",
  axes: { sparsity: { l1Coefficient: [0.1, 0.5], k: [2, 1] }, childGivenParent: [0.1, 0.3] },
  saes: [
    { architecture: "standard", name: "std", dSae: 12 },
    { architecture: "topk", name: "topk", dSae: 12 },
  ],
  train: { steps: 40, batchSize: 128, lr: 3e-3 },
  eval: { samples: 2000 },
};

const plan = (over: Partial<SweepSpecInput> = {}) => planSweep(parseSweepSpec({ ...TINY, ...over }));
/** A result without its wall times (the only fields allowed to differ between identical runs). */
const numbers = (r: CellResult) => ({ ...r, seconds: null });

class Interrupt extends Error {}

describe("sweep runner", () => {
  let root: string;
  let full: CellResult[];
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "saelab-sweep-"));
    full = (await runSweep({ plan: plan(), out: join(root, "full"), kernels, workers: 1 })).results;
  });

  it("stores a manifest and one validated JSON per cell, with every SAE at every level", () => {
    const dir = join(root, "full");
    expect(existsSync(join(dir, MANIFEST_FILE))).toBe(true);
    expect(readdirSync(join(dir, "cells")).sort()).toEqual(["0000-seed1-childGivenParent0.1.json", "0001-seed1-childGivenParent0.3.json"]);
    expect(full.map((r) => r.saes.map((s) => [s.name, s.parameter, s.value]))).toEqual(
      Array(2).fill([["std.L0", "l1Coefficient", 0.1], ["std.L1", "l1Coefficient", 0.5], ["topk.L0", "k", 2], ["topk.L1", "k", 1]]),
    );
    // The stored world statistics reflect the cell's edit.
    full.forEach((r, i) => {
      for (const e of r.world.edges) {
        expect(e.configured.pChildGivenParent).toBeCloseTo([0.1, 0.3][i]!, 10);
        expect(Math.abs(e.measured.pChildGivenParent! - [0.1, 0.3][i]!)).toBeLessThan(0.06);
      }
    });
    const loaded = loadSweepResults(dir);
    expect(loaded.missing).toEqual([]);
    expect(loaded.results).toEqual(full);
  });

  it("resumes an interrupted run, skipping finished cells, and ends with identical numbers (workers 2)", async () => {
    const dir = join(root, "resumed");
    const first = runSweep({
      plan: plan(),
      out: dir,
      kernels,
      workers: 1,
      onEvent: (e) => {
        if (e.type === "cell") throw new Interrupt("stop after one cell");
      },
    });
    await expect(first).rejects.toBeInstanceOf(Interrupt);
    const partial = loadSweepResults(dir);
    expect([partial.results.length, partial.missing.map((c) => c.index)]).toEqual([1, [1]]);
    const kept = readFileSync(cellPath(dir, partial.results[0]!), "utf8");
    const events: SweepEvent["type"][] = [];
    const run = await runSweep({ plan: plan(), out: dir, kernels, workers: 2, onEvent: (e) => events.push(e.type) });
    expect([run.ran, run.skipped]).toEqual([1, 1]);
    expect(events.filter((t) => t === "cell")).toHaveLength(1);
    expect(readFileSync(cellPath(dir, partial.results[0]!), "utf8")).toBe(kept);
    expect(run.results.map(numbers)).toEqual(full.map(numbers));
    const again = await runSweep({ plan: plan(), out: dir, kernels, workers: 2 });
    expect([again.ran, again.skipped]).toEqual([0, 2]);
  });

  it("refuses a directory holding another spec's results, naming where the specs differ", async () => {
    await expect(runSweep({ plan: plan({ train: { ...TINY.train, steps: 41 } }), out: join(root, "full"), kernels, workers: 1 })).rejects.toThrow(
      /holds results of a different sweep spec \(they differ at spec.train.steps\); resuming would mix results/,
    );
    await expect(runSweep({ plan: plan({ axes: { ...TINY.axes, childGivenParent: [0.1, 0.2] } }), out: join(root, "full"), kernels, workers: 1 })).rejects.toThrow(
      /differ at spec.axes.childGivenParent\[1\]/,
    );
  });

  it("refuses results whose base world differs (a preset changed between versions)", async () => {
    const dir = join(root, "preset-changed");
    const manifest = JSON.parse(readFileSync(join(root, "full", MANIFEST_FILE), "utf8")) as { specHash: string; baseWorld: { biasNorm: number } };
    manifest.specHash = "0".repeat(64);
    manifest.baseWorld.biasNorm = 0.5;
    mkdirSync(dir);
    writeFileSync(join(dir, MANIFEST_FILE), JSON.stringify(manifest));
    await expect(runSweep({ plan: plan(), out: dir, kernels, workers: 1 })).rejects.toThrow(/they differ at baseWorld.biasNorm/);
  });

  it("a spec that only adds seeds extends a finished directory: only the new cells run, and every number equals a fresh run's", async () => {
    const dir = join(root, "extended");
    cpSync(join(root, "full"), dir, { recursive: true });
    // The new seed comes first, so the kept cells move to new indices.
    const wider = plan({ seeds: [3, 1] });
    const events: SweepEvent[] = [];
    const run = await runSweep({ plan: wider, out: dir, kernels, workers: 1, onEvent: (e) => events.push(e) });
    expect([run.ran, run.skipped]).toEqual([2, 2]);
    expect(events.find((e) => e.type === "start")).toMatchObject({ addedSeeds: [3], finished: 2 });
    expect(events.filter((e) => e.type === "cell").map((e) => (e as { cell: { seed: number } }).cell.seed)).toEqual([3, 3]);
    expect(readdirSync(join(dir, "cells")).sort()).toEqual(wider.cells.map((c) => `${c.id}.json`).sort());
    const fresh = await runSweep({ plan: wider, out: join(root, "fresh-wider"), kernels, workers: 1 });
    expect(run.results.map(numbers)).toEqual(fresh.results.map(numbers));
    const loaded = loadSweepResults(dir);
    expect([loaded.results.length, loaded.missing]).toEqual([4, []]);
    // Dropping a seed is still another spec.
    await expect(runSweep({ plan: plan({ seeds: [3] }), out: dir, kernels, workers: 1 })).rejects.toThrow(/holds results of a different sweep spec/);
  });

  it("refuses a non-empty directory that is not a sweep's", async () => {
    const dir = join(root, "other");
    await runSweep({ plan: plan({ axes: { sparsity: { l1Coefficient: [0.1], k: [2] } } }), out: join(dir, "x"), kernels, workers: 1 });
    await expect(runSweep({ plan: plan(), out: dir, kernels, workers: 1 })).rejects.toThrow(/is not empty and has no manifest.json/);
  });

  it("runs a cell again when its file is unreadable, with the same numbers", async () => {
    const dir = join(root, "full");
    const path = cellPath(dir, full[1]!);
    writeFileSync(path, "{ half a fil");
    const redo: string[] = [];
    const run = await runSweep({ plan: plan(), out: dir, kernels, workers: 1, onEvent: (e) => e.type === "redo" && redo.push(e.reason) });
    expect(redo).toHaveLength(1);
    expect(redo[0]).toMatch(/is not valid JSON/);
    expect(run.ran).toBe(1);
    expect(numbers(run.results[1]!)).toEqual(numbers(full[1]!));
  });
});
