/**
 * Mixed precision's selection in the training step (src/sae/bf16.ts): the bf16 encoder product only
 * proposes the latents, whose values are their pre-activations in fp32 and whose final choice is made
 * on those values. For every architecture x tying variant and every backend and ISA:
 * - each fired latent's value is its fp32 pre-activation, checked against a plain double loop written
 *   here over the step's xc and the weights, within the fp32 bound (n + 4) 2^-24 (sum |xc w| |gain| + |b|);
 * - the fired pattern is what the architecture's rule picks from those exact pre-activations (ReLU,
 *   jumprelu threshold, top k per row, batch top k), i.e. the fp32 choice;
 * - the native step equals the reference backend's emulated-bf16 step (pattern, losses, gradients).
 * And a hand-made case where the bf16 product ranks two latents the wrong way round: the step keeps
 * the right one, with its exact value.
 */
import { describe, expect, it } from "vitest";
import { availableKernels, backendLabel, parseIsa } from "../src/tensor/backend.js";
import { emptySparse, type Kernels } from "../src/tensor/kernels.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { Sae } from "../src/sae/model.js";
import { resolveSaeConfig, SaeConfigSchema } from "../src/sae/registry.js";
import { COMBOS, randomSae, smallConfig } from "./sae-fixtures.js";
import { expectStepsAgree, twinStep } from "./sae-grad-helpers.js";

const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));
const ref = referenceKernels();
const [dIn, dSae, batch] = [40, 96, 300];

/** The fp32 pre-activations [batch, dSae] of xc as plain double loops (rounded to float32), and each one's error scale. */
function exactPre(sae: Sae, xc: Float32Array): { pre: Float32Array; tol: Float64Array; tolBf16: Float64Array } {
  const p = sae.params;
  const pre = new Float32Array(batch * dSae), tol = new Float64Array(batch * dSae), tolBf16 = new Float64Array(batch * dSae);
  for (let r = 0; r < batch; r++) {
    for (let j = 0; j < dSae; j++) {
      let dot = 0, mag = 0;
      for (let q = 0; q < dIn; q++) {
        const w = p.W_enc ? p.W_enc[q * dSae + j]! : p.W_dec[j * dIn + q]!;
        dot += xc[r * dIn + q]! * w;
        mag += Math.abs(xc[r * dIn + q]! * w);
      }
      const g = p.encoder_gain ? p.encoder_gain[j]! : 1;
      pre[r * dSae + j] = dot * g + p.b_enc[j]!;
      tol[r * dSae + j] = (dIn + 4) * 2 ** -24 * (mag * Math.abs(g) + Math.abs(p.b_enc[j]!));
      // The bf16 product's own error: both factors rounded with relative error <= 2^-8.
      tolBf16[r * dSae + j] = tol[r * dSae + j]! + (2 * 2 ** -8 + 2 ** -16) * mag * Math.abs(g);
    }
  }
  return { pre, tol, tolBf16 };
}

/** The (row, column) pairs the architecture's rule keeps from pre, as "r:j" strings (written here from the rules' definitions). */
function rulePattern(sae: Sae, pre: Float32Array): Set<string> {
  const cfg = sae.config as unknown as { architecture: string; k?: number };
  const keep = new Set<string>();
  const all = Array.from({ length: batch * dSae }, (_, i) => i).filter((i) => pre[i]! > 0);
  if (cfg.architecture === "standard") all.forEach((i) => keep.add(`${Math.floor(i / dSae)}:${i % dSae}`));
  else if (cfg.architecture === "jumprelu") {
    const t = sae.params.threshold!;
    all.filter((i) => pre[i]! > Math.max(0, t[i % dSae]!)).forEach((i) => keep.add(`${Math.floor(i / dSae)}:${i % dSae}`));
  } else if (cfg.architecture === "topk") {
    for (let r = 0; r < batch; r++) {
      const row = all.filter((i) => Math.floor(i / dSae) === r).sort((x, y) => pre[y]! - pre[x]! || x - y);
      row.slice(0, cfg.k).forEach((i) => keep.add(`${r}:${i % dSae}`));
    }
  } else {
    all.sort((x, y) => pre[y]! - pre[x]! || x - y);
    all.slice(0, Math.floor(cfg.k! * batch)).forEach((i) => keep.add(`${Math.floor(i / dSae)}:${i % dSae}`));
  }
  return keep;
}

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: the bf16 step", (_name, K: Kernels) => {
  it.each(COMBOS)("%s (%s): fired values are fp32 pre-activations, the pattern the fp32 rule's, as the reference's step", (arch, tying) => {
    const over = { dIn, dSae, ...(arch === "matryoshka_batchtopk" ? { matryoshkaWidths: [16, 48, dSae] } : {}), ...(arch.includes("topk") ? { k: 8 } : {}) };
    const sae = randomSae(smallConfig(arch, tying, over));
    const x = new Rng(5).fillNormal(new Float32Array(batch * dIn), 0.2, 1);
    const dead = new Uint8Array(dSae);
    for (let j = Math.floor((2 * dSae) / 3); j < dSae; j++) dead[j] = 1;
    const got = twinStep(K, sae, x, batch, dead, Infinity, true);
    const acts = got.ws.acts;
    const { pre, tol, tolBf16 } = exactPre(sae, got.ws.xc);
    const pattern = new Set<string>();
    for (let r = 0; r < batch; r++) {
      for (let e = acts.rowPtr[r]!; e < acts.rowPtr[r + 1]!; e++) {
        const j = acts.colIdx[e]!;
        pattern.add(`${r}:${j}`);
        const i = r * dSae + j;
        if (!(Math.abs(acts.values[e]! - pre[i]!) <= tol[i]!)) expect.fail(`latent (${r}, ${j}) has ${acts.values[e]}, its fp32 pre-activation is ${pre[i]}`);
      }
    }
    const want = rulePattern(sae, pre);
    expect([...pattern].filter((p) => !want.has(p)), "fired but not chosen by the rule").toEqual([]);
    // A latent above its threshold by less than the bf16 product's error may not be proposed (only the
    // threshold rules: top-k candidates come with a margin); any other is a bug.
    const cut = (i: number) => (arch === "jumprelu" ? Math.max(0, sae.params.threshold![i % dSae]!) : 0);
    const missed = [...want].filter((p) => !pattern.has(p)).map((p) => p.split(":").map(Number) as [number, number]);
    const unexplained = missed.filter(([r, j]) => !(arch === "standard" || arch === "jumprelu") || pre[r * dSae + j]! - cut(r * dSae + j) > tolBf16[r * dSae + j]!);
    expect(unexplained, "chosen by the rule but not fired").toEqual([]);
    expect(missed.length, "missed near the threshold").toBeLessThanOrEqual(0.01 * want.size);
    if (K !== ref) {
      const twin = twinStep(ref, sae, x, batch, dead, Infinity, true);
      expect(got.result.l0).toBe(twin.result.l0);
      expectStepsAgree(got, twin);
    }
  });

  it("keeps the latent that fp32 ranks first where the bf16 product ranks it second", () => {
    // x = [1, 0]; latent 0's weight 1 + 3 2^-10 rounds to 1 in bf16, latent 1's bias 2^-9 is added in
    // fp32: bf16 pre-activations 1 and 1 + 2^-9, exact ones 1 + 3 2^-10 and 1 + 2^-9.
    const cfg = SaeConfigSchema.parse({ architecture: "topk", dIn: 2, dSae: 2, k: 1, applyBDecToInput: false });
    const sae = new Sae(K, resolveSaeConfig(cfg, 2));
    const p = sae.params;
    p.W_enc!.set([1 + 3 * 2 ** -10, 1, 0, 0]);
    p.b_enc.set([0, 2 ** -9]);
    p.W_dec.set([1, 0, 0, 1]);
    p.b_dec.fill(0);
    const x = Float32Array.from([1, 0]);
    const proposed = emptySparse(1, 2, 2);
    K.encode({ x, rows: 1, n: 2, cols: 2, xc: new Float32Array(2), w: p.W_enc!, bias: p.b_enc, pre: new Float32Array(2), select: { kind: "topk", k: 1 }, out: proposed, bf16: true });
    expect(Array.from(proposed.colIdx.subarray(0, proposed.nnz))).toEqual([1]); // the premise: bf16 alone picks latent 1
    const step = twinStep(K, sae, x, 1, new Uint8Array(2), Infinity, true);
    const a = step.ws.acts;
    expect([a.nnz, a.colIdx[0], a.values[0]]).toEqual([1, 0, Math.fround(1 + 3 * 2 ** -10)]);
  });

  it("keeps a latent that bf16 rounds to zero or below where fewer than k are positive", () => {
    // k = 2, x = [1, 0]: latent 0's pre-activation is 1; latent 1's weight 1 + 3 2^-10 rounds to 1 in
    // bf16 and its bias is -1 - 2^-10, so bf16 gives it -2^-10 (not positive) and fp32 2^-9.
    const cfg = SaeConfigSchema.parse({ architecture: "topk", dIn: 2, dSae: 3, k: 2, applyBDecToInput: false });
    const sae = new Sae(K, resolveSaeConfig(cfg, 2));
    const p = sae.params;
    p.W_enc!.set([1, 1 + 3 * 2 ** -10, 0, 0, 0, 0]);
    p.b_enc.set([0, -1 - 2 ** -10, -1]);
    p.W_dec.set([1, 0, 0, 1, 1, 1]);
    p.b_dec.fill(0);
    const x = Float32Array.from([1, 0]);
    const proposed = emptySparse(1, 3, 2);
    K.encode({ x, rows: 1, n: 2, cols: 3, xc: new Float32Array(2), w: p.W_enc!, bias: p.b_enc, pre: new Float32Array(3), select: { kind: "topk", k: 2 }, out: proposed, bf16: true });
    expect(Array.from(proposed.colIdx.subarray(0, proposed.nnz))).toEqual([0]); // the premise
    const a = twinStep(K, sae, x, 1, new Uint8Array(3), Infinity, true).ws.acts;
    expect([a.nnz, Array.from(a.colIdx.subarray(0, 2)), Array.from(a.values.subarray(0, 2))]).toEqual([2, [0, 1], [1, 2 ** -9]]);
  });
});
