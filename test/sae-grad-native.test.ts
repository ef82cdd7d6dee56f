/**
 * The training step on the native backend against the same step on the reference backend (whose
 * gradients test/sae-grad.test.ts checks against finite differences), for every architecture x tying
 * variant, on the fused sparse path and the dense fallback, at the gradient checks' size and at a
 * size where the native kernels take their blocked paths (several row blocks, the latent walk).
 * Losses and every gradient element must agree to float32 accuracy.
 */
import { describe, expect, it } from "vitest";
import { loadNativeAddon, nativeKernels } from "../src/tensor/native.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { COMBOS, randomSae, smallConfig } from "./sae-fixtures.js";
import { expectStepsAgree, twinStep } from "./sae-grad-helpers.js";

const loaded = loadNativeAddon();
const native = "addon" in loaded ? nativeKernels(loaded.addon) : null;
const ref = referenceKernels();

const SIZES = [
  { name: "gradient-check size", dIn: 6, dSae: 12, batch: 5 },
  { name: "blocked size", dIn: 40, dSae: 96, batch: 300 },
];

describe.skipIf(!native).each(SIZES)("native step = reference step, $name", ({ dIn, dSae, batch }) => {
  it.each(COMBOS.flatMap(([a, t]) => (["sparse", "dense"] as const).map((p): [string, string, string] => [a, t, p])))("%s (%s), %s path", (arch, tying, path) => {
    const over = dIn === 6 ? {} : { dIn, dSae, ...(arch === "matryoshka_batchtopk" ? { matryoshkaWidths: [16, 48, dSae] } : {}), ...(arch.includes("topk") ? { k: 8 } : {}) };
    const sae = randomSae(smallConfig(arch as never, tying as never, over));
    const rng = new Rng(5);
    const x = rng.fillNormal(new Float32Array(batch * dIn), 0.2, 1);
    const dead = new Uint8Array(dSae);
    for (let j = Math.floor((2 * dSae) / 3); j < dSae; j++) dead[j] = 1;
    const denseAbove = path === "dense" ? 0 : Infinity;
    const got = twinStep(native!, sae, x, batch, dead, denseAbove);
    const want = twinStep(ref, sae, x, batch, dead, denseAbove);
    expect(got.result.l0).toBe(want.result.l0);
    expectStepsAgree(got, want);
  });
});
