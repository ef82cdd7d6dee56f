/**
 * Feature absorption against a known hierarchy, accumulated over batches. For every parent feature
 * and each of its children it tracks how the parent's main latent(s) behave when the child fires
 * versus when the parent fires alone, which other latents carry the parent direction instead, and
 * SAEBench's per-sample scores with the true parent direction as the probe.
 *
 * Conventions: a latent "fires" when its activation is > 0; "parent alone" means the parent fires
 * and none of its children does; the absorption gap's "child off" means this child is off (a
 * sibling may fire), so the gap differs from the full-absorption rate exactly by what siblings do.
 */
import type { SparseRows } from "../tensor/kernels.js";
import type { WorldTruth } from "../toy/types.js";
import { saebenchSample, SaebenchTally } from "./saebench.js";
import { finishAbsorption, type EdgeState, type ParentState } from "./absorption-finish.js";
import type { Absorption, EvalOptions } from "./schemas.js";

/** The geometry the absorption metrics need: [dSae, nFeatures] decoder and encoder cosines. */
export interface AbsorptionGeometry {
  dSae: number;
  decoderCos: ArrayLike<number>;
  encoderCos: ArrayLike<number>;
}

/** Returns the `k` latents with the highest decoder cosine to feature `f` (lowest index first on ties). */
export function topLatentsByCos(decoderCos: ArrayLike<number>, dSae: number, nFeatures: number, f: number, k: number): number[] {
  const order = Array.from({ length: dSae }, (_, j) => j);
  order.sort((a, b) => decoderCos[b * nFeatures + f]! - decoderCos[a * nFeatures + f]! || a - b);
  return order.slice(0, Math.min(k, dSae));
}

/** Streams batches and returns the absorption of every parent/child edge of the world's hierarchy. */
export class AbsorptionAccumulator {
  private readonly parents: ParentState[] = [];
  /** [nFeatures]: slot in `parents`, or -1. */
  private readonly slotOf: Int32Array;
  private readonly latentFires: Float64Array;
  private readonly featOn: Uint8Array;
  private readonly act: Float64Array;
  private readonly dIn: number;

  constructor(
    private readonly truth: WorldTruth,
    private readonly geom: AbsorptionGeometry,
    private readonly options: EvalOptions,
  ) {
    const { nFeatures, dModel } = truth;
    this.dIn = dModel;
    this.slotOf = new Int32Array(nFeatures).fill(-1);
    this.latentFires = new Float64Array(geom.dSae);
    this.featOn = new Uint8Array(nFeatures);
    this.act = new Float64Array(geom.dSae);
    for (let p = 0; p < nFeatures; p++) {
      const children = truth.children[p] ?? [];
      if (children.length === 0) continue;
      const probe = new Float64Array(dModel);
      let norm = 0;
      for (let k = 0; k < dModel; k++) norm += truth.featureVectors[p * dModel + k]! ** 2;
      norm = Math.sqrt(norm);
      if (!(norm > 0)) throw new Error(`absorption: feature ${p} has a zero direction`);
      for (let k = 0; k < dModel; k++) probe[k] = truth.featureVectors[p * dModel + k]! / norm;
      const cosToParent = new Float64Array(geom.dSae);
      for (let j = 0; j < geom.dSae; j++) cosToParent[j] = geom.decoderCos[j * nFeatures + p]!;
      const edges: EdgeState[] = children.map((c) => ({
        child: c,
        n: 0,
        silent: 0,
        sumMain: 0,
        mainValues: [],
        sumProbe: 0,
        latents: new Map(),
        nOff: 0,
        mainFiresOff: 0,
        mainFiresOn: 0,
        saebench: new SaebenchTally(),
      }));
      this.slotOf[p] = this.parents.length;
      this.parents.push({
        parent: p,
        children: [...children],
        main: topLatentsByCos(geom.decoderCos, geom.dSae, nFeatures, p, options.mainLatents),
        probe,
        cosToParent,
        n: 0,
        nAlone: 0,
        silentAlone: 0,
        sumMainAlone: 0,
        coFire: new Map(),
        firesAlone: new Map(),
        saebench: new SaebenchTally(),
        edges,
      });
    }
  }

  /** Adds a batch: inputs x [batch, dIn], latents [batch, dSae] and true features [batch, nFeatures] (sparse). */
  add(x: Float32Array, latents: SparseRows, features: SparseRows): void {
    const rows = latents.rows;
    if (features.rows !== rows || x.length < rows * this.dIn) throw new Error(`absorption: batch shapes disagree (${rows} latent rows, ${features.rows} feature rows)`);
    for (let e = 0; e < latents.nnz; e++) if (latents.values[e]! > 0) this.latentFires[latents.colIdx[e]!]! += 1;
    if (this.parents.length === 0) return;
    for (let r = 0; r < rows; r++) {
      const f0 = features.rowPtr[r]!;
      const f1 = features.rowPtr[r + 1]!;
      const l0 = latents.rowPtr[r]!;
      const l1 = latents.rowPtr[r + 1]!;
      for (let e = f0; e < f1; e++) if (features.values[e]! > 0) this.featOn[features.colIdx[e]!] = 1;
      for (let e = l0; e < l1; e++) this.act[latents.colIdx[e]!] = latents.values[e]!;
      for (let e = f0; e < f1; e++) {
        const f = features.colIdx[e]!;
        const slot = this.slotOf[f]!;
        if (slot >= 0 && this.featOn[f]) this.addParentSample(this.parents[slot]!, x, r, latents, l0, l1);
      }
      for (let e = f0; e < f1; e++) this.featOn[features.colIdx[e]!] = 0;
      for (let e = l0; e < l1; e++) this.act[latents.colIdx[e]!] = 0;
    }
  }

  private addParentSample(st: ParentState, x: Float32Array, r: number, latents: SparseRows, l0: number, l1: number): void {
    let mainAct = 0;
    let mainFires = false;
    for (const m of st.main) {
      const a = this.act[m]!;
      if (a > 0) {
        mainAct += a;
        mainFires = true;
      }
    }
    let anyChild = false;
    for (const c of st.children) if (this.featOn[c]) anyChild = true;
    st.n++;
    for (let e = l0; e < l1; e++) if (latents.values[e]! > 0) bump(st.coFire, latents.colIdx[e]!);
    if (!anyChild) {
      st.nAlone++;
      if (!mainFires) st.silentAlone++;
      st.sumMainAlone += mainAct;
      for (let e = l0; e < l1; e++) if (latents.values[e]! > 0) bump(st.firesAlone, latents.colIdx[e]!);
    }
    let probeProj = 0;
    const o = r * this.dIn;
    for (let k = 0; k < this.dIn; k++) probeProj += x[o + k]! * st.probe[k]!;
    // SAEBench scores only probe-positive samples (its "probe true positives").
    const sb = probeProj > 0
      ? saebenchSample(probeProj, { idx: latents.colIdx, val: latents.values, start: l0, end: l1 }, st.cosToParent, st.main, this.options.saebench)
      : null;
    if (sb) st.saebench.add(sb);
    for (const edge of st.edges) {
      if (!this.featOn[edge.child]) {
        edge.nOff++;
        if (mainFires) edge.mainFiresOff++;
        continue;
      }
      edge.n++;
      if (mainFires) edge.mainFiresOn++;
      else edge.silent++;
      edge.sumMain += mainAct;
      edge.mainValues.push(mainAct);
      edge.sumProbe += probeProj;
      if (sb) edge.saebench.add(sb);
      for (let e = l0; e < l1; e++) {
        const v = latents.values[e]!;
        if (!(v > 0)) continue;
        const j = latents.colIdx[e]!;
        let s = edge.latents.get(j);
        if (!s) {
          s = { fires: 0, sumAct: 0, firesMainSilent: 0 };
          edge.latents.set(j, s);
        }
        s.fires++;
        s.sumAct += v;
        if (!mainFires) s.firesMainSilent++;
      }
    }
  }

  /** Returns the per-edge, per-parent and whole-SAE absorption results. */
  finish(): Absorption {
    return finishAbsorption(this.parents, this.latentFires, this.truth.nFeatures, this.geom, this.options);
  }
}

function bump(m: Map<number, number>, k: number): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}
