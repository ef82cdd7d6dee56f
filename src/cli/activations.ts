/** `saelab activations`: write a model's activations at a hook point as safetensors shards. */
import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { UserError } from "../errors.js";
import { seed } from "../schema.js";
import { ActivationShardWriter } from "../io/activations.js";
import { extractActivations, sampleCorpus, textCorpus } from "../lm/activations.js";
import { parseHookName } from "../lm/hooks.js";
import type { Command } from "./args.js";
import { loadLm, modelFlags } from "./lm-common.js";
import { progressBar } from "./progress.js";

const ActivationsSchema = z
  .object({
    ...modelFlags,
    hook: z.string().describe("Hook point to read, e.g. blocks.2.hook_resid_post (see TransformerLens names)."),
    out: z.string().describe("New directory for manifest.json and shard-*.safetensors."),
    corpus: z.string().optional().describe("Text file of stories separated by blank lines; default: stories the model samples itself."),
    sequences: z.number().int().min(1).optional().describe("Number of token windows (default 512 sampled; all windows of --corpus)."),
    seqLen: z.number().int().min(2).default(256).describe("Tokens per window (context length)."),
    seed: seed().default(0).describe("Seed for sampling the default corpus."),
    temperature: z.number().min(0).default(1).describe("Sampling temperature of the default corpus."),
    topp: z.number().min(0).max(1).default(0.9).describe("Nucleus threshold of the default corpus."),
    includeBos: z.boolean().default(false).describe("Keep rows at BOS tokens (outliers in most models)."),
    batch: z.number().int().min(1).default(32).describe("Sequences per forward pass."),
    shardTokens: z.number().int().min(1).default(65536).describe("Rows per shard file."),
  })
  .strict();

export const activationsCommand: Command<typeof ActivationsSchema> = {
  path: ["activations"],
  summary: "Extract activations at a hook point into safetensors shards (for saelab train --activations).",
  details: "Each shard holds activations [tokens, dModel] (float32) with the token ids, absolute positions and sequence indices beside them; manifest.json describes the set.",
  schema: ActivationsSchema,
  async run(opts, io) {
    const { model, tok, modelPath, tokenizerPath } = loadLm(opts, io);
    parseHookName(opts.hook, model.config.nLayers);
    if (opts.seqLen > model.config.seqLen) throw new UserError(`--seqLen ${opts.seqLen} exceeds the model's context length ${model.config.seqLen}`);
    const out = isAbsolute(opts.out) ? opts.out : resolve(io.cwd, opts.out);
    const writer = new ActivationShardWriter(out, opts.hook, model.config.dim, opts.shardTokens);
    let seqs: Int32Array[];
    const source: Record<string, string | number | boolean> = { model: modelPath, tokenizer: tokenizerPath, seqLen: opts.seqLen, includeBos: opts.includeBos };
    if (opts.corpus) {
      const path = isAbsolute(opts.corpus) ? opts.corpus : resolve(io.cwd, opts.corpus);
      let text: string;
      try {
        text = readFileSync(path, "utf8");
      } catch (e) {
        throw new UserError(`cannot read --corpus ${path}: ${(e as Error).message}`);
      }
      seqs = textCorpus(tok, text, opts.seqLen, opts.sequences ?? Infinity);
      if (seqs.length === 0) throw new UserError(`--corpus ${path} holds no text`);
      Object.assign(source, { corpus: path });
    } else {
      const bar = progressBar(io, "sampling corpus");
      seqs = sampleCorpus(model, opts.sequences ?? 512, opts.seqLen, { seed: opts.seed, temperature: opts.temperature, topp: opts.topp, onProgress: (d, t) => bar.update(d, t) });
      bar.finish();
      Object.assign(source, { corpus: "sampled", seed: opts.seed, temperature: opts.temperature, topp: opts.topp });
    }
    const bar = progressBar(io, "extracting");
    for (const rows of extractActivations(model, seqs, { hook: opts.hook, batchSequences: opts.batch, includeBos: opts.includeBos, onProgress: (d, t) => bar.update(d, t) })) writer.append(rows);
    bar.finish();
    const manifest = writer.finish({ ...source, sequences: seqs.length });
    io.out(`wrote ${manifest.totalTokens} activations (dModel ${manifest.dModel}) at ${opts.hook} from ${seqs.length} sequences to ${out} (${manifest.shards.length} shard${manifest.shards.length === 1 ? "" : "s"})`);
    return 0;
  },
};
