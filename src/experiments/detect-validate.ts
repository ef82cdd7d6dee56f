/**
 * Checks the no-ground-truth detector (src/detect) against a toy world's truth. This is the only place
 * where detection output meets WorldTruth: src/detect itself never sees labels.
 *
 * A detected pair (parent latent P, absorber A) is mapped to a true edge (p, c) when P's decoder row
 * best matches feature p (cosine >= 0.5) and A is one of the absorbing latents the metrics module lists
 * for an edge (p, c) (the child whose direction best matches A's decoder row minus its P component is
 * chosen when A absorbs several). The pair is a true positive when P itself is measurably absorbed
 * there: P's silent rate when p and c fire minus its silent rate when p fires without any child (the
 * metrics module's full absorption, for latent P; without the subtraction when p never fires alone)
 * reaches `threshold`. Recall is over the true edges
 * whose full absorption (metrics module, main latent) reaches `threshold`.
 *
 * Inferred hierarchy edges P -> C are mapped to features the same way (C through its decoder row minus
 * its P component); an edge is correct when the parent feature is an ancestor of the child feature.
 * Recall counts the world's direct parent/child edges found.
 */
import { emptySparse } from "../tensor/kernels.js";
import type { WorldBatch, WorldTruth } from "../toy/types.js";
import type { SaeModel } from "../sae/types.js";
import type { SaeEvaluation } from "../metrics/schemas.js";
import type { Detection } from "../detect/schemas.js";

/** How a detected pair fared against the truth. */
export interface PairTruth {
  parent: number;
  absorber: number;
  score: number;
  confident: boolean;
  /** The true (parent feature, child feature) edge the pair maps to, or null. */
  edge: { parent: number; child: number } | null;
  /** The metrics module's full absorption of that edge (its main latent). */
  edgeFullAbsorption: number | null;
  /** Full absorption of latent P itself on that edge. */
  latentFullAbsorption: number | null;
  truePositive: boolean;
}

/** Precision and recall of detection and of hierarchy inference on one SAE. */
export interface DetectionValidation {
  threshold: number;
  pairs: PairTruth[];
  nConfident: number;
  truePositives: number;
  precision: number | null;
  absorbedEdges: { parent: number; child: number; fullAbsorption: number; found: boolean }[];
  recall: number | null;
  hierarchy: {
    edges: { parent: number; child: number; featureParent: number | null; featureChild: number | null; correct: boolean }[];
    precision: number | null;
    trueEdges: number;
    found: number;
    recall: number | null;
  };
}

function unitRow(m: ArrayLike<number>, r: number, n: number): Float64Array {
  const v = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    v[i] = m[r * n + i]!;
    s += v[i]! * v[i]!;
  }
  const norm = Math.sqrt(s);
  if (norm > 0) for (let i = 0; i < n; i++) v[i]! /= norm;
  return v;
}

function dot(a: Float64Array, b: ArrayLike<number>, bOff: number): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[bOff + i]!;
  return s;
}

/** Returns the feature whose direction has the highest cosine with unit vector v, when that cosine is >= minCos. */
function bestFeature(v: Float64Array, truth: WorldTruth, minCos = 0.5, among?: readonly number[]): number | null {
  const n = truth.dModel;
  let best: number | null = null;
  let bestCos = minCos;
  for (const f of among ?? Array.from({ length: truth.nFeatures }, (_, i) => i)) {
    const c = dot(v, truth.featureVectors, f * n);
    if (c >= bestCos) {
      bestCos = c;
      best = f;
    }
  }
  return best;
}

/** Returns A's unit decoder row minus its component along P's unit row, renormalised. */
function residual(sae: SaeModel, p: number, a: number): Float64Array {
  const n = sae.dIn;
  const up = unitRow(sae.W_dec, p, n);
  const ua = unitRow(sae.W_dec, a, n);
  let c = 0;
  for (let i = 0; i < n; i++) c += up[i]! * ua[i]!;
  const r = new Float64Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    r[i] = ua[i]! - c * up[i]!;
    s += r[i]! * r[i]!;
  }
  const norm = Math.sqrt(s);
  if (norm > 0) for (let i = 0; i < n; i++) r[i]! /= norm;
  return r;
}

/** Returns the feature P's decoder row stands for (best positive cosine >= 0.5), or null. */
export function featureOfLatent(sae: SaeModel, truth: WorldTruth, j: number): number | null {
  return bestFeature(unitRow(sae.W_dec, j, sae.dIn), truth);
}

/**
 * Returns, per latent and parent feature, the full absorption of that latent on each child: its silent
 * rate when the parent and child fire minus its silent rate when the parent fires alone.
 */
function latentAbsorption(sae: SaeModel, truth: WorldTruth, batches: Iterable<WorldBatch>, want: readonly { latent: number; parent: number; child: number }[]): Map<string, number | null> {
  const tallies = want.map(() => ({ withChild: 0, silentWith: 0, alone: 0, silentAlone: 0 }));
  const on = new Uint8Array(truth.nFeatures);
  const act = new Float32Array(sae.dSae);
  let latents = emptySparse(0, sae.dSae);
  for (const b of batches) {
    latents = sae.encode(b.acts, b.batch, latents);
    for (let r = 0; r < b.batch; r++) {
      for (let e = b.features.rowPtr[r]!; e < b.features.rowPtr[r + 1]!; e++) if (b.features.values[e]! > 0) on[b.features.colIdx[e]!] = 1;
      for (let e = latents.rowPtr[r]!; e < latents.rowPtr[r + 1]!; e++) act[latents.colIdx[e]!] = latents.values[e]!;
      want.forEach((w, i) => {
        if (!on[w.parent]) return;
        const t = tallies[i]!;
        const silent = !(act[w.latent]! > 0);
        if (on[w.child]) {
          t.withChild++;
          if (silent) t.silentWith++;
        } else if ((truth.children[w.parent] ?? []).every((c) => !on[c])) {
          t.alone++;
          if (silent) t.silentAlone++;
        }
      });
      for (let e = b.features.rowPtr[r]!; e < b.features.rowPtr[r + 1]!; e++) on[b.features.colIdx[e]!] = 0;
      for (let e = latents.rowPtr[r]!; e < latents.rowPtr[r + 1]!; e++) act[latents.colIdx[e]!] = 0;
    }
  }
  const out = new Map<string, number | null>();
  want.forEach((w, i) => {
    const t = tallies[i]!;
    // A parent that never fires alone has no baseline; its silent rate with the child stands alone then.
    out.set(`${w.latent}:${w.parent}:${w.child}`, t.withChild > 0 ? t.silentWith / t.withChild - (t.alone > 0 ? t.silentAlone / t.alone : 0) : null);
  });
  return out;
}

/**
 * Returns precision/recall of `det` (run on unlabelled data) against the truth: `evaluation` is the
 * metrics module's evaluation of the same SAE, `batches` labelled world batches for per-latent rates.
 */
export function validateDetection(det: Detection, sae: SaeModel, truth: WorldTruth, evaluation: SaeEvaluation, batches: Iterable<WorldBatch>, threshold = 0.1): DetectionValidation {
  const edgeOf = new Map<string, { full: number | null; absorbers: Set<number> }>();
  for (const p of evaluation.absorption.parents) {
    for (const e of p.edges) edgeOf.set(`${p.parent}:${e.child}`, { full: e.fullAbsorption, absorbers: new Set(e.absorbers.map((a) => a.latent)) });
  }
  const mapped = det.pairs.map((pair) => {
    const fp = featureOfLatent(sae, truth, pair.parent);
    let edge: { parent: number; child: number } | null = null;
    if (fp !== null) {
      const children = (truth.children[fp] ?? []).filter((c) => edgeOf.get(`${fp}:${c}`)?.absorbers.has(pair.absorber));
      const c = children.length > 1 ? bestFeature(residual(sae, pair.parent, pair.absorber), truth, -1, children) : children[0];
      if (c !== undefined && c !== null) edge = { parent: fp, child: c };
    }
    return { pair, edge };
  });
  const want = mapped.filter((m) => m.edge).map((m) => ({ latent: m.pair.parent, parent: m.edge!.parent, child: m.edge!.child }));
  const latentFull = latentAbsorption(sae, truth, batches, want);
  const pairs: PairTruth[] = mapped.map(({ pair, edge }) => {
    const lf = edge ? latentFull.get(`${pair.parent}:${edge.parent}:${edge.child}`) ?? null : null;
    return {
      parent: pair.parent,
      absorber: pair.absorber,
      score: pair.score,
      confident: pair.confident,
      edge,
      edgeFullAbsorption: edge ? edgeOf.get(`${edge.parent}:${edge.child}`)?.full ?? null : null,
      latentFullAbsorption: lf,
      truePositive: edge !== null && lf !== null && lf >= threshold,
    };
  });
  const confident = pairs.filter((p) => p.confident);
  const tp = confident.filter((p) => p.truePositive);
  const absorbedEdges = evaluation.absorption.parents.flatMap((p) =>
    p.edges
      .filter((e) => e.fullAbsorption !== null && e.fullAbsorption >= threshold)
      .map((e) => ({ parent: p.parent, child: e.child, fullAbsorption: e.fullAbsorption!, found: tp.some((t) => t.edge!.parent === p.parent && t.edge!.child === e.child) })),
  );
  return {
    threshold,
    pairs,
    nConfident: confident.length,
    truePositives: tp.length,
    precision: confident.length ? tp.length / confident.length : null,
    absorbedEdges,
    recall: absorbedEdges.length ? absorbedEdges.filter((e) => e.found).length / absorbedEdges.length : null,
    hierarchy: validateHierarchy(det, sae, truth),
  };
}

function isAncestor(truth: WorldTruth, a: number, f: number): boolean {
  for (let p = truth.parent[f]!; p >= 0; p = truth.parent[p]!) if (p === a) return true;
  return false;
}

function validateHierarchy(det: Detection, sae: SaeModel, truth: WorldTruth): DetectionValidation["hierarchy"] {
  const edges = det.hierarchy.edges.map((e) => {
    const featureParent = featureOfLatent(sae, truth, e.parent);
    const featureChild = bestFeature(residual(sae, e.parent, e.child), truth);
    const correct = featureParent !== null && featureChild !== null && featureParent !== featureChild && isAncestor(truth, featureParent, featureChild);
    return { parent: e.parent, child: e.child, featureParent, featureChild, correct };
  });
  const trueEdges = new Set<string>();
  for (let f = 0; f < truth.nFeatures; f++) if (truth.parent[f]! >= 0) trueEdges.add(`${truth.parent[f]}:${f}`);
  const found = new Set(edges.filter((e) => e.correct && truth.parent[e.featureChild!] === e.featureParent).map((e) => `${e.featureParent}:${e.featureChild}`));
  return {
    edges,
    precision: edges.length ? edges.filter((e) => e.correct).length / edges.length : null,
    trueEdges: trueEdges.size,
    found: found.size,
    recall: trueEdges.size ? found.size / trueEdges.size : null,
  };
}
