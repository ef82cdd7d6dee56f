/**
 * JumpReLU's optional SAELens terms, for every tying variant on both the sparse and the dense path:
 * the tanh sparsity penalty (jumpreluSparsityLossMode "tanh") and the pre-activation loss on dead
 * latents (preActLossCoefficient). Same method as test/sae-grad.test.ts: losses against the dense
 * float64 reference (test/sae-reference.ts), every non-threshold gradient against central finite
 * differences where the sparsity pattern (fired latents, STE window, dead entries below threshold)
 * is unchanged at +-h, tolerance |analytic - fd| <= 2e-3 + 1e-2 * |fd|. The threshold gradient is
 * the straight-through estimate plus the pre-activation loss's exact derivative; the latter alone is
 * what finite differences in the threshold see (the other terms are flat in it between crossings).
 * Each case also checks that the term moves the gradient well beyond the tolerance, so a dropped
 * gradient would fail.
 */
import { describe, expect, it } from "vitest";
import type { SparseRows } from "../src/tensor/kernels.js";
import { Sae } from "../src/sae/model.js";
import { JumpReLUConfigSchema, jumprelu } from "../src/sae/jumprelu.js";
import { SaeConfigSchema, TYING_VARIANTS } from "../src/sae/registry.js";
import { createTrainer, train } from "../src/train/trainer.js";
import { stepStream } from "../src/train/stream.js";
import { TrainConfigSchema } from "../src/train/config.js";
import type { TrainEvent } from "../src/train/events.js";
import { Rng } from "../src/tensor/rng.js";
import { loadNativeAddon, nativeKernels } from "../src/tensor/native.js";
import { COEF, PATHS, expectStepsAgree, finiteDiffSweep, parameterIndices, run, twinStep, type Path } from "./sae-grad-helpers.js";
import { BATCH, D_SAE, deadMask, kernels, randomBatch, randomSae, smallConfig } from "./sae-fixtures.js";
import { densePre, referenceLosses, referencePreAct, referencePreActThresholdGrad, referenceThresholdGrad } from "./sae-reference.js";

const MODES = {
  tanh: { jumpreluSparsityLossMode: "tanh", jumpreluTanhScale: 0.7 },
  "step+preAct": { preActLossCoefficient: 0.3 },
  "tanh+preAct": { jumpreluSparsityLossMode: "tanh", jumpreluTanhScale: 0.7, preActLossCoefficient: 0.3 },
} as const;
type Mode = keyof typeof MODES;

/** Returns a copy of `sae` with config changes (same parameters). */
function withConfig(sae: Sae, over: Record<string, unknown>): Sae {
  return new Sae(kernels, SaeConfigSchema.parse({ ...sae.config, ...over }) as never, Float32Array.from(sae.params.buffer));
}

const CASES = (Object.keys(MODES) as Mode[]).flatMap((m) => TYING_VARIANTS.flatMap((t) => PATHS.map((p): [Mode, string, Path] => [m, t, p])));

describe.each(CASES)("jumprelu %s (%s), %s path", (mode, tying, path) => {
  const sae = randomSae(smallConfig("jumprelu", tying as never, MODES[mode]));
  const x = randomBatch();
  const dead = deadMask();
  const thr = sae.layout.entries.find((e) => e.name === "threshold")!;

  it("loss terms match the dense float64 reference", () => {
    const { result, ws } = run(sae, x, dead, path);
    expect(ws.scratch.has("dense:BD")).toBe(path === "dense" && tying !== "tied_gain");
    const ref = referenceLosses(sae, x, BATCH, COEF, dead);
    expect(Object.keys(result.losses).sort()).toEqual(Object.keys(ref).sort());
    expect(Object.keys(ref)).toContain(mode.includes("preAct") ? "pre_act" : "l0");
    for (const [k, v] of Object.entries(ref)) expect(result.losses[k]).toBeCloseTo(v, 4);
    if (mode.includes("preAct")) expect(result.losses.pre_act).toBeGreaterThan(0.05);
  });

  it("backward matches central finite differences, and the new terms matter", () => {
    const { grads } = run(sae, x, dead, path);
    const analytic = Float32Array.from(grads.buffer);
    const lossAt = () => run(sae, x, dead, path).result.loss;
    const { bad, checked, candidates } = finiteDiffSweep(sae, x, dead, analytic, parameterIndices(sae, new Set(["threshold"])), lossAt, 5e-3);
    expect(bad).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(0.8 * candidates);
    // Against the plain step-mode SAE with the same parameters, the gradient moves well past the tolerance.
    const plain = run(withConfig(sae, { jumpreluSparsityLossMode: "step", preActLossCoefficient: undefined }), x, dead, path).grads.buffer;
    let moved = 0;
    for (let i = 0; i < plain.length; i++) if (i < thr.offset || i >= thr.offset + D_SAE) moved = Math.max(moved, Math.abs(plain[i]! - analytic[i]!));
    expect(moved).toBeGreaterThan(2e-2);
  });

  it("threshold gradient = SAELens's straight-through estimate + the pre-activation loss's exact derivative", () => {
    const { grads } = run(sae, x, dead, path);
    const ste = referenceThresholdGrad(sae, x, BATCH, COEF);
    const exact = referencePreActThresholdGrad(sae, x, BATCH, dead);
    for (let j = 0; j < D_SAE; j++) expect(grads.threshold![j]).toBeCloseTo(ste[j]! + exact[j]!, 4);
    if (mode.includes("preAct")) expect(exact.some((v) => v > 0.05)).toBe(true);
    if (mode.includes("tanh")) {
      // The tanh penalty's dL/df enters the window's estimate: without it the estimate differs.
      const stepSte = referenceThresholdGrad(withConfig(sae, { jumpreluSparsityLossMode: "step" }), x, BATCH, COEF);
      const cfg = sae.config;
      if (cfg.architecture !== "jumprelu") throw new Error("jumprelu only");
      const stepL0 = new Float64Array(D_SAE);
      const win = run(sae, x, dead, "sparse").ws.scratch.get("jumprelu:window") as SparseRows;
      for (let e = 0; e < win.nnz; e++) stepL0[win.colIdx[e]!]! += COEF / BATCH / cfg.jumpreluBandwidth;
      let diff = 0;
      for (let j = 0; j < D_SAE; j++) diff = Math.max(diff, Math.abs(stepSte[j]! + stepL0[j]! - ste[j]!));
      expect(diff).toBeGreaterThan(1e-3);
    }
    // Finite differences in the threshold see only the pre-activation loss (the rest is flat between crossings).
    const thresholds = Array.from({ length: D_SAE }, (_, j): [string, number] => [`threshold[${j}]`, thr.offset + j]);
    const fd = finiteDiffSweep(sae, x, dead, grads.buffer, thresholds, () => run(sae, x, dead, path).result.loss, 1e-3, (i) => exact[i - thr.offset]!);
    expect(fd.bad).toEqual([]);
    const checked = fd.checked;
    expect(checked).toBeGreaterThanOrEqual(D_SAE / 2);
  });
});

const loaded = loadNativeAddon();
const native = "addon" in loaded ? nativeKernels(loaded.addon) : null;

describe.skipIf(!native)("jumprelu options: native step = reference step at a blocked size", () => {
  const [dIn, dSae, batch] = [40, 96, 300];
  it.each((Object.keys(MODES) as Mode[]).flatMap((m) => (["untied", "tied"] as const).flatMap((t) => PATHS.map((p): [Mode, string, Path] => [m, t, p]))))("%s (%s), %s path", (mode, tying, path) => {
    const sae = randomSae(smallConfig("jumprelu", tying as never, { ...MODES[mode], dIn, dSae }));
    const x = new Rng(5).fillNormal(new Float32Array(batch * dIn), 0.2, 1);
    const dead = new Uint8Array(dSae);
    for (let j = 64; j < dSae; j++) dead[j] = 1;
    const denseAbove = path === "dense" ? 0 : Infinity;
    expectStepsAgree(twinStep(native!, sae, x, batch, dead, denseAbove), twinStep(kernels, sae, x, batch, dead, denseAbove));
  });
});

describe("jumprelu config: SAELens options", () => {
  it("defaults to SAELens's (step mode, tanh scale 4, no pre-activation loss, threshold 0.01, bandwidth 0.05)", () => {
    const cfg = JumpReLUConfigSchema.parse({ architecture: "jumprelu", dSae: 8 });
    expect(cfg).toMatchObject({ jumpreluSparsityLossMode: "step", jumpreluTanhScale: 4, jumpreluInitThreshold: 0.01, jumpreluBandwidth: 0.05 });
    expect(cfg.preActLossCoefficient).toBeUndefined();
    expect(jumprelu.saelens.trainingDetails(cfg)).toEqual({
      jumprelu_init_threshold: 0.01, jumprelu_bandwidth: 0.05, jumprelu_sparsity_loss_mode: "step", l0_coefficient: 1, l0_warm_up_steps: 0,
      pre_act_loss_coefficient: null, jumprelu_tanh_scale: 4,
    });
    const tanh = JumpReLUConfigSchema.parse({ architecture: "jumprelu", dSae: 8, jumpreluSparsityLossMode: "tanh", jumpreluTanhScale: 2, preActLossCoefficient: 3e-6 });
    expect(jumprelu.saelens.trainingDetails(tanh)).toMatchObject({ jumprelu_sparsity_loss_mode: "tanh", jumprelu_tanh_scale: 2, pre_act_loss_coefficient: 3e-6 });
  });

  it("rejects an unknown mode, a non-positive tanh scale and a negative pre-activation coefficient, naming the field", () => {
    const bad = (over: Record<string, unknown>) => JumpReLUConfigSchema.safeParse({ architecture: "jumprelu", dSae: 8, ...over });
    const paths = (r: ReturnType<typeof bad>) => (r.success ? [] : r.error.issues.map((i) => i.path.join(".")));
    expect(paths(bad({ jumpreluSparsityLossMode: "l1" }))).toEqual(["jumpreluSparsityLossMode"]);
    expect(paths(bad({ jumpreluTanhScale: 0 }))).toEqual(["jumpreluTanhScale"]);
    expect(paths(bad({ jumpreluTanhScale: Infinity }))).toContain("jumpreluTanhScale");
    expect(paths(bad({ preActLossCoefficient: -1 }))).toEqual(["preActLossCoefficient"]);
  });

  it("logs pre_act as 0 while no latent is dead, and leaves the default SAE's terms and gradients unchanged", () => {
    const sae = randomSae(smallConfig("jumprelu", "untied", { preActLossCoefficient: 0.3 }));
    const none = new Uint8Array(D_SAE);
    const x = randomBatch();
    const a = run(sae, x, none);
    expect(a.result.losses.pre_act).toBe(0);
    const plain = withConfig(sae, { preActLossCoefficient: undefined });
    const b = run(plain, x, none);
    expect(Object.keys(b.result.losses).sort()).toEqual(["l0", "mse"]);
    expect(Array.from(a.grads.buffer)).toEqual(Array.from(b.grads.buffer));
    expect(referencePreAct(sae, densePre(sae, x, BATCH), BATCH, none)).toBe(0);
  });
});

describe("jumprelu training with the SAELens options", () => {
  const D_IN = 8;
  const batch = (s: number) => new Rng(1000 + s).fillNormal(new Float32Array(32 * D_IN), 0, 1);
  const trainCfg = TrainConfigSchema.parse({ steps: 30, batchSize: 32, lr: 1e-2, deadLatentWindow: 2, logEvery: 10 });

  it("names l0 and pre_act in the step events, and the pre-activation loss pulls a dead latent up", () => {
    const cfgs = [
      { architecture: "jumprelu", name: "tanh-pre", dSae: 16, l0Coefficient: 0.01, jumpreluSparsityLossMode: "tanh", preActLossCoefficient: 0.1 },
      { architecture: "jumprelu", name: "step", dSae: 16, l0Coefficient: 0.01, tying: "tied" },
    ].map((c) => SaeConfigSchema.parse(c));
    const t = createTrainer(kernels, cfgs, trainCfg, D_IN);
    for (const r of t.runs) r.sae.params.b_enc[3] = -20; // latent 3 cannot fire
    const events: TrainEvent[] = [];
    train({ trainer: t, data: stepStream(D_IN, batch), sink: (e) => events.push(e) });
    const last = events.at(-2);
    if (last?.type !== "step") throw new Error("no step event");
    const byName = Object.fromEntries(last.saes.map((s) => [s.name, s]));
    expect(Object.keys(byName["tanh-pre"]!.losses).sort()).toEqual(["l0", "mse", "pre_act"]);
    expect(byName["tanh-pre"]!.losses.pre_act).toBeGreaterThan(0);
    expect(Object.keys(byName.step!.losses).sort()).toEqual(["l0", "mse"]);
    for (const s of last.saes) expect(s.loss).toBeCloseTo(Object.values(s.losses).reduce((a, b) => a + b, 0), 10);
    // Without the pre-activation loss a latent that never fires gets no gradient in b_enc; with it, it climbs.
    expect(t.runs[0]!.sae.params.b_enc[3]).toBeGreaterThan(-19.9);
    expect(t.runs[1]!.sae.params.b_enc[3]).toBe(-20);
  });

  it("the tanh penalty lowers L0 as its coefficient grows (same stream)", () => {
    const cfgs = [0, 0.05, 0.5].map((c) => SaeConfigSchema.parse({ architecture: "jumprelu", name: `c${c}`, dSae: 16, l0Coefficient: c, jumpreluSparsityLossMode: "tanh" }));
    const t = createTrainer(kernels, cfgs, TrainConfigSchema.parse({ ...trainCfg, steps: 80 }), D_IN);
    train({ trainer: t, data: stepStream(D_IN, batch) });
    const l0 = t.stats().map((s) => s.l0);
    // Measured at 80 steps: L0 12.9, 11.4, 5.1.
    expect(l0[1]!).toBeLessThan(l0[0]!);
    expect(l0[2]!).toBeLessThan(0.5 * l0[0]!);
  });
});
