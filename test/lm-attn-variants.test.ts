/**
 * The attention variants of Mistral and Gemma 2 in the native LM kernels: sliding windows, a custom
 * score scale (query_pre_attn_scalar), logit soft-capping and a query wider than the model (Gemma 2's
 * heads x head_dim != hidden_size). Native attention is checked against the TypeScript reference and
 * against a plain-loop attention written here over the same cache, on prefill runs longer than the
 * windows and one-row decoding steps; each row's numbers must not depend on the rows it is batched or
 * tiled with (the window moves where a tile's keys start), and the fused layers honour the variant.
 * Each SIMD library (AVX-512 and AVX2) is also run on head sizes 8 to 64, 1 to 12 query heads per
 * key/value head and prefill runs of 1 to 70 positions: against the plain-loop attention, against
 * each other bit for bit (the AVX-512 tiles keep the AVX2 order of operations), and with 1 and 2
 * threads (test/helpers/attn-digest.ts).
 */
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Rng } from "../src/tensor/rng.js";
import { referenceLmKernels, type RowInfo } from "../src/lm/kernels.js";
import { loadLmKernels } from "../src/lm/native.js";
import { nativeIsas } from "../src/tensor/native.js";
import { ISA_VARIANTS, RUN_LENGTHS, attentionPasses, naiveAttention, runPasses, runsOf, setupVariant, type Variant } from "./helpers/attn-cases.js";
import { maxAbsDiff } from "./lm-fixtures.js";

const native = loadLmKernels("auto");
const ref = referenceLmKernels();
const hasNative = native.name === "native";

const variants: Variant[] = [
  { name: "windows 5 and 13 (hs 8, 2 query heads per kv head)", dim: 64, nHeads: 8, nKvHeads: 4, windows: [5, 13], cap: 90 },
  { name: "window 40 on one layer, soft-cap 5, scale 1/sqrt(12)", dim: 32, nHeads: 4, nKvHeads: 2, windows: [null, 40], scale: 1 / Math.sqrt(12), softcap: 5, cap: 100 },
  { name: "Gemma 2 shape: query 32 wide on a 24-wide model, window 9, soft-cap 3", dim: 32, qWidth: 24, nHeads: 4, nKvHeads: 2, windows: [9, null], scale: 0.2, softcap: 3, cap: 70 },
  { name: "hs 6 (portable path), window 4, soft-cap 2", dim: 24, nHeads: 4, nKvHeads: 2, windows: [4, 4], softcap: 2, cap: 40 },
];

describe.skipIf(!hasNative).each(variants)("native attention variant: $name", (v) => {
  const { m, kvDim, qDim, cache } = setupVariant(v);
  const stride = qDim + 2 * kvDim;
  // Prefill runs longer than the windows (one continuing cached positions), then a decoding step per slot.
  const prefill = runsOf([[0, 0, v.cap], [1, 0, 37], [2, 0, 3], [3, 0, 20]]);
  const rng = new Rng(9);
  const qkv = rng.fillNormal(new Float32Array(prefill.rows * stride), 0, 1);

  it("matches the reference kernels and the plain-loop attention on prefill and decoding rows, both layers", () => {
    for (const layer of [0, 1]) {
      const [c1, c2] = [cache(), cache()];
      const [q1, q2] = [qkv.slice(), qkv.slice()];
      native.ropeStore(m, q1, prefill, c1, layer);
      ref.ropeStore(m, q2, prefill, c2, layer);
      expect(maxAbsDiff(c1.k, c2.k)).toBeLessThan(1e-5);
      expect(maxAbsDiff(q1, q2)).toBeLessThan(1e-5);
      const [o1, o2] = [new Float32Array(prefill.rows * qDim), new Float32Array(prefill.rows * qDim)];
      native.attention(m, q1, prefill, c1, layer, o1);
      ref.attention(m, q1, prefill, c1, layer, o2);
      expect(maxAbsDiff(o1, o2)).toBeLessThan(1e-5);
      expect(maxAbsDiff(o1, naiveAttention(v, q1, stride, prefill, c1, layer))).toBeLessThan(1e-5);
      // One decoding row per slot continuing each run (slot 0 would pass its capacity; it decodes its last position again).
      const step = runsOf([[0, v.cap - 1, 1], [1, 37, 1], [2, 3, 1], [3, 20, 1]]);
      const qs = rng.fillNormal(new Float32Array(step.rows * stride), 0, 1);
      native.ropeStore(m, qs, step, c1, layer);
      const [d1, d2] = [new Float32Array(step.rows * qDim), new Float32Array(step.rows * qDim)];
      native.attention(m, qs, step, c1, layer, d1);
      ref.attention(m, qs, step, c1, layer, d2);
      expect(maxAbsDiff(d1, d2)).toBeLessThan(1e-5);
      expect(maxAbsDiff(d1, naiveAttention(v, qs, stride, step, c1, layer))).toBeLessThan(1e-5);
    }
  });

  it("the window changes the answer, and each row's numbers do not depend on the rows it is computed with", () => {
    const c = cache();
    const q = qkv.slice();
    native.ropeStore(m, q, prefill, c, 0);
    const full = new Float32Array(prefill.rows * qDim);
    native.attention(m, q, prefill, c, 0, full);
    const noWindow = new Float32Array(prefill.rows * qDim);
    native.attention({ ...m, windows: [null, null] }, q, prefill, c, 0, noWindow);
    if (v.windows[0] !== null) expect(maxAbsDiff(full, noWindow)).toBeGreaterThan(1e-3);
    // Slot 0's rows from several starting rows (so tiles start at other positions), and one row alone.
    for (const from of [1, 3, 7, 11, v.cap - 1]) {
      const sub: RowInfo = { rows: v.cap - from, rowSlot: new Int32Array(v.cap - from), rowPos: Int32Array.from({ length: v.cap - from }, (_, i) => from + i) };
      const out = new Float32Array(sub.rows * qDim);
      native.attention(m, q.subarray(from * stride), sub, c, 0, out);
      expect(maxAbsDiff(out, full.subarray(from * qDim, v.cap * qDim)), `from row ${from}`).toBe(0);
    }
  });

  it.skipIf(v.qWidth !== undefined)("the fused layers honour the variant (native = reference twin)", () => {
    const [c1, c2] = [cache(), cache()];
    const x = rng.fillNormal(new Float32Array(prefill.rows * v.dim), 0, 1);
    const [x1, x2] = [x.slice(), x.slice()];
    native.layers(m, x1, prefill, c1, 0, 2);
    ref.layers(m, x2, prefill, c2, 0, 2);
    // Relative to the residual's size (random weights grow it), as test/lm-kernels.test.ts compares the fused blocks.
    const scale = Math.max(1, ...Array.from(x2, Math.abs));
    expect(maxAbsDiff(x1, x2) / scale).toBeLessThan(1e-5);
    const x3 = x.slice();
    native.layers({ ...m, windows: [null, null], attnScale: undefined, attnSoftcap: undefined }, x3, prefill, cache(), 0, 2);
    expect(maxAbsDiff(x1, x3)).toBeGreaterThan(1e-3);
  });
});

describe.skipIf(!hasNative)("native attention variant arguments", () => {
  it("a model whose query width differs from its width runs attention but not the fused blocks", () => {
    const v = variants[2]!;
    const { m, kvDim, cache } = setupVariant(v);
    const ri = runsOf([[0, 0, 4]]);
    const x = new Float32Array(ri.rows * v.qWidth!);
    expect(() => native.layers(m, x, ri, cache(), 0, 1)).toThrow(/inconsistent model layout/);
    expect(() => native.attention(m, new Float32Array(ri.rows * (v.dim + 2 * kvDim)), ri, cache(), 0, new Float32Array(ri.rows * v.dim))).not.toThrow();
    expect(() => native.attention(m, new Float32Array(ri.rows * (v.dim + 2 * kvDim)), ri, cache(), 0, new Float32Array(ri.rows * v.qWidth!))).toThrow(/qkv or out too small/);
  });
});

const simdIsas = nativeIsas().filter((i) => i === "avx512" || i === "avx2");

describe.skipIf(simdIsas.length === 0)("attention tiles of each SIMD library (AVX-512: 16 positions or channels per vector)", () => {
  // Both layers, prefill runs of RUN_LENGTHS and a decoding row per slot, over caches the reference kernels filled.
  describe.each(ISA_VARIANTS)("$name", (v) => {
    const { m, passes } = attentionPasses(v, ref);
    const outs = simdIsas.map((isa) => runPasses(loadLmKernels("native", isa), m, passes, v.dim));

    it.each(simdIsas.map((isa, i) => [isa, i] as const))("%s matches the plain-loop float64 attention within 1e-5", (_, i) => {
      passes.forEach((p, k) => {
        const what = `layer ${p.layer}, ${p.ri.rows === RUN_LENGTHS.length ? "decoding" : "prefill"}`;
        expect(maxAbsDiff(outs[i]![k]!, naiveAttention(v, p.q, p.stride, p.ri, p.cache, p.layer)), what).toBeLessThan(1e-5);
      });
    });

    it.skipIf(simdIsas.length < 2)("AVX-512 gives the AVX2 library's bits", () => {
      for (const o of outs.slice(1)) o.forEach((x, k) => expect(maxAbsDiff(x, outs[0]![k]!), `pass ${k}`).toBe(0));
    });
  });

  it("weigh keys more than 87 below the top scaled score exactly 0 (exp would be subnormal, about 1e-38 as the exp kernel rounds it)", () => {
    const v: Variant = { name: "floor", dim: 16, nHeads: 1, nKvHeads: 1, windows: [null, null], cap: 40 };
    const { m, cache } = setupVariant(v, 1);
    const c = cache();
    const n = 21;
    // Layer 0, slot 0: with q = e0 and scale 1/4, key 0 scores 0 and keys 1.. score 200; value 0 is all ones, the others 0.
    for (let t = 1; t < n; t++) c.k[t] = 800;
    c.v.fill(1, 0, 16);
    const stride = 3 * 16;
    const q = new Float32Array(n * stride);
    for (let r = 0; r < n; r++) q[r * stride] = 1;
    for (const isa of simdIsas) {
      const lm = loadLmKernels("native", isa);
      const out = new Float32Array(n * 16);
      lm.attention(m, q, runsOf([[0, 0, n - 1]]), c, 0, out);
      lm.attention(m, q.subarray((n - 1) * stride), runsOf([[0, n - 1, 1]]), c, 0, out.subarray((n - 1) * 16));
      expect(Array.from(out.subarray(0, 16)), isa).toEqual(Array<number>(16).fill(1));
      expect(Array.from(out.subarray(16)).filter((x) => x !== 0), isa).toEqual([]);
    }
  });

  it("give bitwise-identical attention with 1 and 2 threads, the same on every SIMD library", () => {
    const script = fileURLToPath(new URL("./helpers/attn-digest.ts", import.meta.url));
    const run = (threads: number) =>
      (JSON.parse(execFileSync(process.execPath, ["--import", "tsx", script], { env: { ...process.env, SAELAB_THREADS: String(threads) } }).toString()) as { digests: Record<string, string> }).digests;
    const [one, two] = [run(1), run(2)];
    expect(Object.keys(one).sort()).toEqual([...simdIsas].sort());
    const all = [...Object.values(one), ...Object.values(two)];
    expect(all[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(all).size).toBe(1);
  }, 60_000);
});
