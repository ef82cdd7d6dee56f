/**
 * SAE splice-in evaluation, as SAEBench's core evaluation computes it: the model's next-token
 * cross-entropy with the SAE's reconstruction substituted at the hook (`ceSae`), against the clean
 * run (`ceClean`) and zero-ablation of the hook (`ceZero`), giving
 *   lossRecovered = (ceZero - ceSae) / (ceZero - ceClean)      (SAEBench's ce_loss_score)
 * and the KL divergence KL(clean || patched) per token, with
 *   klScore = (klZero - klSae) / klZero                         (SAEBench's kl_div_score).
 * Means are over all predicted tokens (cross-entropy: positions 0..L-2 of each sequence; KL: all
 * positions), pooled over sequences.
 */
import type { SaeModel } from "../sae/types.js";
import type { SparseRows } from "../tensor/kernels.js";
import type { HookContext, HookFn } from "./hooks.js";
import type { HookedModel } from "./model.js";
import { BOS } from "./tokenizer.js";

/** Options of spliceEvaluate. */
export interface SpliceOptions {
  /** Hook point the SAE was trained on. */
  hook: string;
  /** Sequences per forward pass. Default 16. */
  batchSequences?: number;
  /** Keep the original activation at BOS tokens (SAEBench's exclude_special_tokens_from_reconstruction). Default false. */
  excludeBos?: boolean;
  /** The BOS id excludeBos refers to. Default 1 (llama2.c's). */
  bos?: number;
  /** Sees each batch's activations x, the SAE's latents and its reconstruction xHat (before BOS rows are restored), e.g. to measure explained variance. */
  onReconstruction?: (x: Float32Array, latents: SparseRows, xHat: Float32Array, ctx: HookContext) => void;
}

/** The splice-in metrics. */
export interface SpliceResult {
  /** Predicted tokens the cross-entropies average over. */
  predictions: number;
  /** Positions the KL divergences average over. */
  positions: number;
  ceClean: number;
  ceSae: number;
  ceZero: number;
  /** (ceZero - ceSae) / (ceZero - ceClean). */
  lossRecovered: number;
  /** Mean KL(clean || with SAE) in nats. */
  klSae: number;
  /** Mean KL(clean || zero-ablated) in nats. */
  klZero: number;
  /** (klZero - klSae) / klZero. */
  klScore: number;
}

/** Returns the splice-in metrics of `sae` at `opts.hook` over token sequences `seqs`. */
export function spliceEvaluate(model: HookedModel, sae: SaeModel, seqs: readonly ArrayLike<number>[], opts: SpliceOptions): SpliceResult {
  const D = model.spec.dModel;
  if (sae.dIn !== D) throw new RangeError(`the SAE reads ${sae.dIn}-dimensional activations but ${opts.hook} has dModel ${D}`);
  const V = model.spec.vocabSize;
  const batch = opts.batchSequences ?? 16;
  const keepOriginal = (ctxTokens: Int32Array, r: number) => opts.excludeBos === true && ctxTokens[r] === (opts.bos ?? BOS);
  const saeHook: HookFn = (act, ctx) => {
    const latents = sae.encode(act, ctx.rows);
    const recon = sae.decode(latents);
    opts.onReconstruction?.(act, latents, recon, ctx);
    for (let r = 0; r < ctx.rows; r++) if (keepOriginal(ctx.tokens, r)) recon.set(act.subarray(r * D, (r + 1) * D), r * D);
    return recon;
  };
  const zeroHook: HookFn = (act, ctx) => {
    for (let r = 0; r < ctx.rows; r++) if (!keepOriginal(ctx.tokens, r)) act.fill(0, r * D, (r + 1) * D);
  };
  let ceC = 0;
  let ceS = 0;
  let ceZ = 0;
  let klS = 0;
  let klZ = 0;
  let predictions = 0;
  let positions = 0;
  for (let s0 = 0; s0 < seqs.length; s0 += batch) {
    const part = seqs.slice(s0, s0 + batch);
    const clean = model.forward(part);
    const withSae = model.forward(part, { hooks: [[opts.hook, saeHook]] });
    const zero = model.forward(part, { hooks: [[opts.hook, zeroHook]] });
    const lpClean = logSoftmaxRows(clean.logits!, clean.rows, V);
    const lpSae = logSoftmaxRows(withSae.logits!, clean.rows, V);
    const lpZero = logSoftmaxRows(zero.logits!, clean.rows, V);
    part.forEach((seq, i) => {
      const start = clean.seqStart[i]!;
      for (let t = 0; t < seq.length; t++) {
        const row = (start + t) * V;
        if (t + 1 < seq.length) {
          const next = seq[t + 1]!;
          ceC -= lpClean[row + next]!;
          ceS -= lpSae[row + next]!;
          ceZ -= lpZero[row + next]!;
          predictions++;
        }
        for (let j = 0; j < V; j++) {
          const p = Math.exp(lpClean[row + j]!);
          klS += p * (lpClean[row + j]! - lpSae[row + j]!);
          klZ += p * (lpClean[row + j]! - lpZero[row + j]!);
        }
        positions++;
      }
    });
  }
  if (predictions === 0) throw new RangeError("splice evaluation needs sequences of at least 2 tokens");
  const [ceClean, ceSae, ceZero] = [ceC / predictions, ceS / predictions, ceZ / predictions];
  const [klSae, klZero] = [klS / positions, klZ / positions];
  return {
    predictions, positions, ceClean, ceSae, ceZero,
    lossRecovered: (ceZero - ceSae) / (ceZero - ceClean),
    klSae, klZero,
    klScore: (klZero - klSae) / klZero,
  };
}

/** Returns log-softmax of each row of logits [rows, V], in float64. */
export function logSoftmaxRows(logits: Float32Array, rows: number, V: number): Float64Array {
  const out = new Float64Array(rows * V);
  for (let r = 0; r < rows; r++) {
    let max = -Infinity;
    for (let j = 0; j < V; j++) max = Math.max(max, logits[r * V + j]!);
    let sum = 0;
    for (let j = 0; j < V; j++) sum += Math.exp(logits[r * V + j]! - max);
    const lse = max + Math.log(sum);
    for (let j = 0; j < V; j++) out[r * V + j] = logits[r * V + j]! - lse;
  }
  return out;
}
