import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { loadWorldSource } from "../src/cli/world-source.js";
import { readNpy } from "../src/io/npy.js";
import { loadWorld } from "../src/io/world.js";
import { loadKernels } from "../src/tensor/backend.js";
import { MECHANISMS } from "./toy-helpers.js";
import { capture } from "./helpers/cli-io.js";

const tmp = mkdtempSync(join(tmpdir(), "saelab-world-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));


async function run(...argv: string[]) {
  const io = capture(tmp);
  const code = await main(argv, io);
  return { code, out: io.stdout.join("\n"), err: io.stderr.filter((l) => !l.includes("backend")).join("\n") };
}

function writeJson(name: string, value: unknown): string {
  writeFileSync(join(tmp, name), JSON.stringify(value));
  return name;
}

describe("saelab world describe", () => {
  it("summarises a preset", async () => {
    const r = await run("world", "describe", "--preset", "absorption-basic");
    expect(r.code).toBe(0);
    expect(r.out).toContain("features: 8 in 50 dimensions");
    expect(r.out).toContain("true L0: 0.730 active features per sample (exact)");
    expect(r.out).toMatch(/firing rate: 0\.0500 \(feature 6\) to 0\.2500 \(feature 0\)/);
    expect(r.out).toContain("superposition: mean |cos| 0.0000, max |cos| 0.0000 (orthogonal directions)");
    expect(r.out).toContain("hierarchy: 1 tree, 4 features (3 children), depth 1, 1 mutually exclusive group");
  });

  it("describes a config file as JSON, with the values the library computes", async () => {
    const file = writeJson("mech.json", MECHANISMS);
    const r = await run("world", "describe", file, "--json");
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    const world = loadWorldSource({ world: file }, tmp);
    expect(s.trueL0).toBeCloseTo(world.firingProbability.reduce((a, b) => a + b, 0), 10);
    expect(s.hierarchy).toMatchObject({ trees: 2, features: 11, children: 9, maxDepth: 2, mutuallyExclusiveGroups: 2, scaleChildrenByParent: true });
    expect(s.cooccurrence).toEqual([{ given: 2, feature: 3, probability: 0.6 }, { given: 3, feature: 15, probability: 0.2 }]);
    expect(s.compensation).toMatchObject({ on: true, unreachable: 0 });
  });

  it.each<[string, string[], RegExp]>([
    ["both a world and a preset", ["x.json", "--preset", "absorption-basic"], /give either a world \(x\.json\) or --preset absorption-basic, not both/],
    ["no world", [], /no world given: pass a config \.json file or saved world directory/],
    ["an unknown preset", ["--preset", "tiny"], /unknown world preset "tiny"; the presets are: absorption-basic, synthsaebench-16k/],
    ["a missing file", ["missing.json"], /world missing\.json does not exist/],
  ])("fails cleanly given %s", async (_name, args, pattern) => {
    const r = await run("world", "describe", ...args);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(pattern);
  });

  it.each<[string, unknown, RegExp]>([
    ["negative probabilities", { ...MECHANISMS, firing: { kind: "constant", probability: -0.5 } }, /firing\.probability: must be >= 0/],
    ["unknown keys", { ...MECHANISMS, nFeatuers: 3 }, /unknown key "nFeatuers"/],
    ["a child under two parents", { ...MECHANISMS, hierarchy: { nodes: [{ feature: 0, children: [4] }, { feature: 1, children: [4] }] } }, /hierarchy\.nodes\[1\]\.children\[0\]: feature 4 is already a child of feature 0/],
    ["a cycle", { ...MECHANISMS, cooccurrence: [], hierarchy: { nodes: [{ feature: 0, children: [1] }, { feature: 1, children: [0] }] } }, /cycle/],
    ["a non-PSD correlation matrix", { nFeatures: 3, dModel: 3, firing: { kind: "constant", probability: 0.2 }, correlation: { kind: "full", matrix: [[1, 0.9, 0.9], [0.9, 1, -0.9], [0.9, -0.9, 1]] } }, /correlation\.matrix: is not positive semi-definite/],
  ])("rejects a config with %s: exit 1, the field named, no stack trace", async (name, cfg, pattern) => {
    const file = writeJson(`bad-${name.replace(/\W+/g, "-")}.json`, cfg);
    const r = await run("world", "describe", file);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^saelab: invalid .*\.json:\n/);
    expect(r.err).toMatch(pattern);
    expect(r.err).not.toMatch(/\n\s+at .*\.(ts|js):\d+/);
  });
});

describe("saelab world sample", () => {
  it("writes activations.npy, features.npy and the world, equal to the library's stream", async () => {
    const r = await run("world", "sample", "--preset", "absorption-basic", "--n", "3000", "--seed", "3", "--out", "s1");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote 3000 samples \(seed 3\) of preset absorption-basic/);
    const acts = readNpy(join(tmp, "s1", "activations.npy"));
    const feats = readNpy(join(tmp, "s1", "features.npy"));
    expect(acts).toMatchObject({ shape: [3000, 50], descr: "<f4" });
    expect(feats).toMatchObject({ shape: [3000, 8], descr: "<f4" });
    // The CLI samples on loadKernels()' backend; the library call must use the same one to match bit for bit.
    const world = loadWorld(join(tmp, "s1", "world"), { kernels: loadKernels().kernels });
    const b = world.sampler(3).next(3000);
    expect(Array.from(acts.data)).toEqual(Array.from(b.acts));
    const dense = new Float32Array(3000 * 8);
    for (let r2 = 0; r2 < 3000; r2++) for (let e = b.features.rowPtr[r2]!; e < b.features.rowPtr[r2 + 1]!; e++) dense[r2 * 8 + b.features.colIdx[e]!] = b.features.values[e]!;
    expect(Array.from(feats.data)).toEqual(Array.from(dense));
    // A saved world directory is a world source too.
    const again = await run("world", "sample", join("s1", "world"), "--n", "10", "--seed", "3", "--out", "s2");
    expect(again.code).toBe(0);
    expect(Array.from(readNpy(join(tmp, "s2", "activations.npy")).data)).toEqual(Array.from(acts.data.subarray(0, 500)));
  });

  it("refuses an N whose dense features file would not fit in memory, writing nothing", async () => {
    const r = await run("world", "sample", "--preset", "absorption-basic", "--n", "1000000000000", "--out", "huge");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/refusing --n 1000000000000: features\.npy would hold 1000000000000 x 8 float32 values \(29\.1 TB\), more than the .* of memory available/);
    expect(existsSync(join(tmp, "huge"))).toBe(false);
  });

  it("requires --n and --out", async () => {
    const r = await run("world", "sample", "--preset", "absorption-basic");
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/n: /);
    expect(r.err).toMatch(/out: /);
  });
});
