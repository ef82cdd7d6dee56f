/**
 * Adam with the bf16 weight copy fused into its write (AdamArgs.bf16Copy, native/src/adam_bf16.c):
 * Adam's results are bitwise those of the plain Adam step, and the encoder product that reads the copy
 * (EncodeArgs.packedW) is bitwise the product that rounds and packs the fp32 weights itself, for W_enc
 * [dIn, dSae] and a tied W_dec [dSae, dIn], shapes with odd and blocked shared dimensions, partial
 * panels and weights in the middle of the buffer; and whole bf16 training runs (every architecture x
 * tying) give bitwise the same parameters with the copy as without. Backends whose bf16 products pack
 * their own (the reference, emulated bf16) have no copy (bf16CopyFloats 0). The thread-count
 * invariance is digested by test/kernels-native.test.ts.
 */
import { describe, expect, it } from "vitest";
import { availableKernels, backendLabel, parseIsa } from "../src/tensor/backend.js";
import { emptySparse, type Kernels } from "../src/tensor/kernels.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { TrainConfigSchema } from "../src/train/config.js";
import { createTrainer } from "../src/train/trainer.js";
import { COMBOS, smallConfig } from "./sae-fixtures.js";

const natives = availableKernels(parseIsa(process.env.SAELAB_ISA)).filter((k) => k.name !== "reference");
const withCopy = natives.filter((k) => k.bf16CopyFloats(8, 8) > 0);

it("backends whose bf16 products are emulated have no copy", () => {
  expect(referenceKernels().bf16CopyFloats(768, 16384)).toBe(0);
  for (const k of natives) expect(k.bf16CopyFloats(64, 96) > 0, backendLabel(k)).toBe(k.bf16 !== "emulated");
});

describe.each(withCopy.map((k) => [backendLabel(k), k] as const))("%s backend: Adam's bf16 copy", (_name, K: Kernels) => {
  // dIn (the shared dimension), dSae, transB: odd k, k over one shared block (769 -> two), partial 32-column panels.
  it.each([[40, 96, false], [37, 50, false], [769, 70, false], [40, 96, true], [37, 50, true], [769, 70, true], [3, 5, false], [64, 33, true]] as const)(
    "k %i, n %i, transB %s: Adam bitwise as without, the product from the copy bitwise as from the weights",
    (k, n, transB) => {
      const rng = new Rng(k * 1000 + n);
      const before = 1000, after = 777, len = before + k * n + after;
      const params = rng.fillNormal(K.alloc(len), 0, 0.5), grads = rng.fillNormal(K.alloc(len)), m = rng.fillNormal(K.alloc(len), 0, 0.1);
      const v = rng.fillUniform(K.alloc(len), 0, 0.1);
      const [p2, m2, v2] = [Float32Array.from(params), Float32Array.from(m), Float32Array.from(v)];
      const out = K.alloc(K.bf16CopyFloats(k, n));
      const hp = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3 };
      K.adam({ params, grads, m, v, ...hp, bf16Copy: { offset: before, k, n, transB, out } });
      K.adam({ params: p2, grads, m: m2, v: v2, ...hp });
      expect(Buffer.from(params.buffer, params.byteOffset, params.byteLength).equals(Buffer.from(p2.buffer))).toBe(true);
      expect(Buffer.from(m.buffer, m.byteOffset, m.byteLength).equals(Buffer.from(m2.buffer))).toBe(true);
      expect(Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(v2.buffer))).toBe(true);
      const w = params.subarray(before, before + k * n);
      const rows = 301;
      const x = rng.fillNormal(new Float32Array(rows * k)), bias = rng.fillNormal(new Float32Array(n));
      for (const select of [undefined, { kind: "topk" as const, k: 3 }]) {
        const run = (packedW?: Float32Array) => {
          const pre = new Float32Array(rows * n), o = emptySparse(rows, n);
          K.encode({ x, rows, n: k, cols: n, xc: new Float32Array(rows * k), w, transW: transB, bias, pre, bf16: true, ...(packedW ? { packedW } : {}), ...(select ? { select, out: o } : {}) });
          return { pre, idx: Array.from(o.colIdx.subarray(0, o.nnz)), val: Array.from(o.values.subarray(0, o.nnz)) };
        };
        const a = run(out), b = run();
        if (!select) expect(run(new Float32Array(out.length)).pre.every((v, i) => v === bias[i % n]), "the product reads the copy (a zero copy gives the bias)").toBe(true);
        expect(Buffer.from(a.pre.buffer).equals(Buffer.from(b.pre.buffer)), `pre, select ${select?.kind ?? "none"}`).toBe(true);
        expect(a.idx).toEqual(b.idx);
        expect(a.val).toEqual(b.val);
      }
    },
  );

  it.each(COMBOS)("%s (%s): bf16 training gives bitwise the same parameters with the copy as without", (arch, tying) => {
    const over = { dIn: 40, dSae: 96, ...(arch === "matryoshka_batchtopk" ? { matryoshkaWidths: [16, 48, 96] } : {}), ...(arch.includes("topk") ? { k: 8 } : {}) };
    const cfg = SaeConfigSchema.parse({ ...smallConfig(arch, tying, over), name: "s" });
    const tc = TrainConfigSchema.parse({ steps: 4, batchSize: 300, lr: 3e-3, seed: 3, checkpointEvery: 0, precision: "bf16" });
    const noCopy: Kernels = { ...K, bf16CopyFloats: () => 0 };
    const rng = new Rng(9);
    const batches = Array.from({ length: 4 }, () => rng.fillNormal(new Float32Array(300 * 40), 0.2, 1));
    const params = [K, noCopy].map((kk) => {
      const t = createTrainer(kk, [cfg], tc, 40);
      for (const x of batches) t.trainStep(x);
      // The copy is written unless the tied decoder rows are renormalised after Adam.
      expect(t.runs[0]!.adam.bf16?.valid ?? false).toBe(kk === K && !(tying.startsWith("tied") && t.runs[0]!.sae.config.normalizeDecoder));
      return t.runs[0]!.sae.params.buffer;
    });
    expect(Buffer.from(params[0]!.buffer, params[0]!.byteOffset, params[0]!.byteLength).equals(Buffer.from(params[1]!.buffer, params[1]!.byteOffset, params[1]!.byteLength))).toBe(true);
  });
});
