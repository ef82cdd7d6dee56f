import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { Rng } from "../src/tensor/rng.js";
import { LlamaModel } from "../src/lm/model.js";
import { llama2cTokenizer } from "../src/lm/tokenizers/llama2c.js";
import { Tokenizer } from "../src/lm/tokenizer.js";
import { generate } from "../src/lm/generate.js";
import { logSoftmaxRows } from "../src/lm/splice.js";
import { readLlama2cTokenizer, sharedModelFiles } from "../src/io/llama2c.js";
import { loadSteeringVector, saveSteeringVector, steeringJsonPath } from "../src/io/steering.js";
import { fitLogistic, logisticAggregator, meanAggregator, pcaAggregator, symmetricEigen } from "../src/steering/aggregators.js";
import { ablationOperator, ablationThenAdditionOperator, additionOperator } from "../src/steering/operators.js";
import { recordActivations } from "../src/steering/record.js";
import { steeringVectorFromSae } from "../src/steering/sae.js";
import { extractContrastActivations, trainSteeringVector } from "../src/steering/train.js";
import { SteeringVector } from "../src/steering/vector.js";
import type { HookSpec } from "../src/lm/hooks.js";
import { backendsUnderTest, maxAbsDiff, SHARED_MODEL_MISSING, sharedModel, signSplitSae, tinyCheckpoint, tinyVocab, writeTinyModel } from "./lm-fixtures.js";

const ckpt = tinyCheckpoint(11);
const tok = new Tokenizer(tinyVocab());
const lmTok = llama2cTokenizer(tinyVocab());
const D = ckpt.config.dim;
const seq = Array.from(tok.encode("the happy cab had a sad dad"));

function randomVector(seed: number, scale = 1): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(D), 0, scale);
}

describe("steering aggregators", () => {
  const rng = new Rng(3);
  const n = 12;
  const d = 6;
  const dir = Float32Array.from([1, -2, 0.5, 0, 3, -1]);
  const pos = new Float32Array(n * d);
  const neg = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const base = rng.normal();
      neg[i * d + j] = base + 0.1 * rng.normal();
      pos[i * d + j] = base + (0.5 + rng.uniform()) * dir[j]! + 0.1 * rng.normal();
    }
  }

  it("mean is the mean difference", () => {
    const v = meanAggregator()(pos, neg, n, d);
    for (let j = 0; j < d; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += pos[i * d + j]! - neg[i * d + j]!;
      expect(v[j]).toBeCloseTo(s / n, 5);
    }
  });

  it("pca is the unit top direction of the differences, found again by power iteration, signed towards them", () => {
    const v = pcaAggregator()(pos, neg, n, d);
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    // Independent check: power iteration on D^T D.
    let u = new Float64Array(d).fill(1);
    for (let it = 0; it < 500; it++) {
      const next = new Float64Array(d);
      for (let i = 0; i < n; i++) {
        let p = 0;
        for (let j = 0; j < d; j++) p += (pos[i * d + j]! - neg[i * d + j]!) * u[j]!;
        for (let j = 0; j < d; j++) next[j]! += p * (pos[i * d + j]! - neg[i * d + j]!);
      }
      const norm = Math.hypot(...next);
      u = next.map((x) => x / norm);
    }
    const sign = Math.sign(u.reduce((a, x, j) => a + x * dir[j]!, 0));
    for (let j = 0; j < d; j++) expect(v[j]).toBeCloseTo(sign * u[j]!, 5);
    expect(v.reduce((a, x, j) => a + x * dir[j]!, 0)).toBeGreaterThan(0);
  });

  it("the Jacobi eigensolver reconstructs its matrix", () => {
    const S = new Float64Array(25);
    const r = new Rng(8);
    for (let a = 0; a < 5; a++) for (let b = a; b < 5; b++) S[a * 5 + b] = S[b * 5 + a] = r.normal();
    const { values, vectors } = symmetricEigen(S, 5);
    for (let a = 0; a < 5; a++) {
      for (let b = 0; b < 5; b++) {
        let s = 0;
        for (let k = 0; k < 5; k++) s += vectors[a * 5 + k]! * values[k]! * vectors[b * 5 + k]!;
        expect(s).toBeCloseTo(S[a * 5 + b]!, 9);
      }
    }
  });

  it("logistic gives the unit-normalised optimum of sklearn's objective (checked by gradient descent) on pair-centred data", () => {
    const v = logisticAggregator()(pos, neg, n, d);
    expect(Math.hypot(...v)).toBeCloseTo(1, 6);
    const X = new Float64Array(2 * n * d);
    const y = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const m = (pos[i * d + j]! + neg[i * d + j]!) / 2;
        X[i * d + j] = pos[i * d + j]! - m;
        X[(n + i) * d + j] = neg[i * d + j]! - m;
      }
      y[i] = 1;
      y[n + i] = -1;
    }
    // Plain gradient descent on C * sum log(1 + exp(-y w.x)) + |w|^2 / 2 with C = 1.
    const w = new Float64Array(d);
    for (let it = 0; it < 20000; it++) {
      const g = Float64Array.from(w);
      for (let i = 0; i < 2 * n; i++) {
        let z = 0;
        for (let j = 0; j < d; j++) z += w[j]! * X[i * d + j]!;
        const s = 1 / (1 + Math.exp(y[i]! * z));
        for (let j = 0; j < d; j++) g[j]! -= y[i]! * s * X[i * d + j]!;
      }
      for (let j = 0; j < d; j++) w[j]! -= 0.01 * g[j]!;
    }
    const norm = Math.hypot(...w);
    for (let j = 0; j < d; j++) expect(v[j]).toBeCloseTo(w[j]! / norm, 4);
    expect(Array.from(fitLogistic(X, y, 2 * n, d, 1, 100, 1e-10)).map((x) => x / norm)).toEqual(Array.from(w).map((x) => expect.closeTo(x / norm, 4)));
  });
});

describe("steering operators", () => {
  const x = Float32Array.from([3, 4, 0, 1]);
  const v = Float32Array.from([0, 2, 0, 0]);
  it("addition adds, ablation removes the component along the vector, ablation-then-addition does both", () => {
    expect(Array.from(additionOperator()(x, v))).toEqual([0, 2, 0, 0]);
    // (+ 0 turns -0 into 0 for the comparison)
    const plain = (a: Float32Array) => Array.from(a, (e) => e + 0);
    expect(plain(ablationOperator()(x, v))).toEqual([0, -4, 0, 0]);
    expect(plain(ablationOperator()(x, v.map((a) => -5 * a)))).toEqual([0, -4, 0, 0]);
    expect(plain(ablationThenAdditionOperator()(x, v))).toEqual([0, -2, 0, 0]);
    expect(plain(ablationOperator()(x, new Float32Array(4)))).toEqual([0, 0, 0, 0]);
  });
});

describe.each(backendsUnderTest())("steering vectors on a tiny model (%s)", (_n, backends) => {
  const model = new LlamaModel(ckpt, backends);
  const V = ckpt.config.vocabSize;
  const clean = model.forward([seq]).logits!;

  it("a zero vector changes nothing, with any operator", () => {
    const zero = new SteeringVector(new Map([[0, new Float32Array(D)], [1, new Float32Array(D)]]));
    for (const operator of [undefined, additionOperator(), ablationOperator(), ablationThenAdditionOperator()]) {
      const out = zero.apply(model, { multiplier: 3, ...(operator ? { operator } : {}) }, () => model.forward([seq]).logits!);
      expect(maxAbsDiff(out, clean)).toBe(0);
    }
  });

  it("patch() steers until remove(); apply() removes even when its function throws", () => {
    const vec = new SteeringVector(new Map([[0, randomVector(1)]]));
    const handle = vec.patch(model, { multiplier: 2 });
    expect(maxAbsDiff(model.forward([seq]).logits!, clean)).toBeGreaterThan(1e-3);
    handle.remove();
    expect(maxAbsDiff(model.forward([seq]).logits!, clean)).toBe(0);
    expect(() => vec.apply(model, {}, () => { throw new Error("boom"); })).toThrow("boom");
    expect(maxAbsDiff(model.forward([seq]).logits!, clean)).toBe(0);
  });

  it("adds multiplier x vector at the block output of the chosen positions only", () => {
    const v = randomVector(2);
    const vec = new SteeringVector(new Map([[1, v]]));
    const base = model.runWithCache([seq], { names: ["blocks.1.hook_resid_post"] }).cache.get("blocks.1.hook_resid_post")!;
    const read: HookSpec = ["blocks.1.hook_resid_post", (act) => void got.push(act.slice())];
    const got: Float32Array[] = [];
    model.forward([seq], { hooks: [...vec.hooks({ multiplier: -0.5, tokenIndices: [2, 4] }), read] });
    model.forward([seq], { hooks: [...vec.hooks({ multiplier: 1, minTokenIndex: 5 }), read] });
    for (let r = 0; r < seq.length; r++) {
      for (let j = 0; j < D; j++) {
        expect(got[0]![r * D + j]).toBeCloseTo(base[r * D + j]! + ([2, 4].includes(r) ? -0.5 * v[j]! : 0), 5);
        expect(got[1]![r * D + j]).toBeCloseTo(base[r * D + j]! + (r >= 5 ? v[j]! : 0), 5);
      }
    }
    const early = model.forward([seq], { hooks: vec.hooks({ minTokenIndex: 5 }) }).logits!;
    expect(maxAbsDiff(early.subarray(0, 5 * V), clean.subarray(0, 5 * V))).toBe(0);
    expect(maxAbsDiff(early.subarray(5 * V), clean.subarray(5 * V))).toBeGreaterThan(1e-3);
    expect(() => vec.hooks({ minTokenIndex: 1, tokenIndices: [1] })).toThrow(/not both/);
  });

  it("ablation leaves no component along the vector; ablation-then-addition leaves exactly the vector's", () => {
    const v = randomVector(3);
    const vn = Math.hypot(...v);
    const vec = new SteeringVector(new Map([[0, v]]));
    const proj: number[][] = [];
    const read: HookSpec = ["blocks.0.hook_resid_post", (act, ctx) => {
      const p: number[] = [];
      for (let r = 0; r < ctx.rows; r++) p.push(act.subarray(r * D, (r + 1) * D).reduce((a, x, j) => a + x * v[j]!, 0) / vn);
      proj.push(p);
    }];
    model.forward([seq], { hooks: [...vec.hooks({ operator: ablationOperator() }), read] });
    model.forward([seq], { hooks: [...vec.hooks({ operator: ablationThenAdditionOperator(), multiplier: 2 }), read] });
    model.forward([seq], { hooks: [...vec.hooks({ operator: (o) => o.map((x) => -x) }), read] });
    proj[0]!.forEach((p) => expect(p).toBeCloseTo(0, 4));
    proj[1]!.forEach((p) => expect(p).toBeCloseTo(2 * vn, 4));
    proj[2]!.forEach((p) => expect(p).toBeCloseTo(0, 4));
  });

  it("steers tokens generated with the KV cache exactly as in one uncached pass over the same text", () => {
    const vec = new SteeringVector(new Map([[0, randomVector(4, 2)]]));
    const prompt = Array.from(tok.encode("the cab"));
    const steerFrom = prompt.length + 1;
    const hooks = vec.hooks({ minTokenIndex: steerFrom });
    const gen = generate(model, [prompt], { steps: 8, temperature: 0, stopAtBos: false, hooks: [...hooks, ["ln_final.hook_normalized", () => undefined]] });
    const plain = generate(model, [prompt], { steps: 8, temperature: 0, stopAtBos: false });
    expect(Array.from(gen[0]!)).not.toEqual(Array.from(plain[0]!));
    const full = [...prompt, ...gen[0]!];
    const once = model.forward([full], { hooks }).logits!;
    // Greedy steps picked the argmax of the steered logits at each absolute position.
    for (let t = prompt.length - 1; t < full.length - 1; t++) {
      const row = once.subarray(t * V, (t + 1) * V);
      let best = 0;
      for (let j = 1; j < V; j++) if (row[j]! > row[best]!) best = j;
      expect(best).toBe(full[t + 1]);
    }
  });

  it("trains from pairs: the mean vector is the mean difference of the read tokens' activations", () => {
    const pairs: [string, string][] = [["the happy cab", "the sad cab"], ["a happy dad", "a sad dad"], ["happy", "sad"]];
    const vec = trainSteeringVector(model, lmTok, pairs, { layers: [-1, 0], readTokenIndex: -2 });
    expect([...vec.layerActivations.keys()]).toEqual([1, 0]);
    for (const layer of [0, 1]) {
      const expected = new Float64Array(D);
      pairs.forEach(([p, n]) => {
        for (const [text, sign] of [[p, 1], [n, -1]] as const) {
          const ids = tok.encode(text);
          const act = model.runWithCache([ids], { names: [`blocks.${layer}.hook_resid_post`] }).cache.get(`blocks.${layer}.hook_resid_post`)!;
          const r = ids.length - 2;
          for (let j = 0; j < D; j++) expected[j]! += (sign * act[r * D + j]!) / pairs.length;
        }
      });
      expect(maxAbsDiff(vec.layerActivations.get(layer)!, expected)).toBeLessThan(1e-5);
    }
    const byFn = extractContrastActivations(model, lmTok, [{ positive: "the happy cab", negative: "the sad cab", readNegativeTokenIndex: 1 }], { layers: [0], readTokenIndex: (t) => t.length - 8 });
    const direct = model.runWithCache([tok.encode("the happy cab"), tok.encode("the sad cab")], { names: ["blocks.0.hook_resid_post"] });
    const act = direct.cache.get("blocks.0.hook_resid_post")!;
    const rPos = direct.result.seqStart[0]! + "the happy cab".length - 8;
    const rNeg = direct.result.seqStart[1]! + 1;
    expect(maxAbsDiff(byFn.pos.get(0)!, act.subarray(rPos * D, (rPos + 1) * D))).toBeLessThan(1e-6);
    expect(maxAbsDiff(byFn.neg.get(0)!, act.subarray(rNeg * D, (rNeg + 1) * D))).toBeLessThan(1e-6);
    expect(() => trainSteeringVector(model, lmTok, pairs, { layers: [2] })).toThrow(/layer 2 is outside/);
    expect(() => trainSteeringVector(model, lmTok, pairs, { readTokenIndex: 40 })).toThrow(/token index 40 is outside/);
  });

  it("records activations during any run until removed", () => {
    const rec = recordActivations(model, { layers: [-1] });
    model.forward([seq]);
    generate(model, [[1]], { steps: 2, temperature: 0, stopAtBos: false });
    rec.remove();
    model.forward([seq]);
    const got = rec.records.get(1)!;
    expect(got.length).toBe(3);
    expect(got.map((g) => Array.from(g.rowPos))).toEqual([seq.map((_, i) => i), [0], [1]]);
    const direct = model.runWithCache([seq], { names: ["blocks.1.hook_resid_post"] }).cache.get("blocks.1.hook_resid_post")!;
    expect(maxAbsDiff(got[0]!.activations, direct)).toBe(0);
  });

  it("steers with an SAE latent: adds scale x its decoder row", () => {
    const sae = signSplitSae(D, 0.5);
    const vec = steeringVectorFromSae(sae, D + 3, 0, { scale: 4 });
    const expected = new Float32Array(D);
    expected[3] = -2;
    expect(maxAbsDiff(vec.layerActivations.get(0)!, expected)).toBe(0);
    expect(maxAbsDiff(steeringVectorFromSae(sae, 3, [0, 1], { normalize: true }).layerActivations.get(1)!, expected.map((x) => -x / 2))).toBe(0);
    expect(() => steeringVectorFromSae(sae, 2 * D, 0)).toThrow(/latent 32 is outside/);
  });

  it("saves and loads vectors with their layers and settings", () => {
    const { dir } = writeTinyModel(1);
    const path = join(dir, "v.safetensors");
    const layerActivations = new Map([[0, randomVector(5)], [1, randomVector(6)]]);
    saveSteeringVector(path, { layerActivations, layerType: "mlp", settings: { aggregator: "pca", multiplier: 2, pairs: null } });
    expect(existsSync(steeringJsonPath(path))).toBe(true);
    const back = loadSteeringVector(path);
    expect(back.layerType).toBe("mlp");
    expect(back.settings).toEqual({ aggregator: "pca", multiplier: 2, pairs: null });
    for (const l of [0, 1]) expect(Array.from(back.layerActivations.get(l)!)).toEqual(Array.from(layerActivations.get(l)!));
    writeFileSync(steeringJsonPath(path), JSON.stringify({ format: "saelab-steering-vector", version: 1, layerType: "mlp", layers: [0], dModel: D, settings: {} }));
    expect(() => loadSteeringVector(path)).toThrow(/tensor "layers.1" is not among the layers listed/);
    writeFileSync(steeringJsonPath(path), JSON.stringify({ format: "saelab-steering-vector", version: 1, layerType: "mlp", layers: [0, 1], dModel: D, extra: 1 }));
    expect(() => loadSteeringVector(path)).toThrow(/unknown key "extra"/);
    rmSync(steeringJsonPath(path));
    expect(() => loadSteeringVector(path)).toThrow(/missing .*v\.json/);
  });
});

describe.skipIf(!sharedModelFiles())("steering stories260K from happy/sad pairs", () => {
  it("moves log p(happy) - log p(sad) after a neutral prompt monotonically over multipliers -1..1", () => {
    const { model, tok: t } = sharedModel()!;
    const pairs: [string, string][] = [
      ["She was very happy.", "She was very sad."],
      ["Tom felt happy.", "Tom felt sad."],
      ["The little girl was happy", "The little girl was sad"],
      ["Lily smiled because she was happy", "Lily cried because she was sad"],
      ["They were all happy", "They were all sad"],
      ["The dog was happy and played", "The dog was sad and cried"],
    ];
    const vec = trainSteeringVector(model, llama2cTokenizer(readLlama2cTokenizer(sharedModelFiles()!.tokenizer)), pairs, { layers: [2] });
    const prompt = Array.from(t.encode("Once upon a time, there was a girl named Lily. One day she felt very"));
    const V = model.spec.vocabSize;
    // " sad" is two tokens (" sa", "d"): its log-probability is the sum over both.
    const logp = (cont: number[], hooks: HookSpec[]) => {
      const r = model.forward([[...prompt, ...cont]], { hooks });
      const lp = logSoftmaxRows(r.logits!, r.rows, V);
      return cont.reduce((a, tokId, i) => a + lp[(prompt.length - 1 + i) * V + tokId]!, 0);
    };
    const happy = Array.from(t.encode("happy", { bos: false }));
    const sad = Array.from(t.encode("sad", { bos: false }));
    const multipliers = [-1, -0.5, 0, 0.5, 1];
    const diffs = multipliers.map((m) => {
      const hooks = vec.hooks({ multiplier: m });
      return logp(happy, hooks) - logp(sad, hooks);
    });
    // Seen when written (layer 2, mean aggregator): -2.755, -1.998, -0.856, 0.492, 2.431 (nats).
    const seen = `log p(happy) - log p(sad) at multipliers ${multipliers.join(", ")}: ${diffs.map((d) => d.toFixed(3)).join(", ")}`;
    for (let i = 1; i < diffs.length; i++) expect(diffs[i]!, seen).toBeGreaterThan(diffs[i - 1]!);
    expect(diffs[4]! - diffs[0]!, seen).toBeGreaterThan(3);
    expect(diffs[2]!, seen).toBeCloseTo(-0.856, 2);
  });
});

describe.skipIf(!!sharedModelFiles())("steering stories260K", () => {
  it(SHARED_MODEL_MISSING, () => {
    expect(sharedModelFiles()).toBeUndefined();
  });
});
