import { describe, expect, it } from "vitest";
import { LlamaModel } from "../src/lm/model.js";
import { logSoftmaxRows, spliceEvaluate } from "../src/lm/splice.js";
import { sharedModelFiles } from "../src/io/llama2c.js";
import { backendsUnderTest, SHARED_MODEL_MISSING, sharedModel, signSplitSae, tinyCheckpoint } from "./lm-fixtures.js";

const ckpt = tinyCheckpoint(9);
const seqs = [[1, 270, 271, 272, 260, 261, 280, 5, 6], [1, 40, 41, 42, 286], [1, 263, 264, 265, 266, 267, 268, 269, 270, 271, 272, 273, 274, 275, 276, 277, 278, 279]];

describe.each(backendsUnderTest())("SAE splice-in evaluation on a tiny model (%s)", (_n, backends) => {
  const model = new LlamaModel(ckpt, backends);
  const hook = "blocks.0.hook_resid_post";

  it("an SAE that reconstructs exactly recovers all the loss, with zero KL", () => {
    const r = spliceEvaluate(model, signSplitSae(ckpt.config.dim, 1), seqs, { hook, batchSequences: 2 });
    expect(r.predictions).toBe(seqs.reduce((a, s) => a + s.length - 1, 0));
    expect(r.positions).toBe(seqs.reduce((a, s) => a + s.length, 0));
    expect(r.ceSae).toBe(r.ceClean);
    expect(r.lossRecovered).toBe(1);
    expect(r.klSae).toBe(0);
    expect(r.klScore).toBe(1);
    // A random model need not get worse under ablation, only different.
    expect(Math.abs(r.ceZero - r.ceClean)).toBeGreaterThan(0.1);
    expect(r.klZero).toBeGreaterThan(0);
  });

  it("an SAE that outputs zeros recovers nothing", () => {
    const zero = spliceEvaluate(model, signSplitSae(ckpt.config.dim, 0), seqs, { hook });
    expect(Math.abs(zero.lossRecovered)).toBe(0);
    expect(zero.klSae).toBe(zero.klZero);
    expect(zero.klScore).toBe(0);
  });

  it("computes the clean cross-entropy and KL from the model's own log-probabilities", () => {
    const r = spliceEvaluate(model, signSplitSae(ckpt.config.dim, 0.7), seqs, { hook });
    const V = ckpt.config.vocabSize;
    let ce = 0;
    let n = 0;
    for (const s of seqs) {
      const lp = logSoftmaxRows(model.forward([s]).logits!, s.length, V);
      for (let t = 0; t + 1 < s.length; t++, n++) ce -= lp[t * V + s[t + 1]!]!;
    }
    expect(r.ceClean).toBeCloseTo(ce / n, 10);
    // KL(clean || sae) from the hooked logits computed independently.
    const sae = signSplitSae(ckpt.config.dim, 0.7);
    let kl = 0;
    let m = 0;
    for (const s of seqs) {
      const a = logSoftmaxRows(model.forward([s]).logits!, s.length, V);
      const b = logSoftmaxRows(model.forward([s], { hooks: [[hook, (x, ctx) => sae.decode(sae.encode(x, ctx.rows))]] }).logits!, s.length, V);
      for (let i = 0; i < s.length * V; i++) kl += Math.exp(a[i]!) * (a[i]! - b[i]!);
      m += s.length;
    }
    expect(r.klSae).toBeCloseTo(kl / m, 6);
  });

  it("keeps BOS activations when asked (SAEBench's exclude_special_tokens_from_reconstruction)", () => {
    const all = spliceEvaluate(model, signSplitSae(ckpt.config.dim, 0), seqs, { hook });
    const keepBos = spliceEvaluate(model, signSplitSae(ckpt.config.dim, 0), seqs, { hook, excludeBos: true });
    expect(keepBos.ceZero).not.toBe(all.ceZero);
    expect(Math.abs(keepBos.lossRecovered)).toBe(0);
  });

  it("rejects an SAE of the wrong width", () => {
    expect(() => spliceEvaluate(model, signSplitSae(8, 1), seqs, { hook })).toThrow(/reads 8-dimensional activations but blocks.0.hook_resid_post has dModel 16/);
  });
});

describe.skipIf(!sharedModelFiles())("SAE splice-in evaluation on stories260K", () => {
  it("a shrunken reconstruction recovers part of the loss (between zero-ablation and clean)", () => {
    const { model, tok } = sharedModel()!;
    const texts = ["Once upon a time, there was a little girl named Lily. She loved to play outside.", "Tom had a big red ball. He liked to throw it to his dog."];
    const r = spliceEvaluate(model, signSplitSae(64, 0.8), texts.map((t) => tok.encode(t)), { hook: "blocks.2.hook_resid_post" });
    expect(r.ceZero).toBeGreaterThan(r.ceSae);
    expect(r.ceSae).toBeGreaterThan(r.ceClean);
    expect(r.lossRecovered).toBeGreaterThan(0);
    expect(r.lossRecovered).toBeLessThan(1);
    expect(r.klSae).toBeGreaterThan(0);
    expect(r.klSae).toBeLessThan(r.klZero);
  });
});

describe.skipIf(!!sharedModelFiles())("SAE splice-in evaluation on stories260K", () => {
  // Reported as skipped, with the reason as its name (a passing placeholder would hide the missing model).
  it.skip(SHARED_MODEL_MISSING, () => {});
});
