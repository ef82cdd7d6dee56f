/**
 * The tying loss of the `tie_loss` variant: an untied SAE whose encoder columns are pulled toward
 * their decoder rows. Averaged over latents so that the coefficient does not depend on the width.
 *   cosine:  (c / dSae) * sum_j (1 - cos(e_j, w_j))
 *   squared: (c / dSae) * sum_j ||e_j - w_j||^2
 * with e_j = W_enc[:, j] and w_j = W_dec[j, :].
 *
 * W_enc [dIn, dSae] and W_dec [dSae, dIn] are transposes of each other's layout, so the loops walk
 * 32 x 32 tiles to keep both (and their gradients) in cache; loop state stays in locals (no
 * closures) so the JIT keeps it in registers.
 */
import type { StepCtx } from "./arch.js";
import { scratchF64 } from "./arch.js";
import type { TieLoss } from "./config.js";

const T = 32;

/** Adds the tying loss ("tie") and its gradients to `ctx`. */
export function tieLossTerm(ctx: StepCtx, tie: TieLoss): void {
  const { sae, grads, ws, losses, flops } = ctx;
  const { dIn, dSae } = sae;
  const We = sae.params.W_enc;
  const Wd = sae.params.W_dec;
  const gWe = grads.W_enc;
  const gWd = grads.W_dec;
  if (!We || !gWe) throw new Error("the tying loss needs an untied SAE");
  const c = tie.coefficient / dSae;
  if (tie.form === "squared") {
    losses.tie = c * squaredPass(We, Wd, gWe, gWd, dIn, dSae, 2 * c);
    flops.other += 8 * dIn * dSae;
    return;
  }
  const dot = scratchF64(ws, "tie:dot", dSae);
  const ee = scratchF64(ws, "tie:ee", dSae);
  const ww = scratchF64(ws, "tie:ww", dSae);
  dot.fill(0, 0, dSae);
  ee.fill(0, 0, dSae);
  ww.fill(0, 0, dSae);
  for (let j0 = 0; j0 < dSae; j0 += T) {
    const j1 = Math.min(dSae, j0 + T);
    for (let i0 = 0; i0 < dIn; i0 += T) {
      const i1 = Math.min(dIn, i0 + T);
      for (let j = j0; j < j1; j++) {
        let sd = 0;
        let se = 0;
        let sw = 0;
        const base = j * dIn;
        for (let i = i0; i < i1; i++) {
          const e = We[i * dSae + j]!;
          const w = Wd[base + i]!;
          sd += e * w;
          se += e * e;
          sw += w * w;
        }
        dot[j]! += sd;
        ee[j]! += se;
        ww[j]! += sw;
      }
    }
  }
  let total = 0;
  for (let j = 0; j < dSae; j++) {
    const ne = Math.sqrt(ee[j]!);
    const nw = Math.sqrt(ww[j]!);
    const cos = ne > 0 && nw > 0 ? dot[j]! / (ne * nw) : 0;
    total += 1 - cos;
    // Reuse the buffers: dot <- c/(|e||w|), ee <- c cos/|e|^2, ww <- c cos/|w|^2 (zero for a zero vector).
    dot[j] = ne > 0 && nw > 0 ? c / (ne * nw) : 0;
    ee[j] = ne > 0 ? (c * cos) / (ne * ne) : 0;
    ww[j] = nw > 0 ? (c * cos) / (nw * nw) : 0;
  }
  for (let j0 = 0; j0 < dSae; j0 += T) {
    const j1 = Math.min(dSae, j0 + T);
    for (let i0 = 0; i0 < dIn; i0 += T) {
      const i1 = Math.min(dIn, i0 + T);
      for (let j = j0; j < j1; j++) {
        const a = dot[j]!;
        const be = ee[j]!;
        const bw = ww[j]!;
        const base = j * dIn;
        for (let i = i0; i < i1; i++) {
          const q = i * dSae + j;
          const e = We[q]!;
          const w = Wd[base + i]!;
          gWe[q] = gWe[q]! - (w * a - e * be);
          gWd[base + i] = gWd[base + i]! - (e * a - w * bw);
        }
      }
    }
  }
  losses.tie = c * total;
  flops.other += 16 * dIn * dSae;
}

/** Adds g * (e - w) to gWe and subtracts it from gWd; returns sum of (e - w)^2. */
function squaredPass(We: Float32Array, Wd: Float32Array, gWe: Float32Array, gWd: Float32Array, n: number, d: number, g: number): number {
  let total = 0;
  for (let j0 = 0; j0 < d; j0 += T) {
    const j1 = Math.min(d, j0 + T);
    for (let i0 = 0; i0 < n; i0 += T) {
      const i1 = Math.min(n, i0 + T);
      for (let j = j0; j < j1; j++) {
        const base = j * n;
        for (let i = i0; i < i1; i++) {
          const q = i * d + j;
          const diff = We[q]! - Wd[base + i]!;
          total += diff * diff;
          gWe[q] = gWe[q]! + g * diff;
          gWd[base + i] = gWd[base + i]! - g * diff;
        }
      }
    }
  }
  return total;
}
