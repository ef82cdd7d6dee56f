/**
 * Sampling and KV-cached generation. Sampling follows llama2.c's run.c: temperature 0 is argmax
 * (first maximum), otherwise softmax(logits / temperature) and, when 0 < topp < 1, nucleus sampling
 * over the tokens whose cumulative probability first exceeds topp. Each sequence draws from its own
 * seeded stream, so a sequence's sample does not depend on which others share its batch.
 */
import { Rng } from "../tensor/rng.js";
import { BOS } from "./tokenizer.js";
import type { HookSpec } from "./hooks.js";
import type { HookedModel } from "./model.js";

/** How to pick the next token. */
export interface SamplingOptions {
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Nucleus threshold; values outside (0, 1) sample from the full distribution. Default 0.9. */
  topp?: number;
}

/** Options of `generate`. */
export interface GenerateOptions extends SamplingOptions {
  /** Number of tokens to generate after each prompt. */
  steps: number;
  /** Seed of the sampling streams. Default 0. */
  seed?: number;
  /** Stream index of the first prompt (prompt i samples from stream firstSequence + i). Default 0. */
  firstSequence?: number;
  /** Stop a sequence when it produces BOS (llama2.c's end-of-story signal). Default true. */
  stopAtBos?: boolean;
  /** Stop a sequence at any of these tokens instead (e.g. an HF tokenizer's EOS); overrides stopAtBos. */
  stopTokens?: readonly number[];
  /** Hooks active during the whole generation (prompt and generated tokens). */
  hooks?: readonly HookSpec[];
  /** Called with (sequence index, token) as each token is chosen. */
  onToken?: (seq: number, token: number) => void;
}

/** Returns the index of the largest value (the first on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i]! > x[best]!) best = i;
  return best;
}

/** Returns a token drawn from `logits` [vocab] as llama2.c's sampler does, using `rng` for the coin. */
export function sampleToken(logits: Float32Array, opts: SamplingOptions, rng: Rng): number {
  const temperature = opts.temperature ?? 1;
  const topp = opts.topp ?? 0.9;
  if (!(temperature >= 0) || !Number.isFinite(temperature)) throw new RangeError(`temperature must be a finite number >= 0, got ${temperature}`);
  if (temperature === 0) return argmax(logits);
  const n = logits.length;
  const probs = new Float64Array(n);
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i]! / temperature);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    probs[i] = Math.exp(logits[i]! / temperature - max);
    sum += probs[i]!;
  }
  for (let i = 0; i < n; i++) probs[i] = probs[i]! / sum;
  const coin = rng.uniform();
  if (!(topp > 0 && topp < 1)) {
    let cdf = 0;
    for (let i = 0; i < n; i++) {
      cdf += probs[i]!;
      if (coin < cdf) return i;
    }
    return n - 1;
  }
  const cutoff = (1 - topp) / (n - 1);
  const cand: number[] = [];
  for (let i = 0; i < n; i++) if (probs[i]! >= cutoff) cand.push(i);
  cand.sort((a, b) => probs[b]! - probs[a]! || a - b);
  let cum = 0;
  let last = cand.length - 1;
  for (let i = 0; i < cand.length; i++) {
    cum += probs[cand[i]!]!;
    if (cum > topp) {
      last = i;
      break;
    }
  }
  const r = coin * cum;
  let cdf = 0;
  for (let i = 0; i <= last; i++) {
    cdf += probs[cand[i]!]!;
    if (r < cdf) return cand[i]!;
  }
  return cand[last]!;
}

/**
 * Generates up to `steps` tokens after each prompt (prompts are token ids, usually starting with
 * BOS), all prompts together with one KV cache; returns the generated tokens of each prompt.
 */
export function generate(model: HookedModel, prompts: readonly ArrayLike<number>[], opts: GenerateOptions): Int32Array[] {
  const { steps } = opts;
  if (!Number.isInteger(steps) || steps < 0) throw new RangeError(`steps must be a non-negative integer, got ${steps}`);
  const n = prompts.length;
  if (n === 0) return [];
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new RangeError(`prompt ${i} is empty; start it with BOS (token ${BOS})`);
  });
  const longest = Math.max(...prompts.map((p) => p.length));
  const cap = Math.min(model.spec.contextLength, longest + steps);
  if (longest > model.spec.contextLength) throw new RangeError(`a prompt of ${longest} tokens exceeds the model's context length ${model.spec.contextLength}`);
  const cache = model.newCache(n, cap);
  const base = new Rng(opts.seed ?? 0);
  const rngs = prompts.map((_, i) => base.fork(`sequence ${i + (opts.firstSequence ?? 0)}`));
  const out: number[][] = prompts.map(() => []);
  const stops = new Set(opts.stopTokens ?? ((opts.stopAtBos ?? true) ? [BOS] : []));
  let active = prompts.map((_, i) => i);
  let inputs: ArrayLike<number>[] = [...prompts];
  for (let step = 0; step < steps && active.length > 0; step++) {
    const res = model.forward(inputs, { cache, slots: active, logits: "last", hooks: opts.hooks ?? [] });
    const logits = res.logits!;
    const V = model.spec.vocabSize;
    const next: number[] = [];
    const still: number[] = [];
    active.forEach((s, j) => {
      const tok = sampleToken(logits.subarray(j * V, (j + 1) * V), opts, rngs[s]!);
      opts.onToken?.(s, tok);
      out[s]!.push(tok);
      const full = cache.lengths[s]! >= cap;
      if (!stops.has(tok) && !full) {
        still.push(s);
        next.push(tok);
      }
    });
    active = still;
    inputs = next.map((t) => [t]);
  }
  return out.map((o) => Int32Array.from(o));
}
