/**
 * `saelab splice`: SAE splice-in evaluation on a language model (SAEBench's core evaluation): the
 * next-token cross-entropy with the SAE's reconstruction put in place at its hook, against the clean
 * run and zero-ablation ("loss recovered"), the KL divergences, and the reconstruction quality and
 * sparsity of the SAE on the same activations.
 */
import { z } from "zod";
import { UserError } from "../errors.js";
import { loadSaelensSae } from "../io/saelens.js";
import { spliceEvaluate, type SpliceResult } from "../lm/splice.js";
import type { SaeModel } from "../sae/types.js";
import { ReconstructionAccumulator } from "../metrics/reconstruction.js";
import type { Command } from "./args.js";
import { checkSaeFits, corpusFlags, loadCorpus, loadLm, modelFlags, readSaeCfg, type LoadedLm } from "./lm-common.js";
import { saePrependBos } from "../lm/sae-compat.js";
import { resolveSaeDir } from "./sae-source.js";

const DEFAULT_SEQUENCES = 64;

const SpliceSchema = z
  .object({
    sae: z.string().describe("SAELens SAE directory (cfg.json, sae_weights.safetensors), e.g. the output of saelab train --activations."),
    ...modelFlags,
    hook: z.string().optional().describe("Hook point to splice the SAE in at; default: the hook_name the SAE's cfg.json (or saelab.json) records."),
    ...corpusFlags(1, DEFAULT_SEQUENCES),
    batch: z.number().int().min(1).default(16).describe("Sequences per forward pass."),
    excludeBos: z.boolean().default(true).describe("Keep the original activation at BOS tokens and leave them out of the reconstruction metrics (SAEBench's exclude_special_tokens_from_reconstruction)."),
    json: z.boolean().default(false).describe("Print the results as one JSON object."),
  })
  .strict();

/** Returns the hook name an SAE directory records (SAELens cfg.json metadata.hook_name or legacy hook_name, else saelab.json's activation source), if any. */
export function savedHookName(cfg: Record<string, unknown>, saelab: Record<string, unknown> | null): string | undefined {
  const meta = (cfg.metadata ?? {}) as Record<string, unknown>;
  for (const v of [meta.hook_name, cfg.hook_name, ((saelab?.data as { activations?: { hook?: unknown } } | undefined)?.activations)?.hook]) {
    if (typeof v === "string" && v.length > 0) return v;
  }
  return undefined;
}

/** The splice-in figures of one SAE: cross-entropies, loss recovered, KL, and reconstruction and L0 on the same activations. */
export type SpliceFigures = SpliceResult & { explainedVariance: number; mse: number; mseSumOverDims: number; l0: number; reconstructedRows: number };

/** Returns the splice-in figures of `sae` at `hook` on token windows `seqs` (BOS rows left out of the reconstruction figures with excludeBos). */
export function spliceFigures(lm: LoadedLm, sae: SaeModel, hook: string, seqs: readonly Int32Array[], opts: { batch: number; excludeBos: boolean }): SpliceFigures {
  const bos = lm.tok.bos ?? -1;
  const D = sae.dIn;
  const recon = new ReconstructionAccumulator(D);
  let fired = 0;
  let rowsSeen = 0;
  const r = spliceEvaluate(lm.model, sae, seqs, {
    hook,
    batchSequences: opts.batch,
    excludeBos: opts.excludeBos,
    bos,
    onReconstruction: (x, latents, xHat, ctx) => {
      for (let i = 0; i < ctx.rows; i++) {
        if (opts.excludeBos && ctx.tokens[i] === bos) continue;
        recon.add(x.subarray(i * D, (i + 1) * D), xHat.subarray(i * D, (i + 1) * D), 1);
        fired += latents.rowPtr[i + 1]! - latents.rowPtr[i]!;
        rowsSeen++;
      }
    },
  });
  const rec = recon.finish();
  return { ...r, explainedVariance: rec.explainedVariance, mse: rec.mse, mseSumOverDims: rec.mseSumOverDims, l0: rowsSeen > 0 ? fired / rowsSeen : 0, reconstructedRows: rowsSeen };
}

export const spliceCommand: Command<typeof SpliceSchema> = {
  path: ["splice"],
  summary: "Splice an SAE into the model at its hook: loss recovered (SAEBench core), KL, explained variance, L0.",
  details:
    "Runs the model on a corpus three times: clean, with the SAE's reconstruction in place of the hook's activation, and\n" +
    "with that activation zeroed. loss recovered = (CE_zero - CE_sae) / (CE_zero - CE_clean); KL(clean || patched) is\n" +
    "averaged over every position. By default the corpus is stories the model samples with --seed 1 (saelab activations\n" +
    "samples with seed 0, so the default evaluation uses stories the SAE was not trained on).",
  schema: SpliceSchema,
  positionals: [{ key: "sae", name: "sae-dir" }],
  async run(opts, io) {
    const dir = await resolveSaeDir(opts.sae, io);
    // The SAE's cfg.json chooses the model's weight processing and BOS before the model loads.
    const saeCfg = readSaeCfg(dir);
    const lm = await loadLm(opts, io, saeCfg);
    const { model } = lm;
    const { sae, cfg, saelab } = loadSaelensSae(dir, lm.kernels);
    const saved = savedHookName(cfg, saelab);
    const hook = opts.hook ?? saved;
    if (!hook) throw new UserError(`${dir} records no hook_name; give the hook point with --hook (e.g. blocks.2.hook_resid_post)`);
    model.parseHook(hook);
    checkSaeFits(lm, cfg, dir, io, hook);
    if (opts.hook && saved && opts.hook !== saved) io.err(`saelab splice: note: the SAE was trained at ${saved}, evaluating it at ${opts.hook}`);
    if (sae.dIn !== model.spec.dModel) throw new UserError(`the SAE in ${dir} reads ${sae.dIn}-dimensional activations but the model's ${hook} has dModel ${model.spec.dModel}`);
    const { seqs, source } = loadCorpus(lm, opts, DEFAULT_SEQUENCES, io, saePrependBos(cfg, `${dir}/cfg.json`));
    const fig = spliceFigures(lm, sae, hook, seqs, { batch: opts.batch, excludeBos: opts.excludeBos });
    const r = fig;
    const rec = fig;
    const rowsSeen = fig.reconstructedRows;
    const result = {
      sae: dir, hook, processing: lm.processing, sequences: seqs.length, seqLen: opts.seqLen, corpus: source,
      ...fig,
    };
    if (opts.json) {
      io.out(JSON.stringify(result));
      return 0;
    }
    const f = (v: number) => v.toFixed(4);
    io.out(
      [
        `splice-in evaluation of ${dir} at ${hook}: ${seqs.length} sequences, ${r.predictions} predicted tokens`,
        `  CE clean           ${f(r.ceClean)}`,
        `  CE with SAE        ${f(r.ceSae)}`,
        `  CE zero-ablated    ${f(r.ceZero)}`,
        `  loss recovered     ${f(r.lossRecovered)}   (CE_zero - CE_sae) / (CE_zero - CE_clean)`,
        `  KL(clean || SAE)   ${f(r.klSae)}   KL(clean || zero) ${f(r.klZero)}   KL score ${f(r.klScore)}`,
        `  explained variance ${f(rec.explainedVariance)}   MSE per element ${rec.mse.toPrecision(4)} (summed over dimensions ${rec.mseSumOverDims.toPrecision(4)})   L0 ${result.l0.toFixed(2)} (over ${rowsSeen} rows${opts.excludeBos ? ", BOS excluded" : ""})`,
      ].join("\n"),
    );
    return 0;
  },
};
