/**
 * Shared machinery of the gradient tests (sae-grad*.test.ts): one training step on the fixtures'
 * batch, the sparsity-pattern signature that decides where finite differences are valid, the central
 * finite-difference sweep, and the native-versus-reference step comparison.
 */
import { expect } from "vitest";
import type { Kernels, SparseRows } from "../src/tensor/kernels.js";
import { forwardBackward } from "../src/sae/step.js";
import { viewsOf } from "../src/sae/params.js";
import { Sae } from "../src/sae/model.js";
import { BATCH, kernels } from "./sae-fixtures.js";

export const COEF = 0.2;

/** "sparse" forces the sparse products; "dense" the GEMM fallback wherever it applies (single level, no gain). */
export type Path = "sparse" | "dense";
export const PATHS: Path[] = ["sparse", "dense"];

/** Returns one step's result, gradients and workspace on the fixtures' batch (reference kernels). */
export function run(sae: Sae, x: Float32Array, dead: Uint8Array, path: Path = "sparse") {
  const grads = viewsOf(sae.layout, new Float32Array(sae.layout.size));
  const ws = sae.workspace(BATCH);
  const { result } = forwardBackward({
    kernels, sae, def: sae.def, levels: sae.levels, grads, ws, x, batch: BATCH, coefficient: COEF, deadMask: dead, numDead: dead.reduce((a, v) => a + v, 0),
    denseAbove: path === "dense" ? 0 : 1,
  });
  return { result, grads, ws };
}

/** Returns a CSR pattern (row offsets and column indices) as a string. */
export function patternOf(s: SparseRows): string {
  return `${Array.from(s.rowPtr.subarray(0, s.rows + 1)).join(",")}|${Array.from(s.colIdx.subarray(0, s.nnz)).join(",")}`;
}

/** Returns the sparsity patterns of one step: fired latents and every sparse set in the workspace (STE window, dead entries...). */
export function signature(sae: Sae, x: Float32Array, dead: Uint8Array): string {
  const { ws } = run(sae, x, dead, "sparse");
  const parts = [patternOf(ws.acts)];
  for (const [k, v] of ws.scratch) if (!(v instanceof Float32Array || v instanceof Float64Array || v instanceof Uint8Array) && k !== "lv:enc" && k !== "ex:enc") parts.push(`${k}:${patternOf(v)}`);
  return parts.join(";");
}

/**
 * Compares `analytic` with central differences of `lossAt` over parameters `indices` (step h), only
 * where the sparsity pattern is the same at +h and -h; returns the mismatches and how many were checked.
 */
export function finiteDiffSweep(
  sae: Sae, x: Float32Array, dead: Uint8Array, analytic: Float32Array, indices: Iterable<[name: string, i: number]>, lossAt: () => number, h: number,
  expected: (i: number) => number = (i) => analytic[i]!,
): { bad: string[]; checked: number; candidates: number } {
  const buf = sae.params.buffer;
  const base = signature(sae, x, dead);
  const bad: string[] = [];
  let checked = 0;
  let candidates = 0;
  for (const [name, i] of indices) {
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
    const g = expected(i);
    if (!(Math.abs(g - fd) <= 2e-3 + 1e-2 * Math.abs(fd))) bad.push(`${name}: analytic ${g}, fd ${fd}`);
  }
  return { bad, checked, candidates };
}

/** Returns (entry name[index], flat index) for every parameter except those in `skip`. */
export function* parameterIndices(sae: Sae, skip: ReadonlySet<string> = new Set()): Generator<[string, number]> {
  for (const entry of sae.layout.entries) {
    if (skip.has(entry.name)) continue;
    const size = entry.shape.reduce((a, b) => a * b, 1);
    for (let i = entry.offset; i < entry.offset + size; i++) yield [`${entry.name}[${i - entry.offset}]`, i];
  }
}

/** Returns the step's losses, gradient buffer and workspace for `sae`'s parameters run on kernels `K` (in mixed precision with `bf16`). */
export function twinStep(K: Kernels, sae: Sae, x: Float32Array, batch: number, dead: Uint8Array, denseAbove: number, bf16 = false) {
  const twin = new Sae(K, sae.config, Float32Array.from(sae.params.buffer));
  twin.state.topkThreshold = sae.state.topkThreshold;
  const grads = viewsOf(twin.layout, new Float32Array(twin.layout.size));
  const { result } = forwardBackward({
    kernels: K, sae: twin, def: twin.def, levels: twin.levels, grads, ws: twin.workspace(batch), x, batch, coefficient: COEF, deadMask: dead,
    numDead: dead.reduce((a, v) => a + v, 0), denseAbove, bf16,
  });
  return { result, grads: grads.buffer, ws: twin.workspace(batch) };
}

/** Expects two steps' losses and gradients to agree to float32 accuracy. */
export function expectStepsAgree(got: ReturnType<typeof twinStep>, want: ReturnType<typeof twinStep>): void {
  expect(Object.keys(got.result.losses).sort()).toEqual(Object.keys(want.result.losses).sort());
  for (const [k, v] of Object.entries(want.result.losses)) expect(Math.abs(got.result.losses[k]! - v), `loss ${k}`).toBeLessThanOrEqual(1e-4 * (1 + Math.abs(v)));
  let scale = 0;
  for (const g of want.grads) scale = Math.max(scale, Math.abs(g));
  for (let i = 0; i < want.grads.length; i++) {
    const d = Math.abs(got.grads[i]! - want.grads[i]!);
    if (!(d <= 1e-4 * scale + 1e-3 * Math.abs(want.grads[i]!))) expect.fail(`gradient[${i}]: native ${got.grads[i]}, reference ${want.grads[i]}`);
  }
}
