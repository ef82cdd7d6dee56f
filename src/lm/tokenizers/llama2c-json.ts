/**
 * A llama2.c tokenizer.bin written as the Hugging Face Llama tokenizer files (sentencepiece BPE with
 * byte fallback, the layout transformers' LlamaConverter writes): ids 0/1/2 are <unk>/<s>/</s>, ids
 * 3..258 the byte pieces <0x00>..<0xFF>, spaces inside pieces spelled "▁". Merges are every split of
 * a piece into two pieces, ordered by the merged piece's score, highest first (transformers'
 * SentencePieceExtractor), which makes HF's lowest-rank-first BPE merge as run.c's highest-score-first.
 */
import type { Llama2cVocab } from "../../io/llama2c.js";
import { UserError } from "../../errors.js";

const SPECIALS = ["<unk>", "<s>", "</s>"] as const;
const SPACE = "\u2581";
/** run.c never merges a pair whose piece scores at or below this. */
const MIN_SCORE = -1e10;

/** What `llama2cTokenizerFiles` returns: the three JSON objects of an HF Llama tokenizer. */
export interface HfTokenizerObjects {
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
}

/** Returns tokenizer.json, tokenizer_config.json and special_tokens_map.json for a llama2.c vocabulary. */
export function llama2cTokenizerFiles(vocab: Llama2cVocab, opts: { modelMaxLength?: number; source?: string } = {}): HfTokenizerObjects {
  const source = opts.source ?? "tokenizer.bin";
  const n = vocab.pieces.length;
  if (n < 259) throw new UserError(`${source}: ${n} tokens; a llama2.c tokenizer has <unk>, <s>, </s> and 256 byte pieces first`);
  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const names: string[] = [];
  for (let i = 0; i < n; i++) {
    if (i < 3) names.push(SPECIALS[i]!);
    else if (i < 259) {
      const want = `<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>`;
      const got = Buffer.from(vocab.pieces[i]!).toString("latin1");
      if (got !== want) throw new UserError(`${source}: token ${i} is ${JSON.stringify(got)}, expected the byte piece ${want}`);
      names.push(want);
    } else {
      let text: string;
      try {
        text = utf8.decode(vocab.pieces[i]!);
      } catch {
        throw new UserError(`${source}: token ${i} is not valid UTF-8; it cannot be a tokenizer.json piece`);
      }
      names.push(text.replaceAll(" ", SPACE));
    }
  }
  const ids = new Map<string, number>();
  names.forEach((name, i) => {
    if (!ids.has(name)) ids.set(name, i);
  });
  const merges: { l: string; r: string; score: number }[] = [];
  for (let i = 259; i < n; i++) {
    const score = vocab.scores[i]!;
    if (ids.get(names[i]!) !== i || !(score > MIN_SCORE)) continue;
    const chars = Array.from(names[i]!);
    const local: { l: string; r: string; score: number }[] = [];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join("");
      const r = chars.slice(k).join("");
      const li = ids.get(l);
      const ri = ids.get(r);
      if (li !== undefined && ri !== undefined && li >= 259 && ri >= 259) local.push({ l, r, score });
    }
    local.sort((a, b) => ids.get(a.l)! - ids.get(b.l)! || ids.get(a.r)! - ids.get(b.r)!);
    merges.push(...local);
  }
  // Array.prototype.sort is stable: equal scores keep vocabulary order.
  merges.sort((a, b) => b.score - a.score);
  const added = SPECIALS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const bosSeq = (seq: "A" | "B") => [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: seq, type_id: 0 } }];
  return {
    tokenizer: {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: { type: "Sequence", normalizers: [{ type: "Prepend", prepend: SPACE }, { type: "Replace", pattern: { String: " " }, content: SPACE }] },
      pre_tokenizer: null,
      post_processor: {
        type: "TemplateProcessing",
        single: bosSeq("A"),
        pair: [...bosSeq("A"), ...bosSeq("B")],
        special_tokens: { "<s>": { id: "<s>", ids: [1], tokens: ["<s>"] } },
      },
      decoder: {
        type: "Sequence",
        decoders: [
          { type: "Replace", pattern: { String: SPACE }, content: " " },
          { type: "ByteFallback" },
          { type: "Fuse" },
          { type: "Strip", content: " ", start: 1, stop: 0 },
        ],
      },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: "<unk>",
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: true,
        ignore_merges: false,
        vocab: Object.fromEntries(ids),
        merges: merges.map((m) => [m.l, m.r]),
      },
    },
    tokenizerConfig: {
      add_bos_token: true,
      add_eos_token: false,
      bos_token: "<s>",
      eos_token: "</s>",
      unk_token: "<unk>",
      clean_up_tokenization_spaces: false,
      legacy: true,
      model_max_length: opts.modelMaxLength ?? 2048,
      tokenizer_class: "LlamaTokenizer",
    },
    specialTokensMap: { bos_token: "<s>", eos_token: "</s>", unk_token: "<unk>" },
  };
}
