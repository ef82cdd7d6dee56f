import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readSafetensors, toFloat32, writeSafetensors, type TensorToWrite } from "../src/io/safetensors.js";
import { loadWorld, saveWorld, WORLD_CONFIG_FILE, WORLD_TENSORS_FILE } from "../src/io/world.js";
import { createWorld } from "../src/toy/world.js";
import type { WorldConfigInput } from "../src/toy/config.js";
import { MECHANISMS } from "./toy-helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "saelab-world-io-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const COPULA: WorldConfigInput = {
  nFeatures: 40,
  dModel: 12,
  seed: 9,
  firing: { kind: "zipf", exponent: 0.8, max: 0.3, min: 0.01 },
  hierarchy: { generate: { roots: 3, branching: [2, 4], depth: 2, mutuallyExclusivePortion: 0.5 }, scaleChildrenByParent: true },
  correlation: { kind: "low_rank", rank: 3, scale: 0.3 },
  orthogonalize: { steps: 5, lr: 0.01 },
  biasNorm: 0.5,
  compensateProbabilities: true,
};

/** Rewrites one tensor of a saved world. */
function editTensors(dir: string, edit: (t: Record<string, TensorToWrite>) => void): void {
  const file = readSafetensors(join(dir, WORLD_TENSORS_FILE));
  const t: Record<string, TensorToWrite> = {};
  for (const [name, raw] of file.tensors) t[name] = { data: toFloat32(raw), shape: raw.shape };
  edit(t);
  writeSafetensors(join(dir, WORLD_TENSORS_FILE), t);
}

describe("saveWorld / loadWorld", () => {
  it.each([["mechanisms", MECHANISMS], ["copula + generated forest + orthogonalised", COPULA]] as const)("round-trips exactly: %s", (_name, cfg) => {
    const world = createWorld(cfg);
    const dir = join(tmp, _name.replace(/\W+/g, "-"));
    saveWorld(dir, world);
    expect(readdirSync(dir).sort()).toEqual([WORLD_CONFIG_FILE, WORLD_TENSORS_FILE]);
    const file = readSafetensors(join(dir, WORLD_TENSORS_FILE));
    expect(file.tensors.get("feature_vectors")!.shape).toEqual([world.nFeatures, world.dModel]);
    expect(file.tensors.get("bias")!.shape).toEqual([world.dModel]);
    const back = loadWorld(dir);
    expect(back.config).toEqual(world.config);
    expect(Array.from(back.featureVectors)).toEqual(Array.from(world.featureVectors));
    expect(Array.from(back.bias)).toEqual(Array.from(world.bias));
    expect(Array.from(back.parent)).toEqual(Array.from(world.parent));
    expect(Array.from(back.mutuallyExclusive)).toEqual(Array.from(world.mutuallyExclusive));
    expect(Array.from(back.firingProbability)).toEqual(Array.from(world.firingProbability));
    const a = world.sampler(3).next(700);
    const b = back.sampler(3).next(700);
    expect(Array.from(b.acts)).toEqual(Array.from(a.acts));
    expect(Array.from(b.features.colIdx.subarray(0, b.features.nnz))).toEqual(Array.from(a.features.colIdx.subarray(0, a.features.nnz)));
  });

  it("leaves no temporary files and overwrites in place", () => {
    const dir = join(tmp, "twice");
    saveWorld(dir, createWorld(MECHANISMS));
    saveWorld(dir, createWorld({ ...MECHANISMS, seed: 8 }));
    expect(readdirSync(dir).sort()).toEqual([WORLD_CONFIG_FILE, WORLD_TENSORS_FILE]);
    expect(loadWorld(dir).config.seed).toBe(8);
  });

  it("rejects damaged or mismatched worlds with a message naming the problem", () => {
    const make = (name: string) => {
      const dir = join(tmp, name);
      saveWorld(dir, createWorld(COPULA));
      return dir;
    };
    expect(() => loadWorld(join(tmp, "nothing-here"))).toThrow(/is not a saved world directory \(no world\.json\)/);

    const shape = make("shape");
    editTensors(shape, (t) => (t.bias = { data: new Float32Array(5), shape: [5] }));
    expect(() => loadWorld(shape)).toThrow(/tensor "bias" has shape \[5\], expected \[12\]/);

    const norm = make("norm");
    editTensors(norm, (t) => (t.feature_vectors!.data as Float32Array)[0]! *= 2);
    expect(() => loadWorld(norm)).toThrow(/feature_vectors row 0 has norm .*unit vectors/);

    const nan = make("nan");
    editTensors(nan, (t) => ((t.bias!.data as Float32Array)[3] = NaN));
    expect(() => loadWorld(nan)).toThrow(/tensor "bias" has a non-finite value at flat index 3/);

    const mismatch = make("mismatch");
    const cfg = JSON.parse(readFileSync(join(mismatch, WORLD_CONFIG_FILE), "utf8"));
    cfg.firing.max = 0.35;
    writeFileSync(join(mismatch, WORLD_CONFIG_FILE), JSON.stringify(cfg));
    expect(() => loadWorld(mismatch)).toThrow(/firing_probability\[0\] is .* the config and the tensors do not belong together/);

    const badJson = make("bad-json");
    writeFileSync(join(badJson, WORLD_CONFIG_FILE), "{ nope");
    expect(() => loadWorld(badJson)).toThrow(/world\.json is not valid JSON/);

    const badKey = make("bad-key");
    writeFileSync(join(badKey, WORLD_CONFIG_FILE), JSON.stringify({ ...COPULA, colour: "red" }));
    expect(() => loadWorld(badKey)).toThrow(/unknown key "colour"/);

    const truncated = make("truncated");
    const bytes = readFileSync(join(truncated, WORLD_TENSORS_FILE));
    writeFileSync(join(truncated, WORLD_TENSORS_FILE), bytes.subarray(0, bytes.length - 100));
    expect(() => loadWorld(truncated)).toThrow(/truncated/);
  });
});
