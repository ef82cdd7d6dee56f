/**
 * Tokenizers from a Hugging Face `tokenizer.json` through @huggingface/tokenizers (the maintained
 * JS port of HF tokenizers: BPE/byte-level/sentencepiece-BPE with byte fallback, WordPiece, Unigram).
 * BOS/EOS come from tokenizer_config.json, then special_tokens_map.json, then config.json's or
 * generation_config.json's bos_token_id/eos_token_id (GPT-2's Hub repo names them only there); a
 * tokenizer without a BOS uses its EOS as BOS, as TransformerLens's set_tokenizer does (Qwen), so
 * `prepend_bos` means what it meant when the SAE was trained. Whether BOS is added by default comes
 * from tokenizer_config's add_bos_token, or else from what the post-processor adds.
 * `encode` always tokenizes without the post-processor and adds BOS/EOS itself, so `addBos` means
 * exactly one BOS whatever the template says.
 */
import { Tokenizer } from "@huggingface/tokenizers";
import { UserError } from "../../errors.js";
import type { LmTokenizer, TokenizeOptions } from "./types.js";

/** The files of an HF tokenizer, already parsed. */
export interface HfTokenizerFiles {
  /** tokenizer.json's object. */
  tokenizer: Record<string, unknown>;
  tokenizerConfig?: Record<string, unknown>;
  specialTokensMap?: Record<string, unknown>;
  /** The model's config.json, for bos_token_id/eos_token_id. */
  modelConfig?: Record<string, unknown>;
  generationConfig?: Record<string, unknown>;
  /** Named in error messages. */
  source?: string;
}

/** Returns an LmTokenizer over a parsed tokenizer.json (+ tokenizer_config.json, special_tokens_map.json). */
export function hfTokenizer(files: HfTokenizerFiles): LmTokenizer {
  const source = files.source ?? "tokenizer.json";
  const model = files.tokenizer.model as { type?: unknown } | undefined;
  if (typeof model !== "object" || model === null || typeof model.type !== "string") throw new UserError(`${source}: field "model.type" is missing; not a Hugging Face tokenizer.json`);
  checkTokenIds(files, source);
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(files.tokenizer, files.tokenizerConfig ?? {});
    // The library builds some malformed parts (normalizer, post_processor, decoder) lazily and fails on first use: use them now.
    for (const add_special_tokens of [false, true]) tok.decode(tok.encode("Hello, world ü 日本 1", { add_special_tokens }).ids, { skip_special_tokens: true });
  } catch (e) {
    throw new UserError(`${source}: @huggingface/tokenizers cannot build this tokenizer (model.type "${model.type}"): ${(e as Error).message}`);
  }
  const vocabSize = tok.get_vocab(true).size;
  const special = (key: "bos_token" | "eos_token"): number | undefined => {
    const v = files.tokenizerConfig?.[key] ?? files.specialTokensMap?.[key];
    const text = typeof v === "string" ? v : typeof v === "object" && v !== null && typeof (v as { content?: unknown }).content === "string" ? (v as { content: string }).content : undefined;
    if (text !== undefined) {
      const id = tok.token_to_id(text);
      if (id === undefined) throw new UserError(`${source}: ${key} "${text}" (from tokenizer_config.json / special_tokens_map.json) is not in the vocabulary`);
      return id;
    }
    for (const [file, cfg] of [["config.json", files.modelConfig], ["generation_config.json", files.generationConfig]] as const) {
      const raw = cfg?.[`${key}_id`];
      const id = Array.isArray(raw) ? raw[0] : raw;
      if (id === undefined || id === null) continue;
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= vocabSize) throw new UserError(`${file}: field "${key}_id" must be a token id in 0..${vocabSize - 1}, got ${JSON.stringify(raw)}`);
      return id;
    }
    return undefined;
  };
  const eos = special("eos_token");
  const bos = special("bos_token") ?? eos;
  const raw = (text: string) => tok.encode(text, { add_special_tokens: false }).ids;
  const configured = files.tokenizerConfig?.add_bos_token;
  const addBosByDefault = typeof configured === "boolean"
    ? configured && bos !== undefined
    : bos !== undefined && tok.encode("a", { add_special_tokens: true }).ids[0] === bos && raw("a")[0] !== bos;
  return {
    kind: "hf",
    vocabSize,
    ...(bos === undefined ? {} : { bos }),
    ...(eos === undefined ? {} : { eos }),
    addBosByDefault,
    encode(text: string, opts: TokenizeOptions = {}): number[] {
      const ids = raw(text);
      if (opts.addBos ?? addBosByDefault) {
        if (bos === undefined) throw new UserError(`${source}: BOS was asked for but the tokenizer has no bos_token`);
        ids.unshift(bos);
      }
      if (opts.addEos) {
        if (eos === undefined) throw new UserError(`${source}: EOS was asked for but the tokenizer has no eos_token`);
        ids.push(eos);
      }
      return ids;
    },
    decode(ids: ArrayLike<number>): string {
      const list = Array.from(ids);
      const bad = list.find((id) => !Number.isInteger(id) || id < 0 || id >= vocabSize);
      if (bad !== undefined) throw new RangeError(`token id ${bad} is outside the vocabulary (0..${vocabSize - 1})`);
      return list.length === 0 ? "" : tok.decode(list, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    },
  };
}

/**
 * Throws a UserError unless every id in tokenizer.json's model.vocab and added_tokens is an integer
 * that indexes the model's embedding: below config.json's vocab_size, or without one, below the
 * number of tokens (the library would otherwise size its tables by a corrupt id, or hand out ids the
 * model cannot embed).
 */
function checkTokenIds(files: HfTokenizerFiles, source: string): void {
  const vocab = (files.tokenizer.model as { vocab?: unknown }).vocab;
  const entries: [string, unknown][] = vocab !== null && typeof vocab === "object" && !Array.isArray(vocab) ? Object.entries(vocab) : [];
  const added = Array.isArray(files.tokenizer.added_tokens) ? (files.tokenizer.added_tokens as unknown[]) : [];
  const configured = files.modelConfig?.vocab_size;
  const limit = typeof configured === "number" && Number.isSafeInteger(configured) && configured > 0 ? configured : Math.max(entries.length + added.length, Array.isArray(vocab) ? vocab.length : 0);
  const bound = typeof configured === "number" && limit === configured ? `config.json's vocab_size ${limit}` : `the ${limit} tokens`;
  const check = (where: string, id: unknown) => {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= limit) throw new UserError(`${source}: ${where} has id ${JSON.stringify(id)}; token ids must be integers below ${bound}`);
  };
  for (const [piece, id] of entries) check(`model.vocab[${JSON.stringify(piece)}]`, id);
  added.forEach((t, i) => check(`added_tokens[${i}]`, (t as { id?: unknown } | null)?.id));
}
