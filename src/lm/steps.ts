/**
 * The per-row steps of the general forward path that the LM kernels do not provide: LayerNorm, bias
 * adds, the GELU activations and RMSNorm with any eps, in plain TypeScript (their cost is small beside
 * the matrix products).
 */
import type { Activation } from "./spec.js";

/** out[r] = normalised x[r] (mean 0 when centred, mean square 1), rounded to float32, then * w + b. For x [rows, d]. */
export function normRows(x: Float32Array, rows: number, d: number, kind: "rms" | "layer", eps: number, w: Float32Array | undefined, b: Float32Array | undefined, out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * d;
    let mean = 0;
    if (kind === "layer") {
      for (let j = 0; j < d; j++) mean += x[o + j]!;
      mean /= d;
    }
    let ss = 0;
    for (let j = 0; j < d; j++) ss += (x[o + j]! - mean) ** 2;
    const inv = 1 / Math.sqrt(ss / d + eps);
    for (let j = 0; j < d; j++) {
      const n = Math.fround((x[o + j]! - mean) * inv);
      out[o + j] = w ? (b ? w[j]! * n + b[j]! : w[j]! * n) : n;
    }
  }
}

/** x [rows, n] += bias [n] in place. */
export function addBias(x: Float32Array, rows: number, n: number, bias: Float32Array | undefined): void {
  if (!bias) return;
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) x[r * n + j] = x[r * n + j]! + bias[j]!;
}

/** Error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Returns the activation function of a spec. */
export function activationFn(act: Activation): (x: number) => number {
  switch (act) {
    case "silu":
      return (x) => x / (1 + Math.exp(-x));
    case "gelu":
      return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case "gelu_new":
    case "gelu_tanh":
      return (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
  }
}

/** out [rows, hidden] = act(h[r, :hidden]) * h[r, hidden:] when gated (h [rows, 2 hidden]), else act(h) (h [rows, hidden]). */
export function activate(h: Float32Array, rows: number, hidden: number, act: Activation, gated: boolean, out: Float32Array): void {
  const f = activationFn(act);
  const w = gated ? 2 * hidden : hidden;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < hidden; j++) {
      const a = f(h[r * w + j]!);
      out[r * hidden + j] = gated ? a * h[r * w + hidden + j]! : a;
    }
  }
}
