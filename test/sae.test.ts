/** Registry-driven suite: every architecture x tying variant. */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../src/errors.js";
import { ARCHITECTURES, ARCHITECTURE_IDS, SaeConfigSchema } from "../src/sae/registry.js";
import { createSae } from "../src/sae/model.js";
import { forwardBackward } from "../src/sae/step.js";
import { viewsOf } from "../src/sae/params.js";
import { adamState, optimizerStep } from "../src/train/optimizer.js";
import { geometricMedian } from "../src/sae/init.js";
import { BATCH, COMBOS, D_IN, D_SAE, deadMask, kernels, randomBatch, randomSae, smallConfig } from "./sae-fixtures.js";
import { denseEncoder } from "./sae-reference.js";

describe("registry", () => {
  it("lists every SAELens architecture id and nothing else", () => {
    expect([...ARCHITECTURE_IDS].sort()).toEqual(["batchtopk", "jumprelu", "matryoshka_batchtopk", "standard", "topk"]);
    for (const id of ARCHITECTURE_IDS) expect(ARCHITECTURES[id].id).toBe(id);
  });

  it("rejects unknown keys, bad cross-field combinations and unknown architectures, naming the field", () => {
    const parse = (v: unknown) => parseConfig(SaeConfigSchema, v, "SAE config");
    expect(() => parse({ architecture: "standard", dSae: 8, l1Coeficient: 1 })).toThrow(/unknown key "l1Coeficient"/);
    expect(() => parse({ architecture: "standard", dSae: 8, tying: "tie_loss" })).toThrow(/tieLoss: required when tying is "tie_loss"/);
    expect(() => parse({ architecture: "standard", dSae: 8, tieLoss: { coefficient: 1 } })).toThrow(/tieLoss: only allowed when tying is "tie_loss"/);
    expect(() => parse({ architecture: "topk", dSae: 8, k: 9 })).toThrow(/k: must be at most dSae \(8\)/);
    expect(() => parse({ architecture: "topk", dSae: 8, k: 2, decoderInitNorm: 0.1 })).toThrow(/decoderInitNorm: must be 1/);
    expect(() => parse({ architecture: "matryoshka_batchtopk", dSae: 8, k: 2, matryoshkaWidths: [4, 2, 8] })).toThrow(/matryoshkaWidths\[1\]: must be larger/);
    expect(() => parse({ architecture: "matryoshka_batchtopk", dSae: 8, k: 2, matryoshkaWidths: [4, 6] })).toThrow(/the last width must equal dSae/);
    expect(() => parse({ architecture: "matryoshka_batchtopk", dSae: 8, k: 2, matryoshkaWidths: [4, 8], innerLossMultiplier: [1, 1] })).toThrow(/one value per inner width/);
    expect(() => parse({ architecture: "gated", dSae: 8 })).toThrow(/architecture/);
  });
});

describe("matryoshka levels", () => {
  it("weights inner levels geometrically by the balance multiplier (feature-hedging paper) or by an explicit list", () => {
    const geo = createSae(kernels, SaeConfigSchema.parse({ architecture: "matryoshka_batchtopk", dIn: 4, dSae: 24, k: 2, matryoshkaWidths: [4, 8, 12, 24], innerLossMultiplier: 0.5 }), { seed: 1 });
    expect(geo.levels.map((l) => [l.width, l.multiplier, l.lossName])).toEqual([[4, 0.125, "inner_mse_4"], [8, 0.25, "inner_mse_8"], [12, 0.5, "inner_mse_12"], [24, 1, "mse"]]);
    const list = createSae(kernels, SaeConfigSchema.parse({ architecture: "matryoshka_batchtopk", dIn: 4, dSae: 24, k: 2, matryoshkaWidths: [4, 24], innerLossMultiplier: [0.3] }), { seed: 1 });
    expect(list.levels.map((l) => l.multiplier)).toEqual([0.3, 1]);
  });
});

describe.each(COMBOS)("%s (%s)", (arch, tying) => {
  const cfg = smallConfig(arch, tying);

  it("config round-trips through JSON unchanged", () => {
    const parsed = SaeConfigSchema.parse(cfg);
    expect(SaeConfigSchema.parse(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
  });

  it("initialises as SAELens does: W_enc = W_dec^T, zero biases, decoder rows of the configured norm", () => {
    const sae = createSae(kernels, cfg, { seed: 3 });
    const want = sae.config.normalizeDecoder ? 1 : 0.1;
    for (let j = 0; j < D_SAE; j++) expect(Math.hypot(...sae.W_dec.subarray(j * D_IN, (j + 1) * D_IN))).toBeCloseTo(want, 5);
    const enc = sae.encoderWeights();
    for (let i = 0; i < D_IN; i++) for (let j = 0; j < D_SAE; j++) expect(enc[i * D_SAE + j]).toBe(sae.W_dec[j * D_IN + i]);
    expect(Array.from(sae.b_enc).every((v) => v === 0)).toBe(true);
    expect(sae.tied).toBe(tying === "tied" || tying === "tied_gain");
  });

  it("decode(encode(x)) equals a dense forward with the inference nonlinearity", () => {
    const sae = randomSae(cfg);
    sae.state.topkThreshold = 0.35;
    const x = randomBatch(11);
    const acts = sae.encode(x, BATCH);
    const y = sae.decode(acts);
    const W = denseEncoder(sae);
    const thr = sae.threshold;
    for (let b = 0; b < BATCH; b++) {
      const pre: number[] = [];
      for (let j = 0; j < D_SAE; j++) {
        let s = sae.b_enc[j]!;
        for (let i = 0; i < D_IN; i++) s += (x[b * D_IN + i]! - sae.b_dec[i]!) * W[i * D_SAE + j]!;
        pre.push(s);
      }
      let f: number[];
      if (arch === "standard") f = pre.map((v) => Math.max(v, 0));
      else if (arch === "topk") {
        const keep = pre.map((_, j) => j).sort((p, q) => pre[q]! - pre[p]!).slice(0, 3);
        f = pre.map((v, j) => (keep.includes(j) && v > 0 ? v : 0));
      } else f = pre.map((v, j) => (v > Math.max(0, thr![j]!) ? v : 0));
      for (let i = 0; i < D_IN; i++) {
        let v = sae.b_dec[i]!;
        for (let j = 0; j < D_SAE; j++) v += f[j]! * sae.W_dec[j * D_IN + i]!;
        expect(y[b * D_IN + i]).toBeCloseTo(v, 5);
      }
    }
    expect(acts.nnz).toBeGreaterThan(0);
  });

  it("one optimizer step lowers the loss on a fixed batch", () => {
    const sae = randomSae(cfg);
    const x = randomBatch(13);
    const grads = viewsOf(sae.layout, new Float32Array(sae.layout.size));
    const dead = deadMask();
    const lossNow = () =>
      forwardBackward({ kernels, sae, def: sae.def, levels: sae.levels, grads, ws: sae.workspace(BATCH), x, batch: BATCH, coefficient: 0.1, deadMask: dead, numDead: 4 }).result.loss;
    const before = lossNow();
    optimizerStep(kernels, sae, grads, adamState(sae), 1e-3, 1, { beta1: 0.9, beta2: 0.999, eps: 1e-8 });
    const after = lossNow();
    expect(after).toBeLessThan(before);
  });
});

describe("b_dec initialisation", () => {
  it("the geometric median minimises the summed distance (checked against perturbations)", () => {
    const x = randomBatch(5, 40, 3);
    for (let i = 0; i < 3; i++) x[i] = 50; // one far outlier pulls the mean but not the median
    const m = geometricMedian(x, 40, 3);
    const cost = (y: ArrayLike<number>) => {
      let s = 0;
      for (let r = 0; r < 40; r++) s += Math.hypot(x[r * 3]! - y[0]!, x[r * 3 + 1]! - y[1]!, x[r * 3 + 2]! - y[2]!);
      return s;
    };
    const c0 = cost(m);
    for (let k = 0; k < 3; k++) {
      for (const dlt of [1e-3, -1e-3]) {
        const y = Array.from(m);
        y[k]! += dlt;
        expect(cost(y)).toBeGreaterThan(c0);
      }
    }
    expect(Math.abs(m[0]!)).toBeLessThan(2);
  });
});
