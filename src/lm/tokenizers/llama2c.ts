/** The llama2.c tokenizer (tokenizer.bin, as src/lm/tokenizer.ts implements run.c's) behind the LmTokenizer interface. */
import type { Llama2cVocab } from "../../io/llama2c.js";
import { BOS, EOS, Tokenizer } from "../tokenizer.js";
import type { LmTokenizer, TokenizeOptions } from "./types.js";

/** Returns an LmTokenizer over a llama2.c vocabulary: BOS 1 (added by default, as run.c does), EOS 2. */
export function llama2cTokenizer(vocab: Llama2cVocab): LmTokenizer {
  const tok = new Tokenizer(vocab);
  return {
    kind: "llama2c",
    vocabSize: tok.vocabSize,
    bos: BOS,
    eos: EOS,
    addBosByDefault: true,
    encode(text: string, opts: TokenizeOptions = {}): number[] {
      return Array.from(tok.encode(text, { bos: opts.addBos ?? true, eos: opts.addEos ?? false }));
    },
    decode(ids: ArrayLike<number>): string {
      // Special tokens are left out; a piece after BOS loses its leading space, as run.c prints it.
      const parts: Uint8Array[] = [];
      for (let i = 0; i < ids.length; i++) {
        const id = ids[i]!;
        if (id !== BOS && id !== EOS) parts.push(tok.decodePiece(i > 0 ? ids[i - 1]! : -1, id));
      }
      return new TextDecoder().decode(Buffer.concat(parts));
    },
  };
}
