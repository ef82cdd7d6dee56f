/**
 * Builds GPT-2's tokenizer.json (byte-level BPE, 50257 tokens) from the r50k_base ranks that the
 * gpt-tokenizer package ships, as transformers' TikTokenConverter does: vocab = each token's bytes
 * spelled with GPT-2's bytes_to_unicode map; merges = every split of a token into two tokens, ordered
 * by the merged token's rank. Written here, sharing no code with src/.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to 256 + n. */
function bytesToUnicode(): string[] {
  const keep: number[] = [];
  for (let b = 33; b <= 126; b++) keep.push(b);
  for (let b = 161; b <= 172; b++) keep.push(b);
  for (let b = 174; b <= 255; b++) keep.push(b);
  const out = new Array<string>(256);
  let n = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(keep.includes(b) ? b : 256 + n++);
  return out;
}

/** Returns GPT-2's tokenizer.json and tokenizer_config.json objects. */
export function gpt2TokenizerJson(): { tokenizer: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const require = createRequire(import.meta.url);
  const ranksPath = require.resolve("gpt-tokenizer/data/r50k_base.tiktoken");
  const ranks = new Map<string, number>();
  for (const line of readFileSync(ranksPath, "utf8").split("\n")) {
    if (!line) continue;
    const [b64, rank] = line.split(" ");
    ranks.set(Buffer.from(b64!, "base64").toString("latin1"), Number(rank));
  }
  const b2u = bytesToUnicode();
  const spell = (latin1: string) => Array.from(latin1, (c) => b2u[c.charCodeAt(0)]!).join("");
  const vocab: Record<string, number> = {};
  const merges: [string, string, number][] = [];
  for (const [tok, rank] of ranks) {
    vocab[spell(tok)] = rank;
    const local: [string, string, number][] = [];
    for (let i = 1; i < tok.length; i++) {
      const l = tok.slice(0, i);
      const r = tok.slice(i);
      if (ranks.has(l) && ranks.has(r)) local.push([l, r, rank]);
    }
    local.sort((a, b) => ranks.get(a[0])! - ranks.get(b[0])! || ranks.get(a[1])! - ranks.get(b[1])!);
    merges.push(...local);
  }
  merges.sort((a, b) => a[2] - b[2]);
  vocab["<|endoftext|>"] = 50256;
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    tokenizer: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [{ id: 50256, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: { ...byteLevel, trim_offsets: false },
      decoder: byteLevel,
      model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges: merges.map(([l, r]) => [spell(l), spell(r)]) },
    },
    tokenizerConfig: { add_bos_token: false, add_prefix_space: false, bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", unk_token: "<|endoftext|>", model_max_length: 1024, tokenizer_class: "GPT2Tokenizer" },
  };
}
