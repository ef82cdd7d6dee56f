/**
 * Training steering vectors from contrastive pairs, as the steering-vectors library's
 * train_steering_vector: run the positive and the negative text of each pair, read each layer's
 * activation at one token (default the last; an index counted from the end when negative, or a
 * function of the text), and aggregate the positive and negative activations per layer.
 */
import type { HookedModel } from "../lm/model.js";
import type { LmTokenizer } from "../lm/tokenizers/types.js";
import { meanAggregator, type Aggregator } from "./aggregators.js";
import { layerHookName, resolveLayer, SteeringVector, type LayerType } from "./vector.js";

/** A training pair, optionally with its own token indices to read. */
export interface SteeringSample {
  positive: string;
  negative: string;
  readPositiveTokenIndex?: number;
  readNegativeTokenIndex?: number;
}

/** Which token to read: an index into the text's tokens (BOS included; negative from the end) or a function of the text. */
export type ReadTokenIndex = number | ((text: string) => number);

/** Options of trainSteeringVector. */
export interface TrainSteeringOptions {
  /** Blocks to read (negative from the end). Default: all. */
  layers?: readonly number[];
  /** Default "decoder_block" (the block's output). */
  layerType?: LayerType;
  /** Default -1 (the last token). */
  readTokenIndex?: ReadTokenIndex;
  /** Default meanAggregator(). */
  aggregator?: Aggregator;
  /** Pairs per forward pass. Default 16. */
  batchSize?: number;
  /** Called after each batch with (pairs done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** Positive and negative activations per layer, each [pairs, dModel]. */
export interface ContrastActivations {
  layers: number[];
  pos: Map<number, Float32Array>;
  neg: Map<number, Float32Array>;
  pairs: number;
}

/** Returns a sample from a pair given as a tuple or an object. */
export function toSample(s: SteeringSample | readonly [string, string]): SteeringSample {
  return Array.isArray(s) ? { positive: s[0], negative: s[1] } : (s as SteeringSample);
}

/** Returns the activations of each pair's positive and negative text at the read token, per layer. */
export function extractContrastActivations(model: HookedModel, tok: LmTokenizer, samples: readonly (SteeringSample | readonly [string, string])[], opts: TrainSteeringOptions = {}): ContrastActivations {
  const nLayers = model.spec.nLayers;
  const layers = (opts.layers ?? Array.from({ length: nLayers }, (_, i) => i)).map((l) => resolveLayer(l, nLayers));
  const layerType = opts.layerType ?? "decoder_block";
  const read = opts.readTokenIndex ?? -1;
  const D = model.spec.dModel;
  const n = samples.length;
  if (n === 0) throw new RangeError("training a steering vector needs at least one pair");
  const pos = new Map(layers.map((l) => [l, new Float32Array(n * D)]));
  const neg = new Map(layers.map((l) => [l, new Float32Array(n * D)]));
  const batch = opts.batchSize ?? 16;
  const stopAtLayer = Math.max(...layers) + 1;
  for (let s0 = 0; s0 < n; s0 += batch) {
    const part = samples.slice(s0, s0 + batch).map(toSample);
    for (const side of ["positive", "negative"] as const) {
      const texts = part.map((s) => s[side]);
      const seqs = texts.map((t) => Int32Array.from(tok.encode(t, { addBos: tok.bos !== undefined })));
      const rows = part.map((s, i) => {
        const own = side === "positive" ? s.readPositiveTokenIndex : s.readNegativeTokenIndex;
        const idx = own ?? (typeof read === "function" ? read(texts[i]!) : read);
        const len = seqs[i]!.length;
        const t = idx < 0 ? len + idx : idx;
        if (!Number.isInteger(t) || t < 0 || t >= len) throw new RangeError(`pair ${s0 + i} (${side}): token index ${idx} is outside its ${len} tokens`);
        return t;
      });
      const { result, cache } = model.runWithCache(seqs, { names: layers.map((l) => layerHookName(l, layerType)), stopAtLayer, logits: "none" });
      for (const l of layers) {
        const act = cache.get(layerHookName(l, layerType))!;
        const dst = (side === "positive" ? pos : neg).get(l)!;
        rows.forEach((t, i) => {
          const r = result.seqStart[i]! + t;
          dst.set(act.subarray(r * D, (r + 1) * D), (s0 + i) * D);
        });
      }
    }
    opts.onProgress?.(Math.min(n, s0 + batch), n);
  }
  return { layers, pos, neg, pairs: n };
}

/** Returns a steering vector trained from contrastive pairs. */
export function trainSteeringVector(model: HookedModel, tok: LmTokenizer, samples: readonly (SteeringSample | readonly [string, string])[], opts: TrainSteeringOptions = {}): SteeringVector {
  const acts = extractContrastActivations(model, tok, samples, opts);
  const agg = opts.aggregator ?? meanAggregator();
  const D = model.spec.dModel;
  const vecs = new Map(acts.layers.map((l) => [l, agg(acts.pos.get(l)!, acts.neg.get(l)!, acts.pairs, D)]));
  return new SteeringVector(vecs, opts.layerType ?? "decoder_block");
}
