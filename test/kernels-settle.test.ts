/**
 * Conformance of settle (mixed precision's exact values of its candidates and the rule's choice among
 * them, src/sae/bf16.ts) on every backend and ISA against a plain-loop reference written here: each
 * value fp32(fp32(v * gain) + bias), then the entries each rule keeps (above a threshold, the jumprelu
 * window, top k per row and batch top k of the positive values with ties to the earlier entry, all),
 * in order, bitwise. Shapes with empty rows, rows shorter and longer than k, many ties (quantized
 * values), NaN values, k = 0 and a k past every row. The thread count is covered by
 * test/kernels-native.test.ts's digest.
 */
import { describe, expect, it } from "vitest";
import { availableKernels, backendLabel, parseIsa } from "../src/tensor/backend.js";
import type { Kernels, SettleRule, SparseRows } from "../src/tensor/kernels.js";
import { Rng } from "../src/tensor/rng.js";
import { expectSameSparse, quantized, rand, randSparse } from "./helpers/kernels.js";

const backends = availableKernels(parseIsa(process.env.SAELAB_ISA));

/** The settled matrix, from plain loops over copies of the inputs. */
function expected(s: SparseRows, bias: Float32Array, gain: Float32Array | undefined, rule: SettleRule | null): SparseRows {
  const v: number[] = [];
  for (let e = 0; e < s.nnz; e++) {
    const j = s.colIdx[e]!;
    v.push(Math.fround((gain ? Math.fround(s.values[e]! * gain[j]!) : s.values[e]!) + bias[j]!));
  }
  const rowOfEntry = new Int32Array(s.nnz);
  for (let r = 0; r < s.rows; r++) rowOfEntry.fill(r, s.rowPtr[r]!, s.rowPtr[r + 1]!);
  const rowOf = (e: number) => rowOfEntry[e]!;
  /** The first `k` of `entries` by value, descending, the earlier entry first among equals. */
  const largest = (entries: number[], k: number) => new Set(entries.filter((e) => v[e]! > 0).sort((a, b) => v[b]! - v[a]! || a - b).slice(0, k));
  const all = Array.from({ length: s.nnz }, (_, e) => e);
  let keep: (e: number) => boolean = () => true;
  if (rule?.kind === "above") keep = (e) => v[e]! > (rule.threshold ? rule.threshold[s.colIdx[e]!]! : 0);
  else if (rule?.kind === "window") keep = (e) => Math.abs(v[e]! - rule.center[s.colIdx[e]!]!) < rule.halfWidth;
  else if (rule?.kind === "topkBatch") {
    const kept = largest(all, rule.total);
    keep = (e) => kept.has(e);
  } else if (rule?.kind === "topk") {
    const kept = new Set<number>();
    for (let r = 0; r < s.rows; r++) largest(all.slice(s.rowPtr[r]!, s.rowPtr[r + 1]!), rule.k).forEach((e) => kept.add(e));
    keep = (e) => kept.has(e);
  }
  const rowPtr = new Int32Array(s.rows + 1), colIdx: number[] = [], values: number[] = [];
  for (const e of all) {
    if (!keep(e)) continue;
    rowPtr[rowOf(e) + 1]!++;
    colIdx.push(s.colIdx[e]!);
    values.push(v[e]!);
  }
  for (let r = 0; r < s.rows; r++) rowPtr[r + 1]! += rowPtr[r]!;
  return { rows: s.rows, cols: s.cols, rowPtr, colIdx: Int32Array.from(colIdx), values: Float32Array.from(values), nnz: colIdx.length };
}

function copy(s: SparseRows): SparseRows {
  return { ...s, rowPtr: s.rowPtr.slice(), colIdx: s.colIdx.slice(), values: s.values.slice() };
}

// rows, cols, density: one entry, empty rows (first and last), rows of a few entries, rows of hundreds.
const SHAPES: [number, number, number][] = [[1, 1, 1], [7, 5, 0.6], [40, 90, 0.3], [300, 512, 0.12], [5, 2000, 0.4]];

describe.each(backends.map((k) => [backendLabel(k), k] as const))("%s backend: settle", (_name, K: Kernels) => {
  it("gives each entry fp32(fp32(v * gain) + bias) and keeps what each rule keeps, in order, bitwise", () => {
    const rng = new Rng(7);
    for (const [rows, cols, density] of SHAPES) {
      for (const ties of [false, true]) {
        const s = randSparse(rng, rows, cols, density, rows > 2 ? [0, rows - 1] : []);
        s.values = ties ? quantized(rng, Math.max(s.nnz, 1)) : rand(rng, Math.max(s.nnz, 1), -3, 3);
        if (s.nnz > 3) s.values[s.nnz >> 1] = NaN;
        const bias = ties ? quantized(rng, cols, 2) : rand(rng, cols, -0.5, 0.5);
        const gain = rand(rng, cols, 0.5, 1.5);
        const perRow = Math.max(1, Math.round(density * cols));
        const rules: (SettleRule | null)[] = [
          null,
          { kind: "above" },
          { kind: "above", threshold: rand(rng, cols, 0, 1) },
          { kind: "window", center: rand(rng, cols), halfWidth: 0.75 },
          { kind: "topk", k: 0 },
          { kind: "topk", k: 1 },
          { kind: "topk", k: Math.ceil(perRow / 3) },
          { kind: "topk", k: cols + 1 },
          { kind: "topkBatch", total: 0 },
          { kind: "topkBatch", total: Math.ceil(s.nnz / 5) },
          { kind: "topkBatch", total: s.nnz + 1 },
        ];
        for (const rule of rules) {
          for (const g of [undefined, gain]) {
            const what = `${rows}x${cols} nnz=${s.nnz} ties=${ties} ${rule ? JSON.stringify({ ...rule, threshold: undefined, center: undefined }) : "null"} gain=${!!g}`;
            const got = copy(s);
            K.settle({ s: got, bias, gain: g, rule });
            expectSameSparse(got, expected(s, bias, g, rule), what);
          }
        }
      }
    }
  });

  it("checks its arguments", () => {
    const s = randSparse(new Rng(1), 3, 5, 0.5);
    expect(() => K.settle({ s: copy(s), bias: new Float32Array(4), rule: null })).toThrow(/settle bias/);
    expect(() => K.settle({ s: copy(s), bias: new Float32Array(5), gain: new Float32Array(2), rule: null })).toThrow(/settle gain/);
    expect(() => K.settle({ s: copy(s), bias: new Float32Array(5), rule: { kind: "topk", k: -1 } })).toThrow(/k/);
  });
});
