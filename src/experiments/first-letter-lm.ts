/**
 * The one place the first-letter eval touches a language model: `ProbeLm` is what the eval needs
 * (the vocabulary as text, encoding a prompt, the hook's activations over prompts), and
 * `llama2cProbeLm` provides it for saelab's llama2.c model and tokenizer through src/lm's public API.
 * Another model family needs only another function returning a `ProbeLm`.
 */
import { extractActivations, type ActivationRows } from "../lm/activations.js";
import type { HookedModel } from "../lm/model.js";
import type { LmTokenizer } from "../lm/tokenizers/types.js";

/** What the first-letter eval needs from a language model. */
export interface ProbeLm {
  /** The model's name (recorded as model_name). */
  readonly name: string;
  readonly dModel: number;
  readonly nLayers: number;
  /** The tokenizer family, for the token-position mapping note. */
  readonly tokenizerFamily: string;
  /** Every vocabulary entry as text, a leading-space marker decoded to " ". */
  vocab(): { id: number; text: string }[];
  /** Returns the tokens of `text` as the model reads a prompt (with BOS when the model uses one). */
  encode(text: string): Int32Array;
  /** Yields the hook's activations over `seqs`, a batch of sequences at a time (rows of every position but BOS). */
  activations(seqs: readonly Int32Array[], hook: string, batchSequences: number): Iterable<ActivationRows>;
}

/** Returns the ProbeLm of a hooked model of any family and its tokenizer (token texts are each id decoded alone). */
export function hookedProbeLm(model: HookedModel, tok: LmTokenizer, name: string): ProbeLm {
  const special = new Set([tok.bos, tok.eos].filter((t): t is number => t !== undefined));
  return {
    name,
    dModel: model.spec.dModel,
    nLayers: model.spec.nLayers,
    tokenizerFamily: tok.kind === "llama2c" ? `llama2.c SentencePiece BPE (${tok.vocabSize} tokens, "▁" stored as " ")` : `Hugging Face tokenizer.json (${tok.vocabSize} tokens, ${model.spec.family})`,
    vocab: () => Array.from({ length: tok.vocabSize }, (_, id) => ({ id, text: special.has(id) ? "" : tok.decode([id]) })),
    encode: (s) => Int32Array.from(tok.encode(s, { addBos: true })),
    activations: (seqs, hook, batchSequences) => extractActivations(model, seqs, { hook, batchSequences }),
  };
}
