/**
 * SAEBench's per-sample absorption scores (sae_bench/evals/absorption/feature_absorption_calculator.py,
 * FeatureAbsorptionCalculator.calculate_absorption and _is_full_absorption), with the true parent
 * direction in place of SAEBench's trained first-letter probe. Aggregation follows
 * sae_bench/evals/absorption/main.py: per concept, the sum over probe-positive samples divided by
 * their number; over an SAE, the mean over concepts.
 *
 * How the toy-world version maps onto SAEBench's: the probe is the true (unit) parent direction; the
 * "probe true positives" are the samples where the parent truly fires and x . probe > 0; the main
 * latents are the parent's main latents chosen by decoder cosine (SAEBench finds them by k-sparse
 * probing, which needs no ground truth). Where SAEBench's Python would divide by a zero probe
 * projection (an exception there), these functions score the sample 0 / not absorbed.
 */
import { z } from "zod";

/** SAEBench's thresholds, with SAEBench's defaults. */
export const SaebenchThresholdsSchema = z
  .object({
    fullAbsorptionCosThreshold: z.number().min(-1).max(1).default(0.025).describe("Full absorption: the top projecting latent's decoder cosine with the probe must be at least this (SAEBench: 0.025)."),
    absorptionFractionCosThreshold: z.number().min(-1).max(1).default(0.1).describe("Absorption fraction: a potential absorber's decoder cosine with the probe must be at least this (SAEBench: 0.1)."),
    projectionShareThreshold: z.number().min(0).default(0.4).describe("Absorbing latents must supply at least this share of the probe projection (SAEBench: 0.4)."),
    maxAbsorbingLatents: z.number().int().min(1).default(3).describe("At most this many latents may jointly absorb (absorption fraction only; SAEBench: 3)."),
  })
  .strict();
export type SaebenchThresholds = z.infer<typeof SaebenchThresholdsSchema>;

/** SAEBench's default thresholds. */
export const SAEBENCH_DEFAULTS: SaebenchThresholds = SaebenchThresholdsSchema.parse({});

/** A latent counts as firing for the main-latent check when |activation| reaches this (SAEBench's EPS). */
const EPS = 1e-8;

/** One sample's SAE latents in sparse form: the firing latents and their activations. */
export interface SampleLatents {
  idx: ArrayLike<number>;
  val: ArrayLike<number>;
  /** Range [start, end) of idx/val belonging to this sample. */
  start: number;
  end: number;
}

/** SAEBench's verdict on one sample. */
export interface SaebenchSample {
  /** Share of the probe projection carried by absorbing latents rather than the main latents, in [0, 1]. */
  absorptionFraction: number;
  /** Whether the main latents are silent and one other latent carries the probe projection. */
  isFullAbsorption: boolean;
  /** The latent with the largest probe projection (activation x decoder cosine), or -1 when none is positive. */
  topLatent: number;
}

/**
 * Returns SAEBench's absorption fraction and full-absorption verdict for one sample.
 * `probeProjection` is x . probe (probe a unit vector); `cosToProbe[j]` is latent j's decoder cosine with the probe.
 */
export function saebenchSample(
  probeProjection: number,
  acts: SampleLatents,
  cosToProbe: ArrayLike<number>,
  mainLatents: readonly number[],
  t: SaebenchThresholds = SAEBENCH_DEFAULTS,
): SaebenchSample {
  const isMain = (j: number) => mainLatents.includes(j);
  let mainProj = 0;
  let mainSilent = true;
  for (const m of mainLatents) {
    const a = activationOf(acts, m);
    mainProj += a * cosToProbe[m]!;
    if (Math.abs(a) >= EPS) mainSilent = false;
  }
  // Potential absorbers: non-main latents aligned with the probe that project positively on it.
  const absorbers: number[] = [];
  let topLatent = -1;
  let topProj = 0;
  for (let e = acts.start; e < acts.end; e++) {
    const j = acts.idx[e]!;
    const proj = acts.val[e]! * cosToProbe[j]!;
    // Strictly greater keeps the lowest index among ties (rows are sorted by latent).
    if (proj > topProj) {
      topProj = proj;
      topLatent = j;
    }
    if (!isMain(j) && cosToProbe[j]! >= t.absorptionFractionCosThreshold && proj > 0) absorbers.push(proj);
  }
  absorbers.sort((a, b) => b - a);
  let absorberTotal = 0;
  for (let k = 0; k < Math.min(t.maxAbsorbingLatents, absorbers.length); k++) absorberTotal += absorbers[k]!;

  let absorptionFraction: number;
  if (!(probeProjection > 0)) {
    // Negative projection: SAEBench's share test (total / projection < 0.4) always fails; zero: see module note.
    absorptionFraction = 0;
  } else if (mainProj >= probeProjection || absorberTotal / probeProjection < t.projectionShareThreshold) {
    absorptionFraction = 0;
  } else if (mainProj <= 0) {
    absorptionFraction = 1;
  } else {
    const absorbed = Math.min(absorberTotal, probeProjection - mainProj);
    absorptionFraction = Math.min(1, Math.max(0, absorbed / (absorbed + mainProj)));
  }

  const isFullAbsorption =
    mainSilent &&
    topLatent >= 0 &&
    cosToProbe[topLatent]! >= t.fullAbsorptionCosThreshold &&
    probeProjection > 0 &&
    topProj / probeProjection >= t.projectionShareThreshold;
  return { absorptionFraction, isFullAbsorption, topLatent };
}

function activationOf(acts: SampleLatents, j: number): number {
  for (let e = acts.start; e < acts.end; e++) if (acts.idx[e] === j) return acts.val[e]!;
  return 0;
}

/** Running SAEBench aggregate for one concept: sums over probe-positive samples. */
export class SaebenchTally {
  nProbePositives = 0;
  sumAbsorptionFraction = 0;
  nFullAbsorption = 0;

  /** Adds one probe-positive sample's verdict. */
  add(s: SaebenchSample): void {
    this.nProbePositives++;
    this.sumAbsorptionFraction += s.absorptionFraction;
    if (s.isFullAbsorption) this.nFullAbsorption++;
  }

  /** Returns SAEBench's mean absorption fraction and full-absorption rate (null without samples). */
  result(): { absorptionFraction: number | null; fullAbsorption: number | null; nProbePositives: number } {
    const n = this.nProbePositives;
    return {
      absorptionFraction: n > 0 ? this.sumAbsorptionFraction / n : null,
      fullAbsorption: n > 0 ? this.nFullAbsorption / n : null,
      nProbePositives: n,
    };
  }
}
