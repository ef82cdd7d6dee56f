/**
 * Aggregators turn paired positive/negative activations [n, d] into one steering direction [d], as
 * the steering-vectors library's do: `mean` (mean of the differences, the default), `pca` (the top
 * uncentred principal direction of the differences, unit norm, signed to agree with them) and
 * `logistic` (the unit-normalised weights of an L2-regularised logistic regression without
 * intercept, fitted on the pair-centred activations, as scikit-learn's LogisticRegression does).
 */

/** Returns a direction [d] from positive and negative activations, each [n, d] (row i of both is pair i). */
export type Aggregator = (pos: Float32Array, neg: Float32Array, n: number, d: number) => Float32Array;

/** Returns the mean-of-differences aggregator. */
export function meanAggregator(): Aggregator {
  return (pos, neg, n, d) => {
    checkShapes(pos, neg, n, d);
    const out = new Float64Array(d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) out[j]! += pos[i * d + j]! - neg[i * d + j]!;
    return Float32Array.from(out, (v) => v / n);
  };
}

/** Returns the PCA aggregator: the top eigenvector of sum_i delta_i delta_i^T, signed so the mean projection of the deltas is positive. */
export function pcaAggregator(): Aggregator {
  return (pos, neg, n, d) => {
    checkShapes(pos, neg, n, d);
    const deltas = new Float64Array(n * d);
    for (let i = 0; i < n * d; i++) deltas[i] = pos[i]! - neg[i]!;
    // [deltas; -deltas] has the uncentred scatter 2 * D^T D, whose top eigenvector is the top right singular vector.
    const scatter = new Float64Array(d * d);
    for (let i = 0; i < n; i++) {
      for (let a = 0; a < d; a++) {
        const va = deltas[i * d + a]!;
        if (va === 0) continue;
        for (let b = 0; b < d; b++) scatter[a * d + b]! += va * deltas[i * d + b]!;
      }
    }
    const { values, vectors } = symmetricEigen(scatter, d);
    let best = 0;
    for (let k = 1; k < d; k++) if (values[k]! > values[best]!) best = k;
    const vec = new Float64Array(d);
    for (let j = 0; j < d; j++) vec[j] = vectors[j * d + best]!;
    let proj = 0;
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) proj += deltas[i * d + j]! * vec[j]!;
    const sign = proj < 0 ? -1 : 1;
    return Float32Array.from(vec, (v) => sign * v);
  };
}

/** Options of the logistic aggregator (scikit-learn's names: C is the inverse regularisation strength). */
export interface LogisticOptions {
  /** Inverse L2 strength, as sklearn's C. Default 1. */
  C?: number;
  /** Newton iterations at most. Default 100. */
  maxIter?: number;
  /** Stop when the largest gradient entry is below this. Default 1e-8. */
  tol?: number;
}

/** Returns the logistic-regression aggregator (unit-norm weights; positives labelled +1, negatives -1). */
export function logisticAggregator(opts: LogisticOptions = {}): Aggregator {
  const C = opts.C ?? 1;
  if (!(C > 0)) throw new RangeError(`logistic aggregator: C must be > 0, got ${C}`);
  return (pos, neg, n, d) => {
    checkShapes(pos, neg, n, d);
    // Centre each pair on its mean, as the steering-vectors library does before fitting.
    const X = new Float64Array(2 * n * d);
    const y = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < d; j++) {
        const m = (pos[i * d + j]! + neg[i * d + j]!) / 2;
        X[i * d + j] = pos[i * d + j]! - m;
        X[(n + i) * d + j] = neg[i * d + j]! - m;
      }
      y[i] = 1;
      y[n + i] = -1;
    }
    const w = fitLogistic(X, y, 2 * n, d, C, opts.maxIter ?? 100, opts.tol ?? 1e-8);
    let norm = 0;
    for (const v of w) norm += v * v;
    norm = Math.sqrt(norm);
    return Float32Array.from(w, (v) => (norm > 0 ? v / norm : 0));
  };
}

/** The aggregators by the names the CLI and saved vectors use. */
export const AGGREGATORS = { mean: meanAggregator, pca: pcaAggregator, logistic: logisticAggregator } as const;
export type AggregatorName = keyof typeof AGGREGATORS;

/** Minimises C * sum log(1 + exp(-y_i w.x_i)) + |w|^2 / 2 by Newton's method; returns w. */
export function fitLogistic(X: Float64Array, y: Float64Array, m: number, d: number, C: number, maxIter: number, tol: number): Float64Array {
  const w = new Float64Array(d);
  for (let it = 0; it < maxIter; it++) {
    const grad = Float64Array.from(w);
    const hess = new Float64Array(d * d);
    for (let a = 0; a < d; a++) hess[a * d + a] = 1;
    for (let i = 0; i < m; i++) {
      let z = 0;
      for (let j = 0; j < d; j++) z += w[j]! * X[i * d + j]!;
      const yz = y[i]! * z;
      const s = 1 / (1 + Math.exp(yz)); // sigma(-y z)
      const g = -C * y[i]! * s;
      const h = C * s * (1 - s);
      for (let a = 0; a < d; a++) {
        const xa = X[i * d + a]!;
        if (xa === 0) continue;
        grad[a]! += g * xa;
        for (let b = 0; b < d; b++) hess[a * d + b]! += h * xa * X[i * d + b]!;
      }
    }
    let gmax = 0;
    for (const g of grad) gmax = Math.max(gmax, Math.abs(g));
    if (gmax < tol) break;
    const step = choleskySolve(hess, grad, d);
    for (let j = 0; j < d; j++) w[j] = w[j]! - step[j]!;
  }
  return w;
}

/** Solves A x = b for a symmetric positive definite A [d, d]. */
function choleskySolve(A: Float64Array, b: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i * d + j]!;
      for (let k = 0; k < j; k++) s -= L[i * d + k]! * L[j * d + k]!;
      L[i * d + j] = i === j ? Math.sqrt(Math.max(s, 1e-300)) : s / L[j * d + j]!;
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[i * d + k]! * z[k]!;
    z[i] = s / L[i * d + i]!;
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < d; k++) s -= L[k * d + i]! * x[k]!;
    x[i] = s / L[i * d + i]!;
  }
  return x;
}

/** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations; vectors are the columns of `vectors` [d, d]. */
export function symmetricEigen(S: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(S);
  const Vm = new Float64Array(d * d);
  for (let i = 0; i < d; i++) Vm[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += A[p * d + q]! ** 2;
    if (off < 1e-24) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = A[p * d + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * d + q]! - A[p * d + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = A[k * d + p]!;
          const akq = A[k * d + q]!;
          A[k * d + p] = c * akp - s * akq;
          A[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = A[p * d + k]!;
          const aqk = A[q * d + k]!;
          A[p * d + k] = c * apk - s * aqk;
          A[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = Vm[k * d + p]!;
          const vkq = Vm[k * d + q]!;
          Vm[k * d + p] = c * vkp - s * vkq;
          Vm[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: d }, (_, i) => A[i * d + i]!), vectors: Vm };
}

function checkShapes(pos: Float32Array, neg: Float32Array, n: number, d: number): void {
  if (n < 1) throw new RangeError("an aggregator needs at least one pair");
  if (pos.length !== n * d || neg.length !== n * d) throw new RangeError(`aggregator: expected two [${n}, ${d}] arrays, got ${pos.length} and ${neg.length} values`);
}
