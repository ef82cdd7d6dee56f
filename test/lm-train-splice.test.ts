/**
 * The LM side of training and evaluation: `saelab train --activations` on shards that `saelab
 * activations` wrote from the tiny random model, `saelab splice` with hand-built SAELens SAEs whose
 * answers are known, and (when ../shared/models/stories260K/ is present) the whole loop on the real
 * model: extract, train, splice.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { activationsDataSource } from "../src/cli/activations-source.js";
import { runTrain, trainFlagsShape, type TrainInput, type TrainFlags } from "../src/cli/train-run.js";
import { loadSaelensSae } from "../src/io/saelens.js";
import { writeSafetensors } from "../src/io/safetensors.js";
import { sharedModelFiles } from "../src/io/llama2c.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { z } from "zod";
import { SHARED_MODEL_MISSING, writeTinyModel } from "./lm-fixtures.js";
import { capture } from "./helpers/cli-io.js";


/** Writes a standard SAELens SAE directory by hand: W_enc [dIn, dSae], W_dec [dSae, dIn], zero biases. */
function writeHandSae(dir: string, W_enc: Float32Array, W_dec: Float32Array, dIn: number, dSae: number, metadata: Record<string, unknown> = {}): void {
  mkdirSync(dir, { recursive: true });
  writeSafetensors(join(dir, "sae_weights.safetensors"), {
    W_enc: { data: W_enc, shape: [dIn, dSae] },
    W_dec: { data: W_dec, shape: [dSae, dIn] },
    b_enc: { data: new Float32Array(dSae), shape: [dSae] },
    b_dec: { data: new Float32Array(dIn), shape: [dIn] },
  });
  const cfg = { d_in: dIn, d_sae: dSae, dtype: "float32", device: "cpu", apply_b_dec_to_input: true, normalize_activations: "none", architecture: "standard", metadata: { sae_lens_version: "6.0.0", ...metadata } };
  writeFileSync(join(dir, "cfg.json"), JSON.stringify(cfg));
}

/** The sign-split SAE: latents relu(x_i) and relu(-x_i), decoder rows gain * (+e_i) and gain * (-e_i); gain 1 reconstructs x exactly. */
function signSplit(dIn: number, gain: number): { W_enc: Float32Array; W_dec: Float32Array; dSae: number } {
  const dSae = 2 * dIn;
  const W_enc = new Float32Array(dIn * dSae);
  const W_dec = new Float32Array(dSae * dIn);
  for (let i = 0; i < dIn; i++) {
    W_enc[i * dSae + i] = 1;
    W_enc[i * dSae + dIn + i] = -1;
    W_dec[i * dIn + i] = gain;
    W_dec[(dIn + i) * dIn + i] = -gain;
  }
  return { W_enc, W_dec, dSae };
}

describe("saelab train --activations on shards from the tiny model", () => {
  const f = writeTinyModel(4);
  const m = ["--model", f.model, "--tokenizer", f.tokenizer];
  const hook = "blocks.1.hook_resid_mid";
  const acts = join(f.dir, "acts");
  const ready = (async () => {
    const io = capture(f.dir);
    if ((await main(["activations", ...m, "--hook", hook, "--out", "acts", "--sequences", "12", "--seqLen", "20", "--shardTokens", "50"], io)) !== 0) throw new Error(io.stderr.join("\n"));
  })();
  writeFileSync(join(f.dir, "sae.json"), JSON.stringify({ architecture: "topk", dSae: 32, k: 4 }));
  const train = ["train", "--activations", "acts", "--sae", "sae.json", "--batchSize", "64", "--backend", "reference"];

  it("writes a SAELens directory whose metadata names the hook and the model, cycling over the shards", async () => {
    await ready;
    const io = capture(f.dir);
    expect(await main([...train, "--steps", "8", "--out", "run"], io)).toBe(0);
    // 12 windows x 19 non-BOS tokens (at most) = 228 rows; 8 x 64 = 512 rows is more than two passes.
    expect(io.stderr.join("\n")).toMatch(new RegExp(`activations .*acts \\(${hook.replace(/\./g, "\\.")}, dModel 16, \\d+ rows; 8 steps x 64 rows make [2-9]\\.\\d passes over them\\)`));
    const out = join(f.dir, "run");
    const cfg = JSON.parse(readFileSync(join(out, "cfg.json"), "utf8"));
    expect(cfg.metadata).toMatchObject({ hook_name: hook, model_name: "tiny", context_size: 20, prepend_bos: true, exclude_special_tokens: true });
    expect(cfg.architecture).toBe("topk");
    const meta = JSON.parse(readFileSync(join(out, "saelab.json"), "utf8"));
    expect(meta.data.activations).toMatchObject({ dir: acts, hook, dModel: 16, source: { model: f.model, corpus: "sampled" } });
    expect(meta.data.world).toBeUndefined();
    const { sae } = loadSaelensSae(out, referenceKernels());
    expect(sae.dIn).toBe(16);
    expect(meta.training.steps).toBe(8);
    // Splicing it into the model it came from names that model: no "trained on another model" warning.
    const s = capture(f.dir);
    const code = await main(["splice", "run", ...m, "--sequences", "2", "--seqLen", "12"], s);
    expect(code, s.stderr.join("\n")).toBe(0);
    expect(s.stderr.join("\n")).not.toMatch(/trained on|does not know/);
  });

  it("--resume after a crash ends with the weights of an uninterrupted run", async () => {
    await ready;
    const args = [...train, "--steps", "10", "--checkpointEvery", "3"];
    expect(await main([...args, "--out", "full"], capture(f.dir))).toBe(0);
    // The same source the command builds, failing at step 7 (after the checkpoint at step 6).
    const { source } = activationsDataSource("acts", f.dir);
    const crashing: TrainInput = {
      ...source,
      stream: {
        dIn: source.stream.dIn,
        *batches(from, b, seed) {
          let s = from;
          for (const x of source.stream.batches(from, b, seed)) {
            if (s++ === 7) throw new Error("power cut");
            yield x;
          }
        },
      },
    };
    const flags = z.object({ activations: z.string(), ...trainFlagsShape }).strict().parse({
      activations: "acts", sae: "sae.json", batchSize: 64, backend: "reference", steps: 10, checkpointEvery: 3, out: "part",
    }) as unknown as TrainFlags;
    await expect(runTrain(flags, capture(f.dir), crashing)).rejects.toThrow("power cut");
    const io = capture(f.dir);
    expect(await main([...args, "--out", "part", "--resume"], io)).toBe(0);
    expect(io.stderr.join("\n")).toMatch(/resuming at step 6 of 10/);
    expect(readFileSync(join(f.dir, "part", "sae_weights.safetensors")).equals(readFileSync(join(f.dir, "full", "sae_weights.safetensors")))).toBe(true);
    // A different seed draws different batches, hence different weights.
    expect(await main([...args, "--out", "seed2", "--seed", "2"], capture(f.dir))).toBe(0);
    expect(readFileSync(join(f.dir, "seed2", "sae_weights.safetensors")).equals(readFileSync(join(f.dir, "full", "sae_weights.safetensors")))).toBe(false);
  });

  it("rejects a missing manifest, a width mismatch and more than one data source clearly", async () => {
    await ready;
    mkdirSync(join(f.dir, "empty"), { recursive: true });
    const cases: [string[], RegExp][] = [
      [["--activations", "empty"], /empty: no manifest\.json; not an activations directory, or its extraction did not finish/],
      [["--activations", "acts", "--preset", "absorption-basic"], /give one data source, not --preset absorption-basic and --activations acts/],
      [[], /no world given: .*--activations DIR/],
    ];
    for (const [extra, msg] of cases) {
      const io = capture(f.dir);
      expect(await main(["train", ...extra, "--sae", "sae.json", "--steps", "2", "--out", "bad"], io)).toBe(1);
      expect(io.stderr.join("\n")).toMatch(msg);
    }
    writeFileSync(join(f.dir, "sae32.json"), JSON.stringify({ architecture: "standard", dSae: 64, dIn: 32 }));
    const io = capture(f.dir);
    expect(await main(["train", "--activations", "acts", "--sae", "sae32.json", "--steps", "2", "--out", "bad"], io)).toBe(1);
    expect(io.stderr.join("\n")).toMatch(/config says dIn 32 but the data has width 16/);
    expect(existsSync(join(f.dir, "bad"))).toBe(false);
  });
});

describe("saelab splice with hand-built SAEs on the tiny model", () => {
  const f = writeTinyModel(5);
  const m = ["--model", f.model, "--tokenizer", f.tokenizer];
  const hook = "blocks.0.hook_resid_post";
  const corpus = ["--sequences", "4", "--seqLen", "16", "--seed", "3"];
  const exact = signSplit(16, 1);
  writeHandSae(join(f.dir, "exact"), exact.W_enc, exact.W_dec, 16, exact.dSae, { hook_name: hook });
  const zero = signSplit(16, 0);
  writeHandSae(join(f.dir, "zero"), zero.W_enc, zero.W_dec, 16, zero.dSae);

  it("an exact SAE recovers all the loss with zero KL; the hook comes from cfg.json", async () => {
    const io = capture(f.dir);
    expect(await main(["splice", "exact", ...m, ...corpus, "--json"], io)).toBe(0);
    const r = JSON.parse(io.stdout.join(""));
    expect(r.hook).toBe(hook);
    expect(r.predictions).toBe(4 * 15);
    expect(r.lossRecovered).toBe(1);
    expect(r.ceSae).toBe(r.ceClean);
    expect(r.klSae).toBe(0);
    expect(r.klZero).toBeGreaterThan(0);
    expect(Math.abs(r.ceZero - r.ceClean)).toBeGreaterThan(0.05);
    expect(r.explainedVariance).toBe(1);
    // Each non-BOS row fires one of its two latents per nonzero coordinate: L0 = 16.
    expect(r.l0).toBe(16);
    expect(r.reconstructedRows).toBe(4 * 15);
  });

  it("an SAE that reconstructs zeros recovers nothing; text output names every figure", async () => {
    const io = capture(f.dir);
    expect(await main(["splice", "zero", ...m, ...corpus, "--hook", hook], io)).toBe(0);
    const text = io.stdout.join("\n");
    const num = (label: string) => Number(new RegExp(`${label} +(-?[\\d.]+)`).exec(text)![1]);
    expect(num("loss recovered")).toBe(0);
    expect(num("CE with SAE")).toBe(num("CE zero-ablated"));
    expect(num("CE clean")).not.toBe(num("CE zero-ablated"));
    expect(num("explained variance")).toBeLessThan(0.01);
    // MSE says its unit: per element, beside the sum over dimensions (train's unit).
    const [, perElement, summed] = /MSE per element ([\d.e+-]+) \(summed over dimensions ([\d.e+-]+)\)/.exec(text)!;
    const js = capture(f.dir);
    await main(["splice", "zero", ...m, ...corpus, "--hook", hook, "--json"], js);
    const r = JSON.parse(js.stdout.join(""));
    expect(r.klSae).toBe(r.klZero);
    expect(r.klScore).toBe(0);
    expect(Number(perElement) / r.mse).toBeCloseTo(1, 3);
    expect(Number(summed) / Number(perElement)).toBeCloseTo(16, 2);
  });

  it("asks for --hook when the SAE records none, and rejects a width mismatch", async () => {
    const io = capture(f.dir);
    expect(await main(["splice", "zero", ...m, ...corpus], io)).toBe(1);
    expect(io.stderr.join("")).toMatch(/records no hook_name; give the hook point with --hook/);
    const narrow = signSplit(8, 1);
    writeHandSae(join(f.dir, "narrow"), narrow.W_enc, narrow.W_dec, 8, narrow.dSae, { hook_name: hook });
    const io2 = capture(f.dir);
    expect(await main(["splice", "narrow", ...m, ...corpus], io2)).toBe(1);
    expect(io2.stderr.join("")).toMatch(/reads 8-dimensional activations but the model's blocks\.0\.hook_resid_post has dModel 16/);
    const io3 = capture(f.dir);
    expect(await main(["splice", "exact", ...m, ...corpus, "--hook", "blocks.7.hook_resid_post"], io3)).toBe(1);
    expect(io3.stderr.join("")).toMatch(/blocks 0\.\.1/);
  });
});

const shared = sharedModelFiles();

describe.skipIf(!shared)("extract, train and splice on stories260K", () => {
  it("an SAE trained for 300 steps at blocks.2.hook_resid_post explains over 75% of the variance and recovers over 85% of the loss", async () => {
    const dir = mkdtempSync(join(tmpdir(), "saelab-e2e-"));
    const io = capture(dir);
    expect(await main(["activations", "--hook", "blocks.2.hook_resid_post", "--out", "acts", "--sequences", "128", "--seqLen", "256", "--batch", "64"], io)).toBe(0);
    writeFileSync(join(dir, "sae.json"), JSON.stringify({ architecture: "topk", dSae: 256, k: 16 }));
    const t = capture(dir);
    expect(await main(["train", "--activations", "acts", "--sae", "sae.json", "--steps", "300", "--batchSize", "512", "--lr", "0.003", "--out", "sae"], t)).toBe(0);
    const s = capture(dir);
    expect(await main(["splice", "sae", "--sequences", "16", "--json"], s)).toBe(0);
    const r = JSON.parse(s.stdout.join(""));
    console.log(`stories260K e2e: ${JSON.stringify({ ceClean: r.ceClean, ceSae: r.ceSae, ceZero: r.ceZero, lossRecovered: r.lossRecovered, klSae: r.klSae, explainedVariance: r.explainedVariance, l0: r.l0 })}`);
    expect(r.hook).toBe("blocks.2.hook_resid_post");
    expect(r.ceZero).toBeGreaterThan(r.ceClean + 1);
    expect(r.lossRecovered).toBeGreaterThan(0.85);
    expect(r.explainedVariance).toBeGreaterThan(0.75);
    expect(r.klSae).toBeLessThan(r.klZero / 4);
    expect(r.l0).toBeLessThanOrEqual(16);
  }, 180_000); // ~10 s alone; several times that when the 2 cores are shared
});

describe.skipIf(!!shared)("extract, train and splice on stories260K", () => {
  // Reported as skipped, with the reason as its name (a passing placeholder would hide the missing model).
  it.skip(SHARED_MODEL_MISSING, () => {});
});
