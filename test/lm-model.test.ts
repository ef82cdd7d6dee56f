import { describe, expect, it } from "vitest";
import { LlamaModel } from "../src/lm/model.js";
import { hookPointNames, type HookSpec } from "../src/lm/hooks.js";
import { generate } from "../src/lm/generate.js";
import { backendsUnderTest, maxAbsDiff, runCForward, tinyCheckpoint } from "./lm-fixtures.js";

const ckpt = tinyCheckpoint(7);
const V = ckpt.config.vocabSize;
const seqA = [1, 270, 280, 5, 286, 261, 262, 270, 271, 250, 1, 263];
const seqB = [1, 40, 41];
const seqC = [1, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269, 270, 271, 272, 273, 274, 275, 276, 277, 278, 279];

describe.each(backendsUnderTest())("LlamaModel on a tiny random model (%s)", (_name, backends) => {
  // fusedMaxRows 0 sends every step through Kernels.gemm (chunkRows splits its per-row work); the
  // default sends small steps through the fused kernels.
  const paths = [
    ["fused", new LlamaModel(ckpt, backends)],
    ["gemm", new LlamaModel(ckpt, { ...backends, fusedMaxRows: 0 })],
    ["gemm in chunks of 5 rows", new LlamaModel(ckpt, { ...backends, fusedMaxRows: 0, chunkRows: 5 })],
  ] as const;

  it.each(paths)("matches a transcription of llama2.c run.c's forward at every position (%s path)", (_p, model) => {
    const oracle = runCForward(ckpt, seqC);
    const logits = model.forward([seqC]).logits!;
    for (let t = 0; t < seqC.length; t++) expect(maxAbsDiff(logits.subarray(t * V, (t + 1) * V), oracle[t]!)).toBeLessThan(2e-4);
  });

  it.each(paths)("gives each sequence of a ragged batch the logits it gets alone (%s path)", (_p, model) => {
    const batch = model.forward([seqA, seqB, seqC]);
    expect(Array.from(batch.seqStart)).toEqual([0, seqA.length, seqA.length + seqB.length, seqA.length + seqB.length + seqC.length]);
    [seqA, seqB, seqC].forEach((s, i) => {
      const alone = model.forward([s]).logits!;
      const part = batch.logits!.subarray(batch.seqStart[i]! * V, batch.seqStart[i + 1]! * V);
      // A GEMM may block rows differently for different row counts, so allow float32 rounding.
      expect(maxAbsDiff(part, alone)).toBeLessThan(1e-4);
    });
  });

  it("KV-cached prefill plus one-token steps give the uncached logits (tolerance 1e-4)", () => {
    const [, model] = paths[0];
    const full = paths[1][1].forward([seqA, seqC]).logits!;
    const cache = model.newCache(2, 32);
    const pre = model.forward([seqA.slice(0, 5), seqC.slice(0, 9)], { cache });
    expect(Array.from(cache.lengths)).toEqual([5, 9]);
    const got: number[][] = [[...pre.logits!.subarray(0, 5 * V)], [...pre.logits!.subarray(5 * V)]];
    for (let step = 0; ; step++) {
      const seqs: number[][] = [];
      const slots: number[] = [];
      if (5 + step < seqA.length) { seqs.push([seqA[5 + step]!]); slots.push(0); }
      if (9 + step < seqC.length) { seqs.push([seqC[9 + step]!]); slots.push(1); }
      if (seqs.length === 0) break;
      const r = model.forward(seqs, { cache, slots, logits: "last" });
      slots.forEach((s, j) => got[s]!.push(...r.logits!.subarray(j * V, (j + 1) * V)));
    }
    // Prefill and single-token steps take different GEMM/fused paths: equal up to float32 rounding.
    expect(maxAbsDiff(got[0]!, full.subarray(0, seqA.length * V))).toBeLessThan(1e-4);
    expect(maxAbsDiff(got[1]!, full.subarray(seqA.length * V))).toBeLessThan(1e-4);
  });

  it.skipIf(backends.lm.name !== "native")("with the native kernels, KV-cached one-token steps give the uncached logits bit for bit", () => {
    const model = paths[0][1];
    const full = model.forward([seqA, seqC]).logits!;
    const cache = model.newCache(2, 32);
    const pre = model.forward([seqA.slice(0, 4), seqC.slice(0, 7)], { cache });
    const got: number[][] = [[...pre.logits!.subarray(0, 4 * V)], [...pre.logits!.subarray(4 * V)]];
    for (let step = 0; 7 + step < seqC.length; step++) {
      const seqs = 4 + step < seqA.length ? [[seqA[4 + step]!], [seqC[7 + step]!]] : [[seqC[7 + step]!]];
      const slots = seqs.length === 2 ? [0, 1] : [1];
      const r = model.forward(seqs, { cache, slots, logits: "last" });
      slots.forEach((s, j) => got[s]!.push(...r.logits!.subarray(j * V, (j + 1) * V)));
    }
    expect(maxAbsDiff(got[0]!, full.subarray(0, seqA.length * V))).toBe(0);
    expect(maxAbsDiff(got[1]!, full.subarray(seqA.length * V))).toBe(0);
  });

  it.each(paths)("hooks that write back what they read at every point leave the logits bit-identical (%s path)", (_p, model) => {
    const clean = model.forward([seqA, seqC]).logits!;
    const seen: string[] = [];
    const hooks: HookSpec[] = model.hookNames().map((n) => [n, (act) => { seen.push(n); return act.slice(); }]);
    const hooked = model.forward([seqA, seqC], { hooks }).logits!;
    expect(seen).toEqual(hookPointNames(ckpt.config.nLayers));
    expect(maxAbsDiff(hooked, clean)).toBe(0);
  });

  it.each(paths)("hook points relate as TransformerLens defines them (%s path)", (_p, model) => {
    const { cache } = model.runWithCache([seqC]);
    const D = ckpt.config.dim;
    for (let l = 0; l < ckpt.config.nLayers; l++) {
      const pre = cache.get(`blocks.${l}.hook_resid_pre`)!;
      const attn = cache.get(`blocks.${l}.hook_attn_out`)!;
      const mid = cache.get(`blocks.${l}.hook_resid_mid`)!;
      const mlp = cache.get(`blocks.${l}.hook_mlp_out`)!;
      const post = cache.get(`blocks.${l}.hook_resid_post`)!;
      expect(maxAbsDiff(mid, pre.map((v, i) => v + attn[i]!))).toBeLessThan(1e-6);
      expect(maxAbsDiff(post, mid.map((v, i) => v + mlp[i]!))).toBeLessThan(1e-6);
      if (l > 0) expect(Array.from(pre)).toEqual(Array.from(cache.get(`blocks.${l - 1}.hook_resid_post`)!));
    }
    const norm = cache.get("ln_final.hook_normalized")!;
    for (let r = 0; r < seqC.length; r++) {
      let ms = 0;
      for (let j = 0; j < D; j++) ms += norm[r * D + j]! ** 2 / D;
      expect(ms).toBeCloseTo(1, 3);
    }
  });

  it.each(paths)("a replacing hook changes the output and its handle's remove() restores it exactly (%s path)", (_p, model) => {
    const clean = model.forward([seqA]).logits!;
    const handle = model.addHook("blocks.1.hook_resid_mid", (act) => act.map((v) => v * 0.5));
    const changed = model.forward([seqA]).logits!;
    expect(maxAbsDiff(changed, clean)).toBeGreaterThan(1e-2);
    handle.remove();
    handle.remove();
    expect(maxAbsDiff(model.forward([seqA]).logits!, clean)).toBe(0);
  });

  it.each(paths)("stopAtLayer returns the residual stream after that many blocks (%s path)", (_p, model) => {
    const { cache } = model.runWithCache([seqA, seqB], { names: ["blocks.0.hook_resid_post"] });
    expect([...cache.keys()]).toEqual(["blocks.0.hook_resid_post"]);
    const r = model.forward([seqA, seqB], { stopAtLayer: 1 });
    expect(r.logits).toBeUndefined();
    expect(Array.from(r.residual)).toEqual(Array.from(cache.get("blocks.0.hook_resid_post")!));
    const fired: string[] = [];
    model.forward([seqA], { stopAtLayer: 1, hooks: [["blocks.1.hook_resid_pre", () => void fired.push("late")], ["blocks.0.hook_mlp_out", () => void fired.push("early")]] });
    expect(fired).toEqual(["early"]);
  });

  it("hooks see absolute positions, including tokens generated with the KV cache", () => {
    const model = paths[0][1];
    const positions: number[][] = [];
    const tokensSeen: number[] = [];
    const gen = generate(model, [[1, 270, 271], [1]], {
      steps: 4, temperature: 0, stopAtBos: false,
      hooks: [["blocks.0.hook_resid_post", (_a, ctx) => { positions.push(Array.from(ctx.rowPos)); tokensSeen.push(...ctx.tokens); }]],
    });
    expect(positions).toEqual([[0, 1, 2, 0], [3, 1], [4, 2], [5, 3]]);
    expect(gen.map((g) => g.length)).toEqual([4, 4]);
    expect(tokensSeen.slice(4, 6)).toEqual([gen[0]![0], gen[1]![0]]);
    // A prompt that fills the context still yields the one token its last position predicts.
    const full = generate(model, [new Array(40).fill(270)], { steps: 5, temperature: 0 });
    expect(full[0]!.length).toBe(1);
    expect(() => generate(model, [new Array(41).fill(270)], { steps: 1 })).toThrow(/exceeds the model's context length 40/);
  });

  it("rejects bad inputs with messages naming the problem", () => {
    const model = paths[0][1];
    expect(() => model.forward([[1, V]])).toThrow(/token 1: id \d+ is outside the vocabulary/);
    expect(() => model.forward([new Array(41).fill(1)])).toThrow(/more than the model's context length 40/);
    expect(() => model.forward([[1], []], { logits: "last" })).toThrow(/sequence 1 is empty/);
    expect(() => model.addHook("blocks.2.hook_resid_pre", () => undefined)).toThrow(/blocks 0..1/);
    expect(() => model.addHook("blocks.0.hook_z", () => undefined)).toThrow(/unknown hook point "blocks.0.hook_z"/);
    expect(() => model.forward([seqA], { hooks: [["blocks.0.hook_resid_pre", () => new Float32Array(3)]] })).toThrow(/returned 3 values, expected/);
    const cache = model.newCache(1, 8);
    expect(() => model.forward([seqA], { cache })).toThrow(/cache capacity 8/);
    expect(Array.from(cache.lengths)).toEqual([0]);
    const other = new LlamaModel(tinyCheckpoint(7, { nLayers: 1 }), backends).newCache(1, 8);
    expect(() => model.forward([[1]], { cache: other })).toThrow(/was not made by this model's newCache/);
  });
});
