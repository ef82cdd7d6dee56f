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
import type { Kernels } from "../src/tensor/kernels.js";
import { forwardBackward } from "../src/sae/step.js";
import { viewsOf } from "../src/sae/params.js";
import { Sae } from "../src/sae/model.js";
import { COMBOS, randomSae, smallConfig } from "./sae-fixtures.js";

const loaded = loadNativeAddon();
const native = "addon" in loaded ? nativeKernels(loaded.addon) : null;
const ref = referenceKernels();

/** Returns the step's losses and gradient buffer for `sae`'s parameters run on kernels `K`. */
function step(K: Kernels, sae: Sae, x: Float32Array, batch: number, dead: Uint8Array, denseAbove: number) {
  const twin = new Sae(K, sae.config, Float32Array.from(sae.params.buffer));
  twin.state.topkThreshold = sae.state.topkThreshold;
  const grads = viewsOf(twin.layout, new Float32Array(twin.layout.size));
  const { result } = forwardBackward({
    kernels: K, sae: twin, def: twin.def, levels: twin.levels, grads, ws: twin.workspace(batch), x, batch, coefficient: 0.2, deadMask: dead,
    numDead: dead.reduce((a, v) => a + v, 0), denseAbove,
  });
  return { result, grads: grads.buffer };
}

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
    const got = step(native!, sae, x, batch, dead, denseAbove);
    const want = step(ref, sae, x, batch, dead, denseAbove);
    expect(got.result.l0).toBe(want.result.l0);
    expect(Object.keys(got.result.losses).sort()).toEqual(Object.keys(want.result.losses).sort());
    for (const [k, v] of Object.entries(want.result.losses)) expect(Math.abs(got.result.losses[k]! - v), `loss ${k}`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(v)));
    let scale = 0;
    for (const g of want.grads) scale = Math.max(scale, Math.abs(g));
    for (let i = 0; i < want.grads.length; i++) {
      const d = Math.abs(got.grads[i]! - want.grads[i]!);
      if (!(d <= 1e-4 * scale + 1e-3 * Math.abs(want.grads[i]!))) expect.fail(`gradient[${i}]: native ${got.grads[i]}, reference ${want.grads[i]}`);
    }
  });
});
