/**
 * Reads a tokenizer from disk: a snapshot directory or tokenizer.json (with tokenizer_config.json,
 * special_tokens_map.json, config.json and generation_config.json beside it) through @huggingface/tokenizers, or a llama2.c tokenizer.bin.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { UserError } from "../errors.js";
import { hfTokenizer } from "../lm/tokenizers/hf.js";
import { llama2cTokenizer } from "../lm/tokenizers/llama2c.js";
import type { LmTokenizer } from "../lm/tokenizers/types.js";
import { HF_CONFIG, HF_GENERATION_CONFIG, HF_SPECIAL_TOKENS_MAP, HF_TOKENIZER, HF_TOKENIZER_CONFIG, readJsonObject, requireTokenizerJson, type HfSnapshot } from "./hf-snapshot.js";
import { readLlama2cTokenizer } from "./llama2c.js";

/** Returns the tokenizer at `path`: a directory with tokenizer.json, a tokenizer.json file, or a llama2.c tokenizer.bin. */
export function loadTokenizer(path: string, opts: { vocabSize?: number } = {}): LmTokenizer {
  if (!existsSync(path)) throw new UserError(`${path}: no such tokenizer file or directory`);
  if (statSync(path).isDirectory()) {
    return hfTokenizerAt(requireTokenizerJson({ dir: path, ...(existsSync(join(path, HF_TOKENIZER)) ? { tokenizerJson: join(path, HF_TOKENIZER) } : {}) }));
  }
  if (path.endsWith(".json")) return hfTokenizerAt(path);
  return llama2cTokenizer(readLlama2cTokenizer(path, opts.vocabSize));
}

/** Returns the tokenizer of a snapshot read by readHfSnapshot (a UserError when it has no tokenizer.json). */
export function tokenizerFromSnapshot(snap: HfSnapshot): LmTokenizer {
  const path = requireTokenizerJson(snap);
  return hfTokenizer({
    tokenizer: readJsonObject(path),
    ...(snap.tokenizerConfig ? { tokenizerConfig: snap.tokenizerConfig } : {}),
    ...(snap.specialTokensMap ? { specialTokensMap: snap.specialTokensMap } : {}),
    modelConfig: snap.config,
    ...(snap.generationConfig ? { generationConfig: snap.generationConfig } : {}),
    source: path,
  });
}

function hfTokenizerAt(path: string): LmTokenizer {
  const dir = dirname(path);
  const sibling = (f: string) => (basename(path) === HF_TOKENIZER && existsSync(join(dir, f)) ? readJsonObject(join(dir, f)) : undefined);
  const tokenizerConfig = sibling(HF_TOKENIZER_CONFIG);
  const specialTokensMap = sibling(HF_SPECIAL_TOKENS_MAP);
  const modelConfig = sibling(HF_CONFIG);
  const generationConfig = sibling(HF_GENERATION_CONFIG);
  return hfTokenizer({
    tokenizer: readJsonObject(path),
    ...(tokenizerConfig ? { tokenizerConfig } : {}),
    ...(specialTokensMap ? { specialTokensMap } : {}),
    ...(modelConfig ? { modelConfig } : {}),
    ...(generationConfig ? { generationConfig } : {}),
    source: path,
  });
}
