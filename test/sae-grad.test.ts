/**
 * Gradient checks for every architecture x tying variant: the hand-written backward against central
 * finite differences of the loss, and the loss itself against an independent dense float64
 * implementation of the SAELens formulas (test/sae-reference.ts).
 *
 * Finite differences are only valid where the sparsity pattern (which latents fired, which dead
 * latents AuxK picked, which samples lie in the JumpReLU window) does not change inside the step, so
 * each coordinate is checked only when the pattern is identical at +h and -h; at least 80% of the
 * coordinates must qualify. Every loss is piecewise quadratic in any single parameter except the
 * decoder-norm weighting of L1 and the cosine tying loss, so central differences with h = 5e-3 are
 * accurate to float32 rounding: tolerance |analytic - fd| <= 2e-3 + 1e-2 * |fd|.
 * AuxK's residual x - x_hat is a constant in the loss (SAELens detaches it), so for the TopK family
 * the finite differences use the reference AuxK term with the residual frozen at the base point.
 * Every check runs on both the sparse products and the dense GEMM fallback (src/sae/dense.ts).
 * JumpReLU's threshold gradient is a straight-through estimate (the true derivative is zero almost
 * everywhere), so it is compared with a dense implementation of SAELens's estimator instead.
 */
import { describe, expect, it } from "vitest";
import { BATCH, COMBOS, deadMask, randomBatch, randomSae, smallConfig } from "./sae-fixtures.js";
import { COEF, PATHS, finiteDiffSweep, parameterIndices, run, type Path } from "./sae-grad-helpers.js";
import { referenceAuxk, referenceLosses, referenceResidual, referenceThresholdGrad } from "./sae-reference.js";


describe.each(COMBOS.flatMap(([a, t]) => PATHS.map((p): [string, string, Path] => [a, t, p])))("gradients of %s (%s), %s path", (arch, tying, path) => {
  const sae = randomSae(smallConfig(arch as never, tying as never));
  const x = randomBatch();
  const dead = deadMask();

  it("loss terms match the dense float64 reference", () => {
    const { result, ws } = run(sae, x, dead, path);
    expect(ws.scratch.has("dense:BD")).toBe(path === "dense" && tying !== "tied_gain" && arch !== "matryoshka_batchtopk");
    const ref = referenceLosses(sae, x, BATCH, COEF, dead);
    expect(Object.keys(result.losses).sort()).toEqual(Object.keys(ref).sort());
    for (const [k, v] of Object.entries(ref)) expect(result.losses[k]).toBeCloseTo(v, 4);
    expect(result.loss).toBeGreaterThan(0);
  });

  it("backward matches central finite differences", () => {
    const { grads } = run(sae, x, dead, path);
    const analytic = Float32Array.from(grads.buffer);
    // AuxK's residual is a constant (SAELens detaches it): replace our AuxK term by the reference one
    // evaluated with the residual frozen at the unperturbed parameters.
    const r0 = referenceResidual(sae, x, BATCH);
    const lossAt = (): number => {
      const r = run(sae, x, dead, path).result;
      return r.losses.auxk === undefined ? r.loss : r.loss - r.losses.auxk + referenceAuxk(sae, x, BATCH, dead, r0);
    };
    const { bad, checked, candidates } = finiteDiffSweep(sae, x, dead, analytic, parameterIndices(sae, new Set(["threshold"])), lossAt, 5e-3);
    expect(bad).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(0.8 * candidates);
  });
});

describe.each(COMBOS.filter(([a]) => a === "jumprelu"))("straight-through threshold gradient of %s (%s)", (arch, tying) => {
  const sae = randomSae(smallConfig(arch, tying));
  const x = randomBatch();
  const dead = deadMask();

  it.each(PATHS)("equals a dense implementation of SAELens's estimator (%s path)", (path) => {
    const { grads } = run(sae, x, dead, path);
    const ref = referenceThresholdGrad(sae, x, BATCH, COEF);
    let nonzero = 0;
    for (let j = 0; j < sae.dSae; j++) {
      expect(grads.threshold![j]).toBeCloseTo(ref[j]!, 4);
      if (ref[j] !== 0) nonzero++;
    }
    expect(nonzero).toBeGreaterThan(0);
  });
});
