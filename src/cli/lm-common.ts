/** Shared pieces of the LM commands: the --model/--tokenizer flags and loading them. */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { readLlama2cCheckpoint, readLlama2cTokenizer, sharedModelDir, sharedModelFiles } from "../io/llama2c.js";
import { LlamaModel } from "../lm/model.js";
import { loadLmKernels } from "../lm/native.js";
import { Tokenizer } from "../lm/tokenizer.js";
import { loadKernels } from "../tensor/backend.js";
import type { CliIO } from "./args.js";

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
  const { kernels, warning } = loadKernels();
  if (warning) io.err(warning);
  return { model: new LlamaModel(ckpt, { kernels, lm: loadLmKernels() }), tok, modelPath, tokenizerPath };
}
