import { describe, expect, it } from "vitest";
import { Rng } from "../src/tensor/rng.js";
import { BOS, EOS, Tokenizer } from "../src/lm/tokenizer.js";
import { readLlama2cTokenizer, sharedModelFiles, type Llama2cVocab } from "../src/io/llama2c.js";
import { SHARED_MODEL_MISSING, tinyVocab } from "./lm-fixtures.js";

/**
 * llama2.c run.c's encode() transcribed literally (byte strings as latin1 JS strings, the quadratic
 * rescanning merge loop), as the oracle for the heap-based implementation.
 */
function runCEncode(v: Llama2cVocab, text: string, bos: boolean, eos: boolean): number[] {
  const vocab = v.pieces.map((p) => String.fromCharCode(...p));
  const lookup = (s: string) => vocab.indexOf(s);
  const bytes = new TextEncoder().encode(text);
  const tokens: number[] = [];
  if (bos) tokens.push(1);
  if (bytes.length > 0) tokens.push(lookup(" "));
  let buf = "";
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if ((c & 0xc0) !== 0x80) buf = "";
    buf += String.fromCharCode(c);
    const next = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    if ((next & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = lookup(buf);
    if (id !== -1) tokens.push(id);
    else for (let j = 0; j < buf.length; j++) tokens.push(buf.charCodeAt(j) + 3);
    buf = "";
  }
  for (;;) {
    let bestScore = -1e10;
    let bestId = -1;
    let bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = lookup(vocab[tokens[i]!]! + vocab[tokens[i + 1]!]!);
      if (id !== -1 && v.scores[id]! > bestScore) {
        bestScore = v.scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens.splice(bestIdx, 2, bestId);
  }
  if (eos) tokens.push(2);
  return tokens;
}

/** Random text mixing words the vocabulary merges, punctuation, and multi-byte characters. */
function randomText(rng: Rng): string {
  const parts = ["happy", " sad", "the ", "Once upon a time", "ab", "c", " ", "  ", ".", "\n", "é", "日本", "🙂", "Lily", "x", "ha", "pp", "\u0000", "<0x41>"];
  let s = "";
  const n = 1 + rng.int(12);
  for (let i = 0; i < n; i++) s += parts[rng.int(parts.length)];
  return s;
}

const shared = sharedModelFiles();
const vocabs: [string, () => Llama2cVocab][] = [["tiny test vocabulary", tinyVocab]];
if (shared) vocabs.push(["stories260K tok512.bin", () => readLlama2cTokenizer(shared.tokenizer, 512)]);

describe.each(vocabs)("Tokenizer (%s)", (_name, load) => {
  const vocab = load();
  const tok = new Tokenizer(vocab);

  it("encodes exactly as llama2.c's run.c does, on 300 random strings", () => {
    const rng = new Rng(5);
    for (let i = 0; i < 300; i++) {
      const text = randomText(rng);
      expect(Array.from(tok.encode(text)), JSON.stringify(text)).toEqual(runCEncode(vocab, text, true, false));
    }
    expect(Array.from(tok.encode("happy", { bos: false, eos: true }))).toEqual(runCEncode(vocab, "happy", false, true));
    expect(Array.from(tok.encode(""))).toEqual([BOS]);
  });

  it("falls back to byte tokens 3..258 for characters without a piece, and decodes them back", () => {
    const ids = Array.from(tok.encode("\u{1F9EA}", { bos: false }));
    expect(ids.slice(-4)).toEqual([0xf0 + 3, 0x9f + 3, 0xa7 + 3, 0xaa + 3]);
    expect(tok.decode(ids)).toBe(" \u{1F9EA}");
  });

  it("decodes as llama2.c: the space opening the first piece after BOS is dropped", () => {
    for (const text of ["happy sad", "Once upon a time, é 日本 🙂"]) {
      const ids = tok.encode(text);
      expect(tok.decode(ids.subarray(1), BOS)).toBe(text);
      expect(tok.decode(ids.subarray(1))).toBe(` ${text}`);
    }
    expect(tok.decode([EOS])).toBe(new TextDecoder().decode(vocab.pieces[EOS]));
    expect(() => tok.decode([vocab.pieces.length])).toThrow(/outside the vocabulary/);
  });
});

describe.skipIf(!shared)("Tokenizer on stories260K's tok512.bin", () => {
  it("gives the known ids of a story opening", () => {
    const tok = new Tokenizer(readLlama2cTokenizer(shared!.tokenizer, 512));
    // Ids as llama2.c's run.c encodes this text with tok512.bin (same as the transcription above).
    expect(Array.from(tok.encode("Once upon a time, there was a little girl named Lily."))).toEqual([1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426]);
  });
});

describe.skipIf(!!shared)("Tokenizer on stories260K", () => {
  // Reported as skipped, with the reason as its name (a passing placeholder would hide the missing model).
  it.skip(SHARED_MODEL_MISSING, () => {});
});
