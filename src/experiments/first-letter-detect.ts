/**
 * The probe-free detector scored against the first-letter probes. The probes define, per letter, the
 * main latents (k-sparse probing) and the latents that absorb the letter on some test word
 * (SAEBench's rule); each (main latent, absorber) is a pair the detector should name as (parent,
 * absorber). A confident detector pair is explained when some letter has its parent among the main
 * latents and its absorber among the absorbers; it names a letter's parent when only the parent
 * matches; otherwise the probes do not explain it (another feature's absorption, or a false pair).
 */
import type { Detection } from "../detect/schemas.js";
import type { FirstLetterResult } from "./first-letter-eval.js";

/** One letter's side of the comparison. */
export interface LetterDetection {
  letter: string;
  mainLatents: number[];
  probeAbsorbers: number[];
  /** Probe absorbers that some confident detector pair names with one of the letter's main latents as parent. */
  found: number[];
  /** Confident detector pairs whose parent is one of the letter's main latents. */
  detectorPairs: { parent: number; absorber: number; score: number; explained: boolean }[];
}

/** The detector against the probes. */
export interface DetectorComparison {
  confidentPairs: number;
  /** (letter, absorber) pairs the probes define. */
  probePairs: number;
  /** Confident pairs matching a probe pair. */
  explained: number;
  /** Confident pairs whose parent is a letter's main latent but whose absorber the probes did not see absorb. */
  parentOnly: number;
  /** explained / confidentPairs (null without confident pairs). */
  precision: number | null;
  /** Probe pairs found / probe pairs (null without probe pairs). */
  recall: number | null;
  letters: LetterDetection[];
  /** Confident pairs the probes do not explain at all (neither latent is a letter's main latent or absorber in that role). */
  unexplained: { parent: number; absorber: number; score: number; kind: string }[];
}

/** Returns precision and recall of the detector's confident pairs against the probe-defined (main latent, absorber) pairs. */
export function compareDetectorWithProbes(detection: Detection, result: FirstLetterResult): DetectorComparison {
  const confident = detection.pairs.filter((p) => p.confident);
  const letters: LetterDetection[] = result.letters.map((l) => {
    const absorbers = l.absorbers.map((a) => a.latent);
    const mine = confident.filter((p) => l.splitFeats.includes(p.parent));
    return {
      letter: l.letter,
      mainLatents: l.splitFeats,
      probeAbsorbers: absorbers,
      found: absorbers.filter((a) => mine.some((p) => p.absorber === a)),
      detectorPairs: mine.map((p) => ({ parent: p.parent, absorber: p.absorber, score: p.score, explained: absorbers.includes(p.absorber) })),
    };
  });
  const explainedBy = (p: { parent: number; absorber: number }) => letters.some((l) => l.mainLatents.includes(p.parent) && l.probeAbsorbers.includes(p.absorber));
  const isMain = (j: number) => letters.some((l) => l.mainLatents.includes(j));
  const explained = confident.filter(explainedBy).length;
  const parentOnly = confident.filter((p) => !explainedBy(p) && isMain(p.parent)).length;
  const probePairs = letters.reduce((s, l) => s + l.probeAbsorbers.length, 0);
  const found = letters.reduce((s, l) => s + l.found.length, 0);
  return {
    confidentPairs: confident.length,
    probePairs,
    explained,
    parentOnly,
    precision: confident.length > 0 ? explained / confident.length : null,
    recall: probePairs > 0 ? found / probePairs : null,
    letters,
    unexplained: confident.filter((p) => !explainedBy(p) && !isMain(p.parent)).map((p) => ({ parent: p.parent, absorber: p.absorber, score: p.score, kind: p.kind })),
  };
}
