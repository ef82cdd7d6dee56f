/**
 * `saelab absorption`'s pipeline: the model's first-letter data at the SAEs' hook once, the letter
 * probe once, then for each SAE the eval, the detector on the same prompts' activations (no labels),
 * the comparison of the two, and SAEBench's JSON output (`absorption_first_letter`).
 */
import { randomUUID } from "node:crypto";
import type { Kernels } from "../tensor/kernels.js";
import type { SaeModel } from "../sae/types.js";
import { detectAbsorption } from "../detect/detect.js";
import type { DetectOptionsInput } from "../detect/schemas.js";
import type { AbsorptionEvalConfig, ProbeSettings } from "./first-letter-config.js";
import { collectFirstLetterData, type FirstLetterData } from "./first-letter-data.js";
import { compareDetectorWithProbes, type DetectorComparison } from "./first-letter-detect.js";
import { evaluateFirstLetter, trainLetterProbe, type FirstLetterResult, type LetterProbe } from "./first-letter-eval.js";
import type { ProbeLm } from "./first-letter-lm.js";

export const EVAL_TYPE_ID_ABSORPTION = "absorption_first_letter";

/** One SAE to evaluate. */
export interface NamedSae {
  name: string;
  sae: SaeModel;
  /** Its cfg.json (recorded as sae_cfg_dict). */
  cfgDict: Record<string, unknown>;
}

/** One SAE's outcome. */
export interface SaeFirstLetter {
  name: string;
  result: FirstLetterResult;
  detector: DetectorComparison;
  /** SAEBench's output, or null when SAEBench would report nothing (too few letters). */
  saebench: Record<string, unknown> | null;
}

/** The whole run. */
export interface FirstLetterRun {
  model: string;
  tokenizerFamily: string;
  config: AbsorptionEvalConfig;
  settings: ProbeSettings;
  /** Settings lowered below SAEBench's defaults, stated in every output. */
  flags: string[];
  data: Omit<FirstLetterData, "train" | "test" | "absorption" | "detectorBatches"> & { nTrain: number; nTest: number; detectorRows: number };
  probe: LetterProbe["letters"];
  saes: SaeFirstLetter[];
}

/** Returns the eval of every SAE in `saes` (all read at `hook` of `lm`). */
export function runFirstLetterEval(
  kernels: Kernels,
  lm: ProbeLm,
  hook: string,
  saes: readonly NamedSae[],
  cfg: AbsorptionEvalConfig,
  settings: ProbeSettings,
  opts: {
    flags?: string[];
    detector?: DetectOptionsInput;
    /** When fewer letters pass the probe than min_feats_for_eval, lower it to their number (at least 1) and flag it (the demo's setting). */
    lowerMinFeats?: boolean;
    /** At most this many prompt positions go to the detector (default 50,000). */
    detectorMaxRows?: number;
    onStage?: (stage: string) => void;
    onProgress?: (done: number, total: number) => void;
  } = {},
): FirstLetterRun {
  const flags = [...(opts.flags ?? [])];
  opts.onStage?.("prompts");
  const data = collectFirstLetterData(lm, hook, cfg, settings, { maxDetectorRows: opts.detectorMaxRows ?? 50_000, ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
  opts.onStage?.("letter probe");
  const gt = trainLetterProbe(kernels, data.train, data.test, lm.dModel, settings, cfg.random_seed);
  const passing = gt.letters.filter((l) => l.f1 > cfg.min_GT_probe_f1).length;
  if (opts.lowerMinFeats && passing < cfg.min_feats_for_eval) {
    flags.push(`min_feats_for_eval lowered from ${cfg.min_feats_for_eval} (SAEBench) to ${Math.max(1, passing)}: only ${passing} letter${passing === 1 ? " passes" : "s pass"} min_GT_probe_f1 ${cfg.min_GT_probe_f1}`);
    cfg = { ...cfg, min_feats_for_eval: Math.max(1, passing) };
  }
  const out: SaeFirstLetter[] = saes.map(({ name, sae, cfgDict }) => {
    opts.onStage?.(`${name}: k-sparse probes and absorption`);
    const result = evaluateFirstLetter(kernels, sae, data.train, data.test, data.absorption, gt, cfg);
    opts.onStage?.(`${name}: detector`);
    const detection = detectAbsorption(sae, data.detectorBatches, opts.detector ?? {}, kernels);
    const detector = compareDetectorWithProbes(detection, result);
    return { name, result, detector, saebench: saebenchOutput(result, cfg, cfgDict, { flags, detector, skipped: result.skipped, tokenPositions: data.tokenPositions }) };
  });
  const { train, test, absorption: _a, detectorBatches, ...rest } = data;
  return {
    model: cfg.model_name,
    tokenizerFamily: lm.tokenizerFamily,
    config: cfg,
    settings,
    flags,
    data: { ...rest, nTrain: train.words.length, nTest: test.words.length, detectorRows: detectorBatches.reduce((s, b) => s + b.length / lm.dModel, 0) },
    probe: gt.letters,
    saes: out,
  };
}

/** Returns SAEBench's `absorption_first_letter` output for one SAE, or null when too few letters pass (SAEBench writes nothing then). */
export function saebenchOutput(result: FirstLetterResult, cfg: AbsorptionEvalConfig, cfgDict: Record<string, unknown>, extra: Record<string, unknown>): Record<string, unknown> | null {
  if (!result.enoughLetters || !result.mean) return null;
  return {
    eval_type_id: EVAL_TYPE_ID_ABSORPTION,
    eval_config: cfg,
    eval_id: randomUUID(),
    datetime_epoch_millis: Date.now(),
    eval_result_metrics: { mean: result.mean },
    eval_result_details: result.letters.map((l) => ({
      first_letter: l.letter,
      mean_absorption_fraction: l.meanAbsorptionFraction,
      full_absorption_rate: l.fullAbsorptionRate,
      num_full_absorption: l.numFullAbsorption,
      num_probe_true_positives: l.numProbeTruePositives,
      num_split_features: l.numSplitFeatures,
    })),
    sae_bench_commit_hash: "none: computed by saelab",
    sae_lens_id: null,
    sae_lens_release_id: null,
    sae_lens_version: null,
    sae_cfg_dict: cfgDict,
    eval_result_unstructured: {
      producer: "saelab",
      ...extra,
      letters: result.letters.map((l) => ({ letter: l.letter, probe_f1: l.probeF1, split_feats: l.splitFeats, k_sparse_f1: l.kSparse.map((k) => k.f1), absorbers: l.absorbers })),
    },
  };
}
