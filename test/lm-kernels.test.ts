import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Rng } from "../src/tensor/rng.js";
import { referenceLmKernels, RMS_EPS, type KvCache, type LmKernels, type ModelBuffers, type RowInfo } from "../src/lm/kernels.js";
import { loadLmKernels } from "../src/lm/native.js";
import { nativeIsas } from "../src/tensor/native.js";
import { buildParams } from "../src/lm/params.js";
import { fromLlama2c } from "../src/lm/families/llama.js";
import { ropeTableFor } from "../src/lm/rope.js";
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
  const { spec, weights } = fromLlama2c(ckpt);
  const p = buildParams(spec, weights);
  const m: ModelBuffers = { buffer: p.buffer, layout: p.layout, rope: ropeTableFor(spec, ckpt.config.seqLen) };
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

/** Rows of a prefill: runs of consecutive positions in each slot (starting after `start[s]` cached ones). */
function prefillRows(runs: [slot: number, start: number, length: number][]): RowInfo {
  const rowSlot: number[] = [];
  const rowPos: number[] = [];
  for (const [slot, start, n] of runs) for (let i = 0; i < n; i++) { rowSlot.push(slot); rowPos.push(start + i); }
  return { rows: rowSlot.length, rowSlot: Int32Array.from(rowSlot), rowPos: Int32Array.from(rowPos) };
}

const prefillShapes = [
  { name: "hs 8, 2 query heads per kv head (stories260K)", dim: 64, nHeads: 8, nKvHeads: 4, hidden: 172, cap: 45 },
  { name: "hs 16, no sharing", dim: 32, nHeads: 2, nKvHeads: 2, hidden: 40, cap: 61 },
  { name: "hs 8, 4 query heads per kv head", dim: 32, nHeads: 4, nKvHeads: 1, hidden: 24, cap: 30 },
  { name: "hs 8, 8 query heads per kv head (one row per tile)", dim: 64, nHeads: 8, nKvHeads: 1, hidden: 20, cap: 19 },
  { name: "hs 6 (portable attention)", dim: 24, nHeads: 4, nKvHeads: 2, hidden: 20, cap: 13 },
];

describe.skipIf(!hasNative).each(prefillShapes)("native LM kernels on prefill-shaped passes: $name", (cfg) => {
  // Runs of several lengths, one continuing cached positions, one ending at the cache's last position.
  const runs: [number, number, number][] = [[0, 0, cfg.cap], [1, 2, Math.min(11, cfg.cap - 2)], [2, 0, 1], [3, cfg.cap - 9, 9], [4, 0, 7]];
  const ri = prefillRows(runs);
  const c = { ...cfg, slots: 5, rows: ri.rows };

  it("attention, the fused blocks, layers and the classifier match the twins", () => {
    const { rng, m, c1, c2, kvDim } = setup(41, c);
    const qkv = randomArray(rng, ri.rows * (cfg.dim + 2 * kvDim));
    const [q1, q2] = [qkv.slice(), qkv.slice()];
    native.ropeStore(m, q1, ri, c1, 1);
    ref.ropeStore(m, q2, ri, c2, 1);
    expect(relErr(c1.k, c2.k)).toBeLessThan(1e-6);
    expect(maxAbsDiff(c1.v, c2.v)).toBe(0);
    const [o1, o2] = [new Float32Array(ri.rows * cfg.dim), new Float32Array(ri.rows * cfg.dim)];
    native.attention(m, q1, ri, c1, 1, o1);
    ref.attention(m, q2, ri, c2, 1, o2);
    expect(relErr(o1, o2)).toBeLessThan(2e-6);
    const x = randomArray(rng, ri.rows * cfg.dim);
    native.attnBlock(m, x, ri, c1, 0, o1);
    ref.attnBlock(m, x, ri, c2, 0, o2);
    expect(relErr(o1, o2)).toBeLessThan(1e-5);
    native.mlpBlock(m, x, ri.rows, 1, o1);
    ref.mlpBlock(m, x, ri.rows, 1, o2);
    expect(relErr(o1, o2)).toBeLessThan(1e-5);
    const [x1, x2] = [x.slice(), x.slice()];
    native.layers(m, x1, ri, c1, 0, 2);
    ref.layers(m, x2, ri, c2, 0, 2);
    expect(relErr(x1, x2)).toBeLessThan(1e-5);
    const V = m.layout[7]!;
    const [l1, l2] = [new Float32Array(ri.rows * V), new Float32Array(ri.rows * V)];
    native.classify(m, x1, ri.rows, l1);
    ref.classify(m, x1, ri.rows, l2);
    expect(relErr(l1, l2)).toBeLessThan(1e-5);
  });

  it("layers = attnBlock, add, mlpBlock, add, bit for bit, and each row's result does not depend on the others in the pass", () => {
    const { rng, m, c1, c2 } = setup(42, c);
    const x = randomArray(rng, ri.rows * cfg.dim);
    const fused = x.slice();
    native.layers(m, fused, ri, c1, 0, 2);
    const split = x.slice();
    const tmp = new Float32Array(split.length);
    for (let l = 0; l < 2; l++) {
      native.attnBlock(m, split, ri, c2, l, tmp);
      for (let i = 0; i < split.length; i++) split[i] = split[i]! + tmp[i]!;
      native.mlpBlock(m, split, ri.rows, l, tmp);
      for (let i = 0; i < split.length; i++) split[i] = split[i]! + tmp[i]!;
    }
    expect(maxAbsDiff(fused, split)).toBe(0);
    // Rows of the second run again, in passes that group them differently (all but its first row;
    // its last row alone, as in decoding), over a copy of the cache the full pass filled: each row
    // gets exactly the value it got in the full pass.
    const [, start, n] = runs[1]!;
    const off = ri.rowSlot.indexOf(1);
    for (const from of [1, n - 1]) {
      const cache: KvCache = { ...c1, k: c1.k.slice(), v: c1.v.slice() };
      const sub: RowInfo = { rows: n - from, rowSlot: new Int32Array(n - from).fill(1), rowPos: Int32Array.from({ length: n - from }, (_, i) => start + from + i) };
      const xs = x.slice((off + from) * cfg.dim, (off + n) * cfg.dim);
      native.layers(m, xs, sub, cache, 0, 2);
      expect(maxAbsDiff(xs, fused.subarray((off + from) * cfg.dim, (off + n) * cfg.dim))).toBe(0);
    }
  });
});

describe.skipIf(!hasNative)("native LM kernels and threads", () => {
  const script = fileURLToPath(new URL("./helpers/lm-digest.ts", import.meta.url));
  const run = (threads: number, ...args: string[]) =>
    JSON.parse(execFileSync(process.execPath, ["--import", "tsx", script, ...args], { env: { ...process.env, SAELAB_THREADS: String(threads) } }).toString()) as { digest?: string; digests?: string[] };

  it("give bitwise-identical logits with 1, 2 and 3 threads, and from worker threads contending for the pool", () => {
    const digests = [1, 2, 3].map((t) => run(t).digest);
    expect(digests[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(new Set(digests).size).toBe(1);
    const concurrent = run(2, "--workers=2");
    expect(concurrent.digests).toHaveLength(4);
    expect(new Set(concurrent.digests)).toEqual(new Set([digests[0]]));
  }, 60_000);

  it("reject packed weights too short for the layout", () => {
    const { m } = setup(43, { ...prefillShapes[0]!, slots: 1, rows: 1 });
    const bad: ModelBuffers = { ...m, packed: new Float32Array(10) };
    expect(() => native.mlpBlock(bad, new Float32Array(64), 1, 0, new Float32Array(64))).toThrow(/packed weights too short/);
  });
});

const simdIsas = nativeIsas().filter((i) => i !== "portable");

describe.skipIf(simdIsas.length < 2)("native LM kernels on each ISA library", () => {
  // The AVX-512 products use 512-bit tiles, the AVX2 ones 256-bit tiles: each output is the same FMA
  // chain over k, so the libraries must agree bit for bit (the portable one computes attention differently).
  it("AVX-512 and AVX2 give the same bits for the fused layers and the classifier (ragged panels, many rows)", () => {
    const cfg = { dim: 40, nHeads: 5, nKvHeads: 5, hidden: 84, cap: 70 };
    const ri = prefillRows([[0, 0, 70], [1, 0, 33], [2, 5, 1], [3, 0, 9]]);
    const outs = simdIsas.map((isa) => {
      const k = loadLmKernels("native", isa);
      const { rng, m, c1 } = setup(44, { ...cfg, slots: 4, rows: ri.rows });
      const x = randomArray(rng, ri.rows * cfg.dim);
      k.layers(m, x, ri, c1, 0, 2);
      const logits = new Float32Array(ri.rows * m.layout[7]!);
      k.classify(m, x, ri.rows, logits);
      return { x, logits };
    });
    for (const o of outs.slice(1)) {
      expect(maxAbsDiff(o.x, outs[0]!.x)).toBe(0);
      expect(maxAbsDiff(o.logits, outs[0]!.logits)).toBe(0);
    }
  });
});

describe.skipIf(hasNative)("native LM kernels", () => {
  // Reported as skipped, with the reason as its name.
  it.skip("skipped: the native addon was not built or lacks the LM kernels, so only the TypeScript twins run", () => {});
});
