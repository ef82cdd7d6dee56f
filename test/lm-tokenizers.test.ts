/**
 * Tokenizers behind one interface: GPT-2's byte-level BPE tokenizer.json (built by the test from the
 * ranks gpt-tokenizer ships) against gpt-tokenizer's own encoder, and stories260K's llama2.c
 * tokenizer written as an HF Llama tokenizer.json (sentencepiece BPE with byte fallback) against the
 * llama2.c tokenizer; round trips of unicode, whitespace runs and bytes no piece covers.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encode as cl100kEncode } from "gpt-tokenizer/encoding/cl100k_base";
import { encode as gptEncode } from "gpt-tokenizer/encoding/r50k_base";
import { beforeAll, describe, expect, it } from "vitest";
import { UserError } from "../src/errors.js";
import { readLlama2cTokenizer } from "../src/io/llama2c.js";
import { loadTokenizer } from "../src/io/tokenizer-files.js";
import { hfTokenizer } from "../src/lm/tokenizers/hf.js";
import { llama2cTokenizerFiles } from "../src/lm/tokenizers/llama2c-json.js";
import type { LmTokenizer } from "../src/lm/tokenizers/types.js";
import { gpt2TokenizerJson, llama3StyleTokenizerJson } from "./helpers/tiktoken-tokenizer-json.js";

const TOK512 = new URL("../../shared/models/stories260K/tok512.bin", import.meta.url).pathname;
const tmp = () => mkdtempSync(join(tmpdir(), "saelab-tok-"));
const GOLDEN = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high";

/** Seeded random strings over letters, digits, punctuation, whitespace runs, accents, CJK and emoji. */
function randomTexts(count: number, seed: number): string[] {
  const alphabet = [..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,!?'\"-()", " ", " ", "  ", "\n", "\n\n", "\t", "é", "ñ", "ü", "日", "本", "語", "🙂", "👍🏽", "'s", "'ll", "\u00a0", "\u200b", "the", " the", "Lily", " was"];
  let s = seed >>> 0;
  const next = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  return Array.from({ length: count }, () => Array.from({ length: Math.floor(next() * 30) }, () => alphabet[Math.floor(next() * alphabet.length)]!).join(""));
}

const ROUND_TRIP = ["", " ", "   ", "a  b   c    d", "\n\n\n\tx\t\t", "trailing   ", "héllo wörld ñ", "日本語のテキスト", "emoji 🙂👍🏽🇫🇷 mixed", "\u0000\u0001\u007f control", "Ω≈ç√∫ ¿¡"];

describe("GPT-2 tokenizer.json through @huggingface/tokenizers", () => {
  let tok: LmTokenizer;
  let gpt2Dir: string;
  let gpt2: ReturnType<typeof gpt2TokenizerJson>;
  beforeAll(() => {
    const dir = tmp();
    gpt2Dir = dir;
    gpt2 = gpt2TokenizerJson();
    const { tokenizer, tokenizerConfig } = gpt2;
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(tokenizerConfig));
    tok = loadTokenizer(dir);
  }, 60_000);

  it("has GPT-2's vocabulary and special tokens, and adds BOS only when asked", () => {
    expect(tok.kind).toBe("hf");
    expect(tok.vocabSize).toBe(50257);
    expect(tok.bos).toBe(50256);
    expect(tok.eos).toBe(50256);
    expect(tok.addBosByDefault).toBe(false);
    expect(tok.encode("Hello world")).toEqual([15496, 995]);
    expect(tok.encode("Hello world", { addBos: true, addEos: true })).toEqual([50256, 15496, 995, 50256]);
  });

  it("finds BOS/EOS in config.json when the tokenizer files do not name them (GPT-2's Hub repo), and uses EOS as BOS when BOS is null (Qwen), as TransformerLens does", () => {
    writeFileSync(join(gpt2Dir, "tokenizer_config.json"), JSON.stringify({ model_max_length: 1024 }));
    writeFileSync(join(gpt2Dir, "config.json"), JSON.stringify({ model_type: "gpt2", bos_token_id: 50256, eos_token_id: 50256 }));
    const hub = loadTokenizer(gpt2Dir);
    expect([hub.bos, hub.eos, hub.addBosByDefault]).toEqual([50256, 50256, false]);
    expect(hub.encode("Hello world", { addBos: true })).toEqual([50256, 15496, 995]);
    expect(() => hfTokenizer({ tokenizer: gpt2.tokenizer, modelConfig: { bos_token_id: 99999 } })).toThrow(/config\.json: field "bos_token_id" must be a token id in 0\.\.50256, got 99999/);
    const qwenLike = hfTokenizer({ tokenizer: gpt2.tokenizer, tokenizerConfig: { bos_token: null, eos_token: "<|endoftext|>", add_bos_token: false } });
    expect([qwenLike.bos, qwenLike.eos, qwenLike.addBosByDefault]).toEqual([50256, 50256, false]);
  });

  it("gives the same ids as gpt-tokenizer's GPT-2 encoder on known and random strings", () => {
    const texts = [GOLDEN, ...ROUND_TRIP, "I'm sure they'll've done it, can't you?", "<|endoftext|>Next document", "12345 678.9 1,000,000", ...randomTexts(300, 7)];
    for (const t of texts) expect(tok.encode(t), JSON.stringify(t)).toEqual(gptEncode(t, { allowedSpecial: new Set(["<|endoftext|>"]) }));
  });

  it("reads merges written as \"left right\" strings, as older tokenizer.json files (GPT-2's Hub repo) store them", () => {
    const { tokenizer, tokenizerConfig } = gpt2;
    const model = tokenizer.model as { merges: [string, string][] };
    const old = hfTokenizer({ tokenizer: { ...tokenizer, model: { ...model, merges: model.merges.map(([l, r]) => `${l} ${r}`) } }, tokenizerConfig });
    for (const t of [GOLDEN, ...ROUND_TRIP]) expect(old.encode(t)).toEqual(tok.encode(t));
  });

  it("round-trips unicode, whitespace runs and control bytes; a partial UTF-8 sequence decodes to U+FFFD", () => {
    for (const t of [...ROUND_TRIP, ...randomTexts(100, 11)]) expect(tok.decode(tok.encode(t))).toBe(t);
    expect(tok.decode(tok.encode("<|endoftext|>abc"))).toBe("abc");
    const emoji = tok.encode("🙂");
    expect(emoji.length).toBeGreaterThan(1);
    expect(tok.decode(emoji.slice(0, 1))).toContain("\uFFFD");
  });
});

describe("a Llama 3 style tokenizer.json (cl100k ranks, Llama 3's split regex, BOS from the post-processor)", () => {
  let tok: LmTokenizer;
  beforeAll(() => {
    const { tokenizer, tokenizerConfig } = llama3StyleTokenizerJson();
    tok = hfTokenizer({ tokenizer, tokenizerConfig });
  }, 60_000);

  it("adds <|begin_of_text|> by default because its post-processor does, and encodes as tiktoken's cl100k_base", () => {
    expect([tok.bos, tok.eos, tok.addBosByDefault]).toEqual([100256, 100257, true]);
    // cl100k_base, Llama 3's first 100k tokens, has the same pre-tokenizer pattern (case-insensitive contractions, 1-3 digit runs).
    const texts = [GOLDEN, ...ROUND_TRIP, "I'M SURE THEY'LL've DONE it 1234567", "x\r\n\r\n  y", ...randomTexts(200, 13)];
    for (const t of texts) {
      expect(tok.encode(t, { addBos: false }), JSON.stringify(t)).toEqual(cl100kEncode(t));
      expect(tok.decode(tok.encode(t))).toBe(t);
    }
    expect(tok.encode("Hi")[0]).toBe(100256);
  });
});

describe.skipIf(!existsSync(TOK512))("stories260K's tokenizer as an HF Llama tokenizer.json (sentencepiece BPE, byte fallback)", () => {
  let hf: LmTokenizer;
  let l2: LmTokenizer;
  beforeAll(() => {
    const dir = tmp();
    const files = llama2cTokenizerFiles(readLlama2cTokenizer(TOK512));
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(files.tokenizer));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(files.tokenizerConfig));
    writeFileSync(join(dir, "special_tokens_map.json"), JSON.stringify(files.specialTokensMap));
    hf = loadTokenizer(dir);
    l2 = loadTokenizer(TOK512);
  });

  it("has <s>=1 and </s>=2 and adds BOS by default, as tokenizer_config says", () => {
    expect([hf.kind, l2.kind]).toEqual(["hf", "llama2c"]);
    expect([hf.vocabSize, hf.bos, hf.eos, hf.addBosByDefault]).toEqual([512, 1, 2, true]);
    expect([l2.vocabSize, l2.bos, l2.eos, l2.addBosByDefault]).toEqual([512, 1, 2, true]);
    expect(hf.encode("")).toEqual([1]);
    expect(hf.encode("Lily", { addBos: false, addEos: true }).at(-1)).toBe(2);
    expect(hf.encode("Lily", { addBos: false })[0]).not.toBe(1);
  });

  it("encodes exactly as the llama2.c tokenizer (run.c's algorithm) on stories and random strings", () => {
    const texts = [GOLDEN, "Tom and Sue were friends. They liked to share toys.", ...ROUND_TRIP, ...randomTexts(400, 3)];
    let byteFallbacks = 0;
    for (const t of texts) {
      const ids = hf.encode(t);
      expect(ids, JSON.stringify(t)).toEqual(l2.encode(t));
      byteFallbacks += ids.filter((i) => i >= 3 && i < 259).length;
    }
    expect(byteFallbacks).toBeGreaterThan(50);
  });

  it("round-trips unicode through byte-fallback pieces, whitespace runs and control bytes; decodes as llama2.c prints", () => {
    for (const t of [...ROUND_TRIP, ...randomTexts(100, 5)]) {
      // The dummy-prefix space sentencepiece adds is removed again on decode, by both.
      expect(hf.decode(hf.encode(t)), JSON.stringify(t)).toBe(t);
      expect(l2.decode(l2.encode(t)), JSON.stringify(t)).toBe(t);
    }
    const cjk = hf.encode("日", { addBos: false });
    expect(cjk.slice(1)).toEqual([0xe6 + 3, 0x97 + 3, 0xa5 + 3]);
    expect(hf.decode(cjk.slice(0, 2))).toContain("\uFFFD");
    expect(hf.decode(l2.encode(GOLDEN))).toBe(GOLDEN);
  });

  it("without add_bos_token, adds BOS by default exactly when the post-processor would (Llama 3 style)", () => {
    const files = llama2cTokenizerFiles(readLlama2cTokenizer(TOK512));
    const { add_bos_token: _drop, ...config } = files.tokenizerConfig;
    expect(hfTokenizer({ tokenizer: files.tokenizer, tokenizerConfig: config }).addBosByDefault).toBe(true);
    expect(hfTokenizer({ tokenizer: { ...files.tokenizer, post_processor: null }, tokenizerConfig: config }).addBosByDefault).toBe(false);
    const noSpecials = hfTokenizer({ tokenizer: files.tokenizer });
    expect([noSpecials.bos, noSpecials.eos, noSpecials.addBosByDefault]).toEqual([undefined, undefined, false]);
    expect(() => noSpecials.encode("a", { addBos: true })).toThrow(/BOS was asked for but the tokenizer has no bos_token/);
    expect(() => hfTokenizer({ tokenizer: files.tokenizer, tokenizerConfig: { bos_token: "<bos>" }, source: "t.json" })).toThrow(/t\.json: bos_token "<bos>" .* is not in the vocabulary/);
    expect(hfTokenizer({ tokenizer: files.tokenizer, tokenizerConfig: { bos_token: { content: "<s>" } } }).bos).toBe(1);
  });

  it("refuses a directory without tokenizer.json and a tokenizer.json that is not one, naming the file", () => {
    const dir = tmp();
    expect(() => loadTokenizer(dir)).toThrow(UserError);
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json is missing/);
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify({ version: "1.0" }));
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json: field "model\.type" is missing/);
    writeFileSync(join(dir, "tokenizer.json"), "{");
    expect(() => loadTokenizer(dir)).toThrow(/tokenizer\.json: not valid JSON/);
    rmSync(dir, { recursive: true });
    expect(() => loadTokenizer(dir)).toThrow(/no such tokenizer file or directory/);
  });
});
