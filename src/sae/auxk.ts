/**
 * The AuxK loss of TopK SAEs (Gao et al. 2024, appendix A.2; SAELens calculate_topk_aux_loss): the
 * top k_aux dead latents of each sample reconstruct the residual x - x_hat (treated as a constant),
 * with k_aux = dIn / 2 and the loss scaled down by min(numDead / k_aux, 1) when few latents are dead.
 *   auxk = coefficient * scale * mean_b ||A_b W_dec - (x_b - x_hat_b)||^2
 * Where SAELens picks the top k_aux raw pre-activations (possibly negative), we keep only positive
 * ones, as the paper and EleutherAI's implementation do, so a dead latent is pushed only where it
 * would fire.
 */
import type { StepCtx } from "./arch.js";
import { scratchF32, scratchSparse } from "./arch.js";
import { settleExact, topkMargin } from "./bf16.js";

/** Returns whether the AuxK term has work this step (dead latents and a nonzero coefficient), i.e. needs the pre-activations. */
export function auxkActive(ctx: StepCtx, coefficient: number): boolean {
  return ctx.deadMask !== null && ctx.numDead > 0 && coefficient !== 0;
}

/** Adds the AuxK term ("auxk") and its gradients; needs the full-width reconstruction error in `ctx.residual`. */
export function auxkTerm(ctx: StepCtx, coefficient: number): void {
  const { kernels, sae, grads, ws, losses, flops, batch: B, deadMask, numDead } = ctx;
  const { dIn, dSae } = sae;
  if (!deadMask || !auxkActive(ctx, coefficient)) {
    losses.auxk = 0;
    return;
  }
  const half = Math.max(1, Math.floor(dIn / 2));
  const scale = Math.min(numDead / half, 1);
  const kAux = Math.min(half, numDead);
  const a = scratchSparse(ws, "auxk:acts", B, dSae);
  if (ctx.bf16) {
    // ws.pre is the bf16 product's: it proposes candidates, their exact values choose.
    kernels.topkRows(ws.pre, B, dSae, Math.min(dSae, kAux + topkMargin(kAux)), a, deadMask);
    settleExact(ctx, { kind: "topk", k: kAux }, a);
  } else kernels.topkRows(ws.pre, B, dSae, kAux, a, deadMask);
  if (a.nnz === 0) {
    losses.auxk = 0;
    return;
  }
  const err = ctx.residual;
  if (!err) throw new Error("AuxK needs the reconstruction error (ctx.residual)");
  const z = scratchF32(ws, "auxk:recon", B * dIn);
  kernels.spmm(a, sae.params.W_dec, dIn, z, false);
  // residual = x - x_hat = -err, so (A W_dec - residual) = A W_dec + err.
  let sq = 0;
  for (let k = 0; k < B * dIn; k++) {
    const v = z[k]! + err[k]!;
    z[k] = v;
    sq += v * v;
  }
  const w = coefficient * scale;
  losses.auxk = (w * sq) / B;
  const gscale = (2 * w) / B;
  for (let k = 0; k < B * dIn; k++) z[k] = z[k]! * gscale;
  const g = scratchF32(ws, "auxk:grad", a.colIdx.length);
  kernels.sddmm(a, z, sae.params.W_dec, dIn, g);
  kernels.spmmT(a, z, dIn, grads.W_dec);
  ctx.extras.push({ s: a, grad: g });
  flops.sparse += 6 * a.nnz * dIn;
  flops.other += 4 * B * dIn;
}
