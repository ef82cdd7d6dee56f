/**
 * The data-driven signals, accumulated in two passes over unlabelled activation batches.
 *
 * Pass 1 (calibrate) measures each latent's reference level: the mean projection of (x - b_dec) on
 * its unit decoder row over the inputs where it fires. Pass 2 (add) then says, for every input and
 * latent, whether the latent's direction is present (projection >= presence x reference), whether the
 * latent is silent there (a recall hole), and which other firing latents carry that projection
 * (activation x decoder norm x decoder cosine, as SAEBench attributes a probe projection to latents).
 * The same counts are kept per ordered candidate pair (parent P, absorber A), over A's firings.
 */
import type { Kernels, SparseRows } from "../tensor/kernels.js";
import type { SaeModel } from "../sae/types.js";
import type { DecoderRows, Neighbors } from "./geometry.js";
import type { DetectOptions } from "./schemas.js";

/** Rows of an input batch handed to the gemm at once are capped so the projection block stays near 16 MB. */
const PROJECTION_BLOCK = 4_194_304;
/** A latent's mean projection on its firing inputs must reach this share of its own mean contribution. */
const REF_MIN_SHARE = 0.5;

/** Running counts of the detector (plain arrays, so they can be inspected in tests). */
export class DetectionStats {
  readonly d: number;
  readonly n: number;
  nSamples = 0;
  /** Per latent. */
  readonly nFire: Float64Array;
  readonly sumAct: Float64Array;
  readonly sumProjFiring: Float64Array;
  /** Sum of activation x decoder norm over firing inputs (what the latent adds along its own row). */
  readonly sumContribution: Float64Array;
  /**
   * Reference projection per latent: 0 when it never fired, or when its direction is barely visible in
   * the inputs it fires on (mean projection below REF_MIN_SHARE of what it adds along its row), as for
   * latents that only correct other latents' reconstructions: their recall is not defined.
   */
  readonly ref: Float64Array;
  readonly nPresent: Float64Array;
  readonly nHole: Float64Array;
  readonly nAbsorbedHole: Float64Array;
  readonly nPresentNoAbs: Float64Array;
  readonly nHoleNoAbs: Float64Array;
  readonly sumActNoAbs: Float64Array;
  /** carriers[P]: latent -> absorbed holes of P on which it carried the most. */
  readonly carriers: Map<number, number>[];
  /** Ordered pairs: pairStart[A] .. pairStart[A+1] index the pairs (neighbors[A][k], A). */
  readonly pairStart: Int32Array;
  readonly pairParent: Int32Array;
  readonly pairCos: Float32Array;
  readonly pairPresent: Float64Array;
  /** Sum over present inputs of min(1, projection / reference). */
  readonly pairPresentWeight: Float64Array;
  readonly pairHole: Float64Array;
  /** Absorbed holes, each weighted by min(1, projection / reference). */
  readonly pairAbsorbed: Float64Array;
  readonly pairShare: Float64Array;
  readonly pairCoFire: Float64Array;
  readonly pairSumActP: Float64Array;
  /** Co-firing counts of latent pairs, key min * dSae + max. */
  readonly coFire = new Map<number, number>();
  /** pairOf.get(A * dSae + P): index of the ordered pair (P, A). */
  private readonly pairOf = new Map<number, number>();
  private readonly act: Float32Array;
  private calibrated = false;

  constructor(
    private readonly sae: SaeModel,
    private readonly rows: DecoderRows,
    readonly neighbors: Neighbors,
    private readonly o: DetectOptions,
    private readonly kernels: Kernels,
  ) {
    const d = (this.d = sae.dSae);
    this.n = sae.dIn;
    const f = () => new Float64Array(d);
    this.nFire = f();
    this.sumAct = f();
    this.sumProjFiring = f();
    this.sumContribution = f();
    this.ref = f();
    this.nPresent = f();
    this.nHole = f();
    this.nAbsorbedHole = f();
    this.nPresentNoAbs = f();
    this.nHoleNoAbs = f();
    this.sumActNoAbs = f();
    this.carriers = Array.from({ length: d }, () => new Map<number, number>());
    this.pairStart = new Int32Array(d + 1);
    for (let a = 0; a < d; a++) this.pairStart[a + 1] = this.pairStart[a]! + neighbors.latents[a]!.length;
    const np = this.pairStart[d]!;
    this.pairParent = new Int32Array(np);
    this.pairCos = new Float32Array(np);
    for (let a = 0; a < d; a++) {
      const base = this.pairStart[a]!;
      neighbors.latents[a]!.forEach((p, k) => {
        this.pairParent[base + k] = p;
        this.pairCos[base + k] = neighbors.cos[a]![k]!;
        this.pairOf.set(a * d + p, base + k);
      });
    }
    const g = () => new Float64Array(np);
    this.pairPresent = g();
    this.pairPresentWeight = g();
    this.pairHole = g();
    this.pairAbsorbed = g();
    this.pairShare = g();
    this.pairCoFire = g();
    this.pairSumActP = g();
    this.act = new Float32Array(d);
  }

  /** Number of ordered candidate pairs. */
  get nPairs(): number {
    return this.pairStart[this.d]!;
  }

  /** Pass 1: adds a batch's firing counts and projections on firing inputs. */
  calibrate(x: Float32Array, batch: number, latents: SparseRows): void {
    if (this.calibrated) throw new Error("DetectionStats: calibrate after finishCalibration");
    this.forEachChunk(x, batch, (r0, rowsInChunk, proj) => {
      for (let r = 0; r < rowsInChunk; r++) {
        const row = r0 + r;
        for (let e = latents.rowPtr[row]!; e < latents.rowPtr[row + 1]!; e++) {
          const v = latents.values[e]!;
          if (!(v > 0)) continue;
          const j = latents.colIdx[e]!;
          this.nFire[j]! += 1;
          this.sumAct[j]! += v;
          this.sumProjFiring[j]! += proj[r * this.d + j]!;
          this.sumContribution[j]! += v * this.rows.norms[j]!;
        }
      }
    });
    this.nSamples += batch;
  }

  /** Ends pass 1: fixes each latent's reference projection. */
  finishCalibration(): void {
    for (let j = 0; j < this.d; j++) {
      const m = this.nFire[j]! > 0 ? this.sumProjFiring[j]! / this.nFire[j]! : 0;
      const contribution = this.nFire[j]! > 0 ? this.sumContribution[j]! / this.nFire[j]! : 0;
      this.ref[j] = m > 0 && m >= REF_MIN_SHARE * contribution ? m : 0;
    }
    this.calibrated = true;
  }

  /** Pass 2: adds a batch's recall holes, carriers, pair counts and co-firing counts. */
  add(x: Float32Array, batch: number, latents: SparseRows): void {
    if (!this.calibrated) throw new Error("DetectionStats: add before finishCalibration");
    const { d, o, act, pairOf, rows } = this;
    const order: number[] = [];
    this.forEachChunk(x, batch, (r0, rowsInChunk, proj) => {
      for (let r = 0; r < rowsInChunk; r++) {
        const row = r0 + r;
        const e0 = latents.rowPtr[row]!;
        const e1 = latents.rowPtr[row + 1]!;
        for (let e = e0; e < e1; e++) if (latents.values[e]! > 0) act[latents.colIdx[e]!] = latents.values[e]!;
        const po = r * d;
        // Recall holes of every latent whose direction is present.
        for (let p = 0; p < d; p++) {
          const ref = this.ref[p]!;
          if (!(ref > 0)) continue;
          const pr = proj[po + p]!;
          if (pr < o.presence * ref) continue;
          this.nPresent[p]! += 1;
          let carried = 0;
          let top = -1;
          let topCarried = 0;
          for (let e = e0; e < e1; e++) {
            const a = latents.colIdx[e]!;
            const v = latents.values[e]!;
            if (!(v > 0) || a === p) continue;
            const k = pairOf.get(a * d + p);
            if (k === undefined || this.pairCos[k]! >= o.duplicateCos) continue;
            const c = v * rows.norms[a]! * this.pairCos[k]!;
            carried += c;
            if (c > topCarried) {
              topCarried = c;
              top = a;
            }
          }
          const silent = !(act[p]! > 0);
          if (top < 0) {
            this.nPresentNoAbs[p]! += 1;
            this.sumActNoAbs[p]! += act[p]!;
            if (silent) this.nHoleNoAbs[p]! += 1;
          }
          if (!silent) continue;
          this.nHole[p]! += 1;
          if (top >= 0 && carried >= o.projectionShare * pr) {
            this.nAbsorbedHole[p]! += 1;
            const m = this.carriers[p]!;
            m.set(top, (m.get(top) ?? 0) + 1);
          }
        }
        // Ordered pairs (P, A) over A's firings.
        order.length = 0;
        for (let e = e0; e < e1; e++) {
          const a = latents.colIdx[e]!;
          const v = latents.values[e]!;
          if (!(v > 0)) continue;
          order.push(a);
          for (let k = this.pairStart[a]!; k < this.pairStart[a + 1]!; k++) {
            const p = this.pairParent[k]!;
            if (act[p]! > 0) this.pairCoFire[k]! += 1;
            const ref = this.ref[p]!;
            const pr = proj[po + p]!;
            if (!(ref > 0) || pr < o.presence * ref) continue;
            // How fully P's usual level is present: a weak occurrence is a smaller hole.
            const w = Math.min(1, pr / ref);
            this.pairPresent[k]! += 1;
            this.pairPresentWeight[k]! += w;
            this.pairSumActP[k]! += act[p]!;
            const share = (v * rows.norms[a]! * this.pairCos[k]!) / pr;
            this.pairShare[k]! += Math.min(1, Math.max(0, share));
            if (!(act[p]! > 0)) {
              this.pairHole[k]! += 1;
              if (share >= o.projectionShare) this.pairAbsorbed[k]! += w;
            }
          }
        }
        this.countCoFiring(order);
        for (let e = e0; e < e1; e++) act[latents.colIdx[e]!] = 0;
      }
    });
  }

  private countCoFiring(active: number[]): void {
    const { d, act } = this;
    let list = active;
    if (list.length > this.o.maxCoActive) list = [...list].sort((a, b) => act[b]! - act[a]! || a - b).slice(0, this.o.maxCoActive);
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length; j++) {
        const a = list[i]!;
        const b = list[j]!;
        const key = a < b ? a * d + b : b * d + a;
        this.coFire.set(key, (this.coFire.get(key) ?? 0) + 1);
      }
    }
  }

  /** Returns how often latents a and b fired on the same input. */
  coFireCount(a: number, b: number): number {
    return this.coFire.get(a < b ? a * this.d + b : b * this.d + a) ?? 0;
  }

  /** Runs `fn` over blocks of rows with proj [rows, dSae] = (x - b_dec) @ unit decoder rows^T. */
  private forEachChunk(x: Float32Array, batch: number, fn: (r0: number, rows: number, proj: Float32Array) => void): void {
    const { n, d } = this;
    if (x.length < batch * n) throw new Error(`activation batch has ${x.length} values, expected ${batch} x ${n}`);
    const chunk = Math.max(1, Math.min(batch, Math.floor(PROJECTION_BLOCK / Math.max(d, n))));
    const xc = new Float32Array(chunk * n);
    const proj = new Float32Array(chunk * d);
    const bDec = this.sae.b_dec;
    for (let r0 = 0; r0 < batch; r0 += chunk) {
      const m = Math.min(chunk, batch - r0);
      for (let r = 0; r < m; r++) for (let i = 0; i < n; i++) xc[r * n + i] = x[(r0 + r) * n + i]! - bDec[i]!;
      this.kernels.gemm({ a: xc.subarray(0, m * n), b: this.rows.unit, out: proj.subarray(0, m * d), m, n: d, k: n, transB: true });
      fn(r0, m, proj);
    }
  }
}
