/**
 * The tying loss of the `tie_loss` variant: an untied SAE whose encoder columns are pulled toward
 * their decoder rows. Averaged over latents so that the coefficient does not depend on the width.
 *   cosine:  (c / dSae) * sum_j (1 - cos(e_j, w_j))
 *   squared: (c / dSae) * sum_j ||e_j - w_j||^2
 * with e_j = W_enc[:, j] and w_j = W_dec[j, :].
 */
import type { StepCtx } from "./arch.js";
import { scratchF64 } from "./arch.js";
import type { TieLoss } from "./config.js";

/** Adds the tying loss ("tie") and its gradients to `ctx`. */
export function tieLossTerm(ctx: StepCtx, tie: TieLoss): void {
  const { sae, grads, ws, losses, flops } = ctx;
  const { dIn: n, dSae: d } = sae;
  const We = sae.params.W_enc;
  const Wd = sae.params.W_dec;
  const gWe = grads.W_enc;
  if (!We || !gWe) throw new Error("the tying loss needs an untied SAE");
  const c = tie.coefficient / d;
  if (tie.form === "squared") {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const row = i * d;
      for (let j = 0; j < d; j++) {
        const diff = We[row + j]! - Wd[j * n + i]!;
        total += diff * diff;
        const g = 2 * c * diff;
        gWe[row + j] = gWe[row + j]! + g;
        grads.W_dec[j * n + i] = grads.W_dec[j * n + i]! - g;
      }
    }
    losses.tie = c * total;
    flops.other += 8 * n * d;
    return;
  }
  // cosine: accumulate e.w, |e|^2, |w|^2 per latent in one row-major pass over W_enc.
  const dot = scratchF64(ws, "tie:dot", d);
  const ee = scratchF64(ws, "tie:ee", d);
  const wwv = scratchF64(ws, "tie:ww", d);
  dot.fill(0, 0, d);
  ee.fill(0, 0, d);
  wwv.fill(0, 0, d);
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const e = We[row + j]!;
      const w = Wd[j * n + i]!;
      dot[j]! += e * w;
      ee[j]! += e * e;
      wwv[j]! += w * w;
    }
  }
  let total = 0;
  for (let j = 0; j < d; j++) {
    const ne = Math.sqrt(ee[j]!);
    const nw = Math.sqrt(wwv[j]!);
    const cos = ne > 0 && nw > 0 ? dot[j]! / (ne * nw) : 0;
    total += 1 - cos;
    // Reuse the buffers: dot <- 1/(|e||w|), ee <- cos/|e|^2, wwv <- cos/|w|^2 (zero for a zero vector).
    dot[j] = ne > 0 && nw > 0 ? 1 / (ne * nw) : 0;
    ee[j] = ne > 0 ? cos / (ne * ne) : 0;
    wwv[j] = nw > 0 ? cos / (nw * nw) : 0;
  }
  for (let i = 0; i < n; i++) {
    const row = i * d;
    for (let j = 0; j < d; j++) {
      const e = We[row + j]!;
      const w = Wd[j * n + i]!;
      gWe[row + j] = gWe[row + j]! - c * (w * dot[j]! - e * ee[j]!);
      grads.W_dec[j * n + i] = grads.W_dec[j * n + i]! - c * (e * dot[j]! - w * wwv[j]!);
    }
  }
  losses.tie = c * total;
  flops.other += 16 * n * d;
}
