/**
 * How big a steering vector is against the activations it is added to, and what it does to the
 * probability of chosen continuations: the two figures that say whether a multiplier is sensible.
 */
import type { HookSpec } from "../lm/hooks.js";
import type { HookedModel } from "../lm/model.js";
import { layerHookName, type LayerType } from "./vector.js";

/** The mean per-token L2 norm of one layer's activation over some tokens. */
export interface ActivationNorm {
  layer: number;
  hook: string;
  /** Mean over the counted tokens of ||activation||_2. */
  meanNorm: number;
  /** Tokens counted. */
  tokens: number;
}

/** Returns the L2 norm of a vector. */
export function vectorNorm(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  return Math.sqrt(s);
}

/**
 * Returns, for each of `layers`, the mean L2 norm of the `layerType` activation per token of `seqs`,
 * counting only tokens at absolute position >= `minPosition` (1 leaves out BOS, whose residual is
 * often an outlier) unless no token qualifies, in which case every token counts.
 */
export function meanActivationNorms(model: HookedModel, seqs: readonly ArrayLike<number>[], layers: readonly number[], layerType: LayerType, minPosition = 1): ActivationNorm[] {
  const D = model.spec.dModel;
  const sums = layers.map(() => ({ all: 0, nAll: 0, kept: 0, nKept: 0 }));
  const hooks: HookSpec[] = layers.map((l, i) => [
    layerHookName(l, layerType),
    (act, ctx) => {
      const s = sums[i]!;
      for (let r = 0; r < ctx.rows; r++) {
        const n = vectorNorm(act.subarray(r * D, (r + 1) * D));
        s.all += n;
        s.nAll++;
        if (ctx.rowPos[r]! >= minPosition) {
          s.kept += n;
          s.nKept++;
        }
      }
    },
  ]);
  model.forward(seqs, { hooks, logits: "none" });
  return layers.map((layer, i) => {
    const s = sums[i]!;
    const [sum, n] = s.nKept > 0 ? [s.kept, s.nKept] : [s.all, s.nAll];
    return { layer, hook: layerHookName(layer, layerType), meanNorm: n > 0 ? sum / n : 0, tokens: n };
  });
}

/**
 * Returns the log-probability [targets] of each target continuation (its tokens, teacher-forced, log-probs
 * summed) after `prompt` [tokens, starting with BOS], with `hooks` applied to the whole pass.
 */
export function continuationLogProbs(model: HookedModel, prompt: readonly number[], targets: readonly (readonly number[])[], hooks: readonly HookSpec[] = []): number[] {
  if (prompt.length === 0) throw new RangeError("the prompt needs at least one token (BOS) to predict a continuation from");
  if (targets.some((t) => t.length === 0)) throw new RangeError("a target continuation has no tokens");
  const V = model.spec.vocabSize;
  const res = model.forward(targets.map((t) => [...prompt, ...t]), { hooks });
  const logits = res.logits!;
  return targets.map((t, i) => {
    const start = res.seqStart[i]!;
    let total = 0;
    for (let j = 0; j < t.length; j++) {
      const row = logits.subarray((start + prompt.length - 1 + j) * V, (start + prompt.length + j) * V);
      total += logSoftmaxAt(row, t[j]!);
    }
    return total;
  });
}

/** Returns log softmax(row)[index], computed in double precision. */
function logSoftmaxAt(row: Float32Array, index: number): number {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return row[index]! - max - Math.log(sum);
}
