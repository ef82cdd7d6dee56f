/**
 * The whole SAE workflow on a Hugging Face snapshot, end to end through the CLI: a SAELens SAE
 * directory for a tiny random GPT-2 (written here, as a published release would be: model_name gpt2,
 * its hook, prepend_bos false and unprocessed weights) drives `activations`, the shards train a new
 * SAE with `train --activations`, and both SAEs go through `splice` and `detect --activations`. The
 * extracted values are checked against the plain-loop GPT-2 in test/helpers/naive-hf.ts, and what the
 * first SAE's cfg.json chose (hook, BOS, processing, model name) must reach the trained SAE's cfg.json
 * and the commands run on it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { openActivations } from "../src/io/activations.js";
import { writeSignSplitSaeDir } from "./helpers/sign-split-dir.js";
import { gpt2TokenizerJson } from "./helpers/tiktoken-tokenizer-json.js";
import { tinyGpt2, writeTinyHf } from "./helpers/hf-models.js";
import { naiveGpt2 } from "./helpers/naive-hf.js";
import { capture } from "./helpers/cli-io.js";


const EOT = 50256;
const D = 32;
const HOOK = "blocks.1.hook_resid_post";

interface SpliceJson { hook: string; processing: boolean; lossRecovered: number; explainedVariance: number; ceClean: number; ceSae: number; ceZero: number; l0: number; predictions: number }
interface DetectJson { data: string; detection: { latents: { latent: number; firingRate: number }[]; pairs: unknown[] }; groundTruth: null }

describe("SAELens SAE for a tiny GPT-2: activations -> train --activations -> splice -> detect --activations", () => {
  const model = tinyGpt2(23, "transformer.", 50257);
  const dir = writeTinyHf(model);
  const { tokenizer, tokenizerConfig } = gpt2TokenizerJson();
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
  const stories = Array.from({ length: 12 }, (_, i) => `Story ${i}: the little robot found ${i + 2} shiny stones by the river, and it sang about them all day long.`);
  writeFileSync(join(dir, "stories.txt"), stories.join("\n\n"));
  writeFileSync(join(dir, "topk.json"), JSON.stringify({ architecture: "topk", dSae: 64, k: 8 }));
  writeSignSplitSaeDir(join(dir, "release"), D, { model_name: "gpt2-small", hook_name: HOOK, prepend_bos: false, model_from_pretrained_kwargs: { center_writing_weights: false }, context_size: 12 });
  const m = ["--model", dir];
  const corpus = ["--corpus", "stories.txt", "--seqLen", "12"];

  const run = async (args: string[]) => {
    const io = capture(dir);
    const code = await main(args, io);
    if (code !== 0) throw new Error(`saelab ${args.join(" ")} exited ${code}: ${io.stderr.join("\n")}`);
    return io;
  };

  beforeAll(async () => {
    await run(["activations", ...m, "--sae", "release", ...corpus, "--out", "acts", "--shardTokens", "100"]);
    await run(["train", "--activations", "acts", "--sae", "topk.json", "--steps", "40", "--batchSize", "64", "--lr", "0.01", "--out", "trained"]);
  }, 60_000);

  it("activations follow the release's cfg.json and equal the plain-loop GPT-2's raw hook values", () => {
    const ds = openActivations(join(dir, "acts"));
    expect(ds.manifest.hook).toBe(HOOK);
    expect(ds.manifest.source).toMatchObject({ processing: false, prependBos: false, modelName: "gpt2-small", seqLen: 12 });
    expect(ds.manifest.shards.length).toBeGreaterThan(1);
    // Rebuild every window from the shards' own tokens and positions (a window may span two shards;
    // prepend_bos false: no <|endoftext|>, so every window starts at position 0).
    const shards = ds.manifest.shards.map((_, s) => ds.readShard(s));
    const windows = new Map<number, number[]>();
    let rows = 0;
    for (const shard of shards) {
      for (let r = 0; r < shard.tokens.length; r++, rows++) {
        expect(shard.tokens[r]).not.toBe(EOT);
        const w = windows.get(shard.sequences[r]!) ?? [];
        expect(shard.positions[r]).toBe(w.length);
        w.push(shard.tokens[r]!);
        windows.set(shard.sequences[r]!, w);
      }
    }
    const naive = new Map([...windows].map(([seq, toks]) => [seq, naiveGpt2(model, toks).hooks.get(HOOK)!]));
    let worst = 0;
    for (const shard of shards) {
      for (let r = 0; r < shard.tokens.length; r++) {
        const want = naive.get(shard.sequences[r]!)![shard.positions[r]!]!;
        for (let j = 0; j < D; j++) worst = Math.max(worst, Math.abs(shard.activations[r * D + j]! - want[j]!));
      }
    }
    expect(rows).toBe(ds.totalTokens);
    expect(rows).toBeGreaterThan(100);
    expect(worst).toBeLessThan(1e-4);
  });

  it("the trained SAE's cfg.json carries the hook, model name, BOS and processing of its activations", () => {
    const cfg = JSON.parse(readFileSync(join(dir, "trained", "cfg.json"), "utf8")) as { d_in: number; d_sae: number; architecture: string; metadata: Record<string, unknown> };
    expect(cfg).toMatchObject({ d_in: D, d_sae: 64, architecture: "topk" });
    expect(cfg.metadata).toMatchObject({ hook_name: HOOK, model_name: "gpt2-small", prepend_bos: false, model_from_pretrained_kwargs: { center_writing_weights: false }, context_size: 12 });
  });

  it("splice runs both SAEs on the model as their cfg.json says: the exact release recovers all the loss, the trained one most", async () => {
    const exact = await run(["splice", "release", ...m, ...corpus, "--json"]);
    const e = JSON.parse(exact.stdout.join("")) as SpliceJson;
    expect(e).toMatchObject({ hook: HOOK, processing: false });
    expect(e.lossRecovered).toBeCloseTo(1, 4);
    expect(e.explainedVariance).toBeCloseTo(1, 4);
    expect(Math.abs(e.ceZero - e.ceClean)).toBeGreaterThan(0.01);
    // gpt2-small and the snapshot are both gpt2 models: no warning.
    expect(exact.stderr.join("\n")).not.toMatch(/warning/);
    const trained = await run(["splice", "trained", ...m, ...corpus, "--json"]);
    const t = JSON.parse(trained.stdout.join("")) as SpliceJson;
    expect(t).toMatchObject({ hook: HOOK, processing: false, predictions: e.predictions });
    // The same windows are read (no BOS, raw weights), so the clean loss is the release's.
    expect(t.ceClean).toBe(e.ceClean);
    expect(t.l0).toBeLessThanOrEqual(8);
    expect(t.explainedVariance).toBeGreaterThan(0.3);
    expect(t.explainedVariance).toBeLessThan(1);
  });

  it("detect reads the shards for both SAEs; the release's latents fire exactly where their coordinate has their sign", async () => {
    const ds = openActivations(join(dir, "acts"));
    const positive = new Float64Array(D);
    const negative = new Float64Array(D);
    for (let s = 0; s < ds.manifest.shards.length; s++) {
      const a = ds.readShard(s).activations;
      for (let i = 0; i < a.length; i++) {
        if (a[i]! > 0) positive[i % D]!++;
        else if (a[i]! < 0) negative[i % D]!++;
      }
    }
    const io = await run(["detect", "release", "--activations", "acts", "--json"]);
    const out = JSON.parse(io.stdout.join("")) as DetectJson;
    expect(out.groundTruth).toBeNull();
    expect(out.data).toMatch(new RegExp(`^activations acts \\(${ds.totalTokens} rows, seed 7\\)`));
    expect(out.detection.latents.length).toBeGreaterThan(0);
    for (const l of out.detection.latents) {
      const i = Math.floor(l.latent / 2);
      const want = (l.latent % 2 === 0 ? positive[i]! : negative[i]!) / ds.totalTokens;
      expect(l.firingRate).toBeCloseTo(want, 6);
    }
    const t = JSON.parse((await run(["detect", "trained", "--activations", "acts", "--json"])).stdout.join("")) as DetectJson;
    expect(t.data).toMatch(/^activations acts /);
    expect(Array.isArray(t.detection.pairs)).toBe(true);
    for (const l of t.detection.latents) expect(l.latent).toBeLessThan(64);
  });
});
