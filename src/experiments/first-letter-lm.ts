/**
 * The one place the first-letter eval touches a language model: `ProbeLm` is what the eval needs
 * (the vocabulary as text, encoding a prompt, the hook's activations over prompts), and `probeLm`
 * provides it for any src/lm `HookedModel` with its `LmTokenizer` (llama2.c or a Hugging Face
 * tokenizer.json), through src/lm's public API only.
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
  /** Every vocabulary entry as text, a leading-space marker ("▁", "Ġ") decoded to " ". */
  vocab(): { id: number; text: string }[];
  /** Returns the tokens of `text` as the model reads a prompt (with BOS when the model uses one). */
  encode(text: string): Int32Array;
  /** Yields the hook's activations over `seqs`, a batch of sequences at a time (rows of every position but BOS). */
  activations(seqs: readonly Int32Array[], hook: string, batchSequences: number): Iterable<ActivationRows>;
}

/**
 * Returns the text of each token id with its leading space kept: decoding [anchor, id] and removing
 * the anchor's own text, because decoders drop the leading space of a sequence's first token
 * (SentencePiece's "▁cat" alone decodes to "cat"; SAEBench patches the same case for Mistral).
 */
export function tokenTexts(tok: LmTokenizer): string[] {
  const anchor = tok.encode("a", { addBos: false });
  const head = tok.decode(anchor);
  return Array.from({ length: tok.vocabSize }, (_, id) => {
    if (id === tok.bos || id === tok.eos) return "";
    const both = tok.decode([...anchor, id]);
    return both.startsWith(head) ? both.slice(head.length) : tok.decode([id]);
  });
}

/** Returns the ProbeLm of a hooked model and its tokenizer. */
export function probeLm(model: HookedModel, tok: LmTokenizer, name: string): ProbeLm {
  const addBos = tok.bos !== undefined;
  return {
    name,
    dModel: model.spec.dModel,
    nLayers: model.spec.nLayers,
    tokenizerFamily: tok.kind === "llama2c" ? `llama2.c SentencePiece BPE (${tok.vocabSize} tokens)` : `Hugging Face tokenizer.json (${tok.vocabSize} tokens)`,
    vocab: () => tokenTexts(tok).map((text, id) => ({ id, text })),
    encode: (s) => Int32Array.from(tok.encode(s, { addBos })),
    activations: (seqs, hook, batchSequences) => extractActivations(model, seqs, { hook, batchSequences }),
  };
}
