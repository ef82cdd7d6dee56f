/**
 * Post-hoc un-absorption, exact in the reconstruction. For a detected pair (parent P, absorber A) with
 * decoder rows d_P, d_A:
 *   c = (d_A . d_P) / |d_P|^2          the parent's component in the absorber's row
 *   r = d_A - c d_P,  s = |r| / |d_A|  what the absorber adds, and its scale
 *   new d_A = r / s                    (same norm as before)
 *   new a_P = a_P + c a_A,  new a_A = s a_A
 * so that new a_P d_P + new a_A (r / s) = a_P d_P + c a_A d_P + a_A r = a_P d_P + a_A d_A: every
 * reconstruction is unchanged (up to float rounding), while P now fires wherever A does with the
 * share of P's direction that A used to carry, closing P's recall holes.
 *
 * When the parent has near-duplicates (a group of latents with nearly parallel decoder rows),
 * the credit is shared: c_k = w_k (d_A . u_P) / |d_k| for member k with weight w_k (its firing rate
 * share) and u_P the lead parent's unit row, and r = d_A - sum_k c_k d_k; the argument above holds
 * term by term, so the split is exact whatever the weights.
 *
 * The transform is applied to the latents after the SAE's own nonlinearity, so it works for every
 * architecture; it is not expressible in SAELens's encoder formula (the new parent activation is a sum
 * of two ReLUs), which is why saving goes through a refit encoder (refit.ts). Each absorber credits one
 * parent (group), and no latent is both a parent and an absorber (no chains), so the map stays a
 * single step that is easy to invert and to reason about.
 */
import { z } from "zod";
import { emptySparse, reserveSparse, type Kernels, type SparseRows } from "../tensor/kernels.js";
import { referenceKernels } from "../tensor/reference.js";
import type { ArchitectureId, SaeModel } from "../sae/types.js";
import type { Detection } from "./schemas.js";

export const TransferSchema = z.object({
  absorber: z.number().int().min(0),
  parents: z
    .array(z.number().int().min(0))
    .min(1)
    .describe("The parent latent, or its group of near-duplicates (parallel decoder rows), which share the credit."),
  weights: z.array(z.number().positive()).min(1).describe("Share of the credit each parent receives (sums to 1)."),
  score: z.number().describe("The detector's score of the pair."),
});
export type Transfer = z.infer<typeof TransferSchema>;

export const MitigationPlanSchema = z.object({
  transfers: z.array(TransferSchema).describe("Absorbers to un-absorb: each absorber once, no latent both parent and absorber."),
  skipped: z.array(z.object({ parent: z.number().int(), absorber: z.number().int(), reason: z.string() })),
});
export type MitigationPlan = z.infer<typeof MitigationPlanSchema>;

/**
 * Returns the absorbers to un-absorb: confident absorption pairs by score, each absorber crediting the
 * duplicate group of its best parent (weighted by the members' firing rates), skipping pairs that
 * would form chains (a latent both parent and absorber).
 */
export function planMitigation(det: Detection, minScore?: number): MitigationPlan {
  const transfers: Transfer[] = [];
  const skipped: MitigationPlan["skipped"] = [];
  const parents = new Set<number>();
  const absorbers = new Set<number>();
  const groupOf = new Map<number, number[]>();
  for (const g of det.hierarchy.duplicates) for (const j of g) groupOf.set(j, g);
  const rate = new Map(det.latents.map((l) => [l.latent, l.firingRate]));
  for (const p of det.pairs) {
    if (p.kind !== "absorption" || !p.confident || (minScore !== undefined && p.score < minScore)) continue;
    const group = groupOf.get(p.parent) ?? [p.parent];
    let reason: string | null = null;
    if (absorbers.has(p.absorber)) reason = "the absorber already gives its parent component to a higher-scoring parent";
    else if (parents.has(p.absorber)) reason = "the absorber is itself a parent in the plan (chains are not un-absorbed)";
    else if (group.some((j) => absorbers.has(j))) reason = "the parent is itself an absorber in the plan (chains are not un-absorbed)";
    else if (group.includes(p.absorber)) reason = "the absorber is a near-duplicate of the parent";
    if (reason) {
      skipped.push({ parent: p.parent, absorber: p.absorber, reason });
      continue;
    }
    // The best-scoring parent first: the wrapper measures the coefficient along its row.
    const members = [p.parent, ...group.filter((j) => j !== p.parent)];
    const raw = members.map((j) => Math.max(rate.get(j) ?? 0, 1e-12));
    const total = raw.reduce((a, b) => a + b, 0);
    transfers.push({ absorber: p.absorber, parents: members, weights: raw.map((v) => v / total), score: p.score });
    for (const j of members) parents.add(j);
    absorbers.add(p.absorber);
  }
  return { transfers, skipped };
}

/** One applied transfer: the coefficient each parent is credited with, and the absorber's scale s. */
export interface AppliedTransfer extends Transfer {
  coefficients: number[];
  scale: number;
}

/** Below this residual scale the absorber is (nearly) parallel to its parent: moving it out would blow up its row. */
const MIN_SCALE = 1e-3;

/** An SAE with absorbed parent components moved back to their parents; reconstructions are the base SAE's. */
export class UnabsorbedSae implements SaeModel {
  readonly architecture: ArchitectureId;
  readonly tied = false;
  readonly dIn: number;
  readonly dSae: number;
  readonly W_dec: Float32Array;
  readonly b_enc: Float32Array;
  readonly b_dec: Float32Array;
  readonly threshold?: Float32Array;
  readonly applyBDecToInput?: boolean;
  readonly transfers: readonly AppliedTransfer[];
  /** [dSae]: the absorber's scale s (1 elsewhere). */
  readonly scale: Float32Array;
  /** [dSae]: for an absorber, the parents it credits and their coefficients (null elsewhere). */
  readonly creditOf: ({ parents: number[]; coefficients: number[] } | null)[];

  constructor(
    readonly base: SaeModel,
    plan: MitigationPlan,
    private readonly kernels: Kernels = referenceKernels(),
  ) {
    const n = (this.dIn = base.dIn);
    const d = (this.dSae = base.dSae);
    this.architecture = base.architecture;
    if (base.applyBDecToInput !== undefined) this.applyBDecToInput = base.applyBDecToInput;
    this.W_dec = Float32Array.from(base.W_dec);
    this.scale = new Float32Array(d).fill(1);
    this.creditOf = new Array<{ parents: number[]; coefficients: number[] } | null>(d).fill(null);
    const applied: AppliedTransfer[] = [];
    const isParent = new Set<number>();
    for (const t of plan.transfers) {
      const a = t.absorber;
      if (t.parents.length !== t.weights.length) throw new Error(`unabsorb: absorber ${a} has ${t.parents.length} parents but ${t.weights.length} weights`);
      for (const p of [a, ...t.parents]) if (!Number.isInteger(p) || p < 0 || p >= d) throw new Error(`unabsorb: latent ${p} does not exist in a ${d}-latent SAE`);
      if (t.parents.includes(a)) throw new Error(`unabsorb: latent ${a} cannot be its own parent`);
      if (this.creditOf[a]) throw new Error(`unabsorb: latent ${a} is the absorber of two transfers`);
      if (isParent.has(a) || t.parents.some((p) => this.creditOf[p])) throw new Error(`unabsorb: absorber ${a} forms a chain with another transfer`);
      const row = (j: number) => base.W_dec.subarray(j * n, (j + 1) * n);
      const norm = (v: Float32Array) => Math.sqrt(v.reduce((acc, x) => acc + x * x, 0));
      const dA = row(a);
      const lead = row(t.parents[0]!);
      const leadNorm = norm(lead);
      const aNorm = norm(dA);
      if (!(leadNorm > 0) || !(aNorm > 0)) throw new Error(`unabsorb: latent ${leadNorm > 0 ? a : t.parents[0]} has a zero decoder row`);
      // Length of the absorber's row along the lead parent's unit row, shared among the group.
      let along = 0;
      for (let i = 0; i < n; i++) along += (dA[i]! * lead[i]!) / leadNorm;
      const coefficients = t.parents.map((p, k) => {
        const pn = norm(row(p));
        if (!(pn > 0)) throw new Error(`unabsorb: latent ${p} has a zero decoder row`);
        return (t.weights[k]! * along) / pn;
      });
      const r = Float64Array.from(dA);
      t.parents.forEach((p, k) => {
        const dp = row(p);
        for (let i = 0; i < n; i++) r[i]! -= coefficients[k]! * dp[i]!;
      });
      const s = Math.sqrt(r.reduce((acc, x) => acc + x * x, 0)) / aNorm;
      if (!(s > MIN_SCALE)) throw new Error(`unabsorb: latent ${a}'s decoder row is parallel to its parent's (near-duplicates, not absorption)`);
      for (let i = 0; i < n; i++) this.W_dec[a * n + i] = r[i]! / s;
      this.scale[a] = s;
      this.creditOf[a] = { parents: [...t.parents], coefficients };
      for (const p of t.parents) isParent.add(p);
      applied.push({ ...t, coefficients, scale: s });
    }
    this.transfers = applied;
    this.b_dec = base.b_dec;
    this.b_enc = Float32Array.from(base.b_enc, (v, j) => v * this.scale[j]!);
    if (base.threshold) this.threshold = Float32Array.from(base.threshold, (v, j) => v * this.scale[j]!);
  }

  /** Returns the base encoder with each absorber's column scaled by s (parents' columns unchanged: their new activation is not one linear read-out). */
  encoderWeights(): Float32Array {
    const e = this.base.encoderWeights();
    const d = this.dSae;
    for (const t of this.transfers) for (let i = 0; i < this.dIn; i++) e[i * d + t.absorber] = e[i * d + t.absorber]! * t.scale;
    return e;
  }

  /** Returns the base pre-activations with each absorber's scaled by s. */
  preActivations(x: Float32Array, batch: number, out?: Float32Array): Float32Array {
    const pre = this.base.preActivations(x, batch, out);
    const d = this.dSae;
    for (let r = 0; r < batch; r++) for (const t of this.transfers) pre[r * d + t.absorber] = pre[r * d + t.absorber]! * t.scale;
    return pre;
  }

  /** Returns the base latents with absorbers rescaled and their parent components credited to the parents. */
  encode(x: Float32Array, batch: number, out?: SparseRows): SparseRows {
    return this.transform(this.base.encode(x, batch), out);
  }

  /** Returns the transformed latents of base latents `acts` [rows, dSae]. */
  transform(acts: SparseRows, out?: SparseRows): SparseRows {
    const d = this.dSae;
    const res = out ?? emptySparse(acts.rows, d);
    // Each absorber entry adds at most its parents' entries.
    let most = 1;
    for (const c of this.creditOf) if (c) most = Math.max(most, c.parents.length + 1);
    reserveSparse(res, acts.rows, d, acts.nnz * most);
    const row = new Map<number, number>();
    let nnz = 0;
    res.rowPtr[0] = 0;
    for (let r = 0; r < acts.rows; r++) {
      row.clear();
      for (let e = acts.rowPtr[r]!; e < acts.rowPtr[r + 1]!; e++) {
        const j = acts.colIdx[e]!;
        row.set(j, (row.get(j) ?? 0) + acts.values[e]! * this.scale[j]!);
      }
      for (let e = acts.rowPtr[r]!; e < acts.rowPtr[r + 1]!; e++) {
        const j = acts.colIdx[e]!;
        const credit = this.creditOf[j];
        if (!credit || !(acts.values[e]! > 0)) continue;
        credit.parents.forEach((p, k) => row.set(p, (row.get(p) ?? 0) + credit.coefficients[k]! * acts.values[e]!));
      }
      const cols = [...row.keys()].sort((a, b) => a - b);
      for (const j of cols) {
        res.colIdx[nnz] = j;
        res.values[nnz] = row.get(j)!;
        nnz++;
      }
      res.rowPtr[r + 1] = nnz;
    }
    res.nnz = nnz;
    return res;
  }

  /** Returns the reconstruction [rows, dIn] = acts @ W_dec' + b_dec. */
  decode(acts: SparseRows, out?: Float32Array): Float32Array {
    const n = this.dIn;
    if (acts.cols !== this.dSae) throw new Error(`decode: latents have ${acts.cols} columns, the SAE has ${this.dSae}`);
    const y = out && out.length >= acts.rows * n ? out : new Float32Array(acts.rows * n);
    for (let r = 0; r < acts.rows; r++) y.set(this.b_dec, r * n);
    this.kernels.spmm(acts, this.W_dec, n, y, true);
    return y;
  }
}

/** Returns `sae` with the plan's absorbed parent components moved back to their parents (reconstructions unchanged). */
export function unabsorb(sae: SaeModel, plan: MitigationPlan, kernels?: Kernels): UnabsorbedSae {
  return new UnabsorbedSae(sae, plan, kernels);
}
