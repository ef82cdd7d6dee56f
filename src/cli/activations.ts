/** `saelab activations`: write a model's activations at a hook point as safetensors shards. */
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { ActivationShardWriter } from "../io/activations.js";
import { extractActivations } from "../lm/activations.js";
import type { Command } from "./args.js";
import { UserError } from "../errors.js";
import { saeCfgField, saePrependBos } from "../lm/sae-compat.js";
import { checkSaeFits, corpusFlags, loadCorpus, loadLm, modelFlags, readSaeCfg } from "./lm-common.js";
import { savedHookName } from "./splice.js";
import { progressBar } from "./progress.js";

const DEFAULT_SEQUENCES = 512;

const ActivationsSchema = z
  .object({
    ...modelFlags,
    hook: z.string().optional().describe("Hook point to read, e.g. blocks.2.hook_resid_post (see TransformerLens names); default: the --sae's hook_name."),
    sae: z.string().optional().describe("Extract as this SAELens SAE directory's cfg.json says: its hook_name, prepend_bos and model_from_pretrained_kwargs (weight processing)."),
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
    const saeDir = opts.sae ? (isAbsolute(opts.sae) ? opts.sae : resolve(io.cwd, opts.sae)) : undefined;
    const saeCfg = saeDir ? readSaeCfg(saeDir) : undefined;
    const lm = await loadLm(opts, io, saeCfg);
    const { model, modelPath, tokenizerPath } = lm;
    const hook = opts.hook ?? (saeCfg ? savedHookName(saeCfg, null) : undefined);
    if (!hook) throw new UserError(saeCfg ? `${saeDir}/cfg.json records no hook_name; give --hook` : "give --hook (e.g. blocks.2.hook_resid_post) or --sae");
    model.parseHook(hook);
    if (saeCfg) checkSaeFits(lm, saeCfg, saeDir!, io, hook);
    const out = isAbsolute(opts.out) ? opts.out : resolve(io.cwd, opts.out);
    const writer = new ActivationShardWriter(out, hook, model.spec.dModel, opts.shardTokens);
    const prependBos = saeCfg ? saePrependBos(saeCfg, `${saeDir}/cfg.json`) : true;
    const corpus = loadCorpus(lm, opts, DEFAULT_SEQUENCES, io, prependBos);
    const seqs = corpus.seqs;
    const saeModel = saeCfg ? saeCfgField(saeCfg, "model_name") : undefined;
    // The name an SAE trained on these activations records: the SAE's own, else a Hub id or config.json's _name_or_path.
    const named = lm.modelNames.length > 1 ? lm.modelNames[0] : undefined;
    const modelName = typeof saeModel === "string" && saeModel.length > 0 ? saeModel : named;
    const source: Record<string, string | number | boolean> = { model: modelPath, ...(modelName ? { modelName } : {}), tokenizer: tokenizerPath, processing: lm.processing, prependBos, seqLen: opts.seqLen, includeBos: opts.includeBos, ...corpus.source };
    const bar = progressBar(io, "extracting");
    for (const rows of extractActivations(model, seqs, { hook, batchSequences: opts.batch, includeBos: opts.includeBos, bos: lm.tok.bos ?? -1, onProgress: (d, t) => bar.update(d, t) })) writer.append(rows);
    bar.finish();
    const manifest = writer.finish({ ...source, sequences: seqs.length });
    io.out(`wrote ${manifest.totalTokens} activations (dModel ${manifest.dModel}) at ${hook} from ${seqs.length} sequences to ${out} (${manifest.shards.length} shard${manifest.shards.length === 1 ? "" : "s"})`);
    return 0;
  },
};
