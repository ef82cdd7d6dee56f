/**
 * The first-letter absorption eval on activations (SAEBench's absorption eval after the LM has run):
 * `trainLetterProbe` fits the ground-truth letter probes on the train words' activations and scores
 * them on the test words; `evaluateFirstLetter` then k-sparse-probes one SAE's latents, reads each
 * letter's main latents off the F1-jump rule, and scores every test word the probe calls positive
 * with SAEBench's full-absorption rule and absorption fraction (src/metrics/saebench.ts). Nothing here
 * knows about the LM, so constructed activations with planted truth test it directly.
 */
import type { Kernels, SparseRows } from "../tensor/kernels.js";
import type { SaeModel } from "../sae/types.js";
import { saebenchSample } from "../metrics/saebench.js";
import { binaryScores } from "../probe/classify.js";
import { kSparseScore, splitFeaturesByF1Jump, trainKSparseProbes } from "../probe/ksparse.js";
import { probeLogits, trainLogisticProbes, type LogisticProbes } from "../probe/logistic.js";
import { ABSORPTION_THRESHOLDS, type AbsorptionEvalConfig, type ProbeSettings } from "./first-letter-config.js";
import { LETTERS } from "./first-letter-prompts.js";

/** Activations at the word's token, one row per word. */
export interface WordRows {
  /** [n, dIn]. */
  acts: Float32Array;
  words: string[];
  /** [n] letter index 0..25. */
  labels: Int32Array;
}

/** The ground-truth probe and its per-letter test scores. */
export interface LetterProbe {
  probe: LogisticProbes;
  /** [nTest, 26] logits on the test rows. */
  testLogits: Float32Array;
  letters: { letter: string; f1: number; precision: number; recall: number; nTrain: number; nTest: number }[];
}

/** Returns the 26 one-vs-rest letter probes trained on `train` and scored (logit > 0) on `test`. */
export function trainLetterProbe(kernels: Kernels, train: WordRows, test: WordRows, dIn: number, s: ProbeSettings, seed: number): LetterProbe {
  const n = train.words.length;
  const y = new Float32Array(n * 26);
  train.labels.forEach((l, i) => (y[i * 26 + l] = 1));
  const probe = trainLogisticProbes(kernels, train.acts, y, n, dIn, 26, { epochs: s.probe_num_epochs, batchSize: s.probe_batch_size, lr: s.probe_lr, endLr: 1e-5, l2: s.probe_weight_decay, balanced: true, seed });
  const nt = test.words.length;
  const testLogits = probeLogits(kernels, probe, test.acts, nt);
  const letters = [...LETTERS].map((letter, c) => {
    const sc = binaryScores(Array.from(test.labels, (l) => l === c), Array.from({ length: nt }, (_, i) => testLogits[i * 26 + c]! > 0));
    return { letter, f1: sc.f1, precision: sc.precision, recall: sc.recall, nTrain: train.labels.filter((l) => l === c).length, nTest: sc.positives };
  });
  return { probe, testLogits, letters };
}

/** One probe-positive test word's verdict. */
export interface WordVerdict {
  word: string;
  /** x . unit probe. */
  probeProjection: number;
  /** Activations of the letter's main latents, in their order. */
  mainActs: number[];
  isFullAbsorption: boolean;
  absorptionFraction: number;
  /** The latent with the largest probe projection (-1 if none is positive). */
  topLatent: number;
  /** The non-main latent with the largest positive probe projection among those aligned with the probe (cos >= 0.1), or -1. */
  absorber: number;
  /** Its share of the probe projection. */
  absorberShare: number;
}

/** One letter's results. */
export interface LetterResult {
  letter: string;
  probeF1: number;
  /** k = 1..max_k_value: the k-sparse probe's latents and its test F1. */
  kSparse: { k: number; feats: number[]; f1: number }[];
  /** Main latents by the F1-jump rule. */
  splitFeats: number[];
  numSplitFeatures: number;
  numProbeTruePositives: number;
  numFullAbsorption: number;
  fullAbsorptionRate: number;
  meanAbsorptionFraction: number;
  words: WordVerdict[];
  /** Latents that absorb the letter on some word (full absorption: the top latent; fraction > 0: the largest aligned absorber), most words first. */
  absorbers: { latent: number; probeCos: number; words: string[]; fullWords: string[] }[];
}

/** The eval's results for one SAE. */
export interface FirstLetterResult {
  letters: LetterResult[];
  /** Letters whose probe F1 was at or below min_GT_probe_f1, with that F1 and their test word count. */
  skipped: { letter: string; probeF1: number; nTest: number }[];
  /** Whether at least min_feats_for_eval letters passed (SAEBench reports nothing otherwise). */
  enoughLetters: boolean;
  mean: {
    mean_absorption_fraction_score: number;
    mean_full_absorption_score: number;
    mean_num_split_features: number;
    std_dev_absorption_fraction_score: number;
    std_dev_full_absorption_score: number;
    std_dev_num_split_features: number;
  } | null;
}

/** Returns the dense [n, dSae] latents of `sae` on x [n, dIn]. */
export function denseLatents(sae: SaeModel, x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * sae.dSae);
  if (n === 0) return out;
  const s: SparseRows = sae.encode(x, n);
  for (let r = 0; r < n; r++) for (let e = s.rowPtr[r]!; e < s.rowPtr[r + 1]!; e++) out[r * sae.dSae + s.colIdx[e]!] = s.values[e]!;
  return out;
}

/** Returns the unit-normalised cosine of each decoder row of `sae` with `dir` [dIn]. */
export function decoderCosines(sae: SaeModel, dir: ArrayLike<number>): Float64Array {
  const D = sae.dIn;
  let dn = 0;
  for (let j = 0; j < D; j++) dn += dir[j]! * dir[j]!;
  dn = Math.sqrt(dn);
  const cos = new Float64Array(sae.dSae);
  for (let f = 0; f < sae.dSae; f++) {
    let dot = 0;
    let rn = 0;
    for (let j = 0; j < D; j++) {
      const w = sae.W_dec[f * D + j]!;
      dot += w * dir[j]!;
      rn += w * w;
    }
    cos[f] = rn > 0 && dn > 0 ? dot / (Math.sqrt(rn) * dn) : 0;
  }
  return cos;
}

/**
 * Returns the eval of `sae`: k-sparse probes on the train words' latents, main latents per letter,
 * and SAEBench's verdict on each test word that is labelled with a letter and that the letter probe
 * calls positive, read from `absorption` (fresh prompts of the test words, row i = test word i).
 */
export function evaluateFirstLetter(kernels: Kernels, sae: SaeModel, train: WordRows, test: WordRows, absorption: Float32Array, gt: LetterProbe, cfg: AbsorptionEvalConfig): FirstLetterResult {
  const D = sae.dIn;
  const F = sae.dSae;
  const nTr = train.words.length;
  const nTe = test.words.length;
  const latTr = denseLatents(sae, train.acts, nTr);
  const latTe = denseLatents(sae, test.acts, nTe);
  const passing = gt.letters.map((l, c) => ({ ...l, c })).filter((l) => l.f1 > cfg.min_GT_probe_f1);
  const skipped = gt.letters.filter((l) => !(l.f1 > cfg.min_GT_probe_f1)).map((l) => ({ letter: l.letter, probeF1: l.f1, nTest: l.nTest }));
  // The ranking probe sees every letter (as SAEBench's); the exact k-sparse fits are only needed for the letters evaluated.
  const ks = trainKSparseProbes(kernels, latTr, nTr, F, train.labels, passing.map((l) => l.c), cfg.max_k_value, {
    l1: cfg.k_sparse_probe_l1_decay,
    epochs: cfg.k_sparse_probe_num_epochs,
    batchSize: cfg.k_sparse_probe_batch_size,
    seed: cfg.random_seed,
  });
  const latAbs = denseLatents(sae, absorption, nTe);
  const letters: LetterResult[] = [];
  for (const { letter, c, f1: probeF1 } of passing) {
    const probes = ks.get(c) ?? [];
    const actual = Array.from(test.labels, (l) => l === c);
    const kSparse = probes.map((p) => ({ k: p.k, feats: p.feats, f1: binaryScores(actual, Array.from({ length: nTe }, (_, i) => kSparseScore(p, latTe, i, F) > 0)).f1 }));
    const splitFeats = splitFeaturesByF1Jump(kSparse.map((k) => k.f1), kSparse.map((k) => k.feats), cfg.f1_jump_threshold);
    const dir = gt.probe.weights.subarray(c * D, (c + 1) * D);
    let norm = 0;
    for (let j = 0; j < D; j++) norm += dir[j]! * dir[j]!;
    norm = Math.sqrt(norm);
    const cos = decoderCosines(sae, dir);
    const words: WordVerdict[] = [];
    for (let i = 0; i < nTe; i++) {
      if (!actual[i] || !(gt.testLogits[i * 26 + c]! > 0)) continue;
      words.push(verdict(test.words[i]!, absorption.subarray(i * D, (i + 1) * D), latAbs.subarray(i * F, (i + 1) * F), dir, norm, cos, splitFeats));
    }
    const n = words.length;
    const nFull = words.filter((w) => w.isFullAbsorption).length;
    letters.push({
      letter,
      probeF1,
      kSparse,
      splitFeats,
      numSplitFeatures: splitFeats.length,
      numProbeTruePositives: n,
      numFullAbsorption: nFull,
      fullAbsorptionRate: n > 0 ? nFull / n : 0,
      meanAbsorptionFraction: n > 0 ? words.reduce((s, w) => s + w.absorptionFraction, 0) / n : 0,
      words,
      absorbers: absorbersOf(words, cos),
    });
  }
  const enoughLetters = passing.length >= cfg.min_feats_for_eval;
  return { letters, skipped, enoughLetters, mean: letters.length > 0 ? meanMetrics(letters) : null };
}

function verdict(word: string, x: Float32Array, lat: Float32Array, dir: Float32Array, norm: number, cos: Float64Array, main: number[]): WordVerdict {
  let proj = 0;
  for (let j = 0; j < x.length; j++) proj += x[j]! * dir[j]!;
  proj /= norm;
  const idx: number[] = [];
  const val: number[] = [];
  lat.forEach((v, f) => {
    if (v !== 0) {
      idx.push(f);
      val.push(v);
    }
  });
  const s = saebenchSample(proj, { idx, val, start: 0, end: idx.length }, cos, main, ABSORPTION_THRESHOLDS);
  let absorber = -1;
  let best = 0;
  idx.forEach((f, e) => {
    const p = val[e]! * cos[f]!;
    if (!main.includes(f) && cos[f]! >= ABSORPTION_THRESHOLDS.absorptionFractionCosThreshold && p > best) {
      best = p;
      absorber = f;
    }
  });
  return {
    word,
    probeProjection: proj,
    mainActs: main.map((m) => lat[m]!),
    isFullAbsorption: s.isFullAbsorption,
    absorptionFraction: s.absorptionFraction,
    topLatent: s.topLatent,
    absorber: s.isFullAbsorption ? s.topLatent : s.absorptionFraction > 0 ? absorber : -1,
    absorberShare: proj > 0 && absorber >= 0 ? best / proj : 0,
  };
}

function absorbersOf(words: WordVerdict[], cos: Float64Array): LetterResult["absorbers"] {
  const by = new Map<number, { words: string[]; fullWords: string[] }>();
  for (const w of words) {
    if (w.absorber < 0) continue;
    const e = by.get(w.absorber) ?? { words: [], fullWords: [] };
    e.words.push(w.word);
    if (w.isFullAbsorption) e.fullWords.push(w.word);
    by.set(w.absorber, e);
  }
  return [...by.entries()].map(([latent, e]) => ({ latent, probeCos: cos[latent]!, ...e })).sort((a, b) => b.words.length - a.words.length || a.latent - b.latent);
}

/** Returns SAEBench's mean metrics over letters (sample standard deviations; 0 for a single letter, where Python's statistics.stdev raises). */
function meanMetrics(letters: LetterResult[]): NonNullable<FirstLetterResult["mean"]> {
  const stat = (v: number[]) => {
    const m = v.reduce((s, x) => s + x, 0) / v.length;
    const sd = v.length > 1 ? Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length - 1)) : 0;
    return [m, sd] as const;
  };
  const [fm, fs] = stat(letters.map((l) => l.meanAbsorptionFraction));
  const [am, as] = stat(letters.map((l) => l.fullAbsorptionRate));
  const [sm, ss] = stat(letters.map((l) => l.numSplitFeatures));
  return {
    mean_absorption_fraction_score: fm,
    mean_full_absorption_score: am,
    mean_num_split_features: sm,
    std_dev_absorption_fraction_score: fs,
    std_dev_full_absorption_score: as,
    std_dev_num_split_features: ss,
  };
}
