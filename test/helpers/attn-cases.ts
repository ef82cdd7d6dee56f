/**
 * Attention variants on tiny random models, the plain-loop float64 attention they are checked
 * against (written here, sharing no code with src/), and the passes test/lm-attn-variants.test.ts and
 * test/helpers/attn-digest.ts run on each native library: prefill runs of odd lengths in separate
 * slots, then one decoding row per slot.
 */
import { buildParams } from "../../src/lm/params.js";
import { fromLlama2c } from "../../src/lm/families/llama.js";
import { ropeTableFor } from "../../src/lm/rope.js";
import type { KvCache, LmKernels, ModelBuffers, RowInfo } from "../../src/lm/kernels.js";
import { Rng } from "../../src/tensor/rng.js";
import { tinyCheckpoint } from "../lm-fixtures.js";

/** A 2-layer model's attention: width dim = nHeads x head size, a window per layer, optional score scale and soft-cap. */
export interface Variant { name: string; dim: number; nHeads: number; nKvHeads: number; qWidth?: number; windows: (number | null)[]; scale?: number; softcap?: number; cap: number }

/** Rows of slot s at positions start..start+n-1 for each [s, start, n]. */
export function runsOf(runs: [number, number, number][]): RowInfo {
  const rowSlot: number[] = [];
  const rowPos: number[] = [];
  for (const [slot, start, n] of runs) for (let i = 0; i < n; i++) { rowSlot.push(slot); rowPos.push(start + i); }
  return { rows: rowSlot.length, rowSlot: Int32Array.from(rowSlot), rowPos: Int32Array.from(rowPos) };
}

/** A 2-layer model's buffers with the variant, and an empty cache factory of `slots` slots. */
export function setupVariant(v: Variant, slots = 4) {
  const ckpt = tinyCheckpoint(3, { dim: v.dim, nHeads: v.nHeads, nKvHeads: v.nKvHeads, hiddenDim: 24, seqLen: v.cap, nLayers: 2 });
  const { spec, weights } = fromLlama2c(ckpt);
  const p = buildParams(spec, weights);
  const layout = p.layout.slice();
  // The model width differs from the query width (nHeads x headSize) as in Gemma 2; rotary and attention read only the latter.
  if (v.qWidth !== undefined) layout[0] = v.qWidth;
  const m: ModelBuffers = { buffer: p.buffer, layout, rope: ropeTableFor(spec, v.cap), windows: v.windows, ...(v.scale !== undefined ? { attnScale: v.scale } : {}), ...(v.softcap !== undefined ? { attnSoftcap: v.softcap } : {}) };
  const hs = v.dim / v.nHeads;
  const kvDim = hs * v.nKvHeads;
  const cache = (): KvCache => ({ slots, cap: v.cap, nLayers: 2, kvDim, k: new Float32Array(2 * slots * kvDim * v.cap), v: new Float32Array(2 * slots * kvDim * v.cap), lengths: new Int32Array(slots) });
  return { m, hs, kvDim, qDim: v.dim, cache };
}

/** Plain-loop attention over the cache: rows' rotated queries q [rows, qDim] (row stride `stride`), keys [layer, slot, kvDim, cap], values [layer, slot, cap, kvDim]. */
export function naiveAttention(v: Variant, q: Float32Array, stride: number, ri: RowInfo, c: KvCache, layer: number): Float64Array {
  const hs = v.dim / v.nHeads;
  const mul = v.nHeads / v.nKvHeads;
  const kvDim = hs * v.nKvHeads;
  const scale = v.scale ?? 1 / Math.sqrt(hs);
  const w = v.windows[layer] ?? Infinity;
  const out = new Float64Array(ri.rows * v.dim);
  for (let r = 0; r < ri.rows; r++) {
    const slot = ri.rowSlot[r]!;
    const p = ri.rowPos[r]!;
    for (let h = 0; h < v.nHeads; h++) {
      const g = Math.floor(h / mul);
      const ts: number[] = [];
      const s: number[] = [];
      for (let t = 0; t <= p; t++) {
        if (p - t >= w) continue;
        let dot = 0;
        for (let d = 0; d < hs; d++) dot += q[r * stride + h * hs + d]! * c.k[((layer * c.slots + slot) * kvDim + g * hs + d) * c.cap + t]!;
        const z = dot * scale;
        s.push(v.softcap === undefined ? z : v.softcap * Math.tanh(z / v.softcap));
        ts.push(t);
      }
      const mx = Math.max(...s);
      const e = s.map((x) => Math.exp(x - mx));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let d = 0; d < hs; d++) {
        let acc = 0;
        ts.forEach((t, j) => (acc += e[j]! * c.v[((layer * c.slots + slot) * c.cap + t) * kvDim + g * hs + d]!));
        out[r * v.dim + h * hs + d] = acc / sum;
      }
    }
  }
  return out;
}

/**
 * Variants for the SIMD libraries' tiles: head sizes 8 (pairs of query heads per 512-bit vector,
 * and an odd head left over), 16, 24 (a 16-channel block and an 8-channel tail), 48 and 64; 1 to 12
 * query heads per key/value head (12: one row per tile, every row decodes alone); windows, score
 * scales and soft-caps. cap 72 is not a multiple of 16.
 */
export const ISA_VARIANTS: Variant[] = [
  { name: "hs 8, 2 query heads per kv head (stories260K)", dim: 64, nHeads: 8, nKvHeads: 4, windows: [null, null], cap: 72 },
  { name: "hs 8, 3 per kv head, window 5 on layer 0", dim: 48, nHeads: 6, nKvHeads: 2, windows: [5, null], cap: 72 },
  { name: "hs 8, 6 per kv head, window 13, soft-cap 4", dim: 48, nHeads: 6, nKvHeads: 1, windows: [13, 13], softcap: 4, cap: 72 },
  { name: "hs 16, 4 per kv head, window 9 on layer 1, soft-cap 3, scale 0.2", dim: 64, nHeads: 4, nKvHeads: 1, windows: [null, 9], scale: 0.2, softcap: 3, cap: 72 },
  { name: "hs 24, no sharing, window 17", dim: 72, nHeads: 3, nKvHeads: 3, windows: [17, 17], cap: 72 },
  { name: "hs 48, 2 per kv head, soft-cap 5", dim: 192, nHeads: 4, nKvHeads: 2, windows: [null, null], softcap: 5, cap: 72 },
  { name: "hs 64, no sharing", dim: 128, nHeads: 2, nKvHeads: 2, windows: [null, null], cap: 72 },
  { name: "hs 64, 12 per kv head (rows decode alone), window 33", dim: 768, nHeads: 12, nKvHeads: 1, windows: [33, null], cap: 72 },
];

/** Prefill run lengths (one slot each, from position 0): around the 8- and 16-position blocks. */
export const RUN_LENGTHS = [1, 7, 9, 17, 33, 70];

/** One attention call's inputs: rows, their rotated queries (row stride `stride`), the filled cache and the layer. */
export interface AttnPass { ri: RowInfo; q: Float32Array; stride: number; cache: KvCache; layer: number }

/** For each layer: the prefill pass of RUN_LENGTHS and then a decoding row per slot at the next position, over a cache the reference kernels filled. */
export function attentionPasses(v: Variant, ref: LmKernels): { m: ModelBuffers; passes: AttnPass[] } {
  const { m, kvDim, qDim, cache } = setupVariant(v, RUN_LENGTHS.length);
  const stride = qDim + 2 * kvDim;
  const rng = new Rng(7);
  const prefill = runsOf(RUN_LENGTHS.map((n, s) => [s, 0, n]));
  const step = runsOf(RUN_LENGTHS.map((n, s) => [s, n, 1]));
  const passes: AttnPass[] = [];
  for (const layer of [0, 1]) {
    const c = cache();
    for (const ri of [prefill, step]) {
      const q = rng.fillNormal(new Float32Array(ri.rows * stride), 0, 1);
      ref.ropeStore(m, q, ri, c, layer);
      passes.push({ ri, q, stride, cache: c, layer });
    }
  }
  return { m, passes };
}

/** The attention outputs of `passes` through `lm`, one array per pass. */
export function runPasses(lm: LmKernels, m: ModelBuffers, passes: readonly AttnPass[], qDim: number): Float32Array[] {
  return passes.map((p) => {
    const out = new Float32Array(p.ri.rows * qDim);
    lm.attention(m, p.q, p.ri, p.cache, p.layer, out);
    return out;
  });
}
