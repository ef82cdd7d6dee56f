/**
 * Turns the absorption accumulator's running counts into results: per edge, per parent (mean over
 * its children) and per SAE (mean over parents, as SAEBench averages over letters), and writes the
 * plain-language notes where two measures of the same thing disagree.
 */
import type { SaebenchTally } from "./saebench.js";
import type { Absorber, Absorption, EdgeAbsorption, EvalOptions, ParentAbsorption, ParentLikeLatent } from "./schemas.js";

/** Running counts for one parent/child edge. */
export interface EdgeState {
  child: number;
  /** Samples with parent and child on. */
  n: number;
  /** ... of which every main latent was silent. */
  silent: number;
  sumMain: number;
  /** The main latents' summed activation on each parent-and-child sample. */
  mainValues: number[];
  /** Sum of x . parent over parent-and-child samples. */
  sumProbe: number;
  latents: Map<number, { fires: number; sumAct: number; firesMainSilent: number }>;
  /** Samples with the parent on and this child off, and how often a main latent fired on them. */
  nOff: number;
  mainFiresOff: number;
  mainFiresOn: number;
  saebench: SaebenchTally;
}

/** Running counts for one parent. */
export interface ParentState {
  parent: number;
  children: number[];
  main: number[];
  /** [dIn] unit parent direction. */
  probe: Float64Array;
  /** [dSae] decoder cosine of each latent with the parent. */
  cosToParent: Float64Array;
  n: number;
  nAlone: number;
  silentAlone: number;
  sumMainAlone: number;
  /** Per latent: samples where it and the parent fire. */
  coFire: Map<number, number>;
  /** Per latent: parent-alone samples where it fires. */
  firesAlone: Map<number, number>;
  saebench: SaebenchTally;
  edges: EdgeState[];
}

interface Geometry {
  dSae: number;
  decoderCos: ArrayLike<number>;
  encoderCos: ArrayLike<number>;
}

const ratio = (a: number, b: number): number | null => (b > 0 ? a / b : null);

/** Returns the mean of the non-null values, or null when there are none. */
export function meanOf(values: readonly (number | null)[]): number | null {
  let s = 0;
  let n = 0;
  for (const v of values) {
    if (v === null) continue;
    s += v;
    n++;
  }
  return n > 0 ? s / n : null;
}

/** Returns the absorption results from the accumulated counts. */
export function finishAbsorption(parents: readonly ParentState[], latentFires: Float64Array, nFeatures: number, g: Geometry, o: EvalOptions): Absorption {
  const out: ParentAbsorption[] = parents.map((st) => finishParent(st, latentFires, nFeatures, g, o));
  const edges = out.flatMap((p) => p.edges);
  return {
    parents: out,
    summary: {
      nParents: out.length,
      nEdges: edges.length,
      fullAbsorption: meanOf(out.map((p) => p.mean.fullAbsorption)),
      partialRatio: meanOf(out.map((p) => p.mean.partialRatio)),
      belowHalfShare: meanOf(out.map((p) => p.mean.belowHalfShare)),
      absorptionGap: meanOf(out.map((p) => p.mean.absorptionGap)),
      saebenchAbsorptionFraction: meanOf(out.map((p) => p.saebench.absorptionFraction)),
      saebenchFullAbsorption: meanOf(out.map((p) => p.saebench.fullAbsorption)),
      maxEdgeFullAbsorption: edges.reduce<number | null>((m, e) => (e.fullAbsorption === null ? m : m === null ? e.fullAbsorption : Math.max(m, e.fullAbsorption)), null),
      mainDisagreements: out.filter((p) => !p.mainAgree).length,
      maxParentLikeFullAbsorption: maxOf(edges.flatMap((e) => e.parentLikeLatents.map((l) => l.fullAbsorption))),
    },
  };
}

function maxOf(values: readonly (number | null)[]): number | null {
  let m: number | null = null;
  for (const v of values) if (v !== null && (m === null || v > m)) m = v;
  return m;
}

/** Returns the latents besides the main ones whose decoder row is close to the parent's, highest cosine first. */
function parentLike(st: ParentState, o: EvalOptions): number[] {
  const out: number[] = [];
  for (let j = 0; j < st.cosToParent.length; j++) if (!st.main.includes(j) && st.cosToParent[j]! >= o.parentLikeMinCos) out.push(j);
  return out.sort((a, b) => st.cosToParent[b]! - st.cosToParent[a]! || a - b);
}

function f1Of(st: ParentState, latentFires: Float64Array, j: number): number {
  const tp = st.coFire.get(j) ?? 0;
  const denom = latentFires[j]! + st.n;
  return denom > 0 ? (2 * tp) / denom : 0;
}

function finishParent(st: ParentState, latentFires: Float64Array, nFeatures: number, g: Geometry, o: EvalOptions): ParentAbsorption {
  const p = st.parent;
  const mainLatents = st.main.map((j) => ({ latent: j, decoderCos: st.cosToParent[j]!, f1: f1Of(st, latentFires, j) }));
  // The best-F1 latent can only be one that fired together with the parent.
  let best: number | null = null;
  let bestF1 = 0;
  for (const j of [...st.coFire.keys()].sort((a, b) => a - b)) {
    const f = f1Of(st, latentFires, j);
    if (f > bestF1) {
      bestF1 = f;
      best = j;
    }
  }
  const mainByF1 = best === null ? null : { latent: best, decoderCos: st.cosToParent[best]!, f1: bestF1 };
  const mainAgree = best === null || st.main.includes(best);
  const silentAlone = ratio(st.silentAlone, st.nAlone);
  const meanMainAlone = ratio(st.sumMainAlone, st.nAlone);
  const like = parentLike(st, o);
  const edges = st.edges.map((e) => finishEdge(st, e, silentAlone, meanMainAlone, mainAgree ? null : best, like, nFeatures, g, o));
  return {
    parent: p,
    children: st.children,
    nSamples: st.n,
    nAlone: st.nAlone,
    mainLatents,
    mainByF1,
    mainAgree,
    edges,
    mean: {
      fullAbsorption: meanOf(edges.map((e) => e.fullAbsorption)),
      partialRatio: meanOf(edges.map((e) => e.partialRatio)),
      belowHalfShare: meanOf(edges.map((e) => e.belowHalfShare)),
      absorptionGap: meanOf(edges.map((e) => e.absorptionGap)),
    },
    saebench: st.saebench.result(),
  };
}

function finishEdge(
  st: ParentState,
  e: EdgeState,
  silentAlone: number | null,
  meanMainAlone: number | null,
  f1Main: number | null,
  like: readonly number[],
  nFeatures: number,
  g: Geometry,
  o: EvalOptions,
): EdgeAbsorption {
  const c = e.child;
  const silentWithChild = ratio(e.silent, e.n);
  const meanMainWithChild = ratio(e.sumMain, e.n);
  let belowHalfShare: number | null = null;
  if (meanMainAlone !== null && e.n > 0) {
    const half = 0.5 * meanMainAlone;
    belowHalfShare = e.mainValues.filter((v) => v > 0 && v < half).length / e.n;
  }
  const pOff = ratio(e.mainFiresOff, e.nOff);
  const pOn = ratio(e.mainFiresOn, e.n);
  const absorbers: Absorber[] = [];
  for (const [j, s] of e.latents) {
    const cosP = st.cosToParent[j]!;
    if (st.main.includes(j) || !(cosP > 0) || cosP < o.absorberMinCos) continue;
    const projectionShare = e.sumProbe > 0 ? (s.sumAct * cosP) / e.sumProbe : 0;
    if (projectionShare < o.absorberMinShare) continue;
    absorbers.push({
      latent: j,
      decoderCosParent: cosP,
      decoderCosChild: g.decoderCos[j * nFeatures + c]!,
      firingRate: s.fires / e.n,
      firingRateWhenMainSilent: ratio(s.firesMainSilent, e.silent),
      projectionShare,
    });
  }
  absorbers.sort((a, b) => b.projectionShare - a.projectionShare || a.latent - b.latent);
  let fullAbsorptionByF1Main: number | null = null;
  if (f1Main !== null && e.n > 0 && st.nAlone > 0) {
    const silentWith = 1 - (e.latents.get(f1Main)?.fires ?? 0) / e.n;
    const silentAloneF1 = 1 - (st.firesAlone.get(f1Main) ?? 0) / st.nAlone;
    fullAbsorptionByF1Main = silentWith - silentAloneF1;
  }
  const parentLikeLatents: ParentLikeLatent[] = like.map((j) => {
    const silentWith = e.n > 0 ? 1 - (e.latents.get(j)?.fires ?? 0) / e.n : null;
    const silentAloneJ = st.nAlone > 0 ? 1 - (st.firesAlone.get(j) ?? 0) / st.nAlone : null;
    return {
      latent: j,
      decoderCos: st.cosToParent[j]!,
      silentWithChild: silentWith,
      silentAlone: silentAloneJ,
      fullAbsorption: silentWith !== null && silentAloneJ !== null ? silentWith - silentAloneJ : null,
    };
  });
  return {
    parent: st.parent,
    child: c,
    nSamples: e.n,
    silentWithChild,
    silentAlone,
    fullAbsorption: silentWithChild !== null && silentAlone !== null ? silentWithChild - silentAlone : null,
    meanMainWithChild,
    meanMainAlone,
    partialRatio: meanMainWithChild !== null && meanMainAlone !== null && meanMainAlone > 0 ? meanMainWithChild / meanMainAlone : null,
    belowHalfShare,
    pMainFiresChildOff: pOff,
    pMainFiresChildOn: pOn,
    absorptionGap: pOff !== null && pOn !== null ? pOff - pOn : null,
    encoderCosWithChild: st.main.map((m) => g.encoderCos[m * nFeatures + c]!),
    absorbers: absorbers.slice(0, o.maxAbsorbers),
    saebench: e.saebench.result(),
    fullAbsorptionByF1Main,
    parentLikeLatents,
  };
}

const fmt = (v: number) => v.toFixed(2);

/** One parent-like latent of a parent across its children (edge order), with means over the children where defined. */
export interface ParentLikeAcrossEdges {
  latent: number;
  decoderCos: number;
  silentAlone: number | null;
  silentWithChild: (number | null)[];
  meanSilentWithChild: number | null;
  meanFullAbsorption: number | null;
}

/** Returns each parent-like latent of `p` (the same set on every edge) with its per-child silence and mean full absorption. */
export function parentLikeByLatent(p: ParentAbsorption): ParentLikeAcrossEdges[] {
  return (p.edges[0]?.parentLikeLatents ?? []).map((l, k) => {
    const per = p.edges.map((e) => e.parentLikeLatents[k]!);
    return {
      latent: l.latent,
      decoderCos: l.decoderCos,
      silentAlone: l.silentAlone,
      silentWithChild: per.map((x) => x.silentWithChild),
      meanSilentWithChild: meanOf(per.map((x) => x.silentWithChild)),
      meanFullAbsorption: meanOf(per.map((x) => x.fullAbsorption)),
    };
  });
}

/** Returns plain sentences for every place where absorption measures disagree or are undefined. */
export function absorptionNotes(a: Absorption, o: EvalOptions): string[] {
  const tolerance = o.disagreementTolerance;
  const share = Math.round(100 * o.saebench.projectionShareThreshold);
  const notes: string[] = [];
  for (const p of a.parents) {
    const main = p.mainLatents[0];
    if (main && main.decoderCos < 0.5) {
      notes.push(`parent ${p.parent}: no latent's decoder row is close to the parent direction (best cosine ${fmt(main.decoderCos)}), so its "main latent" is a weak notion.`);
    }
    if (!p.mainAgree && p.mainByF1 && main) {
      const alt = p.edges.map((e) => `child ${e.child}: ${e.fullAbsorptionByF1Main === null ? "n/a" : fmt(e.fullAbsorptionByF1Main)}`).join(", ");
      notes.push(
        `parent ${p.parent}: the main latent by decoder cosine (latent ${main.latent}, cosine ${fmt(main.decoderCos)}, F1 ${fmt(main.f1)}) is not the latent that best tracks the parent's firing (latent ${p.mainByF1.latent}, F1 ${fmt(p.mainByF1.f1)}, cosine ${fmt(p.mainByF1.decoderCos)}); with that latent as main, full absorption would be ${alt}.`,
      );
    }
    for (const l of parentLikeByLatent(p)) {
      if (l.meanFullAbsorption === null || l.meanFullAbsorption <= tolerance) continue;
      const pct = (v: number | null) => (v === null ? "n/a" : `${Math.round(100 * v)}%`);
      notes.push(
        `parent ${p.parent}: besides main latent ${main?.latent ?? "?"}, latent ${l.latent} (decoder cosine ${fmt(l.decoderCos)}) also carries the parent and is absorbed: ` +
          `silent on ${l.silentWithChild.map((v, i) => `${pct(v)} (child ${p.edges[i]!.child})`).join(", ")} of child samples against ${pct(l.silentAlone)} when the parent fires alone ` +
          `(full absorption ${fmt(l.meanFullAbsorption)} averaged over children); the main-latent measure does not count it.`,
      );
    }
    if (p.nAlone === 0) notes.push(`parent ${p.parent}: it never fired without a child, so full and partial absorption (measured against parent-alone samples) are undefined.`);
    for (const e of p.edges) {
      if (e.nSamples === 0) {
        notes.push(`parent ${p.parent} / child ${e.child}: they never fired together in the evaluation set; this edge is unmeasured.`);
        continue;
      }
      const sb = e.saebench.fullAbsorption;
      if (e.fullAbsorption !== null && sb !== null && Math.abs(e.fullAbsorption - sb) > tolerance) {
        notes.push(
          `parent ${p.parent} / child ${e.child}: full absorption is ${fmt(e.fullAbsorption)} by main-latent silence but ${fmt(sb)} by SAEBench's rule (which also needs one other latent to carry at least ${share}% of the parent projection).`,
        );
      }
      if (e.fullAbsorption !== null && e.absorptionGap !== null && Math.abs(e.fullAbsorption - e.absorptionGap) > tolerance) {
        notes.push(
          `parent ${p.parent} / child ${e.child}: the absorption gap (${fmt(e.absorptionGap)}) and full absorption (${fmt(e.fullAbsorption)}) differ because the main latent also behaves differently when a sibling child fires.`,
        );
      }
    }
  }
  return notes;
}
