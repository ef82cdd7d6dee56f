/**
 * The native LM kernels' plain-MLP activations and parallel-residual blocks (GPT-NeoX), on every ISA
 * library this CPU runs (SAELAB_ISA's alone when set): the activations against the float64 formulas
 * written here (an MLP whose weights make its output act(bias)), and the fused layers of a parallel
 * block against its branches run one at a time and added as the TypeScript path adds them, bit for bit.
 */
import { describe, expect, it } from "vitest";
import { buildParams } from "../src/lm/params.js";
import { loadLmKernels } from "../src/lm/native.js";
import { ropeTableFor } from "../src/lm/rope.js";
import type { Activation, CanonicalWeights, ModelSpec } from "../src/lm/spec.js";
import type { KvCache, ModelBuffers, RowInfo } from "../src/lm/kernels.js";
import { parseIsa } from "../src/tensor/backend.js";
import { nativeIsas } from "../src/tensor/native.js";
import { Rng } from "../src/tensor/rng.js";
import { erf } from "./helpers/naive-hf.js";
import { maxAbsDiff } from "./lm-fixtures.js";

const only = parseIsa(process.env.SAELAB_ISA);
const isas = nativeIsas().filter((i) => only === "auto" || i === only);

/** A LayerNorm model with biases everywhere (GPT-NeoX-like: width d, 4 heads, MLP d, vocab 7). */
function neoxSpec(d: number, act: Activation, parallel: boolean): ModelSpec {
  return {
    family: "gpt_neox", dModel: d, nLayers: 2, nHeads: 4, nKvHeads: 4, headDim: d / 4, dMlp: d, vocabSize: 7, contextLength: 64,
    norm: "layer", normEps: 1e-5, normWeightOffset: 0, act, gatedMlp: false, positions: { kind: "rope", theta: 10000, rotaryDim: d / 8 },
    parallelResidual: parallel, postNorms: false, qkvBias: true, oBias: true, mlpBias: true, tiedEmbeddings: true, embedScale: 1, queryScale: 1 / Math.sqrt(d / 4),
  };
}

/** Buffers for a spec's weights, every tensor from `fill(name, n)`. */
function buffers(spec: ModelSpec, fill: (name: string, n: number) => Float32Array): ModelBuffers {
  const d = spec.dModel;
  const norm = (n: string) => ({ w: fill(`${n}.w`, d), b: fill(`${n}.b`, d) });
  const w: CanonicalWeights = {
    embed: fill("embed", spec.vocabSize * d),
    lnFinal: norm("lnf"),
    layers: [0, 1].map(() => ({
      ln1: norm("ln1"), wqkv: fill("wqkv", 3 * d * d), bqkv: fill("bqkv", 3 * d), wo: fill("wo", d * d), bo: fill("bo", d),
      ln2: norm("ln2"), wIn: fill("wIn", d * d), bIn: fill("bIn", d), wOut: fill("wOut", d * d), bOut: fill("bOut", d),
    })),
  };
  const p = buildParams(spec, w);
  return { buffer: p.buffer, layout: p.layout, rope: ropeTableFor(spec, spec.contextLength) };
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const FORMULAS: [Activation, (x: number) => number][] = [
  ["gelu", (x) => 0.5 * x * (1 + erf(x / Math.SQRT2))],
  ["gelu_new", (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))],
  ["silu", (x) => x / (1 + Math.exp(-x))],
];

describe.skipIf(isas.length === 0).each(isas)("native LM kernels (%s library)", (isa) => {
  const lm = loadLmKernels("native", isa);

  // LayerNorm weight and bias 0 make the MLP's input 0, so its hidden units are act(bIn); an
  // identity output projection and a zero bias then return them. 200 pre-activations over
  // [-12, 12] plus small ones, all in one row of width 208 (tails of 8 and 16 lanes).
  it.each(FORMULAS)("the MLP activation %s matches its float64 formula within 1e-6 * max(1, |x|)", (act, f) => {
    const d = 208;
    const xs = Float32Array.from({ length: d }, (_, i) => (i < 200 ? -12 + (24 * i) / 199 : [1e-3, -1e-3, 1e-6, -0.5, 0.5, -3.3, 3.3, 0][i - 200]!));
    const m = buffers(neoxSpec(d, act, false), (name, n) => {
      if (name === "bIn") return xs;
      if (name === "wOut") return Float32Array.from({ length: n }, (_, i) => (i % (d + 1) === 0 ? 1 : 0));
      return new Float32Array(n);
    });
    const rows = 3;
    const out = new Float32Array(rows * d);
    lm.mlpBlock(m, Float32Array.from({ length: rows * d }, (_, i) => Math.sin(i)), rows, 1, out);
    let worst = 0;
    for (let r = 0; r < rows; r++) for (let j = 0; j < d; j++) worst = Math.max(worst, Math.abs(out[r * d + j]! - f(xs[j]!)) / Math.max(1, Math.abs(xs[j]!)));
    expect(worst).toBeLessThan(1e-6);
  });

  it("parallel-residual layers = x + (mlp(x) + attn(x)) from the separate blocks, bit for bit, for any grouping of the rows", () => {
    const d = 48;
    const rng = new Rng(5);
    const m = buffers(neoxSpec(d, "gelu", true), (name, n) => Float32Array.from({ length: n }, () => (name.endsWith(".w") ? 1 : 0) + 0.3 * rng.normal()));
    const lens = [40, 9, 1, 23];
    const ri: RowInfo = {
      rows: lens.reduce((a, b) => a + b, 0),
      rowSlot: Int32Array.from(lens.flatMap((n, s) => Array<number>(n).fill(s))),
      rowPos: Int32Array.from(lens.flatMap((n) => Array.from({ length: n }, (_, i) => i))),
    };
    const cache = (): KvCache => ({ slots: 4, cap: 64, nLayers: 2, kvDim: d, k: new Float32Array(2 * 4 * d * 64), v: new Float32Array(2 * 4 * d * 64), lengths: new Int32Array(4) });
    const x = Float32Array.from({ length: ri.rows * d }, () => rng.normal());
    const fused = x.slice();
    lm.layers(m, fused, ri, cache(), 0, 2);
    const split = x.slice();
    const c = cache();
    const [a, b] = [new Float32Array(split.length), new Float32Array(split.length)];
    for (let l = 0; l < 2; l++) {
      lm.attnBlock(m, split, ri, c, l, a);
      lm.mlpBlock(m, split, ri.rows, l, b);
      for (let i = 0; i < split.length; i++) split[i] = split[i]! + (b[i]! + a[i]!);
    }
    expect(maxAbsDiff(fused, split)).toBe(0);
    // The sequences one at a time (a pass of one run, rows split by the thread pool) give the same bits.
    let r0 = 0;
    lens.forEach((n, s) => {
      const one = x.slice(r0 * d, (r0 + n) * d);
      const sub: RowInfo = { rows: n, rowSlot: new Int32Array(n).fill(s), rowPos: ri.rowPos.subarray(r0, r0 + n) };
      lm.layers(m, one, sub, cache(), 0, 2);
      expect(maxAbsDiff(one, fused.subarray(r0 * d, (r0 + n) * d)), `sequence ${s}`).toBe(0);
      r0 += n;
    });
  });
});

describe.skipIf(isas.filter((i) => i !== "portable").length < 2)("AVX-512 and AVX2 LM libraries", () => {
  it("give the same bits for a parallel-residual GELU model's layers (the activations share their 8-lane code)", () => {
    const d = 64;
    const outs = isas.filter((i) => i !== "portable").map((isa) => {
      const rng = new Rng(6);
      const m = buffers(neoxSpec(d, "gelu", true), (name, n) => Float32Array.from({ length: n }, () => (name.endsWith(".w") ? 1 : 0) + 0.3 * rng.normal()));
      const ri: RowInfo = { rows: 30, rowSlot: new Int32Array(30), rowPos: Int32Array.from({ length: 30 }, (_, i) => i) };
      const x = Float32Array.from({ length: 30 * d }, () => rng.normal());
      loadLmKernels("native", isa).layers(m, x, ri, { slots: 1, cap: 64, nLayers: 2, kvDim: d, k: new Float32Array(2 * d * 64), v: new Float32Array(2 * d * 64), lengths: new Int32Array(1) }, 0, 2);
      return x;
    });
    for (const o of outs.slice(1)) expect(maxAbsDiff(o, outs[0]!)).toBe(0);
  });
});
