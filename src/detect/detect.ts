/**
 * Absorption detection without ground truth: `detectAbsorption(sae, batches)` scores every candidate
 * (parent latent, absorbing latent) pair from the SAE's weights and unlabelled activations, estimates
 * each latent's recall holes, and infers a latent hierarchy. The signals:
 *   1. decoder overlap: the absorber's decoder row has a positive component along the parent's;
 *   2. encoder carve: the parent's encoder column has a negative cosine with what the absorber's row
 *      adds to the parent's (the parent is built not to fire on the child);
 *   3. silence: the parent's direction is present in x ((x - b_dec) . unit row at least `presence`
 *      times its usual level), the parent is silent and the absorber carries the projection;
 *   4. co-firing: how often the parent fires when the absorber does.
 * The combined score is signal 3 as a rate over the absorber's firings (each hole weighted by how fully
 * the parent's usual level is present, min(1, projection / reference)), minus the parent's silent rate
 * when no candidate absorber fires (a weak latent is not an absorbed one): the label-free twin of the
 * metrics module's full absorption, with the parent's own decoder row in place of the true probe.
 */
import { parseConfig } from "../errors.js";
import type { Kernels, SparseRows } from "../tensor/kernels.js";
import { referenceKernels } from "../tensor/reference.js";
import type { SaeModel } from "../sae/types.js";
import { decoderNeighbors, decoderRows, encoderCarve, rowCos, type DecoderRows } from "./geometry.js";
import { inferHierarchy } from "./hierarchy.js";
import { DetectionStats } from "./stats.js";
import { DetectionSchema, DetectOptionsSchema, type AbsorptionPair, type Detection, type DetectOptions, type DetectOptionsInput, type LatentHoles } from "./schemas.js";

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** Splits unlabelled activations into the [rows, dIn] batches the detector reads. */
export type ActivationBatches = readonly Float32Array[];

/** Returns the latents of every batch, encoded once (the detector reads them twice). */
export function encodeBatches(sae: SaeModel, batches: ActivationBatches): SparseRows[] {
  return batches.map((x) => {
    if (x.length % sae.dIn !== 0) throw new Error(`an activation batch has ${x.length} values, not a whole number of rows of width ${sae.dIn}`);
    for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) throw new Error(`activation ${i % sae.dIn} of row ${Math.floor(i / sae.dIn)} is ${x[i]}`);
    return sae.encode(x, x.length / sae.dIn);
  });
}

/** Returns the accumulated two-pass statistics of `sae` on `batches` (exposed for tests and the hierarchy). */
export function collectStats(
  sae: SaeModel,
  batches: ActivationBatches,
  o: DetectOptions,
  kernels: Kernels,
  onProgress?: (done: number, total: number) => void,
  latents: readonly SparseRows[] = encodeBatches(sae, batches),
): { stats: DetectionStats; rows: DecoderRows } {
  const rows = decoderRows(sae);
  const nb = decoderNeighbors(rows, o.minDecoderCos, o.maxNeighbors, kernels);
  const stats = new DetectionStats(sae, rows, nb, o, kernels);
  const total = 2 * batches.reduce((s, x) => s + x.length / sae.dIn, 0);
  let done = 0;
  batches.forEach((x, b) => {
    stats.calibrate(x, x.length / sae.dIn, latents[b]!);
    onProgress?.((done += x.length / sae.dIn), total);
  });
  stats.finishCalibration();
  batches.forEach((x, b) => {
    stats.add(x, x.length / sae.dIn, latents[b]!);
    onProgress?.((done += x.length / sae.dIn), total);
  });
  return { stats, rows };
}

/** Returns the ranked absorption pairs, per-latent recall holes and inferred hierarchy of `sae` on unlabelled `batches`. */
export function detectAbsorption(
  sae: SaeModel,
  batches: ActivationBatches,
  options: DetectOptionsInput = {},
  kernels: Kernels = referenceKernels(),
  onProgress?: (done: number, total: number) => void,
): Detection {
  return detectFromLatents(sae, batches, encodeBatches(sae, batches), parseConfig(DetectOptionsSchema, options, "detection options"), kernels, onProgress).detection;
}

/** Returns the detection of `sae` on `batches` whose latents are given ([rows, dSae] per batch), with the statistics it rests on. */
export function detectFromLatents(
  sae: SaeModel,
  batches: ActivationBatches,
  latentsOf: readonly SparseRows[],
  o: DetectOptions,
  kernels: Kernels,
  onProgress?: (done: number, total: number) => void,
): { detection: Detection; stats: DetectionStats; rows: DecoderRows } {
  const { stats, rows } = collectStats(sae, batches, o, kernels, onProgress, latentsOf);
  const enc = sae.encoderWeights();
  const pairs = rankPairs(stats, rows, enc, o).slice(0, o.maxPairs);
  const latents = latentHoles(stats, o);
  const hierarchy = inferHierarchy(stats, rows, pairs, o);
  const parentsOfConfident = [...new Set(pairs.filter((p) => p.confident).map((p) => p.parent))];
  const holeOf = new Map(latents.map((l) => [l.latent, l.absorbedHoleRate]));
  const dead = Array.from(stats.nFire).filter((v) => v === 0).length;
  const result: Detection = {
    dIn: sae.dIn,
    dSae: sae.dSae,
    nSamples: stats.nSamples,
    options: { ...o },
    pairs,
    latents,
    hierarchy,
    summary: {
      confidentPairs: pairs.filter((p) => p.confident).length,
      candidatePairs: stats.nPairs,
      meanAbsorbedHoleRate: meanOf(parentsOfConfident.map((p) => holeOf.get(p) ?? null)),
      deadLatents: dead,
    },
    notes: detectionNotes(pairs, stats, o),
  };
  return { detection: DetectionSchema.parse(result), stats, rows };
}

/** Returns every scored pair once, in its kept orientation, highest score first (confidence judged at `o.minScore`). */
export function rankPairs(stats: DetectionStats, rows: DecoderRows, enc: Float32Array, o: DetectOptions): AbsorptionPair[] {
  return orient(scoredPairs(stats, rows, enc, o));
}

/** Returns every ordered candidate pair, both orientations, scored and with siblings marked. */
export function scoredPairs(stats: DetectionStats, rows: DecoderRows, enc: Float32Array, o: DetectOptions): AbsorptionPair[] {
  return markSiblings(scorePairs(stats, rows, enc, o), rows, o);
}

function scorePairs(stats: DetectionStats, rows: DecoderRows, enc: Float32Array, o: DetectOptions): AbsorptionPair[] {
  const out: AbsorptionPair[] = [];
  const encDecCos = encoderDecoderCos(rows, enc);
  for (let a = 0; a < stats.d; a++) {
    const nA = stats.nFire[a]!;
    for (let k = stats.pairStart[a]!; k < stats.pairStart[a + 1]!; k++) {
      const p = stats.pairParent[k]!;
      const cos = stats.pairCos[k]!;
      const present = stats.pairPresent[k]!;
      const baseline = ratio(stats.nHoleNoAbs[p]!, stats.nPresentNoAbs[p]!);
      const absorbed = ratio(stats.pairAbsorbed[k]!, nA) ?? 0;
      const score = absorbed - (baseline ?? 0) * (ratio(stats.pairPresentWeight[k]!, nA) ?? 0);
      const meanNoAbs = ratio(stats.sumActNoAbs[p]!, stats.nPresentNoAbs[p]!);
      const meanWith = ratio(stats.pairSumActP[k]!, present);
      const encDec = encDecCos[p]!;
      const kind = cos >= o.duplicateCos ? "duplicate" : encDec === null || encDec < o.minParentEncoderDecoderCos ? "not-a-detector" : "absorption";
      out.push({
        parent: p,
        absorber: a,
        kind,
        score,
        confident: kind === "absorption" && score >= o.minScore && nA >= o.minSamples,
        decoderCos: cos,
        sharedParent: null,
        parentEncoderDecoderCos: encDec,
        parentComponent: rows.norms[p]! > 0 ? (cos * rows.norms[a]!) / rows.norms[p]! : 0,
        encoderCarve: encoderCarve(rows, enc, p, a),
        nAbsorberFires: nA,
        presentShare: ratio(present, nA),
        parentSilent: ratio(stats.pairHole[k]!, present),
        parentSilentBaseline: baseline,
        carriedShare: ratio(stats.pairShare[k]!, present),
        coFiring: ratio(stats.pairCoFire[k]!, nA),
        partialRatio: meanWith !== null && meanNoAbs !== null && meanNoAbs > 0 ? meanWith / meanNoAbs : null,
        reverseScore: null,
      });
    }
  }
  return out;
}

/** Returns the cosine of each latent's encoder column with its decoder row (null for a zero vector). */
export function encoderDecoderCos(rows: DecoderRows, enc: Float32Array): (number | null)[] {
  const { dIn, dSae, unit } = rows;
  return Array.from({ length: dSae }, (_, j) => {
    let dot = 0;
    let ee = 0;
    for (let i = 0; i < dIn; i++) {
      const e = enc[i * dSae + j]!;
      dot += e * unit[j * dIn + i]!;
      ee += e * e;
    }
    return ee > 0 && rows.norms[j]! > 0 ? dot / Math.sqrt(ee) : null;
  });
}

/**
 * Marks confident pairs P <- A whose rows overlap only through a third latent Q that is a parent of
 * both (Q <- A confident, and Q <- P the stronger orientation of Q and P): two children of one parent
 * share the parent's direction, which says nothing about P being A's parent. The test is the cosine of
 * P's and A's rows after both lose their component along Q's row.
 */
function markSiblings(pairs: AbsorptionPair[], rows: DecoderRows, o: DetectOptions): AbsorptionPair[] {
  const byKey = new Map(pairs.map((p) => [`${p.parent}:${p.absorber}`, p]));
  const parentsOf = new Map<number, AbsorptionPair[]>();
  for (const p of pairs) if (p.confident) parentsOf.set(p.absorber, [...(parentsOf.get(p.absorber) ?? []), p]);
  const flagged: { pair: AbsorptionPair; q: number }[] = [];
  for (const pair of pairs) {
    if (!pair.confident) continue;
    const { parent: P, absorber: A } = pair;
    for (const qa of parentsOf.get(A) ?? []) {
      const Q = qa.parent;
      if (Q === P) continue;
      const qp = byKey.get(`${Q}:${P}`);
      if (!qp || qp.score <= (byKey.get(`${P}:${Q}`)?.score ?? 0)) continue;
      const cPA = pair.decoderCos;
      const cPQ = rowCos(rows, P, Q);
      const cAQ = rowCos(rows, A, Q);
      const denom = Math.sqrt(Math.max(0, 1 - cPQ * cPQ) * Math.max(0, 1 - cAQ * cAQ));
      const partial = denom > 1e-9 ? (cPA - cPQ * cAQ) / denom : 0;
      if (partial < o.minDecoderCos) {
        flagged.push({ pair, q: Q });
        break;
      }
    }
  }
  for (const { pair, q } of flagged) {
    pair.kind = "sibling";
    pair.confident = false;
    pair.sharedParent = q;
  }
  return pairs;
}

/** Keeps each unordered pair once, in its confident or else higher-scoring orientation, highest score first. */
function orient(all: AbsorptionPair[]): AbsorptionPair[] {
  const byKey = new Map<string, AbsorptionPair>();
  for (const p of all) byKey.set(`${p.parent}:${p.absorber}`, p);
  const kept: AbsorptionPair[] = [];
  for (const p of all) {
    const rev = byKey.get(`${p.absorber}:${p.parent}`);
    // A confident orientation wins over one that is not (e.g. the reverse has a non-detector parent).
    const better = rev && (rev.confident !== p.confident ? rev.confident : rev.score > p.score || (rev.score === p.score && rev.parent < p.parent));
    if (better) continue;
    kept.push({ ...p, reverseScore: rev ? rev.score : null });
  }
  kept.sort((a, b) => b.score - a.score || a.parent - b.parent || a.absorber - b.absorber);
  return kept;
}

function latentHoles(stats: DetectionStats, o: DetectOptions): LatentHoles[] {
  const out: LatentHoles[] = [];
  for (let j = 0; j < stats.d; j++) {
    const nPresent = stats.nPresent[j]!;
    if (nPresent < o.minSamples) continue;
    const absorbed = stats.nAbsorbedHole[j]!;
    const carriers = [...stats.carriers[j]!.entries()]
      .sort((a, b) => b[1] - a[1] || a[0] - b[0])
      .slice(0, 3)
      .map(([latent, c]) => ({ latent, share: c / absorbed }));
    out.push({
      latent: j,
      firingRate: stats.nSamples > 0 ? stats.nFire[j]! / stats.nSamples : 0,
      meanProjectionWhenFiring: stats.ref[j]! > 0 ? stats.ref[j]! : null,
      nPresent,
      holeRate: ratio(stats.nHole[j]!, nPresent),
      absorbedHoleRate: ratio(absorbed, nPresent),
      topCarriers: carriers,
    });
  }
  out.sort((a, b) => (b.absorbedHoleRate ?? 0) - (a.absorbedHoleRate ?? 0) || a.latent - b.latent);
  return out;
}

function meanOf(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
}

const f2 = (v: number | null) => (v === null ? "n/a" : v.toFixed(2));

/** Returns plain sentences where the signals disagree or the data is too thin to say. */
function detectionNotes(pairs: readonly AbsorptionPair[], stats: DetectionStats, o: DetectOptions): string[] {
  const notes: string[] = [];
  if (stats.nSamples === 0) notes.push("no activations were given: every data-driven signal is undefined.");
  for (const p of pairs.slice(0, 50)) {
    if (p.kind === "duplicate" && p.nAbsorberFires >= o.minSamples) {
      notes.push(`latents ${p.parent} and ${p.absorber} have nearly parallel decoder rows (cosine ${f2(p.decoderCos)}) and fire together on ${f2(p.coFiring)} of ${p.absorber}'s inputs: near-duplicates, not absorption.`);
      continue;
    }
    if (p.kind !== "absorption" || p.nAbsorberFires < o.minSamples) continue;
    if (p.confident && p.encoderCarve !== null && p.encoderCarve >= 0) {
      notes.push(`pair ${p.parent} <- ${p.absorber}: the parent goes silent (score ${f2(p.score)}) although its encoder does not point away from the absorber's extra direction (carve ${f2(p.encoderCarve)}); the silence comes from elsewhere (bias, threshold or competition).`);
    }
    if (!p.confident && p.decoderCos >= 0.3 && p.carriedShare !== null && p.carriedShare >= o.projectionShare && (p.parentSilent ?? 0) < 0.1) {
      notes.push(`pair ${p.parent} <- ${p.absorber}: the absorber's decoder row carries ${f2(p.carriedShare)} of the parent's direction (cosine ${f2(p.decoderCos)}) but the parent keeps firing (silent on ${f2(p.parentSilent)}); decoder geometry alone would call this absorption, the firing data does not (partial absorption or hedging, partial ratio ${f2(p.partialRatio)}).`);
    }
    if (p.confident && p.reverseScore !== null && p.reverseScore >= o.minScore && p.reverseScore >= 0.5 * p.score) {
      notes.push(`pair ${p.parent} <- ${p.absorber}: the reverse orientation also scores ${f2(p.reverseScore)} (vs ${f2(p.score)}); which latent is the parent is uncertain.`);
    }
  }
  return notes;
}
