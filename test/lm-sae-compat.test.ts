import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { UserError } from "../src/errors.js";
import { hfIdFromSnapshot, KNOWN_MODELS, resolveModelName } from "../src/lm/model-names.js";
import { checkSaeAgainstModel, saePrependBos, type ModelInfo } from "../src/lm/sae-compat.js";

const gpt2Hooks = new Set(["hook_embed", "hook_pos_embed", ...Array.from({ length: 12 }, (_, i) => [`blocks.${i}.hook_resid_pre`, `blocks.${i}.hook_resid_post`]).flat()]);
const gpt2Model: ModelInfo = { modelType: "gpt2", dModel: 768, names: ["gpt2"], source: "/models/gpt2", hasHook: (h) => gpt2Hooks.has(h), exampleHooks: ["blocks.0.hook_resid_pre", "blocks.0.hook_resid_post"] };
/** gpt2-small-res-jb's cfg.json as SAELens 6 writes it (fields abridged). */
const resJb = { d_in: 768, d_sae: 24576, architecture: "standard", metadata: { model_name: "gpt2-small", hook_name: "blocks.8.hook_resid_pre", prepend_bos: true } };

describe("TransformerLens model names", () => {
  it("resolves TransformerLens names and aliases and HF ids, ignoring case", () => {
    expect(resolveModelName("gpt2-small")?.hfId).toBe("gpt2");
    expect(resolveModelName("GPT2")?.hfId).toBe("gpt2");
    expect(resolveModelName("meta-llama/Llama-3.2-1B")).toMatchObject({ hfId: "meta-llama/Llama-3.2-1B", modelType: "llama" });
    expect(resolveModelName("Llama-3.2-1B")?.hfId).toBe("meta-llama/Llama-3.2-1B");
    expect(resolveModelName("qwen2.5-0.5b")).toMatchObject({ hfId: "Qwen/Qwen2.5-0.5B", modelType: "qwen2" });
    expect(resolveModelName("Qwen/Qwen2-1.5B-Instruct")?.modelType).toBe("qwen2");
    expect(resolveModelName("mistral-7b")?.hfId).toBe("mistralai/Mistral-7B-v0.1");
    expect(resolveModelName("HuggingFaceTB/SmolLM2-135M")?.modelType).toBe("llama");
    expect(resolveModelName("TinyLlama/TinyLlama-1.1B-Chat-v1.0")?.modelType).toBe("llama");
    expect(resolveModelName("pythia-70m-deduped")).toMatchObject({ hfId: "EleutherAI/pythia-70m-deduped", modelType: "gpt_neox" });
    expect(resolveModelName("pythia-19m")?.hfId).toBe("EleutherAI/pythia-70m");
    expect(resolveModelName("EleutherAI/pythia-2.7b-deduped")?.hfId).toBe("EleutherAI/pythia-2.8b-deduped");
    expect(resolveModelName("gemma-2-2b")).toMatchObject({ hfId: "google/gemma-2-2b", modelType: "gemma2" });
    expect(resolveModelName("google/gemma-2-9b-it")?.modelType).toBe("gemma2");
    expect(resolveModelName("EleutherAI/gpt-neox-20b")).toBeUndefined();
  });

  it("gives every name exactly one model", () => {
    const seen = new Map<string, string>();
    for (const m of KNOWN_MODELS) {
      for (const n of [m.hfId, ...m.aliases]) {
        const prev = seen.get(n.toLowerCase());
        if (prev !== undefined && prev !== m.hfId) throw new Error(`${n} names both ${prev} and ${m.hfId}`);
        seen.set(n.toLowerCase(), m.hfId);
      }
    }
    expect(seen.size).toBeGreaterThan(40);
  });

  it("reads an HF id from a Hub cache path or config._name_or_path, never from a local path", () => {
    expect(hfIdFromSnapshot("/root/.cache/huggingface/hub/models--meta-llama--Llama-3.2-1B/snapshots/4e20de3", {})).toBe("meta-llama/Llama-3.2-1B");
    expect(hfIdFromSnapshot("/data/x", { _name_or_path: "gpt2" })).toBe("gpt2");
    expect(hfIdFromSnapshot("/data/x", { _name_or_path: "/tmp/out" })).toBeUndefined();
    expect(hfIdFromSnapshot("/data/x", { _name_or_path: "./out" })).toBeUndefined();
    expect(hfIdFromSnapshot("/data/x", {})).toBeUndefined();
  });
});

describe("checkSaeAgainstModel", () => {
  it("accepts an SAE trained on the model under an alias, at a hook it has", () => {
    expect(checkSaeAgainstModel(resJb, gpt2Model)).toEqual({ warnings: [], saeModel: "gpt2" });
  });

  it("knows the models of the built-in Pythia and Gemma Scope releases (each release's model name resolves)", () => {
    const releases = JSON.parse(readFileSync(new URL("../src/io/sae-releases.json", import.meta.url), "utf8")).releases as Record<string, { model: string }>;
    const names = [...new Set(Object.values(releases).map((r) => r.model))];
    expect(names).toEqual(expect.arrayContaining(["pythia-70m-deduped", "gemma-2-2b"]));
    for (const n of names) expect(resolveModelName(n), n).toBeDefined();
    // A Gemma Scope SAE (model_name gemma-2-2b) on the snapshot fetched as google/gemma-2-2b: no warning; on GPT-2: one.
    const scope = { d_in: 2304, metadata: { model_name: "gemma-2-2b", hook_name: "blocks.12.hook_resid_post" } };
    const gemma: ModelInfo = { modelType: "gemma2", dModel: 2304, names: ["google/gemma-2-2b"], source: "/hub/gemma", hasHook: () => true };
    expect(checkSaeAgainstModel(scope, gemma)).toEqual({ warnings: [], saeModel: "google/gemma-2-2b" });
    expect(checkSaeAgainstModel(scope, { ...gpt2Model, hasHook: () => true }).warnings.join()).toMatch(/trained on gemma-2-2b \(google\/gemma-2-2b\) but the model \/models\/gpt2 is gpt2/);
  });

  it("warns on another model's name, another family, an unknown name, and a different d_in", () => {
    const other = checkSaeAgainstModel({ ...resJb, metadata: { ...resJb.metadata, model_name: "gpt2-medium" } }, gpt2Model);
    expect(other.warnings).toEqual(["the SAE was trained on gpt2-medium (gpt2-medium) but the model /models/gpt2 is gpt2"]);
    const family = checkSaeAgainstModel({ ...resJb, metadata: { ...resJb.metadata, model_name: "meta-llama/Llama-3.2-1B" } }, { ...gpt2Model, names: ["my-finetune"] });
    expect(family.warnings[0]).toMatch(/trained on meta-llama\/Llama-3\.2-1B \(meta-llama\/Llama-3\.2-1B, a llama model\) but the model \/models\/gpt2 is a gpt2 model/);
    const unknown = checkSaeAgainstModel({ ...resJb, metadata: { ...resJb.metadata, model_name: "my-org/secret" } }, gpt2Model);
    expect(unknown.warnings[0]).toMatch(/trained on "my-org\/secret", which saelab does not know/);
    expect(checkSaeAgainstModel({ ...resJb, metadata: { ...resJb.metadata, model_name: "my-org/secret" } }, { ...gpt2Model, names: ["my-org/secret"] }).warnings).toEqual([]);
    const width = checkSaeAgainstModel({ ...resJb, d_in: 512 }, gpt2Model);
    expect(width.warnings).toEqual(["the SAE's d_in is 512 but the model's width (d_model) is 768"]);
    expect(width.error).toBeUndefined();
  });

  it("refuses a hook_name the model lacks, from cfg.json (old or new layout) or the override", () => {
    const bad = checkSaeAgainstModel({ ...resJb, metadata: { ...resJb.metadata, hook_name: "blocks.12.hook_resid_pre" } }, gpt2Model);
    expect(bad.error).toBe('hook_name "blocks.12.hook_resid_pre" is not a hook point of the model /models/gpt2 (it has e.g. blocks.0.hook_resid_pre, blocks.0.hook_resid_post)');
    expect(checkSaeAgainstModel({ d_in: 768, model_name: "gpt2", hook_name: "blocks.3.hook_mlp_out" }, gpt2Model).error).toMatch(/"blocks\.3\.hook_mlp_out" is not a hook point/);
    expect(checkSaeAgainstModel(resJb, gpt2Model, "blocks.99.hook_resid_post").error).toMatch(/blocks\.99/);
    expect(checkSaeAgainstModel(resJb, gpt2Model, "blocks.2.hook_resid_post").error).toBeUndefined();
  });
});

describe("saePrependBos", () => {
  it("reads prepend_bos from metadata (SAELens 6) or the top level, defaulting to true", () => {
    expect(saePrependBos(resJb)).toBe(true);
    expect(saePrependBos({ metadata: { prepend_bos: false } })).toBe(false);
    expect(saePrependBos({ prepend_bos: false })).toBe(false);
    expect(saePrependBos({})).toBe(true);
    expect(() => saePrependBos({ metadata: { prepend_bos: "yes" } }, "sae/cfg.json")).toThrow(UserError);
    expect(() => saePrependBos({ metadata: { prepend_bos: "yes" } }, "sae/cfg.json")).toThrow(/sae\/cfg\.json: field "prepend_bos" must be true or false/);
  });
});
