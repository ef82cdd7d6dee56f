import { describe, expect, it } from "vitest";
import { generate } from "../src/lm/generate.js";
import { BOS } from "../src/lm/tokenizer.js";
import { sharedModelFiles } from "../src/io/llama2c.js";
import { backendsUnderTest, maxAbsDiff, runCForward, SHARED_MODEL_MISSING, sharedModel } from "./lm-fixtures.js";

/** The text llama2.c documents for stories260K, greedy, 60 tokens after BOS (../shared/models/stories260K/README.md). */
const GOLDEN =
  "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high";

const present = !!sharedModelFiles();

describe.skipIf(!present).each(backendsUnderTest())("stories260K (%s backends)", (_name, backends) => {
  // Loaded lazily: vitest runs this body to collect the tests even when the suite is skipped.
  let loaded: ReturnType<typeof sharedModel>;
  const get = () => (loaded ??= sharedModel(backends))!;

  it("greedy decoding of 60 tokens after BOS reproduces llama2.c's documented text exactly", () => {
    const { model, tok } = get();
    const [gen] = generate(model, [[BOS]], { steps: 60, temperature: 0 });
    expect(gen!.length).toBe(60);
    expect(tok.decode(gen!, BOS)).toBe(GOLDEN);
  });

  it("logits agree with a transcription of run.c's forward (max abs diff < 1e-4)", () => {
    const { model, tok, ckpt } = get();
    const tokens = Array.from(tok.encode("Once upon a time, there was a little girl named Lily. She loved"));
    const oracle = runCForward(ckpt, tokens);
    const logits = model.forward([tokens]).logits!;
    const V = model.spec.vocabSize;
    for (let t = 0; t < tokens.length; t++) expect(maxAbsDiff(logits.subarray(t * V, (t + 1) * V), oracle[t]!)).toBeLessThan(1e-4);
  });

  it("batched KV-cached generation gives the logits of the uncached batched forward (max abs diff < 1e-4)", () => {
    const { model, tok } = get();
    const prompts = [tok.encode("Once upon a time"), tok.encode("Tom had a red"), tok.encode("The cat")];
    const steps = 40;
    const V = model.spec.vocabSize;
    const cachedLogits: number[][] = prompts.map(() => []);
    const cache = model.newCache(prompts.length, 128);
    let res = model.forward(prompts, { cache, logits: "last" });
    const seqs = prompts.map((p) => Array.from(p));
    for (let s = 0; s < steps; s++) {
      const next = seqs.map((_, i) => {
        const l = res.logits!.subarray(i * V, (i + 1) * V);
        cachedLogits[i]!.push(...l);
        let best = 0;
        for (let j = 1; j < V; j++) if (l[j]! > l[best]!) best = j;
        return best;
      });
      next.forEach((t, i) => seqs[i]!.push(t));
      res = model.forward(next.map((t) => [t]), { cache, logits: "last" });
    }
    const full = model.forward(seqs).logits!;
    const uncached = model.forward(seqs);
    seqs.forEach((sq, i) => {
      const start = uncached.seqStart[i]!;
      const fromFull = full.subarray((start + prompts[i]!.length - 1) * V, (start + sq.length - 1) * V);
      expect(maxAbsDiff(Float32Array.from(cachedLogits[i]!), fromFull)).toBeLessThan(1e-4);
    });
  });
});

describe.skipIf(present)("stories260K", () => {
  // Reported as skipped, with the reason as its name (a passing placeholder would hide the missing model).
  it.skip(SHARED_MODEL_MISSING, () => {});
});
