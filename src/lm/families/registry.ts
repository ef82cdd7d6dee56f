/**
 * The model families by config.json model_type (one file each, as TransformerLens keeps one
 * weight_conversions/<family>.py per family). A `const` object checked with `satisfies`, not filled
 * by import side effects; a new family is one file and one row here.
 */
import { UserError } from "../../errors.js";
import { gemma2Family } from "./gemma2.js";
import { gpt2Family } from "./gpt2.js";
import { gptNeoxFamily } from "./gpt_neox.js";
import type { Family } from "./hf.js";
import { llamaFamily, mistralFamily, qwen2Family } from "./llama.js";

export const FAMILIES = {
  gpt2: gpt2Family,
  llama: llamaFamily,
  qwen2: qwen2Family,
  mistral: mistralFamily,
  gpt_neox: gptNeoxFamily,
  gemma2: gemma2Family,
} as const satisfies Record<string, Family>;

export type FamilyId = keyof typeof FAMILIES;

/** Returns the family of a model_type, or throws a UserError naming it and the supported ones. */
export function familyOf(modelType: unknown, source: string): Family {
  if (typeof modelType !== "string") throw new UserError(`${source}: field "model_type" is missing or not a string`);
  if (!Object.hasOwn(FAMILIES, modelType)) throw new UserError(`${source}: model_type "${modelType}" is not supported (supported: ${Object.keys(FAMILIES).join(", ")})`);
  return FAMILIES[modelType as FamilyId];
}
