/**
 * Activation extraction: run the model over token sequences in batches, stopping after the block
 * the hook needs, and collect the hook's activations row by row with each row's token, absolute
 * position and sequence index. Corpora are token windows cut from a text (stories separated by
 * blank lines, each after BOS, concatenated as llama2.c pretokenizes TinyStories) or stories the
 * model samples itself with a fixed seed.
 */
import { generate } from "./generate.js";
import { layersNeededFor } from "./hooks.js";
import type { HookedModel } from "./model.js";
import { BOS } from "./tokenizer.js";
import type { LmTokenizer } from "./tokenizers/types.js";

/** Rows of activations with their token, position and sequence. */
export interface ActivationRows {
  /** [n, dModel] */
  activations: Float32Array;
  tokens: Int32Array;
  positions: Int32Array;
  sequences: Int32Array;
}

/** Options of extractActivations. */
export interface ExtractOptions {
  /** Hook point to read. */
  hook: string;
  /** Sequences per forward pass. Default 32. */
  batchSequences?: number;
  /** Keep rows whose token is BOS (their activations are outliers). Default false. */
  includeBos?: boolean;
  /** The BOS id that includeBos refers to. Default 1 (llama2.c's). */
  bos?: number;
  /** Called after each batch with (sequences done, total). */
  onProgress?: (done: number, total: number) => void;
}

/** Yields the hook's activations for `seqs`, one batch of sequences at a time. */
export function* extractActivations(model: HookedModel, seqs: readonly Int32Array[], opts: ExtractOptions): Generator<ActivationRows> {
  const nLayers = model.spec.nLayers;
  const stopAtLayer = layersNeededFor(opts.hook, nLayers, model.spec.positions.kind === "learned");
  const batch = opts.batchSequences ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batchSequences must be a positive integer, got ${batch}`);
  const D = model.spec.dModel;
  for (let s0 = 0; s0 < seqs.length; s0 += batch) {
    const part = seqs.slice(s0, s0 + batch);
    // resid_pre of block L is the residual stream after L blocks (so no block L is run), and
    // resid_post of the last block run is the residual stream the pass returns: no hook, no copy.
    const readResidual = opts.hook.endsWith(".hook_resid_pre") || opts.hook === `blocks.${stopAtLayer - 1}.hook_resid_post`;
    let act: Float32Array | undefined;
    const res = model.forward(part, {
      stopAtLayer,
      logits: "none",
      hooks: readResidual ? [] : [[opts.hook, (a) => void (act = a.slice())]],
    });
    if (readResidual) act = res.residual;
    if (!act) throw new Error(`hook ${opts.hook} did not fire`);
    const keep: number[] = [];
    for (let r = 0; r < res.rows; r++) {
      const tok = part[res.rowSeq[r]!]![res.rowPos[r]!]!;
      if (opts.includeBos || tok !== (opts.bos ?? BOS)) keep.push(r);
    }
    const out: ActivationRows = { activations: new Float32Array(keep.length * D), tokens: new Int32Array(keep.length), positions: new Int32Array(keep.length), sequences: new Int32Array(keep.length) };
    keep.forEach((r, i) => {
      out.activations.set(act!.subarray(r * D, (r + 1) * D), i * D);
      out.tokens[i] = part[res.rowSeq[r]!]![res.rowPos[r]!]!;
      out.positions[i] = res.rowPos[r]!;
      out.sequences[i] = s0 + res.rowSeq[r]!;
    });
    opts.onProgress?.(Math.min(seqs.length, s0 + batch), seqs.length);
    yield out;
  }
}

/** Returns `count` token sequences of `seqLen` tokens that the model samples from BOS (opts.start; default 1), continuing across story ends. */
export function sampleCorpus(model: HookedModel, count: number, seqLen: number, opts: { seed: number; temperature?: number; topp?: number; batch?: number; start?: number; onProgress?: (done: number, total: number) => void }): Int32Array[] {
  if (!Number.isInteger(seqLen) || seqLen < 2 || seqLen > model.spec.contextLength) throw new RangeError(`seqLen must be 2..${model.spec.contextLength}, got ${seqLen}`);
  const batch = opts.batch ?? 64;
  const out: Int32Array[] = [];
  for (let s0 = 0; s0 < count; s0 += batch) {
    const n = Math.min(batch, count - s0);
    // Each sequence's sampling stream depends only on (seed, its index), not on the batch split.
    const start = opts.start ?? BOS;
    const gens = Array.from({ length: n }, () => [start]);
    const got = generate(model, gens, { steps: seqLen - 1, seed: opts.seed, firstSequence: s0, temperature: opts.temperature ?? 1, topp: opts.topp ?? 0.9, stopAtBos: false });
    for (const g of got) out.push(Int32Array.from([start, ...g]));
    opts.onProgress?.(s0 + n, count);
  }
  return out;
}

/**
 * Returns windows of `seqLen` tokens cut from `text`: stories are separated by blank lines, each is
 * encoded after a BOS (when `prependBos` and the tokenizer has one), and the stream of all of them is cut into consecutive windows (the last, if
 * shorter than 2 tokens, is dropped).
 */
export function textCorpus(tok: LmTokenizer, text: string, seqLen: number, maxSequences = Infinity, prependBos = true): Int32Array[] {
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new RangeError(`seqLen must be an integer >= 2, got ${seqLen}`);
  const stories = text.split(/\n\s*\n/).map((s) => s.trim()).filter((s) => s.length > 0);
  const out: Int32Array[] = [];
  let cur: number[] = [];
  for (const story of stories) {
    for (const t of tok.encode(story, { addBos: prependBos && tok.bos !== undefined })) {
      cur.push(t);
      if (cur.length === seqLen) {
        out.push(Int32Array.from(cur));
        cur = [];
        if (out.length >= maxSequences) return out;
      }
    }
  }
  if (cur.length >= 2) out.push(Int32Array.from(cur));
  return out;
}
