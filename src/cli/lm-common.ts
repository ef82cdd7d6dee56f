/** Shared pieces of the LM commands: the --model/--tokenizer/--processing flags and loading them, and the token corpus flags. */
import { readFileSync, statSync } from "node:fs";
import { basename, extname, isAbsolute, join, resolve } from "node:path";
import { existsSync } from "node:fs";
import { z } from "zod";
import { seed } from "../schema.js";
import { sampleCorpus, textCorpus } from "../lm/activations.js";
import { UserError } from "../errors.js";
import { sharedModelDir, sharedModelFiles } from "../io/llama2c.js";
import { readJsonObject } from "../io/hf-snapshot.js";
import { SAE_CFG_FILENAME } from "../io/saelens.js";
import { loadTokenizer, tokenizerFromSnapshot } from "../io/tokenizer-files.js";
import { loadWeights } from "../lm/load.js";
import { HookedModel } from "../lm/model.js";
import { loadLmKernels } from "../lm/native.js";
import { checkSaeAgainstModel, saeCfgField } from "../lm/sae-compat.js";
import type { LmTokenizer } from "../lm/tokenizers/types.js";
import { loadKernels, parseIsa, resolveBackend } from "../tensor/backend.js";
import type { Kernels } from "../tensor/kernels.js";
import type { CliIO } from "./args.js";
import { progressBar } from "./progress.js";
import { modelHubFlags, resolveModelPath } from "./sae-source.js";

/** The flags every LM command takes. */
export const modelFlags = {
  model: z.string().optional().describe("Hugging Face snapshot directory (config.json, model.safetensors or shards, tokenizer.json), a Hub id (org/name, fetched into the HF cache), or llama2.c checkpoint; default: the shared stories260K.bin when present."),
  tokenizer: z.string().optional().describe("tokenizer.json (or a directory with one) or llama2.c tokenizer.bin; default: the snapshot's tokenizer.json, or the shared tok512.bin."),
  ...modelHubFlags,
  processing: z.boolean().optional().describe("TransformerLens weight processing of LayerNorm models (residual stream centred, as from_pretrained); default on, or as an SAE's cfg.json model_from_pretrained_kwargs says; --no-processing gives the raw Hugging Face values."),
};

/** Whether a --model argument is a Hub id to fetch: no such local path, and not spelled like a file (an extension, ./ or /). */
function looksLikeHubId(arg: string, io: CliIO): boolean {
  if (existsSync(isAbsolute(arg) ? arg : resolve(io.cwd, arg))) return false;
  return !/^[./~]/.test(arg) && !/\.(bin|pt|pth|safetensors|gguf|json|npz|npy)$/i.test(arg);
}

/** A loaded model, its tokenizer and where they came from. */
export interface LoadedLm {
  model: HookedModel;
  tok: LmTokenizer;
  modelPath: string;
  tokenizerPath: string;
  /** Whether TransformerLens's processing was applied (LayerNorm families only change). */
  processing: boolean;
  /** Names the model goes by (the Hub id it was fetched by, config.json _name_or_path, the directory name), for checking an SAE's model_name. */
  modelNames: string[];
  /** The compute kernels the model runs on (for loading SAEs beside it). */
  kernels: Kernels;
}

/** Returns the processing an SAE's cfg.json asks for (model_from_pretrained_kwargs.center_writing_weights; default on), or undefined without a cfg. */
export function saeProcessing(saeCfg: Record<string, unknown> | undefined): boolean | undefined {
  if (!saeCfg) return undefined;
  const kw = saeCfgField(saeCfg, "model_from_pretrained_kwargs");
  if (kw && typeof kw === "object" && "center_writing_weights" in kw) return (kw as Record<string, unknown>).center_writing_weights !== false;
  return true;
}

/**
 * Loads the model and tokenizer named by the flags (or the shared defaults), warning once on stderr
 * about a slow backend. Processing: the flag, else what `saeCfg` asks for, else on.
 */
export async function loadLm(opts: { model?: string | undefined; tokenizer?: string | undefined; processing?: boolean | undefined; offline?: boolean | undefined; revision?: string | undefined }, io: CliIO, saeCfg?: Record<string, unknown>): Promise<LoadedLm> {
  const shared = sharedModelFiles();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));
  // A --model that names no local path but is spelled org/name is fetched from the Hub into the HF cache.
  const hubId = opts.model !== undefined && looksLikeHubId(opts.model, io) ? opts.model : undefined;
  const modelPath = hubId ? await resolveModelPath(hubId, io, opts) : opts.model ? abs(opts.model) : shared?.model;
  if (!modelPath) throw new UserError(`give --model (the default stories260K model is not at ${sharedModelDir()})`);
  // A path that is not a directory is read as a llama2.c checkpoint (whose reader names a missing file).
  const isDir = statSync(modelPath, { throwIfNoEntry: false })?.isDirectory() ?? false;
  const processing = opts.processing ?? saeProcessing(saeCfg) ?? true;
  const loaded = await loadWeights(modelPath, { processing });
  let tok: LmTokenizer;
  let tokenizerPath: string;
  if (opts.tokenizer) {
    tokenizerPath = abs(opts.tokenizer);
    tok = loadTokenizer(tokenizerPath, { vocabSize: loaded.spec.vocabSize });
  } else if (loaded.snapshot) {
    tok = tokenizerFromSnapshot(loaded.snapshot);
    tokenizerPath = loaded.snapshot.tokenizerJson!;
  } else if (shared && !isDir) {
    tokenizerPath = shared.tokenizer;
    tok = loadTokenizer(tokenizerPath, { vocabSize: loaded.spec.vocabSize });
  } else {
    throw new UserError(`give --tokenizer for the llama2.c checkpoint ${modelPath} (the default tok512.bin is not at ${sharedModelDir()})`);
  }
  if (tok.vocabSize > loaded.spec.vocabSize) throw new UserError(`the tokenizer ${tokenizerPath} has ${tok.vocabSize} tokens but the model ${modelPath} only ${loaded.spec.vocabSize}`);
  const backend = resolveBackend("auto", io.backendEnv);
  const isa = parseIsa(io.isaEnv);
  const { kernels, warning } = loadKernels(backend, isa);
  if (warning) io.err(warning);
  const nameOrPath = loaded.snapshot?.config._name_or_path;
  const modelNames = [...(hubId ? [hubId] : []), ...(typeof nameOrPath === "string" ? [nameOrPath] : []), basename(modelPath)];
  return { model: new HookedModel(loaded, { kernels, lm: loadLmKernels(backend, kernels.name === "native" ? isa : "auto") }), tok, modelPath, tokenizerPath, processing, modelNames, kernels };
}

/** The id that starts a sequence for `tok` (BOS, else EOS as GPT-2 uses <|endoftext|>), or a UserError. */
export function startToken(tok: LmTokenizer, tokenizerPath: string): number {
  const t = tok.bos ?? tok.eos;
  if (t === undefined) throw new UserError(`the tokenizer ${tokenizerPath} names neither a BOS nor an EOS token, so saelab cannot start a sequence`);
  return t;
}

/** Returns an SAE directory's cfg.json (a UserError when it is missing or not JSON). */
export function readSaeCfg(dir: string): Record<string, unknown> {
  return readJsonObject(join(dir, SAE_CFG_FILENAME));
}

/**
 * Checks an SAE's cfg.json against the loaded model (TransformerLens model names, d_in, hook_name):
 * prints the warnings on stderr, throws a UserError when the SAE's hook is not one of the model's.
 */
export function checkSaeFits(lm: LoadedLm, cfg: Record<string, unknown>, dir: string, io: CliIO, hook?: string): void {
  const { model } = lm;
  const check = checkSaeAgainstModel(cfg, {
    modelType: model.spec.family,
    dModel: model.spec.dModel,
    // Also the file's name without its extension: activations of a llama2.c model record that as model_name.
    names: [...lm.modelNames, basename(lm.modelPath, extname(lm.modelPath))],
    source: lm.modelPath,
    hasHook: (n) => model.hookNames().includes(n),
    exampleHooks: model.hookNames().slice(0, 6),
  }, hook);
  for (const w of check.warnings) io.err(`saelab: warning: SAE ${dir}: ${w}`);
  if (check.error) throw new UserError(`SAE ${dir}: ${check.error}`);
}

/** Returns the ids of a prompt: BOS (or GPT-2's <|endoftext|>) then the text, as TransformerLens prepends it. */
export function promptTokens(lm: LoadedLm, text: string): number[] {
  return [startToken(lm.tok, lm.tokenizerPath), ...lm.tok.encode(text, { addBos: false })];
}

/** The tokens that end a generated sequence: BOS for llama2.c models (a story's end), else the tokenizer's EOS. */
export function stopTokens(lm: LoadedLm): number[] {
  const t = lm.tok.kind === "llama2c" ? lm.tok.bos : lm.tok.eos;
  return t === undefined ? [] : [t];
}

/** The flags choosing a corpus of token windows: a text file, or stories the model samples with a seed (default `defaultSeed`). */
export function corpusFlags(defaultSeed: number, defaultSequences: number) {
  return {
    corpus: z.string().optional().describe("Text file of stories separated by blank lines; default: stories the model samples itself."),
    sequences: z.number().int().min(1).optional().describe(`Number of token windows (default ${defaultSequences} sampled; all windows of --corpus).`),
    seqLen: z.number().int().min(2).default(256).describe("Tokens per window (context length)."),
    seed: seed().default(defaultSeed).describe("Seed for sampling the default corpus."),
    temperature: z.number().min(0).default(1).describe("Sampling temperature of the default corpus."),
    topp: z.number().min(0).max(1).default(0.9).describe("Nucleus threshold of the default corpus."),
  };
}

/** Parsed corpus flags. */
export interface CorpusOptions {
  corpus?: string | undefined;
  sequences?: number | undefined;
  seqLen: number;
  seed: number;
  temperature: number;
  topp: number;
}

/** Returns the token windows the corpus flags ask for, and a provenance record of them. */
export function loadCorpus(lm: LoadedLm, opts: CorpusOptions, defaultSequences: number, io: CliIO, prependBos = true): { seqs: Int32Array[]; source: Record<string, string | number | boolean> } {
  const { model, tok } = lm;
  if (opts.seqLen > model.spec.contextLength) throw new UserError(`--seqLen ${opts.seqLen} exceeds the model's context length ${model.spec.contextLength}`);
  if (opts.corpus) {
    const path = isAbsolute(opts.corpus) ? opts.corpus : resolve(io.cwd, opts.corpus);
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (e) {
      throw new UserError(`cannot read --corpus ${path}: ${(e as Error).message}`);
    }
    const seqs = textCorpus(tok, text, opts.seqLen, opts.sequences ?? Infinity, prependBos);
    if (seqs.length === 0) throw new UserError(`--corpus ${path} holds no text`);
    return { seqs, source: { corpus: path } };
  }
  const bar = progressBar(io, "sampling corpus");
  const seqs = sampleCorpus(model, opts.sequences ?? defaultSequences, opts.seqLen, { seed: opts.seed, temperature: opts.temperature, topp: opts.topp, start: startToken(tok, lm.tokenizerPath), onProgress: (d, t) => bar.update(d, t) });
  bar.finish();
  return { seqs, source: { corpus: "sampled", seed: opts.seed, temperature: opts.temperature, topp: opts.topp } };
}
