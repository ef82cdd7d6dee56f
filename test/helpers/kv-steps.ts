/** Logits of each sequence computed through the KV cache: a prefill of its first `cut[i]` tokens, then one token per step. */
import type { HookedModel } from "../../src/lm/model.js";

/** Returns per sequence its logits [positions x vocab] flattened, computed by a cached prefill and one-token steps. */
export function stepwiseLogits(model: HookedModel, seqs: readonly (readonly number[])[], cut: readonly number[], cap = 16): number[][] {
  const V = model.spec.vocabSize;
  const cache = model.newCache(seqs.length, cap);
  const got: number[][] = seqs.map(() => []);
  const pre = model.forward(seqs.map((s, i) => s.slice(0, cut[i])), { cache });
  let r = 0;
  seqs.forEach((_, i) => {
    got[i]!.push(...pre.logits!.subarray(r * V, (r + cut[i]!) * V));
    r += cut[i]!;
  });
  for (let t = 0; ; t++) {
    const live = seqs.map((_, i) => i).filter((i) => cut[i]! + t < seqs[i]!.length);
    if (live.length === 0) break;
    const step = model.forward(live.map((i) => [seqs[i]![cut[i]! + t]!]), { cache, slots: live, logits: "last" });
    live.forEach((i, j) => got[i]!.push(...step.logits!.subarray(j * V, (j + 1) * V)));
  }
  return got;
}
