/** The tokenizer interface every language-model command uses, whichever file format it came from. */

/** Options for `LmTokenizer.encode`. */
export interface TokenizeOptions {
  /** Prepend BOS. Default: the tokenizer's `addBosByDefault`. */
  addBos?: boolean;
  /** Append EOS. Default false. */
  addEos?: boolean;
}

/** A tokenizer: text to token ids and back, with its special tokens. */
export interface LmTokenizer {
  /** Where it came from: a tokenizer.json (through @huggingface/tokenizers) or a llama2.c tokenizer.bin. */
  readonly kind: "hf" | "llama2c";
  /** Number of ids (added tokens included). */
  readonly vocabSize: number;
  /** Beginning-of-sequence id, when the tokenizer has one. */
  readonly bos?: number;
  /** End-of-sequence id, when the tokenizer has one. */
  readonly eos?: number;
  /** Whether `encode` prepends BOS when not told (tokenizer_config's add_bos_token, or what its post-processor does). */
  readonly addBosByDefault: boolean;
  /** Returns the ids of `text` (special-token text in it becomes those tokens, as HF does). */
  encode(text: string, opts?: TokenizeOptions): number[];
  /** Returns the text of `ids`, leaving out special tokens. */
  decode(ids: ArrayLike<number>): string;
}
