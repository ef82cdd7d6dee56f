/**
 * The un-absorbed SAE as a plain SAELens-style SAE with its own encoder. The exact transform
 * (mitigate.ts) makes a parent's activation a_P + c a_A, a sum of two rectified read-outs, which no
 * single `relu(W_enc^T x + b_enc)` (or JumpReLU) column can express in general. So:
 *   - decoder: the transformed rows, exactly;
 *   - absorbers: encoder column, bias and threshold scaled by s, exactly (s relu(z) = relu(s z));
 *   - parents: encoder column and bias refitted to the exact transform's activations on the given
 *     batches, by minimising sum over inputs with target t > 0 of (pre - t)^2 plus sum over inputs
 *     with t = 0 of max(0, pre - floor)^2 (pre = w . x' + b, floor a margin below the latent's
 *     threshold, which is 0 for ReLU). That objective is convex; it is solved by active-set Newton steps (least squares on the
 *     inputs that are fitted or violate the threshold) with a small ridge toward the old column.
 * The refit is an approximation of the exact transform; `fidelity` reports how close it is.
 * Which architecture the copy has, and which SAEs are refused (TopK: a fixed k cannot let the parent
 * fire in addition to its absorbers), is each architecture's `refit` entry in the registry.
 */
import { UserError } from "../errors.js";
import type { Kernels, SparseRows } from "../tensor/kernels.js";
import { Sae } from "../sae/model.js";
import { architectureOf, resolveSaeConfig, SaeConfigSchema } from "../sae/registry.js";
import type { SaeModel } from "../sae/types.js";
import type { UnabsorbedSae } from "./mitigate.js";

/** How close the refit SAE is to the exact transform, on the batches it was fitted to. */
export interface RefitFidelity {
  /** Mean squared reconstruction error per element: original SAE, exact transform, refit SAE. */
  mseBase: number;
  mseExact: number;
  mseRefit: number;
  /** Per refitted parent: R^2 of its refit activations against the exact transform's. */
  parents: { latent: number; r2: number | null; iterations: number }[];
}

const MAX_ITERATIONS = 30;
const RIDGE = 1e-5;
/** Silent inputs are fitted to threshold - MARGIN x (mean positive target). */
const MARGIN = 0.1;

/** Returns why an SAE of this architecture cannot be saved un-absorbed, or null when it can. */
export function refitRefusal(model: Pick<SaeModel, "architecture">): string | null {
  const facts = architectureOf(model).refit;
  return "refused" in facts ? `a ${model.architecture} SAE cannot be saved un-absorbed: ${facts.refused}` : null;
}

/** Returns a new untied SAE (of the architecture the base's registry entry names) approximating `model` with a refitted encoder, and its fidelity. */
export function refitSae(model: UnabsorbedSae, batches: readonly Float32Array[], kernels: Kernels): { sae: Sae; fidelity: RefitFidelity } {
  const base = model.base;
  const facts = architectureOf(base).refit;
  if ("refused" in facts) throw new UserError(`${refitRefusal(base)} (use the exact transform in the library, or a jumprelu/batchtopk SAE)`);
  const { dIn, dSae } = model;
  const hasThreshold = model.threshold !== undefined;
  const baseCfg = (base as { config?: Record<string, unknown> & { architecture: string } }).config;
  const config = SaeConfigSchema.parse({
    architecture: facts.architecture,
    dIn,
    dSae,
    tying: "untied",
    applyBDecToInput: base.applyBDecToInput !== false,
    bDecInit: "zeros",
    ...(typeof baseCfg?.name === "string" ? { name: `${baseCfg.name}-unabsorbed` } : {}),
    ...(baseCfg && facts.keep ? facts.keep(baseCfg as never) : {}),
  });
  if (hasThreshold !== architectureOf(config).hasThresholdParam) {
    throw new Error(`refit: a ${base.architecture} SAE ${hasThreshold ? "has" : "has no"} threshold but its refit architecture ${facts.architecture} ${hasThreshold ? "has none" : "needs one"}`);
  }
  const sae = new Sae(kernels, resolveSaeConfig(config, dIn));
  const p = sae.params;
  p.W_enc!.set(model.encoderWeights());
  p.W_dec.set(model.W_dec);
  p.b_enc.set(model.b_enc);
  p.b_dec.set(model.b_dec);
  if (hasThreshold) p.threshold!.set(model.threshold!);

  // Inputs in the encoder's frame, and the exact transform's activations of each parent.
  const rows = batches.reduce((s, x) => s + x.length / dIn, 0);
  const X = new Float32Array(rows * dIn);
  let off = 0;
  for (const x of batches) {
    X.set(x, off);
    off += x.length;
  }
  if (sae.applyBDecToInput) for (let r = 0; r < rows; r++) for (let i = 0; i < dIn; i++) X[r * dIn + i] = X[r * dIn + i]! - model.b_dec[i]!;
  const parents = [...new Set(model.transfers.flatMap((t) => t.parents))].sort((a, b) => a - b);
  const targets = new Map(parents.map((j) => [j, new Float32Array(rows)]));
  const baseActs: SparseRows[] = [];
  let r0 = 0;
  for (const x of batches) {
    const b = x.length / dIn;
    const raw = base.encode(x, b);
    baseActs.push(raw);
    const acts = model.transform(raw);
    for (let r = 0; r < b; r++) {
      for (let e = acts.rowPtr[r]!; e < acts.rowPtr[r + 1]!; e++) targets.get(acts.colIdx[e]!)?.set([acts.values[e]!], r0 + r);
    }
    r0 += b;
  }
  const fitted = parents.map((j) => {
    const theta = hasThreshold ? Math.max(0, model.threshold![j]!) : 0;
    const { w, b, iterations } = fitColumn(X, rows, dIn, targets.get(j)!, theta, columnOf(p.W_enc!, j, dIn, dSae), p.b_enc[j]!, kernels);
    for (let i = 0; i < dIn; i++) p.W_enc![i * dSae + j] = w[i]!;
    p.b_enc[j] = b;
    return { latent: j, iterations };
  });
  return { sae, fidelity: measure(model, sae, batches, baseActs, targets, fitted) };
}

function columnOf(W: Float32Array, j: number, n: number, d: number): Float64Array {
  const c = new Float64Array(n);
  for (let i = 0; i < n; i++) c[i] = W[i * d + j]!;
  return c;
}

/** Returns the column w and bias b minimising the squared fit of relu-with-threshold(X w + b) to t (see the module note). */
function fitColumn(X: Float32Array, rows: number, n: number, t: Float32Array, theta: number, w0: Float64Array, b0: number, kernels: Kernels): { w: Float64Array; b: number; iterations: number } {
  const m = n + 1;
  let w = Float64Array.from(w0);
  let b = b0;
  let active = new Uint8Array(rows);
  let iterations = 0;
  // Inputs that must stay silent are pulled a margin below the threshold, so that they do not end up
  // hovering around it and firing with tiny activations.
  let sumT = 0;
  let nT = 0;
  for (let r = 0; r < rows; r++) {
    if (t[r]! > 0) {
      sumT += t[r]!;
      nT++;
    }
  }
  const floor = theta - MARGIN * (nT > 0 ? sumT / nT : 1);
  for (; iterations < MAX_ITERATIONS; iterations++) {
    const next = new Uint8Array(rows);
    let count = 0;
    for (let r = 0; r < rows; r++) {
      let pre = b;
      for (let i = 0; i < n; i++) pre += X[r * n + i]! * w[i]!;
      if (t[r]! > 0 || pre > floor) {
        next[r] = 1;
        count++;
      }
    }
    if (iterations > 0 && next.every((v, r) => v === active[r])) break;
    active = next;
    if (count === 0) break;
    // Normal equations of the least-squares fit on the active inputs, [X 1] gathered and multiplied by gemm.
    const A = new Float32Array(count * m);
    const z = new Float64Array(count);
    let k = 0;
    for (let r = 0; r < rows; r++) {
      if (!active[r]) continue;
      A.set(X.subarray(r * n, (r + 1) * n), k * m);
      A[k * m + n] = 1;
      z[k] = t[r]! > 0 ? t[r]! : floor;
      k++;
    }
    const G = new Float32Array(m * m);
    kernels.gemm({ a: A, b: A, out: G, m, n: m, k: count, transA: true });
    const H = Float64Array.from(G);
    const g = new Float64Array(m);
    for (let q = 0; q < count; q++) for (let i = 0; i < m; i++) g[i]! += A[q * m + i]! * z[q]!;
    let trace = 0;
    for (let i = 0; i < m; i++) trace += H[i * m + i]!;
    // Inputs often span a subspace (toy worlds: the feature directions), leaving H singular; the ridge
    // keeps the old column's components outside it, and grows if float32 rounding still breaks H.
    let sol: Float64Array | null = null;
    for (let lambda = RIDGE * (trace / m + 1e-12); !sol && lambda < trace + 1; lambda *= 10) {
      const Hr = Float64Array.from(H);
      const gr = Float64Array.from(g);
      for (let i = 0; i < n; i++) {
        Hr[i * m + i]! += lambda;
        gr[i]! += lambda * w0[i]!;
      }
      Hr[n * m + n]! += lambda;
      gr[n]! += lambda * b0;
      sol = choleskySolve(Hr, gr, m);
    }
    if (!sol) break;
    w = sol.slice(0, n);
    b = sol[n]!;
  }
  return { w, b, iterations };
}

/** Solves H x = g for symmetric positive definite H [m, m] (float64); null when H is not positive definite. */
export function choleskySolve(H: Float64Array, g: Float64Array, m: number): Float64Array | null {
  const L = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i * m + j]!;
      for (let k = 0; k < j; k++) s -= L[i * m + k]! * L[j * m + k]!;
      if (i === j) {
        if (!(s > 0)) return null;
        L[i * m + i] = Math.sqrt(s);
      } else L[i * m + j] = s / L[j * m + j]!;
    }
  }
  const y = new Float64Array(m);
  for (let i = 0; i < m; i++) {
    let s = g[i]!;
    for (let k = 0; k < i; k++) s -= L[i * m + k]! * y[k]!;
    y[i] = s / L[i * m + i]!;
  }
  const x = new Float64Array(m);
  for (let i = m - 1; i >= 0; i--) {
    let s = y[i]!;
    for (let k = i + 1; k < m; k++) s -= L[k * m + i]! * x[k]!;
    x[i] = s / L[i * m + i]!;
  }
  return x;
}

function measure(model: UnabsorbedSae, sae: Sae, batches: readonly Float32Array[], baseActs: SparseRows[], targets: Map<number, Float32Array>, fitted: { latent: number; iterations: number }[]): RefitFidelity {
  const n = model.dIn;
  let seBase = 0;
  let seExact = 0;
  let seRefit = 0;
  let count = 0;
  const got = new Map(fitted.map((f) => [f.latent, new Float32Array(targets.get(f.latent)!.length)]));
  let r0 = 0;
  batches.forEach((x, bi) => {
    const b = x.length / n;
    const raw = baseActs[bi]!;
    const yBase = model.base.decode(raw);
    const yExact = model.decode(model.transform(raw));
    const acts = sae.encode(x, b);
    const yRefit = sae.decode(acts);
    for (let i = 0; i < b * n; i++) {
      seBase += (yBase[i]! - x[i]!) ** 2;
      seExact += (yExact[i]! - x[i]!) ** 2;
      seRefit += (yRefit[i]! - x[i]!) ** 2;
    }
    for (let r = 0; r < b; r++) for (let e = acts.rowPtr[r]!; e < acts.rowPtr[r + 1]!; e++) got.get(acts.colIdx[e]!)?.set([acts.values[e]!], r0 + r);
    count += b * n;
    r0 += b;
  });
  const parents = fitted.map((f) => {
    const t = targets.get(f.latent)!;
    const y = got.get(f.latent)!;
    let mean = 0;
    for (const v of t) mean += v;
    mean /= Math.max(t.length, 1);
    let ssRes = 0;
    let ssTot = 0;
    for (let r = 0; r < t.length; r++) {
      ssRes += (t[r]! - y[r]!) ** 2;
      ssTot += (t[r]! - mean) ** 2;
    }
    return { latent: f.latent, r2: ssTot > 0 ? 1 - ssRes / ssTot : null, iterations: f.iterations };
  });
  const mse = (s: number) => (count > 0 ? s / count : 0);
  return { mseBase: mse(seBase), mseExact: mse(seExact), mseRefit: mse(seRefit), parents };
}
