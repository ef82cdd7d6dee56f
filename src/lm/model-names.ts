/**
 * Model names as SAE releases write them (SAELens cfg.json `model_name`): TransformerLens's official
 * names and aliases (transformer_lens/supported_models.py: OFFICIAL_MODEL_NAMES, MODEL_ALIASES) for
 * the families saelab runs, plus Hugging Face ids SAEs name directly (TinyLlama, SmolLM), each mapped
 * to its Hugging Face id and config.json model_type. Matching ignores case, as TransformerLens does.
 */

/** One known model: its HF id, the other names it goes by, and its config.json model_type. */
export interface KnownModel {
  hfId: string;
  aliases: readonly string[];
  modelType: "gpt2" | "llama" | "qwen2" | "mistral" | "gpt_neox" | "gemma2";
}

const gpt2 = (hfId: string, ...aliases: string[]): KnownModel => ({ hfId, aliases, modelType: "gpt2" });
const llama = (hfId: string, ...aliases: string[]): KnownModel => ({ hfId, aliases, modelType: "llama" });
const qwen2 = (size: string, instruct = false, v = "2.5"): KnownModel => {
  const name = `Qwen${v}-${size}${instruct ? "-Instruct" : ""}`;
  return { hfId: `Qwen/${name}`, aliases: [name.toLowerCase()], modelType: "qwen2" };
};

/** Pythia sizes with the names EleutherAI first gave them (TransformerLens keeps both as aliases). */
const PYTHIA: readonly (readonly [string, string])[] = [["70m", "19m"], ["160m", "125m"], ["410m", "350m"], ["1b", "800m"], ["1.4b", "1.3b"], ["2.8b", "2.7b"], ["6.9b", "6.7b"], ["12b", "13b"]];
const pythia = (size: string, old: string, variant: string): KnownModel => ({
  hfId: `EleutherAI/pythia-${size}${variant}`,
  aliases: [`pythia-${size}${variant}`, `EleutherAI/pythia-${old}${variant}`, `pythia-${old}${variant}`, ...(size === "70m" && variant === "" ? ["pythia"] : [])],
  modelType: "gpt_neox",
});

/** The table (HF id first; TransformerLens aliases after). */
export const KNOWN_MODELS: readonly KnownModel[] = [
  gpt2("gpt2", "gpt2-small"),
  gpt2("gpt2-medium"),
  gpt2("gpt2-large"),
  gpt2("gpt2-xl"),
  gpt2("distilgpt2", "distillgpt2", "distill-gpt2", "distil-gpt2", "gpt2-xs"),
  llama("meta-llama/Llama-2-7b-hf", "Llama-2-7b"),
  llama("meta-llama/Llama-2-7b-chat-hf", "Llama-2-7b-chat"),
  llama("meta-llama/Meta-Llama-3-8B", "Meta-Llama-3-8B"),
  llama("meta-llama/Meta-Llama-3-8B-Instruct", "Meta-Llama-3-8B-Instruct"),
  llama("meta-llama/Llama-3.1-8B", "Llama-3.1-8B", "meta-llama/Meta-Llama-3.1-8B"),
  llama("meta-llama/Llama-3.1-8B-Instruct", "Llama-3.1-8B-Instruct", "meta-llama/Meta-Llama-3.1-8B-Instruct"),
  llama("meta-llama/Llama-3.2-1B", "Llama-3.2-1B"),
  llama("meta-llama/Llama-3.2-1B-Instruct", "Llama-3.2-1B-Instruct"),
  llama("meta-llama/Llama-3.2-3B", "Llama-3.2-3B"),
  llama("meta-llama/Llama-3.2-3B-Instruct", "Llama-3.2-3B-Instruct"),
  llama("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "TinyLlama-1.1B-Chat-v1.0"),
  llama("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", "TinyLlama-1.1B-intermediate-step-1431k-3T"),
  ...["135M", "360M", "1.7B"].flatMap((s) => [
    llama(`HuggingFaceTB/SmolLM-${s}`, `SmolLM-${s}`),
    llama(`HuggingFaceTB/SmolLM2-${s}`, `SmolLM2-${s}`),
    llama(`HuggingFaceTB/SmolLM2-${s}-Instruct`, `SmolLM2-${s}-Instruct`),
  ]),
  ...["0.5B", "1.5B", "7B"].flatMap((s) => [qwen2(s, false, "2"), qwen2(s, true, "2")]),
  ...["0.5B", "1.5B", "3B", "7B", "14B"].flatMap((s) => [qwen2(s), qwen2(s, true)]),
  { hfId: "mistralai/Mistral-7B-v0.1", aliases: ["mistral-7b"], modelType: "mistral" },
  ...PYTHIA.flatMap(([size, old]) => [pythia(size, old, ""), pythia(size, old, "-deduped")]),
  ...["2b", "9b", "27b"].flatMap((s) => [`google/gemma-2-${s}`, `google/gemma-2-${s}-it`]).map((hfId): KnownModel => ({ hfId, aliases: [hfId.slice("google/".length)], modelType: "gemma2" })),
  { hfId: "mistralai/Mistral-7B-Instruct-v0.1", aliases: ["mistral-7b-instruct"], modelType: "mistral" },
];

const BY_NAME: ReadonlyMap<string, KnownModel> = new Map(KNOWN_MODELS.flatMap((m) => [m.hfId, ...m.aliases].map((n) => [n.toLowerCase(), m] as const)));

/** Returns the known model a name (TransformerLens name or alias, or HF id; any case) stands for, if any. */
export function resolveModelName(name: string): KnownModel | undefined {
  return BY_NAME.get(name.trim().toLowerCase());
}

/**
 * Returns the HF id a local snapshot path suggests: `models--org--name` in a Hugging Face cache path,
 * else config.json's `_name_or_path` when it is not a local path, else undefined.
 */
export function hfIdFromSnapshot(dir: string, config: Record<string, unknown>): string | undefined {
  const cache = /models--([^/\\]+?)--([^/\\]+)/.exec(dir);
  if (cache) return `${cache[1]}/${cache[2]}`;
  const n = config._name_or_path;
  if (typeof n === "string" && n.length > 0 && !n.startsWith("/") && !n.startsWith(".") && !/^[A-Za-z]:[\\/]/.test(n)) return n;
  return undefined;
}
