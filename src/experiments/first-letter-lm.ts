/**
 * The one place the first-letter eval touches a language model: `ProbeLm` is what the eval needs
 * (the vocabulary as text, encoding a prompt, the hook's activations over prompts), and
 * `llama2cProbeLm` provides it for saelab's llama2.c model and tokenizer through src/lm's public API.
 * Another model family needs only another function returning a `ProbeLm`.
 */
import { extractActivations, type ActivationRows } from "../lm/activations.js";
import type { LlamaModel } from "../lm/model.js";
import type { Tokenizer } from "../lm/tokenizer.js";

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

/** Returns the ProbeLm of a llama2.c model and its SentencePiece-style tokenizer. */
export function llama2cProbeLm(model: LlamaModel, tok: Tokenizer, name: string): ProbeLm {
  const text = new TextDecoder();
  return {
    name,
    dModel: model.config.dim,
    nLayers: model.config.nLayers,
    tokenizerFamily: `llama2.c SentencePiece BPE (${tok.vocabSize} tokens, "▁" stored as " ")`,
    vocab: () => Array.from({ length: tok.vocabSize }, (_, id) => ({ id, text: text.decode(tok.piece(id)) })),
    encode: (s) => tok.encode(s, { bos: true }),
    activations: (seqs, hook, batchSequences) => extractActivations(model, seqs, { hook, batchSequences }),
  };
}
