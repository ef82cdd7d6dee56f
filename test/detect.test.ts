/**
 * The no-ground-truth detector and the un-absorption transform on hand-built SAEs, where every signal
 * has a value worked out by hand: an SAE that recovers the features exactly (no pairs, no holes, the
 * hierarchy from co-firing alone) and one built to absorb child 1 into the parent (issue 4's
 * construction: absorber row f_parent + f_child, parent encoder f_parent - f_child).
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, UserError } from "../src/errors.js";
import { Rng } from "../src/tensor/rng.js";
import { detectAbsorption } from "../src/detect/detect.js";
import { planMitigation, unabsorb, type MitigationPlan } from "../src/detect/mitigate.js";
import { choleskySolve, refitSae } from "../src/detect/refit.js";
import { evaluateSae } from "../src/metrics/evaluate.js";
import { loadSaelensSae, saveSaelensSae } from "../src/io/saelens.js";
import type { SaeModel } from "../src/sae/types.js";
import { kernels } from "./sae-fixtures.js";
import { handSae } from "./helpers/hand-sae.js";
import { handBatch, handWorld, repeat } from "./helpers/hand-world.js";
import { D, absorbing, add, batch, batches, clean, e, scale, world } from "./helpers/absorbing-hand.js";

function reconstruct(sae: SaeModel, x: Float32Array): Float32Array {
  return sae.decode(sae.encode(x, x.length / sae.dIn));
}

function activation(sae: SaeModel, x: Float32Array, row: number, latent: number): number {
  const s = sae.encode(x, x.length / sae.dIn);
  for (let k = s.rowPtr[row]!; k < s.rowPtr[row + 1]!; k++) if (s.colIdx[k] === latent) return s.values[k]!;
  return 0;
}

describe("detectAbsorption on hand-built SAEs", () => {
  it("finds nothing in an SAE that recovers the features, and the hierarchy from co-firing alone", () => {
    const det = detectAbsorption(clean, batches, {}, kernels);
    expect(det.pairs).toEqual([]);
    expect(det.summary.confidentPairs).toBe(0);
    for (const l of det.latents) expect(l.holeRate).toBe(0);
    // Latent 0 fires whenever 1, 2 or 3 does, not the reverse, and far above its base rate.
    expect(det.hierarchy.edges.map((h) => [h.parent, h.child, h.evidence])).toEqual([
      [0, 1, ["co-firing"]],
      [0, 2, ["co-firing"]],
      [0, 3, ["co-firing"]],
    ]);
    expect(det.hierarchy.roots).toEqual([0]);
  });

  it("scores the absorbed pair with the values worked out by hand", () => {
    const det = detectAbsorption(absorbing, batches, {}, kernels);
    expect(det.pairs).toHaveLength(1);
    const p = det.pairs[0]!;
    expect([p.parent, p.absorber, p.kind, p.confident]).toEqual([0, 1, "absorption", true]);
    // Parent present at its usual level (1) on all 30 child-1 inputs, silent, carried by the absorber.
    expect(p.score).toBeCloseTo(1, 6);
    expect(p.decoderCos).toBeCloseTo(Math.SQRT1_2, 6);
    expect(p.encoderCarve).toBeCloseTo(-Math.SQRT1_2, 6);
    expect(p.parentComponent).toBeCloseTo(1, 6);
    expect(p.parentEncoderDecoderCos).toBeCloseTo(Math.SQRT1_2, 6);
    expect([p.nAbsorberFires, p.presentShare, p.parentSilent, p.coFiring]).toEqual([30, 1, 1, 0]);
    expect(p.carriedShare).toBeCloseTo(1, 6);
    expect(p.parentSilentBaseline).toBe(0);
    // The reverse reading (latent 1 as parent) sees its direction at half its level on parent inputs: absent.
    expect(p.reverseScore).toBe(0);
    const holes = det.latents.find((l) => l.latent === 0)!;
    expect(holes.nPresent).toBe(165);
    expect(holes.absorbedHoleRate).toBeCloseTo(30 / 165, 9);
    expect(holes.topCarriers).toEqual([{ latent: 1, share: 1 }]);
    expect(det.hierarchy.edges.find((h) => h.child === 1)).toMatchObject({ parent: 0, evidence: ["absorption"] });
  });

  it("marks two absorbers that overlap only through their shared parent as siblings", () => {
    const w = handWorld({ features: [e(0), e(1), e(2)], parent: [-1, 0, 0], mutuallyExclusive: [0] });
    const b = handBatch(w, [...repeat([{ 0: 1 }], 30), ...repeat([{ 0: 1, 1: 1 }], 30), ...repeat([{ 0: 1, 2: 1 }], 30)]);
    const sae = handSae({
      encoder: [add(e(0), scale(e(1), -1), scale(e(2), -1)), e(1), e(2)],
      decoder: [e(0), add(e(0), e(1)), add(e(0), e(2))],
    });
    // At presence 0.4 the absorbers' rows (cosine 0.5) see each other's direction; only the parent explains it.
    const det = detectAbsorption(sae, [b.acts], { presence: 0.4 }, kernels);
    const byPair = new Map(det.pairs.map((p) => [`${p.parent}:${p.absorber}`, p]));
    expect(det.pairs.filter((p) => p.confident).map((p) => [p.parent, p.absorber])).toEqual([
      [0, 1],
      [0, 2],
    ]);
    const sib = byPair.get("1:2") ?? byPair.get("2:1");
    expect(sib).toMatchObject({ kind: "sibling", confident: false, sharedParent: 0 });
  });

  it("does not take a latent whose encoder does not read its decoder direction as a parent", () => {
    const sae = handSae({
      encoder: [add(e(0), scale(e(1), -1)), e(1), e(2), e(3), e(4), e(5), e(6), e(7)].map((v, j) => (j === 0 ? add(scale(v, 0.1), e(9)) : v)),
      decoder: [e(0), add(e(0), e(1)), e(2), e(3), e(4), e(5), e(6), e(7)],
    });
    const det = detectAbsorption(sae, batches, {}, kernels);
    expect(det.pairs[0]).toMatchObject({ parent: 0, absorber: 1, kind: "not-a-detector", confident: false });
  });

  it("rejects unknown options and non-finite inputs", () => {
    expect(() => detectAbsorption(clean, batches, { presense: 0.5 } as never, kernels)).toThrow(ConfigError);
    const bad = Float32Array.from(batch.acts);
    bad[5] = Number.NaN;
    expect(() => detectAbsorption(clean, [bad], {}, kernels)).toThrow(/activation 5 of row 0 is NaN/);
  });
});

describe("un-absorption", () => {
  const plan: MitigationPlan = planMitigation(detectAbsorption(absorbing, batches, {}, kernels));

  it("plans the detected pair and keeps every reconstruction (also on inputs off the world)", () => {
    expect(plan.transfers).toEqual([{ absorber: 1, parents: [0], weights: [1], score: expect.closeTo(1, 6) as number }]);
    const w = unabsorb(absorbing, plan, kernels);
    expect(w.transfers[0]).toMatchObject({ coefficients: [expect.closeTo(1, 6)], scale: expect.closeTo(Math.SQRT1_2, 6) });
    const rng = new Rng(3);
    const random = new Float32Array(200 * D);
    rng.fillNormal(random, 0, 1);
    for (const x of [batch.acts, random]) {
      const a = reconstruct(absorbing, x);
      const b = reconstruct(w, x);
      for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThan(1e-5);
    }
    // The absorber's new row is the child alone, at the old norm.
    scale(e(1), Math.SQRT2).forEach((v, i) => expect(w.W_dec[D + i]!).toBeCloseTo(v, 6));
  });

  it("closes the parent's recall holes: it fires on child-1 inputs, and ground-truth full absorption drops from 1 to 0", () => {
    const w = unabsorb(absorbing, plan, kernels);
    expect(activation(absorbing, batch.acts, 60, 0)).toBe(0);
    expect(activation(w, batch.acts, 60, 0)).toBeCloseTo(1, 6);
    const after = detectAbsorption(w, batches, {}, kernels);
    expect(after.summary.confidentPairs).toBe(0);
    expect(after.latents.find((l) => l.latent === 0)!.holeRate).toBe(0);
    const edge = (sae: SaeModel) => evaluateSae(sae, world, [batch]).absorption.parents[0]!.edges.find((x) => x.child === 1)!.fullAbsorption;
    expect(edge(absorbing)).toBe(1);
    expect(edge(w)).toBe(0);
  });

  it("refits the parent's encoder into a plain SAE that SAELens's formula runs, and saves it", () => {
    const w = unabsorb(absorbing, plan, kernels);
    const { sae, fidelity } = refitSae(w, batches, kernels);
    expect(sae.architecture).toBe("standard");
    expect(sae.tied).toBe(false);
    expect(fidelity.parents).toHaveLength(1);
    expect(fidelity.parents[0]!.r2!).toBeGreaterThan(0.999);
    expect(fidelity.mseExact).toBeLessThan(1e-10);
    expect(fidelity.mseRefit).toBeLessThan(1e-4);
    expect(activation(sae, batch.acts, 60, 0)).toBeCloseTo(1, 2);
    expect(evaluateSae(sae, world, [batch]).absorption.parents[0]!.edges.find((x) => x.child === 1)!.fullAbsorption).toBe(0);
    const dir = join(mkdtempSync(join(tmpdir(), "saelab-detect-")), "unabsorbed");
    saveSaelensSae(dir, sae);
    const back = loadSaelensSae(dir, kernels).sae;
    expect(Array.from(reconstruct(back, batch.acts))).toEqual(Array.from(reconstruct(sae, batch.acts)));
  });

  it("refuses transfers that chain, repeat an absorber or name missing latents, and topk SAEs for saving", () => {
    const t = (absorber: number, parents: number[]) => ({ absorber, parents, weights: parents.map(() => 1 / parents.length), score: 1 });
    expect(() => unabsorb(absorbing, { transfers: [t(1, [0]), t(1, [2])], skipped: [] })).toThrow(/absorber of two/);
    expect(() => unabsorb(absorbing, { transfers: [t(1, [0]), t(0, [2])], skipped: [] })).toThrow(/chain/);
    expect(() => unabsorb(absorbing, { transfers: [t(1, [40])], skipped: [] })).toThrow(/does not exist/);
    const topk = handSae({ encoder: [e(0), e(1)], decoder: [e(0), add(e(0), e(1))], architecture: "topk" });
    expect(() => refitSae(unabsorb(topk, { transfers: [t(1, [0])], skipped: [] }), batches, kernels)).toThrow(UserError);
  });

  it("solves a positive definite system exactly (the refit's Cholesky)", () => {
    const H = Float64Array.from([4, 2, 0, 2, 3, 1, 0, 1, 2]);
    const x = choleskySolve(H, Float64Array.from([2, 5, 3]), 3)!;
    const back = [0, 1, 2].map((i) => [0, 1, 2].reduce((s, j) => s + H[i * 3 + j]! * x[j]!, 0));
    back.forEach((v, i) => expect(v).toBeCloseTo([2, 5, 3][i]!, 12));
    expect(choleskySolve(Float64Array.from([1, 2, 2, 1]), Float64Array.from([1, 1]), 2)).toBeNull();
  });
});
