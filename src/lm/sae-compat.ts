/**
 * What an SAE's SAELens cfg.json says about the model it was trained on, checked against a loaded
 * model: its `model_name` (TransformerLens name or HF id), `hook_name`, `d_in`, and `prepend_bos`.
 * Pure functions: the caller prints the warnings and throws the error.
 */
import { UserError } from "../errors.js";
import { resolveModelName } from "./model-names.js";

/** What the check needs to know about the model. */
export interface ModelInfo {
  /** config.json model_type (e.g. "gpt2", "llama"), or "llama2c". */
  modelType: string;
  /** Residual-stream width. */
  dModel: number;
  /** Names the model goes by (HF id from the cache path or config._name_or_path, the directory name, ...). */
  names: readonly string[];
  /** Where the model came from, named in messages. */
  source: string;
  /** Whether the model has this hook point. */
  hasHook(name: string): boolean;
  /** A few of its hook names, shown when the SAE's is missing. */
  exampleHooks?: readonly string[];
}

/** The outcome: warnings to show, and an error when the SAE cannot be used on this model. */
export interface SaeModelCheck {
  warnings: string[];
  error?: string;
  /** The known model the SAE's model_name stands for, if recognised. */
  saeModel?: string;
}

/** Returns a field of a SAELens cfg.json: metadata.KEY (SAELens >= 6) or the top-level KEY (older files). */
export function saeCfgField(cfg: Record<string, unknown>, key: string): unknown {
  const meta = cfg.metadata;
  if (typeof meta === "object" && meta !== null && key in meta) return (meta as Record<string, unknown>)[key];
  return cfg[key];
}

/** Checks an SAE's cfg.json against a model: warns on a different model_name or d_in, errors on a hook the model lacks. */
export function checkSaeAgainstModel(saeCfg: Record<string, unknown>, model: ModelInfo, hookOverride?: string): SaeModelCheck {
  const warnings: string[] = [];
  const out: SaeModelCheck = { warnings };
  const name = saeCfgField(saeCfg, "model_name");
  if (typeof name === "string" && name.length > 0) {
    const want = resolveModelName(name);
    const have = model.names.map((n) => resolveModelName(n)).find((m) => m !== undefined);
    if (want) out.saeModel = want.hfId;
    if (want && have && want.hfId !== have.hfId) {
      warnings.push(`the SAE was trained on ${name} (${want.hfId}) but the model ${model.source} is ${have.hfId}`);
    } else if (want && !have && want.modelType !== model.modelType) {
      warnings.push(`the SAE was trained on ${name} (${want.hfId}, a ${want.modelType} model) but the model ${model.source} is a ${model.modelType} model`);
    } else if (!want && !model.names.some((n) => n.toLowerCase() === name.toLowerCase())) {
      warnings.push(`the SAE was trained on "${name}", which saelab does not know; make sure ${model.source} is that model`);
    }
  }
  const dIn = saeCfg.d_in;
  if (typeof dIn === "number" && dIn !== model.dModel) {
    warnings.push(`the SAE's d_in is ${dIn} but the model's width (d_model) is ${model.dModel}`);
  }
  const hook = hookOverride ?? saeCfgField(saeCfg, "hook_name");
  if (typeof hook === "string" && hook.length > 0 && !model.hasHook(hook)) {
    const eg = model.exampleHooks?.length ? ` (it has e.g. ${model.exampleHooks.slice(0, 4).join(", ")})` : "";
    out.error = `hook_name "${hook}" is not a hook point of the model ${model.source}${eg}`;
  }
  return out;
}

/**
 * Returns whether to prepend BOS when extracting activations for this SAE: cfg.json's prepend_bos
 * (metadata.prepend_bos in SAELens >= 6), else true, SAELens's and TransformerLens's default.
 */
export function saePrependBos(saeCfg: Record<string, unknown>, source = "cfg.json"): boolean {
  const v = saeCfgField(saeCfg, "prepend_bos");
  if (v === undefined || v === null) return true;
  if (typeof v !== "boolean") throw new UserError(`${source}: field "prepend_bos" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}
