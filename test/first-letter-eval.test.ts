/**
 * The first-letter eval on constructed activations with planted truth: six letters with orthogonal
 * directions, a hand-built SAE with one main latent per letter, and chosen test words absorbed into
 * word latents (fully: the main latent is silent; partially: it fires weakly).
 */
import { describe, expect, it } from "vitest";
import { AbsorptionEvalConfigSchema, ProbeSettingsSchema } from "../src/experiments/first-letter-config.js";
import { evaluateFirstLetter, trainLetterProbe, type WordRows } from "../src/experiments/first-letter-eval.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { handSae } from "./helpers/hand-sae.js";

const NL = 6; // letters a..f
const PER = 40; // words per letter: 32 train, 8 test
const FULL: Record<number, number[]> = { 0: [32, 33, 34, 35], 1: [32, 33] }; // letter -> fully absorbed test word numbers
const PARTIAL: Record<number, number[]> = { 0: [36, 37] };
const absorbed = [...Object.entries(FULL), ...Object.entries(PARTIAL)].flatMap(([c, ws]) => ws.map((w) => ({ c: Number(c), w, full: (FULL[Number(c)] ?? []).includes(w) })));
const NOISE = 16;
const D = NL + absorbed.length + NOISE;
const unit = (i: number): number[] => Array.from({ length: D }, (_, k) => (k === i ? 1 : 0));
const vDim = (c: number, w: number) => NL + absorbed.findIndex((a) => a.c === c && a.w === w);

function world() {
  const rng = new Rng(3);
  const rows = (part: "train" | "test"): WordRows => {
    const acts: number[] = [];
    const words: string[] = [];
    const labels: number[] = [];
    for (let c = 0; c < NL; c++) {
      for (let w = part === "train" ? 0 : 32; w < (part === "train" ? 32 : PER); w++) {
        const x = unit(c);
        for (let k = 0; k < NOISE; k++) x[NL + absorbed.length + k] = 0.1 * rng.normal();
        const a = absorbed.find((e) => e.c === c && e.w === w);
        if (part === "test" && a) x[vDim(c, w)] = 1;
        acts.push(...x);
        words.push(` ${"abcdef"[c]}w${w}`);
        labels.push(c);
      }
    }
    return { acts: Float32Array.from(acts), words, labels: Int32Array.from(labels) };
  };
  const enc: number[][] = [];
  const dec: number[][] = [];
  const b: number[] = [];
  for (let c = 0; c < NL; c++) {
    const e = unit(c);
    for (const a of absorbed) if (a.c === c) e[vDim(c, a.w)] = a.full ? -2 : -0.5;
    enc.push(e);
    dec.push(unit(c));
    b.push(-0.3);
  }
  for (const a of absorbed) {
    const e = unit(vDim(a.c, a.w)).map((v) => 2 * v);
    const d = unit(a.c).map((v, k) => (v + (k === vDim(a.c, a.w) ? 1 : 0)) / Math.SQRT2);
    enc.push(e);
    dec.push(d);
    b.push(-1);
  }
  for (let k = 0; k < NOISE; k++) {
    enc.push(unit(NL + absorbed.length + k));
    dec.push(unit(NL + absorbed.length + k));
    b.push(-0.2);
  }
  return { train: rows("train"), test: rows("test"), sae: handSae({ encoder: enc, decoder: dec, b_enc: b }) };
}

describe("first-letter eval on planted truth", () => {
  const kernels = referenceKernels();
  const { train, test, sae } = world();
  const cfg = AbsorptionEvalConfigSchema.parse({ min_feats_for_eval: NL, k_sparse_probe_batch_size: 32, max_k_value: 4 });
  const settings = ProbeSettingsSchema.parse({ probe_batch_size: 16 });
  const gt = trainLetterProbe(kernels, train, test, D, settings, 42);
  const res = evaluateFirstLetter(kernels, sae, train, test, test.acts, gt, cfg);

  it("probes the planted letters perfectly and skips the letters without words", () => {
    expect(res.letters.map((l) => l.letter)).toEqual(["a", "b", "c", "d", "e", "f"]);
    for (const l of res.letters) expect(l.probeF1).toBe(1);
    expect(res.skipped.map((s) => s.letter).join("")).toBe("ghijklmnopqrstuvwxyz");
    expect(res.enoughLetters).toBe(true);
  });

  it("k-sparse probing finds each letter's main latent and the F1-jump rule stops at k = 1", () => {
    res.letters.forEach((l, c) => {
      expect(l.kSparse[0]!.feats).toEqual([c]);
      expect(l.splitFeats).toEqual([c]);
      expect(l.numSplitFeatures).toBe(1);
    });
  });

  it("recovers the absorbed words, their absorbers and the full-absorption rates exactly", () => {
    const a = res.letters[0]!;
    const bl = res.letters[1]!;
    expect(a.numProbeTruePositives).toBe(8);
    expect(a.words.filter((w) => w.isFullAbsorption).map((w) => w.word)).toEqual([" aw32", " aw33", " aw34", " aw35"]);
    expect(a.fullAbsorptionRate).toBe(0.5);
    expect(bl.fullAbsorptionRate).toBe(0.25);
    for (const l of res.letters.slice(2)) expect(l.fullAbsorptionRate).toBe(0);
    const absorberOf = (c: number, w: number) => NL + absorbed.findIndex((e) => e.c === c && e.w === w);
    expect(a.absorbers.map((x) => x.latent).sort((p, q) => p - q)).toEqual([32, 33, 34, 35, 36, 37].map((w) => absorberOf(0, w)));
    expect(a.absorbers.find((x) => x.latent === absorberOf(0, 32))!.fullWords).toEqual([" aw32"]);
    expect(res.mean!.mean_full_absorption_score).toBeCloseTo((0.5 + 0.25) / 6, 12);
    expect(res.mean!.mean_num_split_features).toBe(1);
  });

  it("absorption fractions: 1 for full absorption, the planted share for partial, 0 elsewhere", () => {
    const a = res.letters[0]!;
    const frac = Object.fromEntries(a.words.map((w) => [w.word, w.absorptionFraction]));
    for (const w of [32, 33, 34, 35]) expect(frac[` aw${w}`]).toBe(1);
    for (const w of [38, 39]) expect(frac[` aw${w}`]).toBe(0);
    // Partial words: main latent fires at 1 - 0.5 - 0.3 = 0.2 along u_a, the absorber at 2 - 1 = 1 along (u_a + v)/sqrt 2.
    // With the true direction as the probe: fraction = (1/sqrt 2) / (1/sqrt 2 + 0.2). The learned probe is close to u_a.
    const planted = Math.SQRT1_2 / (Math.SQRT1_2 + 0.2);
    for (const w of [36, 37]) expect(Math.abs(frac[` aw${w}`]! - planted)).toBeLessThan(0.05);
    // Exactly, with the learned probe direction p: recompute SAEBench's formula in plain loops.
    const p = Array.from(gt.probe.weights.subarray(0, D));
    const pn = Math.hypot(...p);
    const cosU = p[0]! / pn;
    for (const w of [36, 37]) {
      const i = test.words.indexOf(` aw${w}`);
      const x = Array.from(test.acts.subarray(i * D, (i + 1) * D));
      const proj = x.reduce((s, v, k) => s + v * p[k]!, 0) / pn;
      const mainProj = 0.2 * cosU;
      const vd = vDim(0, w);
      const absProj = 1 * ((p[0]! + p[vd]!) / Math.SQRT2 / pn);
      const absorbedProj = Math.min(absProj, proj - mainProj);
      expect(frac[` aw${w}`]).toBeCloseTo(absorbedProj / (absorbedProj + mainProj), 5);
    }
    const expectedMean = (4 + 2 * frac[" aw36"]! / 2 + 2 * frac[" aw37"]! / 2) / 8;
    expect(a.meanAbsorptionFraction).toBeCloseTo(expectedMean, 10);
  });

  it("reports too few letters when fewer than min_feats_for_eval pass", () => {
    const strict = evaluateFirstLetter(kernels, sae, train, test, test.acts, gt, { ...cfg, min_feats_for_eval: 20 });
    expect(strict.enoughLetters).toBe(false);
    expect(strict.letters.length).toBe(6);
  });
});

describe("SAEBench JSON of the planted eval", () => {
  it("validates against SAEBench's published schema, and the validator rejects a broken copy", async () => {
    const { saebenchOutput } = await import("../src/experiments/first-letter-run.js");
    const { absorptionSchemaErrors } = await import("./helpers/saebench-schema.js");
    const kernels = referenceKernels();
    const { train, test, sae } = world();
    const cfg = AbsorptionEvalConfigSchema.parse({ min_feats_for_eval: NL, k_sparse_probe_batch_size: 32, max_k_value: 4, model_name: "planted" });
    const gt = trainLetterProbe(kernels, train, test, D, ProbeSettingsSchema.parse({ probe_batch_size: 16 }), 42);
    const res = evaluateFirstLetter(kernels, sae, train, test, test.acts, gt, cfg);
    const out = saebenchOutput(res, cfg, { architecture: "standard" }, {})!;
    expect(absorptionSchemaErrors(JSON.parse(JSON.stringify(out)))).toEqual([]);
    expect(out.eval_type_id).toBe("absorption_first_letter");
    const details = out.eval_result_details as { first_letter: string; num_full_absorption: number }[];
    expect(details.map((d) => d.first_letter).join("")).toBe("abcdef");
    expect(details[0]!.num_full_absorption).toBe(4);
    const broken = { ...out, eval_result_metrics: { mean: { mean_absorption_fraction_score: "high" } } };
    expect(absorptionSchemaErrors(broken).length).toBeGreaterThan(0);
    expect(saebenchOutput({ ...res, enoughLetters: false }, cfg, {}, {})).toBeNull();
  });
});
