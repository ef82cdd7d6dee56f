/** `saelab activations`: write a model's activations at a hook point as safetensors shards. */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { ActivationShardWriter } from "../io/activations.js";
import { extractActivations } from "../lm/activations.js";
import type { Command } from "./args.js";
import { corpusFlags, loadCorpus, loadLm, modelFlags } from "./lm-common.js";
import { progressBar } from "./progress.js";

const DEFAULT_SEQUENCES = 512;

const ActivationsSchema = z
  .object({
    ...modelFlags,
    hook: z.string().describe("Hook point to read, e.g. blocks.2.hook_resid_post (see TransformerLens names)."),
    out: z.string().describe("New directory for manifest.json and shard-*.safetensors."),
    ...corpusFlags(0, DEFAULT_SEQUENCES),
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
    const lm = loadLm(opts, io);
    const { model, modelPath, tokenizerPath } = lm;
    model.parseHook(opts.hook);
    const out = isAbsolute(opts.out) ? opts.out : resolve(io.cwd, opts.out);
    const writer = new ActivationShardWriter(out, opts.hook, model.spec.dModel, opts.shardTokens);
    const corpus = loadCorpus(lm, opts, DEFAULT_SEQUENCES, io);
    const seqs = corpus.seqs;
    const source: Record<string, string | number | boolean> = { model: modelPath, tokenizer: tokenizerPath, seqLen: opts.seqLen, includeBos: opts.includeBos, ...corpus.source };
    const bar = progressBar(io, "extracting");
    for (const rows of extractActivations(model, seqs, { hook: opts.hook, batchSequences: opts.batch, includeBos: opts.includeBos, onProgress: (d, t) => bar.update(d, t) })) writer.append(rows);
    bar.finish();
    const manifest = writer.finish({ ...source, sequences: seqs.length });
    io.out(`wrote ${manifest.totalTokens} activations (dModel ${manifest.dModel}) at ${opts.hook} from ${seqs.length} sequences to ${out} (${manifest.shards.length} shard${manifest.shards.length === 1 ? "" : "s"})`);
    return 0;
  },
};
