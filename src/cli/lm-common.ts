/** Shared pieces of the LM commands: the --model/--tokenizer flags and loading them, and the token corpus flags. */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { seed } from "../schema.js";
import { sampleCorpus, textCorpus } from "../lm/activations.js";
import { UserError } from "../errors.js";
import { readLlama2cCheckpoint, readLlama2cTokenizer, sharedModelDir, sharedModelFiles } from "../io/llama2c.js";
import { LlamaModel } from "../lm/model.js";
import { loadLmKernels } from "../lm/native.js";
import { Tokenizer } from "../lm/tokenizer.js";
import { loadKernels, resolveBackend } from "../tensor/backend.js";
import type { Kernels } from "../tensor/kernels.js";
import type { CliIO } from "./args.js";
import { progressBar } from "./progress.js";

/** The flags every LM command takes. */
export const modelFlags = {
  model: z.string().optional().describe("llama2.c checkpoint (legacy layout); default: the shared stories260K.bin when present."),
  tokenizer: z.string().optional().describe("llama2.c tokenizer (tok512.bin style); default: the shared tok512.bin when present."),
};

/** A loaded model, its tokenizer and where they came from. */
export interface LoadedLm {
  model: LlamaModel;
  tok: Tokenizer;
  modelPath: string;
  tokenizerPath: string;
  /** The compute kernels the model runs on (for loading SAEs beside it). */
  kernels: Kernels;
}

/** Loads the model and tokenizer named by the flags (or the shared defaults), warning once on stderr about a slow backend. */
export function loadLm(opts: { model?: string | undefined; tokenizer?: string | undefined }, io: CliIO): LoadedLm {
  const shared = sharedModelFiles();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));
  const modelPath = opts.model ? abs(opts.model) : shared?.model;
  const tokenizerPath = opts.tokenizer ? abs(opts.tokenizer) : shared?.tokenizer;
  if (!modelPath || !tokenizerPath) {
    throw new UserError(`give --model and --tokenizer (the default stories260K model is not at ${sharedModelDir()})`);
  }
  const ckpt = readLlama2cCheckpoint(modelPath);
  const tok = new Tokenizer(readLlama2cTokenizer(tokenizerPath, ckpt.config.vocabSize));
  const backend = resolveBackend("auto", io.backendEnv);
  const { kernels, warning } = loadKernels(backend);
  if (warning) io.err(warning);
  return { model: new LlamaModel(ckpt, { kernels, lm: loadLmKernels(backend) }), tok, modelPath, tokenizerPath, kernels };
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
export function loadCorpus(lm: LoadedLm, opts: CorpusOptions, defaultSequences: number, io: CliIO): { seqs: Int32Array[]; source: Record<string, string | number | boolean> } {
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
    const seqs = textCorpus(tok, text, opts.seqLen, opts.sequences ?? Infinity);
    if (seqs.length === 0) throw new UserError(`--corpus ${path} holds no text`);
    return { seqs, source: { corpus: path } };
  }
  const bar = progressBar(io, "sampling corpus");
  const seqs = sampleCorpus(model, opts.sequences ?? defaultSequences, opts.seqLen, { seed: opts.seed, temperature: opts.temperature, topp: opts.topp, onProgress: (d, t) => bar.update(d, t) });
  bar.finish();
  return { seqs, source: { corpus: "sampled", seed: opts.seed, temperature: opts.temperature, topp: opts.topp } };
}
