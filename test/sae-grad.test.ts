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
import type { SparseRows } from "../src/tensor/kernels.js";
import { forwardBackward } from "../src/sae/step.js";
import { viewsOf } from "../src/sae/params.js";
import type { Sae } from "../src/sae/model.js";
import { BATCH, COMBOS, deadMask, kernels, randomBatch, randomSae, smallConfig } from "./sae-fixtures.js";
import { referenceAuxk, referenceLosses, referenceResidual, referenceThresholdGrad } from "./sae-reference.js";

const COEF = 0.2;

/** "sparse" forces the sparse products; "dense" the GEMM fallback wherever it applies (single level, no gain). */
type Path = "sparse" | "dense";

function run(sae: Sae, x: Float32Array, dead: Uint8Array, path: Path = "sparse") {
  const grads = viewsOf(sae.layout, new Float32Array(sae.layout.size));
  const ws = sae.workspace(BATCH);
  const { result } = forwardBackward({
    kernels, sae, def: sae.def, levels: sae.levels, grads, ws, x, batch: BATCH, coefficient: COEF, deadMask: dead, numDead: dead.reduce((a, v) => a + v, 0),
    denseAbove: path === "dense" ? 0 : 1,
  });
  return { result, grads, ws };
}

function patternOf(s: SparseRows): string {
  return `${Array.from(s.rowPtr.subarray(0, s.rows + 1)).join(",")}|${Array.from(s.colIdx.subarray(0, s.nnz)).join(",")}`;
}

function signature(sae: Sae, x: Float32Array, dead: Uint8Array): string {
  const { ws } = run(sae, x, dead, "sparse");
  const parts = [patternOf(ws.acts)];
  for (const [k, v] of ws.scratch) if (!(v instanceof Float32Array || v instanceof Float64Array || v instanceof Uint8Array) && k !== "lv:enc" && k !== "ex:enc") parts.push(`${k}:${patternOf(v)}`);
  return parts.join(";");
}

const PATHS: Path[] = ["sparse", "dense"];

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
    const buf = sae.params.buffer;
    const skipThreshold = sae.layout.entries.find((e) => e.name === "threshold");
    const base = signature(sae, x, dead);
    // AuxK's residual is a constant (SAELens detaches it): replace our AuxK term by the reference one
    // evaluated with the residual frozen at the unperturbed parameters.
    const r0 = referenceResidual(sae, x, BATCH);
    const lossAt = (): number => {
      const r = run(sae, x, dead, path).result;
      return r.losses.auxk === undefined ? r.loss : r.loss - r.losses.auxk + referenceAuxk(sae, x, BATCH, dead, r0);
    };
    const h = 5e-3;
    let checked = 0;
    let candidates = 0;
    const bad: string[] = [];
    for (const entry of sae.layout.entries) {
      if (entry === skipThreshold) continue;
      const size = entry.shape.reduce((a, b) => a * b, 1);
      for (let i = entry.offset; i < entry.offset + size; i++) {
        candidates++;
        const orig = buf[i]!;
        buf[i] = orig + h;
        const sp = signature(sae, x, dead);
        const lp = lossAt();
        buf[i] = orig - h;
        const sm = signature(sae, x, dead);
        const lm = lossAt();
        buf[i] = orig;
        if (sp !== base || sm !== base) continue;
        checked++;
        const fd = (lp - lm) / (2 * h);
        const g = analytic[i]!;
        if (!(Math.abs(g - fd) <= 2e-3 + 1e-2 * Math.abs(fd))) bad.push(`${entry.name}[${i - entry.offset}]: analytic ${g}, fd ${fd}`);
      }
    }
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
