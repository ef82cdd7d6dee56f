/** `saelab convert llama2c-to-hf`: write a llama2.c model as a Hugging Face Llama snapshot directory. */
import { existsSync, readdirSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { writeHfSnapshot } from "../io/hf-snapshot.js";
import { readLlama2cCheckpoint, readLlama2cTokenizer } from "../io/llama2c.js";
import { llama2cToHfSnapshot } from "../io/llama2c-to-hf.js";
import type { Command } from "./args.js";

const ConvertSchema = z
  .object({
    input: z.string().describe("llama2.c checkpoint (legacy layout), e.g. stories260K.bin."),
    tokenizer: z.string().describe("llama2.c tokenizer of the checkpoint, e.g. tok512.bin."),
    out: z.string().describe("Directory to write the snapshot to (created; must be empty if it exists)."),
    dtype: z.enum(["F32", "F16", "BF16"]).default("F32").describe("Storage dtype of the weights (F16/BF16 round to nearest)."),
  })
  .strict();

export const convertLlama2cCommand: Command<typeof ConvertSchema> = {
  path: ["convert", "llama2c-to-hf"],
  summary: "Write a llama2.c model and tokenizer as a Hugging Face Llama snapshot (config.json, model.safetensors, tokenizer.json).",
  details:
    "The result loads with --model DIR in saelab and with transformers' LlamaForCausalLM.from_pretrained(DIR): q/k rows are\n" +
    "permuted from llama2.c's interleaved rotary pairs to HF's half-split layout, and the tokenizer becomes a sentencepiece-BPE\n" +
    "tokenizer.json with byte fallback that encodes as llama2.c's tokenizer does.",
  schema: ConvertSchema,
  positionals: [{ key: "input", name: "IN.bin" }],
  async run(opts, io) {
    const abs = (p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));
    const out = abs(opts.out);
    if (existsSync(out) && readdirSync(out).length > 0) throw new UserError(`--out ${out} exists and is not empty; give a new directory`);
    const inPath = abs(opts.input);
    const tokPath = abs(opts.tokenizer);
    const ckpt = readLlama2cCheckpoint(inPath);
    const vocab = readLlama2cTokenizer(tokPath, ckpt.config.vocabSize);
    writeHfSnapshot(out, llama2cToHfSnapshot(ckpt, vocab, { dtype: opts.dtype, tokenizerSource: tokPath }));
    const c = ckpt.config;
    io.err(`wrote ${out}: llama, ${c.nLayers} layers, hidden ${c.dim}, ${c.nHeads}/${c.nKvHeads} heads, vocab ${c.vocabSize}, ${opts.dtype}`);
    return 0;
  },
};
