import { describe, expect, it } from "vitest";
import { Rng } from "../src/tensor/rng.js";
import { referenceLmKernels, RMS_EPS, type KvCache, type LmKernels, type ModelBuffers, type RowInfo } from "../src/lm/kernels.js";
import { loadLmKernels } from "../src/lm/native.js";
import { buildParams, ropeTable } from "../src/lm/params.js";
import { maxAbsDiff, tinyCheckpoint } from "./lm-fixtures.js";

const native = loadLmKernels("auto");
const ref = referenceLmKernels();
const hasNative = native.name === "native";

/** Relative error scale: max |a - b| / max(1, max |b|). */
function relErr(a: Float32Array, b: Float32Array): number {
  let scale = 1;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  return maxAbsDiff(a, b) / scale;
}

function randomArray(rng: Rng, n: number, std = 1): Float32Array {
  return rng.fillNormal(new Float32Array(n), 0, std);
}

/** A model (random weights) and a cache with some positions filled, plus rows to run. */
function setup(seed: number, cfg: { dim: number; nHeads: number; nKvHeads: number; hidden: number; slots: number; cap: number; rows: number }) {
  const rng = new Rng(seed);
  const ckpt = tinyCheckpoint(seed, { dim: cfg.dim, nHeads: cfg.nHeads, nKvHeads: cfg.nKvHeads, hiddenDim: cfg.hidden, seqLen: Math.max(cfg.cap, 8), nLayers: 2 });
  const p = buildParams(ckpt);
  const m: ModelBuffers = { buffer: p.buffer, layout: p.layout, rope: ropeTable(ckpt.config.seqLen, cfg.dim / cfg.nHeads) };
  const kvDim = (cfg.dim / cfg.nHeads) * cfg.nKvHeads;
  const n = 2 * cfg.slots * kvDim * cfg.cap;
  const mk = (): KvCache => ({ slots: cfg.slots, cap: cfg.cap, nLayers: 2, kvDim, k: new Float32Array(n), v: new Float32Array(n), lengths: new Int32Array(cfg.slots) });
  const c1 = mk();
  const c2 = mk();
  const kv = randomArray(rng, n);
  c1.k.set(kv); c2.k.set(kv);
  const vv = randomArray(rng, n);
  c1.v.set(vv); c2.v.set(vv);
  const rowSlot = new Int32Array(cfg.rows);
  const rowPos = new Int32Array(cfg.rows);
  for (let r = 0; r < cfg.rows; r++) {
    rowSlot[r] = r % cfg.slots;
    rowPos[r] = rng.int(cfg.cap);
  }
  const ri: RowInfo = { rows: cfg.rows, rowSlot, rowPos };
  return { rng, m, c1, c2, ri, kvDim };
}

const shapes = [
  { name: "stories260K-like (hs 8, 2 q heads per kv head)", dim: 64, nHeads: 8, nKvHeads: 4, hidden: 172, slots: 3, cap: 45, rows: 7 },
  { name: "odd sizes (hs 6, cap 13, hidden 20)", dim: 24, nHeads: 4, nKvHeads: 1, hidden: 20, slots: 2, cap: 13, rows: 5 },
  { name: "wide heads (hs 16), many rows (threaded kernels)", dim: 32, nHeads: 2, nKvHeads: 2, hidden: 40, slots: 8, cap: 300, rows: 2400 },
];

describe.skipIf(!hasNative)("native LM kernels match their TypeScript twins", () => {
  describe.each(shapes)("$name", (cfg) => {
    it("rmsnorm, swiglu and linear", () => {
      const { rng } = setup(11, cfg);
      const x = randomArray(rng, cfg.rows * cfg.dim, 3);
      const w = randomArray(rng, cfg.dim);
      const a = new Float32Array(x.length);
      const b = new Float32Array(x.length);
      native.rmsnorm(x, cfg.rows, cfg.dim, w, a, RMS_EPS);
      ref.rmsnorm(x, cfg.rows, cfg.dim, w, b, RMS_EPS);
      expect(relErr(a, b)).toBeLessThan(1e-6);
      const h13 = randomArray(rng, cfg.rows * 2 * cfg.hidden, 4);
      const s1 = new Float32Array(cfg.rows * cfg.hidden);
      const s2 = new Float32Array(cfg.rows * cfg.hidden);
      native.swiglu(h13, cfg.rows, cfg.hidden, s1);
      ref.swiglu(h13, cfg.rows, cfg.hidden, s2);
      expect(relErr(s1, s2)).toBeLessThan(1e-6);
      for (const [inDim, outDim] of [[cfg.dim, cfg.hidden], [cfg.hidden, cfg.dim], [cfg.dim, 3], [7, 17]] as const) {
        const xi = randomArray(rng, cfg.rows * inDim);
        const W = randomArray(rng, outDim * inDim);
        const o1 = new Float32Array(cfg.rows * outDim);
        const o2 = new Float32Array(cfg.rows * outDim);
        native.linear(xi, cfg.rows, inDim, W, outDim, o1);
        ref.linear(xi, cfg.rows, inDim, W, outDim, o2);
        expect(relErr(o1, o2)).toBeLessThan(1e-5);
      }
    });

    it("ropeStore and attention", () => {
      const { rng, m, c1, c2, ri, kvDim } = setup(12, cfg);
      const qkv = randomArray(rng, cfg.rows * (cfg.dim + 2 * kvDim));
      const q1 = qkv.slice();
      const q2 = qkv.slice();
      // Rows of one slot must not share a position, or the order of cache writes would matter.
      const seen = new Set<string>();
      for (let r = 0; r < ri.rows; r++) {
        while (seen.has(`${ri.rowSlot[r]}:${ri.rowPos[r]}`)) ri.rowPos[r] = (ri.rowPos[r]! + 1) % cfg.cap;
        seen.add(`${ri.rowSlot[r]}:${ri.rowPos[r]}`);
      }
      native.ropeStore(m, q1, ri, c1, 1);
      ref.ropeStore(m, q2, ri, c2, 1);
      expect(relErr(q1, q2)).toBeLessThan(1e-6);
      expect(relErr(c1.k, c2.k)).toBeLessThan(1e-6);
      expect(maxAbsDiff(c1.v, c2.v)).toBe(0);
      const o1 = new Float32Array(cfg.rows * cfg.dim);
      const o2 = new Float32Array(cfg.rows * cfg.dim);
      native.attention(m, q1, ri, c1, 1, o1);
      ref.attention(m, q2, ri, c2, 1, o2);
      expect(relErr(o1, o2)).toBeLessThan(2e-6);
      native.attention(m, q1, ri, c1, 0, o1);
      ref.attention(m, q2, ri, c2, 0, o2);
      expect(relErr(o1, o2)).toBeLessThan(2e-6);
    });

    it("fused attnBlock, mlpBlock and layers", () => {
      const { rng, m, c1, c2, ri } = setup(13, { ...cfg, rows: Math.min(cfg.rows, 6) });
      for (let r = 0; r < ri.rows; r++) ri.rowPos[r] = Math.min(cfg.cap - 1, 3 + r * 2);
      const x = randomArray(rng, ri.rows * cfg.dim);
      const a1 = new Float32Array(x.length);
      const a2 = new Float32Array(x.length);
      native.attnBlock(m, x, ri, c1, 1, a1);
      ref.attnBlock(m, x, ri, c2, 1, a2);
      expect(relErr(a1, a2)).toBeLessThan(1e-5);
      expect(relErr(c1.k, c2.k)).toBeLessThan(1e-5);
      native.mlpBlock(m, x, ri.rows, 0, a1);
      ref.mlpBlock(m, x, ri.rows, 0, a2);
      expect(relErr(a1, a2)).toBeLessThan(1e-5);
      const x1 = x.slice();
      const x2 = x.slice();
      native.layers(m, x1, ri, c1, 0, 2);
      ref.layers(m, x2, ri, c2, 0, 2);
      expect(relErr(x1, x2)).toBeLessThan(1e-5);
      expect(maxAbsDiff(x1, x)).toBeGreaterThan(1e-3);
    });
  });

  it("rmsnorm and swiglu over many rows (split across threads) match the twins", () => {
    const rng = new Rng(31);
    const rows = 5000;
    const x = randomArray(rng, rows * 64, 2);
    const w = randomArray(rng, 64);
    const a = new Float32Array(x.length);
    const b = new Float32Array(x.length);
    native.rmsnorm(x, rows, 64, w, a, RMS_EPS);
    ref.rmsnorm(x, rows, 64, w, b, RMS_EPS);
    expect(relErr(a, b)).toBeLessThan(1e-6);
    const h13 = randomArray(rng, rows * 2 * 40, 3);
    const s1 = new Float32Array(rows * 40);
    const s2 = new Float32Array(rows * 40);
    native.swiglu(h13, rows, 40, s1);
    ref.swiglu(h13, rows, 40, s2);
    expect(relErr(s1, s2)).toBeLessThan(1e-6);
  });

  it("is deterministic across runs, including threaded attention", () => {
    const cfg = shapes[2]!;
    const outs = [0, 1].map(() => {
      const { rng, m, c1, ri, kvDim } = setup(21, cfg);
      const qkv = randomArray(rng, cfg.rows * (cfg.dim + 2 * kvDim));
      const o = new Float32Array(cfg.rows * cfg.dim);
      native.attention(m, qkv, ri, c1, 1, o);
      return o;
    });
    expect(maxAbsDiff(outs[0]!, outs[1]!)).toBe(0);
  });

  it("rejects rows outside the cache or the model's context, and wrong sizes", () => {
    const cfg = shapes[0]!;
    const { m, c1, ri, kvDim } = setup(14, cfg);
    const qkv = new Float32Array(cfg.rows * (cfg.dim + 2 * kvDim));
    const out = new Float32Array(cfg.rows * cfg.dim);
    const bad = { ...ri, rowPos: ri.rowPos.slice() };
    bad.rowPos[2] = cfg.cap;
    for (const k of [native, ref] as LmKernels[]) {
      expect(() => k.attention(m, qkv, bad, c1, 0, out)).toThrow(/position 45/);
      expect(() => k.ropeStore(m, qkv, { ...ri, rowSlot: Int32Array.from(ri.rowSlot, () => 9) }, c1, 0)).toThrow(/slot 9/);
    }
    expect(() => native.linear(new Float32Array(3), 1, 4, new Float32Array(8), 2, new Float32Array(2))).toThrow(/array sizes/);
    expect(() => native.mlpBlock(m, new Float32Array(cfg.dim), 1, 5, new Float32Array(cfg.dim))).toThrow(/layer index/);
  });
});

describe.skipIf(hasNative)("native LM kernels", () => {
  it("skipped: the native addon was not built or lacks the LM kernels, so only the TypeScript twins run", () => {
    expect(native.name).toBe("reference");
  });
});
