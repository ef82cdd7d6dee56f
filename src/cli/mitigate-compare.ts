/**
 * What `saelab mitigate` reports before and after: for the original SAE and each SAE it saved, the
 * detector's confident pairs on the same unlabelled inputs and, when the SAE records a hook
 * (cfg.json hook_name), the splice-in figures (loss recovered, KL, L0, explained variance) of each on
 * the same token windows of the model.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { z } from "zod";
import { detectAbsorption } from "../detect/detect.js";
import { openActivations } from "../io/activations.js";
import { saePrependBos } from "../lm/sae-compat.js";
import { alignTable } from "../report/text.js";
import type { SaeModel } from "../sae/types.js";
import type { CliIO } from "./args.js";
import { detectOptionsOf, type DetectInputs } from "./detect.js";
import { checkSaeFits, loadCorpus, loadLm, modelFlags, readSaeCfg } from "./lm-common.js";
import { spliceFigures, type SpliceFigures } from "./splice.js";
import { progressBar } from "./progress.js";

/** Flags of the before/after comparison (the model flags choose the model splice runs; default: the one the activation shards name, else stories260K). */
export const compareFlags = {
  ...modelFlags,
  splice: z.boolean().default(true).describe("When the SAE records a hook (cfg.json hook_name), splice the original and each saved SAE into the model and compare loss recovered, KL, L0 and explained variance (--no-splice skips it)."),
  spliceSequences: z.number().int().min(1).default(32).describe("Token windows the splice comparison runs on (stories the model samples with seed 1, as saelab splice)."),
  spliceSeqLen: z.number().int().min(2).default(128).describe("Tokens per splice window."),
};

type CompareFlags = { splice: boolean; spliceSequences: number; spliceSeqLen: number; activations?: string | undefined; model?: string | undefined; tokenizer?: string | undefined; processing?: boolean | undefined; offline?: boolean | undefined; revision?: string | undefined; presence?: number | undefined; minScore?: number | undefined };

/** One SAE's row of the before/after table. */
export interface ComparedSae {
  name: string;
  confidentPairs: number;
  splice: Pick<SpliceFigures, "lossRecovered" | "klSae" | "l0" | "explainedVariance" | "mse" | "ceSae"> | null;
}

/** The before/after comparison: one row per SAE (original first) and where the splice figures come from. */
export interface BeforeAfter {
  saes: ComparedSae[];
  splice: { hook: string; model: string; sequences: number; seqLen: number; ceClean: number; ceZero: number } | null;
  /** Why there are no splice figures (null when there are). */
  spliceSkipped: string | null;
}

/** Returns the model path splice should load: --model, else the one the activation shards record (when it exists), else the default. */
function spliceModel(opts: CompareFlags, io: CliIO): string | undefined {
  if (opts.model !== undefined || opts.activations === undefined) return opts.model;
  const named = openActivations(resolve(io.cwd, opts.activations)).manifest.source.model;
  return typeof named === "string" && existsSync(named) ? named : undefined;
}

/** Returns the detector's confident pairs and (with a hook) the splice figures of the original SAE and each saved one. */
export async function compareBeforeAfter(
  original: { dir: string; confidentPairs: number },
  saved: readonly { name: string; model: SaeModel }[],
  input: DetectInputs,
  opts: CompareFlags,
  io: CliIO,
): Promise<BeforeAfter> {
  const saes: ComparedSae[] = [{ name: "original", confidentPairs: original.confidentPairs, splice: null }];
  const bar = progressBar(io, "detect after");
  try {
    saved.forEach((s, i) => {
      const det = detectAbsorption(s.model, input.batches, detectOptionsOf(opts), input.kernels, (d, t) => bar.update(i * t + d, saved.length * t));
      saes.push({ name: s.name, confidentPairs: det.summary.confidentPairs, splice: null });
    });
  } finally {
    bar.finish();
  }
  const hook = typeof input.metadata.hook_name === "string" ? input.metadata.hook_name : null;
  if (!opts.splice) return { saes, splice: null, spliceSkipped: "--no-splice" };
  if (!hook) return { saes, splice: null, spliceSkipped: "the SAE's cfg.json records no hook_name" };
  const cfg = readSaeCfg(original.dir);
  const lm = await loadLm({ ...opts, model: spliceModel(opts, io) }, io, cfg);
  checkSaeFits(lm, cfg, original.dir, io, hook);
  const seqLen = Math.min(opts.spliceSeqLen, lm.model.spec.contextLength);
  const { seqs } = loadCorpus(lm, { seqLen, sequences: opts.spliceSequences, seed: 1, temperature: 1, topp: 0.9 }, opts.spliceSequences, io, saePrependBos(cfg, `${original.dir}/cfg.json`));
  const models = [input.sae as SaeModel, ...saved.map((s) => s.model)];
  let clean = { ceClean: 0, ceZero: 0 };
  models.forEach((m, i) => {
    const f = spliceFigures(lm, m, hook, seqs, { batch: 16, excludeBos: true });
    clean = { ceClean: f.ceClean, ceZero: f.ceZero };
    saes[i]!.splice = { lossRecovered: f.lossRecovered, klSae: f.klSae, l0: f.l0, explainedVariance: f.explainedVariance, mse: f.mse, ceSae: f.ceSae };
  });
  return { saes, splice: { hook, model: lm.modelPath, sequences: seqs.length, seqLen, ...clean }, spliceSkipped: null };
}

/** Returns the before/after comparison as text. */
export function renderBeforeAfter(c: BeforeAfter, nInputs: number): string {
  const f4 = (v: number | undefined) => (v === undefined ? "-" : v.toFixed(4));
  const rows = c.saes.map((s) => [s.name, String(s.confidentPairs), ...(c.splice ? [f4(s.splice?.lossRecovered), f4(s.splice?.klSae), s.splice ? s.splice.l0.toFixed(2) : "-", f4(s.splice?.explainedVariance)] : [])]);
  const head = c.splice
    ? `Before and after (confident pairs: the detector on the same ${nInputs} inputs; splice-in at ${c.splice.hook} on ${c.splice.sequences} sampled windows of ${c.splice.seqLen} tokens, BOS excluded, CE clean ${c.splice.ceClean.toFixed(4)}, zero-ablated ${c.splice.ceZero.toFixed(4)}):`
    : `Before and after (confident pairs: the detector on the same ${nInputs} inputs; no splice figures: ${c.spliceSkipped}):`;
  return [head, alignTable(["SAE", "confident pairs", ...(c.splice ? ["loss recovered", "KL(clean || SAE)", "L0", "explained variance"] : [])], rows)].join("\n");
}
