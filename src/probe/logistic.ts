/**
 * Logistic-regression probes on saelab's kernels.
 *
 * `trainLogisticProbes` fits several one-vs-rest probes at once by minibatch Adam, as SAEBench's
 * `train_multi_probe` does (sae_bench/evals/absorption/probing.py): binary cross-entropy with a
 * per-probe positive weight (negatives / positives, "balanced"), an optional L1 penalty on the
 * weights (mean over probes of sum |w|, SAEBench's k-sparse probe term) and an L2 term on every
 * parameter (Adam's weight_decay), with the learning rate decayed exponentially from `lr` to `endLr`
 * over the epochs. The products run on `Kernels.gemm` and the update on `Kernels.adam`.
 *
 * `fitLogisticL2` is the small, exact fit SAEBench delegates to scikit-learn's `LogisticRegression`
 * (C = 1, class_weight "balanced", unpenalised intercept) for its k-sparse probes: Newton's method on
 * k + 1 parameters, run to a zero gradient.
 */
import { z } from "zod";
import { parseConfig } from "../errors.js";
import type { Kernels } from "../tensor/kernels.js";
import { Rng } from "../tensor/rng.js";

/** Settings of `trainLogisticProbes` (defaults: SAEBench's first-letter probe). */
export const LogisticTrainSchema = z
  .object({
    epochs: z.number().int().min(1).default(50).describe("Passes over the training rows."),
    batchSize: z.number().int().min(1).default(64).describe("Rows per Adam step."),
    lr: z.number().positive().default(0.01).describe("Initial learning rate."),
    endLr: z.number().positive().default(1e-5).describe("Learning rate after the last epoch (exponential decay per epoch)."),
    l1: z.number().min(0).default(0).describe("L1 penalty: l1 * mean over probes of sum_j |w_j|."),
    l2: z.number().min(0).default(1e-4).describe("L2 penalty on weights and biases, (l2 / 2) * ||theta||^2 (Adam's weight_decay)."),
    balanced: z.boolean().default(true).describe("Weight each probe's positives by negatives / positives (BCE pos_weight)."),
    seed: z.number().int().default(42).describe("Seed of the minibatch shuffle."),
  })
  .strict();
export type LogisticTrain = z.infer<typeof LogisticTrainSchema>;
export type LogisticTrainInput = z.input<typeof LogisticTrainSchema>;

/** `nOut` linear probes over `nIn` inputs: logit_c = w_c . x + b_c. */
export interface LogisticProbes {
  nIn: number;
  nOut: number;
  /** [nOut, nIn]. */
  weights: Float32Array;
  /** [nOut]. */
  bias: Float32Array;
}

/** Returns the [n, nOut] logits of `probes` on x [n, nIn]. */
export function probeLogits(kernels: Kernels, probes: LogisticProbes, x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * probes.nOut);
  if (n === 0) return out;
  kernels.gemm({ a: x, b: probes.weights, out, m: n, n: probes.nOut, k: probes.nIn, transB: true, bias: probes.bias });
  return out;
}

/** Returns each probe's positive weight, negatives / positives (1 when a probe has no positives or no negatives). */
export function balancedPosWeights(y: Float32Array, n: number, nOut: number): Float32Array {
  const pos = new Float64Array(nOut);
  for (let i = 0; i < n; i++) for (let c = 0; c < nOut; c++) pos[c]! += y[i * nOut + c]!;
  return Float32Array.from(pos, (p) => (p > 0 && p < n ? (n - p) / p : 1));
}

/** Loss terms of `logisticLossAndGrad`. */
export interface LossTerms {
  l1: number;
  l2: number;
  posWeight?: Float32Array;
}

/**
 * Returns the penalised loss of `probes` on rows x [n, nIn] with 0/1 targets y [n, nOut] and its
 * gradient: mean pos-weighted BCE over the n * nOut entries + l1 * mean_c sum_j |w_cj| + (l2 / 2) * ||theta||^2.
 * Plain loops (the finite-difference tests check it; training uses the same algebra on the kernels).
 */
export function logisticLossAndGrad(probes: LogisticProbes, x: Float32Array, y: Float32Array, n: number, t: LossTerms): { loss: number; gW: Float64Array; gB: Float64Array } {
  const { nIn, nOut, weights: w, bias: b } = probes;
  const gW = new Float64Array(nOut * nIn);
  const gB = new Float64Array(nOut);
  let loss = 0;
  const scale = 1 / (n * nOut);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < nOut; c++) {
      let z = b[c]!;
      for (let j = 0; j < nIn; j++) z += w[c * nIn + j]! * x[i * nIn + j]!;
      const yi = y[i * nOut + c]!;
      const p = t.posWeight ? t.posWeight[c]! : 1;
      loss += scale * (p * yi * softplus(-z) + (1 - yi) * softplus(z));
      const g = scale * bceGrad(z, yi, p);
      gB[c]! += g;
      for (let j = 0; j < nIn; j++) gW[c * nIn + j]! += g * x[i * nIn + j]!;
    }
  }
  for (let e = 0; e < w.length; e++) {
    const v = w[e]!;
    loss += (t.l1 / nOut) * Math.abs(v) + (t.l2 / 2) * v * v;
    gW[e]! += (t.l1 / nOut) * Math.sign(v) + t.l2 * v;
  }
  for (let c = 0; c < nOut; c++) {
    loss += (t.l2 / 2) * b[c]! * b[c]!;
    gB[c]! += t.l2 * b[c]!;
  }
  return { loss, gW, gB };
}

/** Returns d/dz of the pos-weighted BCE with logits: sigmoid(z) (p y + 1 - y) - p y. */
function bceGrad(z: number, y: number, p: number): number {
  return sigmoid(z) * (p * y + 1 - y) - p * y;
}

/** Returns log(1 + e^z) without overflow. */
function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** Returns 1 / (1 + e^-z). */
export function sigmoid(z: number): number {
  return z >= 0 ? 1 / (1 + Math.exp(-z)) : Math.exp(z) / (1 + Math.exp(z));
}

/**
 * Returns `nOut` probes trained by minibatch Adam on x [n, nIn] with 0/1 targets y [n, nOut]
 * (see the module note). Deterministic for a seed: the shuffle and initialisation come from it.
 */
export function trainLogisticProbes(
  kernels: Kernels,
  x: Float32Array,
  y: Float32Array,
  n: number,
  nIn: number,
  nOut: number,
  options: LogisticTrainInput = {},
): LogisticProbes {
  const o: LogisticTrain = parseConfig(LogisticTrainSchema, options, "logistic probe options");
  if (x.length !== n * nIn) throw new RangeError(`x has ${x.length} values, not ${n} x ${nIn}`);
  if (y.length !== n * nOut) throw new RangeError(`y has ${y.length} values, not ${n} x ${nOut}`);
  // One buffer [weights | bias] so Adam is one kernel call.
  const P = nOut * nIn + nOut;
  const params = new Float32Array(P);
  initUniform(params, nIn, nOut, new Rng(o.seed).fork("init"));
  const probes: LogisticProbes = { nIn, nOut, weights: params.subarray(0, nOut * nIn), bias: params.subarray(nOut * nIn) };
  const grads = new Float32Array(P);
  const m = new Float32Array(P);
  const v = new Float32Array(P);
  const posWeight = o.balanced ? balancedPosWeights(y, n, nOut) : new Float32Array(nOut).fill(1);
  const gamma = Math.exp(Math.log(o.endLr / o.lr) / o.epochs);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const shuffle = new Rng(o.seed).fork("shuffle");
  const B = Math.min(o.batchSize, Math.max(n, 1));
  const xb = new Float32Array(B * nIn);
  const yb = new Float32Array(B * nOut);
  const logits = new Float32Array(B * nOut);
  let step = 0;
  for (let epoch = 0; epoch < o.epochs; epoch++) {
    const lr = o.lr * Math.pow(gamma, epoch);
    shuffleInPlace(order, shuffle);
    for (let s = 0; s < n; s += B) {
      const rows = Math.min(B, n - s);
      for (let r = 0; r < rows; r++) {
        const i = order[s + r]!;
        xb.set(x.subarray(i * nIn, (i + 1) * nIn), r * nIn);
        yb.set(y.subarray(i * nOut, (i + 1) * nOut), r * nOut);
      }
      const xr = xb.subarray(0, rows * nIn);
      const lg = logits.subarray(0, rows * nOut);
      kernels.gemm({ a: xr, b: probes.weights, out: lg, m: rows, n: nOut, k: nIn, transB: true, bias: probes.bias });
      // lg becomes dLoss/dlogit (mean over the rows * nOut entries).
      const scale = 1 / (rows * nOut);
      const gB = grads.subarray(nOut * nIn);
      gB.fill(0);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < nOut; c++) {
          const g = scale * bceGrad(lg[r * nOut + c]!, yb[r * nOut + c]!, posWeight[c]!);
          lg[r * nOut + c] = g;
          gB[c]! += g;
        }
      }
      kernels.gemm({ a: lg, b: xr, out: grads.subarray(0, nOut * nIn), m: nOut, n: nIn, k: rows, transA: true });
      addPenaltyGrads(params, grads, nOut * nIn, o.l1 / nOut, o.l2);
      kernels.adam({ params, grads, m, v, lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: ++step });
    }
  }
  return probes;
}

/** Adds the L1 subgradient (weights only) and the L2 gradient (all parameters) to `grads`. */
function addPenaltyGrads(params: Float32Array, grads: Float32Array, nWeights: number, l1: number, l2: number): void {
  for (let e = 0; e < params.length; e++) {
    const p = params[e]!;
    grads[e]! += l2 * p + (e < nWeights && l1 > 0 ? l1 * Math.sign(p) : 0);
  }
}

/** Fills weights and biases with U(-1/sqrt(nIn), 1/sqrt(nIn)), as torch.nn.Linear initialises them. */
function initUniform(params: Float32Array, nIn: number, _nOut: number, rng: Rng): void {
  const bound = 1 / Math.sqrt(nIn);
  for (let e = 0; e < params.length; e++) params[e] = rng.uniformIn(-bound, bound);
}

/** Fisher-Yates shuffle driven by `rng`. */
function shuffleInPlace(a: Int32Array, rng: Rng): void {
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** A single binary probe from `fitLogisticL2`. */
export interface BinaryProbe {
  /** [k]. */
  weight: Float64Array;
  bias: number;
  /** Newton iterations taken. */
  iterations: number;
  /** Max-norm of the objective's gradient at the solution. */
  gradNorm: number;
}

/**
 * Returns the minimiser of 0.5 ||w||^2 + C sum_i s_i logloss(y_i, w . x_i + b) over x [n, k]
 * (scikit-learn's L2 LogisticRegression; s_i = n / (2 n_{y_i}) when balanced, else 1), by damped Newton steps.
 */
export function fitLogisticL2(x: ArrayLike<number>, y: ArrayLike<number>, n: number, k: number, opts: { C?: number; balanced?: boolean; maxIter?: number; tol?: number } = {}): BinaryProbe {
  const C = opts.C ?? 1;
  const maxIter = opts.maxIter ?? 100;
  const tol = opts.tol ?? 1e-9;
  let nPos = 0;
  for (let i = 0; i < n; i++) nPos += y[i]! > 0.5 ? 1 : 0;
  const sw = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const pos = y[i]! > 0.5;
    sw[i] = C * (opts.balanced ?? true ? n / (2 * Math.max(1, pos ? nPos : n - nPos)) : 1);
  }
  const K = k + 1; // parameters: w_0..w_{k-1}, b
  const theta = new Float64Array(K);
  const objective = (th: Float64Array): number => {
    let f = 0;
    for (let j = 0; j < k; j++) f += 0.5 * th[j]! * th[j]!;
    for (let i = 0; i < n; i++) {
      let z = th[k]!;
      for (let j = 0; j < k; j++) z += th[j]! * x[i * k + j]!;
      f += sw[i]! * (y[i]! > 0.5 ? softplus(-z) : softplus(z));
    }
    return f;
  };
  let iterations = 0;
  let gradNorm = Infinity;
  for (; iterations < maxIter; iterations++) {
    const g = new Float64Array(K);
    const H = new Float64Array(K * K);
    for (let j = 0; j < k; j++) {
      g[j] = theta[j]!;
      H[j * K + j] = 1;
    }
    for (let i = 0; i < n; i++) {
      let z = theta[k]!;
      for (let j = 0; j < k; j++) z += theta[j]! * x[i * k + j]!;
      const p = sigmoid(z);
      const r = sw[i]! * (p - (y[i]! > 0.5 ? 1 : 0));
      const h = sw[i]! * p * (1 - p);
      for (let a = 0; a < K; a++) {
        const xa = a < k ? x[i * k + a]! : 1;
        g[a]! += r * xa;
        for (let c = 0; c <= a; c++) H[a * K + c]! += h * xa * (c < k ? x[i * k + c]! : 1);
      }
    }
    for (let a = 0; a < K; a++) for (let c = a + 1; c < K; c++) H[a * K + c] = H[c * K + a]!;
    gradNorm = Math.max(...Array.from(g, Math.abs));
    if (gradNorm <= tol) break;
    const step = solveSpd(H, g, K);
    const f0 = objective(theta);
    let t = 1;
    const trial = new Float64Array(K);
    let improved = false;
    for (let ls = 0; ls < 30 && !improved; ls++, t /= 2) {
      for (let a = 0; a < K; a++) trial[a] = theta[a]! - t * step[a]!;
      improved = objective(trial) <= f0;
    }
    // No step lowers the objective: the gradient left is rounding, the minimum is reached.
    if (!improved) break;
    theta.set(trial);
  }
  return { weight: theta.slice(0, k), bias: theta[k]!, iterations, gradNorm };
}

/** Returns H^-1 g for a symmetric positive-definite H [K, K] (Cholesky, with a tiny ridge if needed). */
function solveSpd(H: Float64Array, g: Float64Array, K: number): Float64Array {
  const L = new Float64Array(K * K);
  for (let i = 0; i < K; i++) {
    for (let j = 0; j <= i; j++) {
      let s = H[i * K + j]!;
      for (let p = 0; p < j; p++) s -= L[i * K + p]! * L[j * K + p]!;
      if (i === j) L[i * K + i] = Math.sqrt(Math.max(s, 1e-12));
      else L[i * K + j] = s / L[j * K + j]!;
    }
  }
  const z = new Float64Array(K);
  for (let i = 0; i < K; i++) {
    let s = g[i]!;
    for (let p = 0; p < i; p++) s -= L[i * K + p]! * z[p]!;
    z[i] = s / L[i * K + i]!;
  }
  const out = new Float64Array(K);
  for (let i = K - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let p = i + 1; p < K; p++) s -= L[p * K + i]! * out[p]!;
    out[i] = s / L[i * K + i]!;
  }
  return out;
}
