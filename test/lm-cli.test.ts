import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { openActivations } from "../src/io/activations.js";
import { sharedModelFiles } from "../src/io/llama2c.js";
import { loadSteeringVector } from "../src/io/steering.js";
import { SHARED_MODEL_MISSING, writeTinyModel } from "./lm-fixtures.js";
import { capture } from "./helpers/cli-io.js";


describe("LM commands on a tiny model", () => {
  const f = writeTinyModel(2);
  const m = ["--model", f.model, "--tokenizer", f.tokenizer];

  it("generate is reproducible for a seed and continues the prompt", async () => {
    const runs = await Promise.all([1, 2, 3].map(async (i) => {
      const io = capture();
      expect(await main(["generate", ...m, "--prompt", "the cab", "--steps", "12", "--seed", i === 3 ? "8" : "7", "--temperature", "3", "--topp", "1"], io)).toBe(0);
      return io.stdout.join("\n");
    }));
    expect(runs[0]).toBe(runs[1]);
    expect(runs[0]).not.toBe(runs[2]);
    expect(runs[0]!.startsWith("the cab")).toBe(true);
  });

  it("activations writes shards from a text corpus and from sampled stories", async () => {
    const corpus = join(f.dir, "stories.txt");
    writeFileSync(corpus, "the happy cab\n\na sad dad had a cab\n\nhappy happy sad");
    const io = capture(f.dir);
    expect(await main(["activations", ...m, "--hook", "blocks.1.hook_resid_post", "--out", "acts-text", "--corpus", "stories.txt", "--seqLen", "8", "--shardTokens", "10"], io)).toBe(0);
    expect(io.stdout.join("")).toMatch(/wrote \d+ activations \(dModel 16\) at blocks\.1\.hook_resid_post from \d+ sequences/);
    const ds = openActivations(join(f.dir, "acts-text"));
    expect(ds.manifest.hook).toBe("blocks.1.hook_resid_post");
    expect(ds.manifest.source.corpus).toBe(corpus);
    expect(ds.manifest.shards.length).toBeGreaterThan(1);
    const io2 = capture(f.dir);
    expect(await main(["activations", ...m, "--hook", "blocks.0.hook_attn_out", "--out", "acts-sampled", "--sequences", "6", "--seqLen", "10"], io2)).toBe(0);
    const ds2 = openActivations(join(f.dir, "acts-sampled"));
    // 6 sampled windows of 10 tokens, minus the BOS rows (each window's first, and any sampled ones).
    expect(ds2.totalTokens).toBeLessThanOrEqual(54);
    const shard = ds2.readShard(0);
    expect(shard.tokens.every((t) => t !== 1)).toBe(true);
    expect(shard.positions.every((p) => p >= 1 && p <= 9)).toBe(true);
    expect(new Set(shard.sequences)).toEqual(new Set([0, 1, 2, 3, 4, 5]));
    expect(ds2.manifest.source.corpus).toBe("sampled");
  });

  it("activations and generate reject bad hooks and missing files clearly", async () => {
    const io = capture(f.dir);
    expect(await main(["activations", ...m, "--hook", "blocks.9.hook_resid_post", "--out", "x"], io)).toBe(1);
    expect(io.stderr.join("")).toMatch(/hook point "blocks\.9\.hook_resid_post": the model has blocks 0\.\.1/);
    const io2 = capture(f.dir);
    expect(await main(["generate", "--model", "nope.bin", "--tokenizer", f.tokenizer], io2)).toBe(1);
    expect(io2.stderr.join("")).toMatch(/cannot read llama2\.c checkpoint .*nope\.bin/);
    expect(existsSync(join(f.dir, "x"))).toBe(false);
  });

  it("steer trains from a pairs file, saves the vector, and reloads it", async () => {
    const pairs = join(f.dir, "pairs.json");
    writeFileSync(pairs, JSON.stringify([["the happy cab", "the sad cab"], { positive: "happy", negative: "sad" }]));
    const io = capture(f.dir);
    expect(await main(["steer", ...m, "--pairs", "pairs.json", "--layer", "-1", "--multiplier", "2", "--prompt", "the", "--steps", "5", "--compare", "--save", "v.safetensors"], io)).toBe(0);
    expect(io.stdout[0]).toMatch(/^steering vector: mean of 2 pairs in .*pairs\.json$/);
    expect(io.stdout[2]).toMatch(/^unsteered: the/);
    expect(io.stdout[3]).toMatch(/^steered \(layer 1, x2\): the/);
    const v = loadSteeringVector(join(f.dir, "v.safetensors"));
    expect([...v.layerActivations.keys()]).toEqual([1]);
    expect(v.settings.aggregator).toBe("mean");
    const io2 = capture(f.dir);
    expect(await main(["steer", ...m, "--vector", "v.safetensors", "--multiplier", "2", "--prompt", "the", "--steps", "5"], io2)).toBe(0);
    expect(io2.stdout[2]).toBe(io.stdout[3]);
    const io3 = capture(f.dir);
    expect(await main(["steer", ...m, "--prompt", "the"], io3)).toBe(1);
    expect(io3.stderr.join("")).toMatch(/give exactly one of --pairs \(train a vector\), --vector \(load one\) and --sae/);
    const io5 = capture(f.dir);
    expect(await main(["steer", ...m, "--vector", "v.safetensors", "--layer", "0"], io5)).toBe(1);
    expect(io5.stderr.join("")).toMatch(/a loaded --vector keeps the layers it was saved with/);
    writeFileSync(pairs, JSON.stringify([["only one"]]));
    const io4 = capture(f.dir);
    expect(await main(["steer", ...m, "--pairs", "pairs.json"], io4)).toBe(1);
    expect(io4.stderr.join("")).toMatch(/invalid .*pairs\.json/);
  });
});

describe.skipIf(!sharedModelFiles())("saelab generate on stories260K", () => {
  it("uses the shared model by default and reproduces the greedy golden text", async () => {
    const io = capture();
    expect(await main(["generate", "--temperature", "0", "--steps", "60"], io)).toBe(0);
    expect(io.stdout.join("\n")).toBe("Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high");
  });
});

describe.skipIf(!!sharedModelFiles())("saelab generate on stories260K", () => {
  // Reported as skipped, with the reason as its name (a passing placeholder would hide the missing model).
  it.skip(SHARED_MODEL_MISSING, () => {});
});
