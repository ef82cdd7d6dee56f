/**
 * The reference backend: plain TypeScript, written for clarity. It is the oracle that every other
 * backend is checked against, so it favours obviously-correct loops over speed.
 */
import { proposalNorms, settle } from "./reference_bf16.js";
import { bf16Round, checkLen, reserveSparse, type AdamArgs, type DecodeLossArgs, type EncodeArgs, type GemmArgs, type Kernels, type SparseRows, type SpmmTPairArgs } from "./kernels.js";

/** Returns the reference (TypeScript) kernels. */
export function referenceKernels(): Kernels {
  return {
    name: "reference",
    threads: 1,
    bf16: "emulated",
    alloc: (n) => new Float32Array(n),
    bf16CopyFloats: () => 0,
    gemm,
    sparsifyAbove,
    topkRows,
    topkBatch,
    window,
    spmm,
    sddmm,
    sddmmCols,
    settle,
    proposalNorms,
    spmmT,
    spmmTCols,
    adam,
    encode,
    decodeLoss,
    spmmTPair,
  };
}

function gemm(args: GemmArgs): void {
  if (args.bf16) {
    gemm({ ...args, a: bf16Round(args.a), b: bf16Round(args.b), bf16: false });
    return;
  }
  const { a, b, out, m, n, k } = args;
  const transA = args.transA ?? false;
  const transB = args.transB ?? false;
  const alpha = args.alpha ?? 1;
  const beta = args.beta ?? 0;
  checkLen("gemm a", a, m * k);
  checkLen("gemm b", b, k * n);
  checkLen("gemm out", out, m * n);
  if (args.colScale) checkLen("gemm colScale", args.colScale, n);
  if (args.bias) checkLen("gemm bias", args.bias, n);
  const row = new Float64Array(n);
  for (let i = 0; i < m; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const av = transA ? a[p * m + i]! : a[i * k + p]!;
      if (av === 0) continue;
      if (transB) {
        for (let j = 0; j < n; j++) row[j]! += av * b[j * k + p]!;
      } else {
        const off = p * n;
        for (let j = 0; j < n; j++) row[j]! += av * b[off + j]!;
      }
    }
    const o = i * n;
    for (let j = 0; j < n; j++) {
      let v = alpha * row[j]!;
      if (args.colScale) v *= args.colScale[j]!;
      if (args.bias) v += args.bias[j]!;
      if (beta !== 0) v += beta * out[o + j]!;
      out[o + j] = v;
    }
  }
}

function sparsifyAbove(pre: Float32Array, rows: number, cols: number, out: SparseRows, threshold?: Float32Array): SparseRows {
  checkLen("sparsifyAbove pre", pre, rows * cols);
  if (threshold) checkLen("sparsifyAbove threshold", threshold, cols);
  let nnz = 0;
  for (let i = 0; i < rows * cols; i++) if (pre[i]! > (threshold ? threshold[i % cols]! : 0)) nnz++;
  reserveSparse(out, rows, cols, nnz);
  let e = 0;
  for (let r = 0; r < rows; r++) {
    out.rowPtr[r] = e;
    for (let j = 0; j < cols; j++) {
      const v = pre[r * cols + j]!;
      if (v > (threshold ? threshold[j]! : 0)) {
        out.colIdx[e] = j;
        out.values[e] = v;
        e++;
      }
    }
  }
  out.rowPtr[rows] = e;
  out.nnz = e;
  return out;
}

function topkRows(pre: Float32Array, rows: number, cols: number, k: number, out: SparseRows, mask?: Uint8Array): SparseRows {
  checkLen("topkRows pre", pre, rows * cols);
  if (mask) checkLen("topkRows mask", mask, cols);
  const picked: number[][] = [];
  let nnz = 0;
  for (let r = 0; r < rows; r++) {
    const cand: number[] = [];
    for (let j = 0; j < cols; j++) if (!mask || mask[j] !== 0) cand.push(j);
    cand.sort((x, y) => pre[r * cols + y]! - pre[r * cols + x]! || x - y);
    const keep = cand.slice(0, Math.max(0, k)).filter((j) => pre[r * cols + j]! > 0).sort((x, y) => x - y);
    picked.push(keep);
    nnz += keep.length;
  }
  return fillFromLists(pre, rows, cols, picked, nnz, out);
}

function topkBatch(pre: Float32Array, rows: number, cols: number, total: number, out: SparseRows): SparseRows {
  checkLen("topkBatch pre", pre, rows * cols);
  const order = Array.from({ length: rows * cols }, (_, i) => i);
  order.sort((x, y) => pre[y]! - pre[x]! || x - y);
  const chosen = order.slice(0, Math.max(0, total)).filter((i) => pre[i]! > 0);
  const picked: number[][] = Array.from({ length: rows }, () => []);
  for (const i of chosen) picked[Math.floor(i / cols)]!.push(i % cols);
  for (const p of picked) p.sort((x, y) => x - y);
  return fillFromLists(pre, rows, cols, picked, chosen.length, out);
}

function window(pre: Float32Array, rows: number, cols: number, center: Float32Array, halfWidth: number, out: SparseRows): SparseRows {
  checkLen("window pre", pre, rows * cols);
  checkLen("window center", center, cols);
  const picked: number[][] = [];
  let nnz = 0;
  for (let r = 0; r < rows; r++) {
    const keep: number[] = [];
    for (let j = 0; j < cols; j++) if (Math.abs(pre[r * cols + j]! - center[j]!) < halfWidth) keep.push(j);
    picked.push(keep);
    nnz += keep.length;
  }
  return fillFromLists(pre, rows, cols, picked, nnz, out);
}

function fillFromLists(pre: Float32Array, rows: number, cols: number, picked: number[][], nnz: number, out: SparseRows): SparseRows {
  reserveSparse(out, rows, cols, nnz);
  let e = 0;
  for (let r = 0; r < rows; r++) {
    out.rowPtr[r] = e;
    for (const j of picked[r]!) {
      out.colIdx[e] = j;
      out.values[e] = pre[r * cols + j]!;
      e++;
    }
  }
  out.rowPtr[rows] = e;
  out.nnz = e;
  return out;
}

function spmm(s: SparseRows, w: Float32Array, n: number, out: Float32Array, accumulate: boolean): void {
  checkLen("spmm w", w, s.cols * n);
  checkLen("spmm out", out, s.rows * n);
  const acc = new Float64Array(n);
  for (let r = 0; r < s.rows; r++) {
    acc.fill(0);
    for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) {
      const v = s.values[e]!;
      const off = s.colIdx[e]! * n;
      for (let c = 0; c < n; c++) acc[c]! += v * w[off + c]!;
    }
    for (let c = 0; c < n; c++) out[r * n + c] = (accumulate ? out[r * n + c]! : 0) + acc[c]!;
  }
}

function sddmm(s: SparseRows, a: Float32Array, w: Float32Array, n: number, outValues: Float32Array): void {
  checkLen("sddmm a", a, s.rows * n);
  checkLen("sddmm w", w, s.cols * n);
  checkLen("sddmm outValues", outValues, s.nnz);
  for (let r = 0; r < s.rows; r++) {
    for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) {
      const off = s.colIdx[e]! * n;
      let dot = 0;
      for (let c = 0; c < n; c++) dot += a[r * n + c]! * w[off + c]!;
      outValues[e] = dot;
    }
  }
}

function sddmmCols(s: SparseRows, a: Float32Array, w: Float32Array, n: number, outValues: Float32Array): void {
  checkLen("sddmmCols a", a, s.rows * n);
  checkLen("sddmmCols w", w, n * s.cols);
  checkLen("sddmmCols outValues", outValues, s.nnz);
  for (let r = 0; r < s.rows; r++) {
    for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) {
      const j = s.colIdx[e]!;
      let dot = 0;
      for (let c = 0; c < n; c++) dot += a[r * n + c]! * w[c * s.cols + j]!;
      outValues[e] = dot;
    }
  }
}

function spmmT(s: SparseRows, a: Float32Array, n: number, out: Float32Array): void {
  checkLen("spmmT a", a, s.rows * n);
  checkLen("spmmT out", out, s.cols * n);
  const acc = new Float64Array(s.cols * n);
  for (let r = 0; r < s.rows; r++) {
    for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) {
      const v = s.values[e]!;
      const off = s.colIdx[e]! * n;
      for (let c = 0; c < n; c++) acc[off + c]! += v * a[r * n + c]!;
    }
  }
  for (let i = 0; i < acc.length; i++) if (acc[i] !== 0) out[i] = out[i]! + acc[i]!;
}

function spmmTCols(s: SparseRows, a: Float32Array, n: number, out: Float32Array): void {
  checkLen("spmmTCols a", a, s.rows * n);
  checkLen("spmmTCols out", out, s.cols * n);
  const acc = new Float64Array(s.cols * n);
  for (let r = 0; r < s.rows; r++) {
    for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) {
      const v = s.values[e]!;
      const j = s.colIdx[e]!;
      for (let c = 0; c < n; c++) acc[c * s.cols + j]! += v * a[r * n + c]!;
    }
  }
  for (let i = 0; i < acc.length; i++) if (acc[i] !== 0) out[i] = out[i]! + acc[i]!;
}

function adam(args: AdamArgs): void {
  const { params, grads, m, v, lr, beta1, beta2, eps, step } = args;
  const len = params.length;
  checkLen("adam grads", grads, len);
  checkLen("adam m", m, len);
  checkLen("adam v", v, len);
  if (!(step >= 1)) throw new Error(`adam: step must be >= 1, got ${step}`);
  const bc1 = 1 - Math.pow(beta1, step);
  const bc2 = 1 - Math.pow(beta2, step);
  for (let i = 0; i < len; i++) {
    const g = grads[i]!;
    const mi = beta1 * m[i]! + (1 - beta1) * g;
    const vi = beta2 * v[i]! + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    params[i] = params[i]! - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
  }
}

// The fused kernels, composed literally from the ones above.

function encode(args: EncodeArgs): void {
  const { x, rows, n, cols, xc, pre } = args;
  checkLen("encode x", x, rows * n);
  checkLen("encode xc", xc, rows * n);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < n; c++) xc[r * n + c] = x[r * n + c]! - (args.center ? args.center[c]! : 0);
  }
  gemm({ a: xc, b: args.w, out: pre, m: rows, n: cols, k: n, transB: args.transW ?? false, ...(args.colScale ? { colScale: args.colScale } : {}), ...(args.bias ? { bias: args.bias } : {}), bf16: args.bf16 ?? false });
  const sel = args.select;
  if (!sel) return;
  if (!args.out) throw new Error("encode: select needs an output SparseRows (out)");
  if (sel.kind === "above") sparsifyAbove(pre, rows, cols, args.out, sel.threshold);
  else if (sel.kind === "topk") topkRows(pre, rows, cols, sel.k, args.out);
  else topkBatch(pre, rows, cols, sel.total, args.out);
}

function decodeLoss(args: DecodeLossArgs): number {
  const { s, w, n, x, grad, scale } = args;
  const rows = s.rows;
  checkLen("decodeLoss x", x, rows * n);
  checkLen("decodeLoss grad", grad, rows * n);
  for (let r = 0; r < rows; r++) for (let c = 0; c < n; c++) grad[r * n + c] = args.bias ? args.bias[c]! : 0;
  spmm(s, w, n, grad, true);
  let sq = 0;
  for (let i = 0; i < rows * n; i++) {
    const e = grad[i]! - x[i]!;
    sq += e * e;
    if (args.err) args.err[i] = e;
    grad[i] = e * scale;
  }
  if (args.biasGrad) {
    for (let c = 0; c < n; c++) {
      let t = 0;
      for (let r = 0; r < rows; r++) t += grad[r * n + c]!;
      args.biasGrad[c] = args.biasGrad[c]! + t;
    }
  }
  if (args.valueGrad) sddmm(s, grad, w, n, args.valueGrad);
  for (let e = 0; e < s.nnz; e++) {
    const j = s.colIdx[e]!;
    if (args.valueGrad && args.valueGradBias) args.valueGrad[e] = args.valueGrad[e]! + args.valueGradBias[j]!;
    if (args.valueColSum) args.valueColSum[j] = args.valueColSum[j]! + s.values[e]!;
  }
  return sq;
}

function spmmTPair(args: SpmmTPairArgs): void {
  const { s, n } = args;
  if (args.valuesA) {
    if (!args.a || !args.outA) throw new Error("spmmTPair: valuesA needs a and outA");
    spmmT({ ...s, values: args.valuesA }, args.a, n, args.outA);
  }
  const sb = { ...s, values: args.valuesB };
  if (args.bCols) spmmTCols(sb, args.b, n, args.outB);
  else spmmT(sb, args.b, n, args.outB);
  for (let e = 0; e < s.nnz; e++) {
    const j = s.colIdx[e]!;
    if (args.colSumB) args.colSumB[j] = args.colSumB[j]! + args.valuesB[e]!;
    if (args.fired) args.fired[j] = 1;
  }
}
