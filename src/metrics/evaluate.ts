/**
 * One pass over evaluation batches that feeds every metric: reconstruction, sparsity, true-feature
 * recovery and absorption. `SaeEvaluator` takes precomputed latents and reconstructions;
 * `evaluateSae` runs an SaeModel over a world's batches and feeds the evaluator.
 */
import type { z } from "zod";
import { parseConfig } from "../errors.js";
import { emptySparse, type Kernels, type SparseRows } from "../tensor/kernels.js";
import { referenceKernels } from "../tensor/reference.js";
import type { WorldBatch, WorldSampler, WorldTruth } from "../toy/types.js";
import type { SaeModel } from "../sae/types.js";
import { AbsorptionAccumulator } from "./absorption.js";
import { absorptionNotes } from "./absorption-finish.js";
import { saeGeometry, type SaeGeometry, type SaeWeights } from "./cosine.js";
import { ReconstructionAccumulator, SparsityAccumulator } from "./reconstruction.js";
import { bestMatches, ClassificationAccumulator, featureUniqueness, meanCorrelationCoefficient, type McResult } from "./recovery.js";
import { EvalOptionsSchema, SaeEvaluationSchema, type EvalOptions, type Heatmap, type SaeEvaluation } from "./schemas.js";

/** Options as a caller may write them (every field optional). */
export type EvalOptionsInput = z.input<typeof EvalOptionsSchema>;

/** One evaluation batch with the SAE's outputs already computed. */
export interface EvalBatch {
  batch: number;
  /** [batch, dIn] inputs. */
  x: Float32Array;
  /** [batch, dIn] reconstructions. */
  xHat: Float32Array;
  /** [batch, dSae] latent activations. */
  latents: SparseRows;
  /** [batch, nFeatures] true feature magnitudes. */
  features: SparseRows;
}

/** What the evaluator needs to know about the SAE besides its outputs. */
export interface EvaluatedSae extends SaeWeights {
  architecture: string;
  tied: boolean;
}

/** Accumulates every metric over batches; `finish()` returns the validated result. */
export class SaeEvaluator {
  readonly options: EvalOptions;
  private readonly geometry: SaeGeometry;
  private readonly match: McResult;
  private readonly best: Int32Array;
  private readonly recon: ReconstructionAccumulator;
  private readonly sparsity: SparsityAccumulator;
  private readonly classification: ClassificationAccumulator;
  private readonly absorption: AbsorptionAccumulator;
  private n = 0;

  /** `kernels` computes the cosine matrices (pass the native backend for wide SAEs). */
  constructor(
    private readonly sae: EvaluatedSae,
    private readonly truth: WorldTruth,
    options: EvalOptionsInput = {},
    kernels: Kernels = referenceKernels(),
  ) {
    this.options = parseConfig(EvalOptionsSchema, options, "evaluation options");
    if (sae.dIn !== truth.dModel) throw new Error(`the SAE's dIn (${sae.dIn}) differs from the world's dModel (${truth.dModel})`);
    this.geometry = saeGeometry(sae, truth.featureVectors, truth.nFeatures, kernels);
    this.match = meanCorrelationCoefficient(this.geometry.decoderCos, sae.dSae, truth.nFeatures, this.options.hungarianMaxWork);
    this.best = bestMatches(this.geometry.decoderCos, sae.dSae, truth.nFeatures);
    this.recon = new ReconstructionAccumulator(sae.dIn);
    this.sparsity = new SparsityAccumulator(sae.dSae);
    this.classification = new ClassificationAccumulator(this.best, truth.nFeatures);
    this.absorption = new AbsorptionAccumulator(truth, this.geometry, this.options);
  }

  /** Adds one batch of inputs, reconstructions, latents and true features. */
  add(b: EvalBatch): void {
    const { dIn, dSae } = this.sae;
    if (b.x.length !== b.batch * dIn || b.xHat.length < b.batch * dIn) throw new Error(`evaluation batch: x must be [${b.batch}, ${dIn}] and xHat at least as long`);
    if (b.latents.rows !== b.batch || b.latents.cols !== dSae) throw new Error(`evaluation batch: latents are [${b.latents.rows}, ${b.latents.cols}], expected [${b.batch}, ${dSae}]`);
    if (b.features.rows !== b.batch || b.features.cols !== this.truth.nFeatures) {
      throw new Error(`evaluation batch: true features are [${b.features.rows}, ${b.features.cols}], expected [${b.batch}, ${this.truth.nFeatures}]`);
    }
    // A NaN latent would silently count as "not firing" everywhere below.
    for (let e = 0; e < b.latents.nnz; e++) {
      if (!Number.isFinite(b.latents.values[e]!)) throw new Error(`evaluation batch: latent ${b.latents.colIdx[e]} has activation ${b.latents.values[e]} (after ${this.n} earlier samples)`);
    }
    this.recon.add(b.x, b.xHat, b.batch);
    this.sparsity.add(b.latents, b.features);
    this.classification.add(b.latents, b.features);
    this.absorption.add(b.x, b.latents, b.features);
    this.n += b.batch;
  }

  /** Returns every metric, validated against SaeEvaluationSchema. */
  finish(): SaeEvaluation {
    const { dSae } = this.sae;
    const nFeatures = this.truth.nFeatures;
    const sparsity = this.sparsity.finish(this.options.densityBinsPerDecade);
    const cls = this.classification.finish();
    const absorption = this.absorption.finish();
    const m = this.match;
    const notes: string[] = [];
    if (this.n === 0) notes.push("the evaluation set was empty: every sample-based metric is 0 or undefined.");
    if (m.method === "greedy") notes.push(`MCC used a greedy matching (the exact Hungarian matching of ${dSae} latents to ${nFeatures} features was too large); it can only underestimate the optimum.`);
    notes.push(...absorptionNotes(absorption, this.options));
    let encDec = 0;
    for (const v of this.geometry.encDecCos) encDec += v;
    const result: SaeEvaluation = {
      architecture: this.sae.architecture,
      tied: this.sae.tied,
      dIn: this.sae.dIn,
      dSae,
      nFeatures,
      nSamples: this.n,
      reconstruction: this.recon.finish(),
      sparsity: { ...sparsity, firingDensity: [...sparsity.firingDensity] },
      recovery: {
        mcc: m.mcc,
        matching: m.method,
        uniqueness: featureUniqueness(this.best),
        latentOfFeature: [...m.latentOfFeature],
        matchedCos: [...m.latentOfFeature].map((j, f) => (j >= 0 ? Math.abs(this.geometry.decoderCos[j * nFeatures + f]!) : null)),
        bestFeatureOfLatent: [...this.best],
        classification: {
          precision: cls.precision,
          recall: cls.recall,
          f1: cls.f1,
          accuracy: cls.accuracy,
          perLatent: { precision: [...cls.perLatent.precision], recall: [...cls.perLatent.recall], f1: [...cls.perLatent.f1] },
        },
      },
      latents: { encDecCos: [...this.geometry.encDecCos], meanEncDecCos: dSae > 0 ? encDec / dSae : 0 },
      heatmap: buildHeatmap(this.geometry, m, this.best, this.truth, this.options),
      absorption,
      notes,
    };
    return SaeEvaluationSchema.parse(result);
  }
}

/** Returns every metric for `sae` over the given world batches (consumed once, one batch at a time). */
export function evaluateSae(sae: SaeModel, truth: WorldTruth, batches: Iterable<WorldBatch>, options: EvalOptionsInput = {}, kernels?: Kernels): SaeEvaluation {
  return evaluateSaes([sae], truth, batches, options, kernels)[0]!;
}

/**
 * Returns every metric for each SAE, all measured on the same batches in one pass (the batches are
 * drawn once and shown to every SAE, so a comparison never depends on sampling differences).
 */
export function evaluateSaes(saes: readonly SaeModel[], truth: WorldTruth, batches: Iterable<WorldBatch>, options: EvalOptionsInput = {}, kernels?: Kernels): SaeEvaluation[] {
  const runs = saes.map((sae) => ({
    sae,
    ev: new SaeEvaluator({ architecture: sae.architecture, tied: sae.tied, dIn: sae.dIn, dSae: sae.dSae, W_dec: sae.W_dec, W_enc: sae.encoderWeights() }, truth, options, kernels),
    latents: emptySparse(0, sae.dSae),
    xHat: new Float32Array(0) as Float32Array,
  }));
  for (const b of batches) {
    for (const r of runs) {
      if (b.dModel !== r.sae.dIn) throw new Error(`world batch has dModel ${b.dModel}, the SAE expects dIn ${r.sae.dIn}`);
      r.latents = r.sae.encode(b.acts, b.batch, r.latents);
      if (r.xHat.length !== b.batch * r.sae.dIn) r.xHat = new Float32Array(b.batch * r.sae.dIn);
      r.xHat = r.sae.decode(r.latents, r.xHat);
      r.ev.add({ batch: b.batch, x: b.acts, xHat: r.xHat, latents: r.latents, features: b.features });
    }
  }
  return runs.map((r) => r.ev.finish());
}

/** Yields `n` samples from a world sampler in batches of at most `batchSize` (the last one may be smaller). */
export function* sampleBatches(sampler: WorldSampler, n: number, batchSize = 4096): Generator<WorldBatch> {
  if (!Number.isInteger(n) || n < 0) throw new Error(`sampleBatches: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`sampleBatches: batchSize must be a positive integer, got ${batchSize}`);
  for (let done = 0; done < n; done += batchSize) yield sampler.next(Math.min(batchSize, n - done));
}

/** Returns a JSON string of an evaluation (typed arrays already converted; nulls mark undefined rates). */
export function evaluationToJson(e: SaeEvaluation): string {
  return JSON.stringify(e);
}

/** Returns an evaluation parsed and validated from JSON, throwing on a shape mismatch. */
export function evaluationFromJson(text: string): SaeEvaluation {
  return parseConfig(SaeEvaluationSchema, JSON.parse(text) as unknown, "SAE evaluation JSON");
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** Returns the heatmap block: features (hierarchy first when there are too many) and latents ordered by matched feature. */
export function buildHeatmap(g: SaeGeometry, m: McResult, best: Int32Array, truth: WorldTruth, o: EvalOptions): Heatmap {
  const nF = truth.nFeatures;
  let features = Array.from({ length: nF }, (_, f) => f);
  if (nF > o.heatmapMaxFeatures) {
    const inTree = (f: number) => truth.parent[f]! >= 0 || (truth.children[f]?.length ?? 0) > 0;
    features = [...features.filter(inTree), ...features.filter((f) => !inTree(f))].slice(0, o.heatmapMaxFeatures).sort((a, b) => a - b);
  }
  const column = new Map(features.map((f, i) => [f, i]));
  const latents: number[] = [];
  const taken = new Uint8Array(g.dSae);
  const take = (j: number) => {
    if (taken[j] || latents.length >= o.heatmapMaxLatents) return;
    taken[j] = 1;
    latents.push(j);
  };
  for (const f of features) if (m.latentOfFeature[f]! >= 0) take(m.latentOfFeature[f]!);
  // Unmatched latents next to the feature they resemble most, strongest first.
  const rest = Array.from({ length: g.dSae }, (_, j) => j).filter((j) => !taken[j] && column.has(best[j]!));
  const absCos = (j: number) => Math.abs(g.decoderCos[j * nF + best[j]!]!);
  rest.sort((a, b) => column.get(best[a]!)! - column.get(best[b]!)! || absCos(b) - absCos(a) || a - b);
  for (const j of rest) take(j);
  for (let j = 0; j < g.dSae; j++) take(j);
  const grid = (mat: Float32Array) => latents.map((j) => features.map((f) => round4(mat[j * nF + f]!)));
  return {
    features,
    latents,
    decoder: grid(g.decoderCos),
    encoder: grid(g.encoderCos),
    truncated: features.length < nF || latents.length < g.dSae,
  };
}
