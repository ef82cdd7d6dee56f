/**
 * Weight-space per-latent data: logit effects (each decoder row through the unembedding, the top and
 * bottom tokens) and decoder-cosine nearest neighbours. Both are blocked products through
 * `kernels.gemm`, so a 16,384-latent SAE never holds a [dSae, dSae] or [dSae, vocab] matrix at once.
 */
import type { Kernels, SparseRows } from "../../tensor/kernels.js";
import { emptySparse } from "../../tensor/kernels.js";
import type { SaeModel } from "../../sae/types.js";
import { unitRows } from "../../metrics/cosine.js";

/** A ranked list of (index, value) pairs. */
export type Ranked = [number, number][];

const BLOCK = 512;

/** Returns the `n` largest (or smallest, when `smallest`) entries of row `r` of a [rows, cols] matrix, excluding column `skip`. */
function rankRow(m: Float32Array, r: number, cols: number, n: number, smallest: boolean, skip = -1): Ranked {
  const best: Ranked = [];
  const sign = smallest ? -1 : 1;
  for (let c = 0; c < cols; c++) {
    if (c === skip) continue;
    const v = m[r * cols + c]!;
    if (best.length < n || sign * v > sign * best[best.length - 1]![1]) {
      let i = best.length < n ? best.length : n - 1;
      if (best.length < n) best.push([c, v]);
      while (i > 0 && sign * best[i - 1]![1] < sign * v) {
        best[i] = best[i - 1]!;
        i--;
      }
      best[i] = [c, v];
    }
  }
  return best;
}

/**
 * Returns, per latent, the `n` tokens whose logits its decoder row raises most and lowers most:
 * W_dec [dSae, dIn] times the unembedding [dIn, vocab], with the final norm's gain folded in as
 * TransformerLens folds ln_final into W_U (`unembed` is [vocab, dIn], `gain` [dIn] or null).
 */
export function logitEffects(sae: SaeModel, unembed: Float32Array, vocab: number, gain: Float32Array | null, n: number, kernels: Kernels): { top: Ranked[]; bottom: Ranked[] } {
  const { dIn, dSae } = sae;
  if (unembed.length !== vocab * dIn) throw new Error(`unembedding has ${unembed.length} values, expected [${vocab}, ${dIn}]`);
  const wu = gain ? unembed.map((v, i) => v * gain[i % dIn]!) : unembed;
  const top: Ranked[] = [];
  const bottom: Ranked[] = [];
  const out = new Float32Array(BLOCK * vocab);
  for (let j0 = 0; j0 < dSae; j0 += BLOCK) {
    const m = Math.min(BLOCK, dSae - j0);
    kernels.gemm({ a: sae.W_dec.subarray(j0 * dIn, (j0 + m) * dIn), b: wu, out: out.subarray(0, m * vocab), m, n: vocab, k: dIn, transB: true });
    for (let r = 0; r < m; r++) {
      top.push(rankRow(out, r, vocab, n, false));
      bottom.push(rankRow(out, r, vocab, n, true));
    }
  }
  return { top, bottom };
}

/** Returns, per latent, the `n` other latents whose decoder rows have the highest cosine with its own. */
export function decoderNeighbours(sae: SaeModel, n: number, kernels: Kernels): Ranked[] {
  const { dIn, dSae } = sae;
  const unit = unitRows(sae.W_dec, dSae, dIn);
  const out = new Float32Array(BLOCK * dSae);
  const result: Ranked[] = [];
  for (let j0 = 0; j0 < dSae; j0 += BLOCK) {
    const m = Math.min(BLOCK, dSae - j0);
    kernels.gemm({ a: unit.subarray(j0 * dIn, (j0 + m) * dIn), b: unit, out: out.subarray(0, m * dSae), m, n: dSae, k: dIn, transB: true });
    for (let r = 0; r < m; r++) result.push(rankRow(out, r, dSae, Math.min(n, dSae - 1), false, j0 + r));
  }
  return result;
}

/** Returns the SAE's latents on `rows` inputs [rows, dIn] as one CSR matrix, encoding `batch` rows at a time. */
export function encodeRows(sae: SaeModel, x: Float32Array, rows: number, batch = 2048): SparseRows {
  const dIn = sae.dIn;
  if (rows <= batch) return sae.encode(x.subarray(0, rows * dIn), rows);
  const all = emptySparse(rows, sae.dSae, rows * 8);
  let tmp = emptySparse(0, sae.dSae, 0);
  for (let r0 = 0; r0 < rows; r0 += batch) {
    const m = Math.min(batch, rows - r0);
    tmp = sae.encode(x.subarray(r0 * dIn, (r0 + m) * dIn), m, tmp);
    const need = all.nnz + tmp.nnz;
    if (need > all.colIdx.length) {
      const cap = Math.max(need, Math.ceil(all.colIdx.length * 1.5));
      const ci = new Int32Array(cap);
      ci.set(all.colIdx.subarray(0, all.nnz));
      const vs = new Float32Array(cap);
      vs.set(all.values.subarray(0, all.nnz));
      all.colIdx = ci;
      all.values = vs;
    }
    all.colIdx.set(tmp.colIdx.subarray(0, tmp.nnz), all.nnz);
    all.values.set(tmp.values.subarray(0, tmp.nnz), all.nnz);
    for (let r = 0; r < m; r++) all.rowPtr[r0 + r + 1] = all.nnz + tmp.rowPtr[r + 1]!;
    all.nnz = need;
  }
  return all;
}
