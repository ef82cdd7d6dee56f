/**
 * What a world's samples actually show about its hierarchy: per parent -> child edge, the measured
 * marginals, P(child | parent) and mean magnitudes beside the configured values, so a sweep's report
 * can show that each axis moved what it claims to move.
 */
import type { WorldBatch } from "../toy/types.js";
import type { ToyWorld } from "../toy/world.js";
import { MAX_STORED_EDGES, type WorldStats } from "./sweep-results.js";

/** Accumulates firing counts and magnitudes over batches; `finish()` returns the stats. */
export class WorldStatsAccumulator {
  private readonly edges: { parent: number; child: number }[];
  private readonly fires: Float64Array;
  private readonly magnitude: Float64Array;
  private readonly both: Float64Array;
  private readonly value: Float32Array;
  /** [nFeatures]: the edge whose child is this feature, or -1 (a feature has at most one parent). */
  private readonly edgeOfChild: Int32Array;
  private n = 0;
  private active = 0;

  constructor(private readonly world: ToyWorld) {
    this.edges = world.children.flatMap((kids, parent) => kids.map((child) => ({ parent, child })));
    this.fires = new Float64Array(world.nFeatures);
    this.magnitude = new Float64Array(world.nFeatures);
    this.both = new Float64Array(this.edges.length);
    this.value = new Float32Array(world.nFeatures);
    this.edgeOfChild = new Int32Array(world.nFeatures).fill(-1);
    this.edges.forEach((e, k) => (this.edgeOfChild[e.child] = k));
  }

  /** Adds one batch's true features. */
  add(b: WorldBatch): void {
    const f = b.features;
    for (let r = 0; r < f.rows; r++) {
      const lo = f.rowPtr[r]!;
      const hi = f.rowPtr[r + 1]!;
      this.active += hi - lo;
      for (let e = lo; e < hi; e++) {
        const i = f.colIdx[e]!;
        this.fires[i]! += 1;
        this.magnitude[i]! += f.values[e]!;
        this.value[i] = f.values[e]!;
      }
      for (let e = lo; e < hi; e++) {
        const k = this.edgeOfChild[f.colIdx[e]!]!;
        if (k >= 0 && this.value[this.edges[k]!.parent]! > 0) this.both[k]! += 1;
      }
      for (let e = lo; e < hi; e++) this.value[f.colIdx[e]!] = 0;
    }
    this.n += f.rows;
  }

  /** Returns the measured statistics next to the configured ones. */
  finish(): WorldStats {
    const w = this.world;
    const n = this.n;
    const div = (a: number, b: number) => (b > 0 ? a / b : null);
    const edges = this.edges.slice(0, MAX_STORED_EDGES).map(({ parent, child }, k) => {
      const pm = div(this.magnitude[parent]!, this.fires[parent]!);
      const cm = div(this.magnitude[child]!, this.fires[child]!);
      return {
        parent,
        child,
        configured: {
          pParent: w.firingProbability[parent]!,
          pChild: w.firingProbability[child]!,
          pChildGivenParent: div(w.firingProbability[child]!, w.firingProbability[parent]!),
          magnitudeRatio: w.magnitudeMean[child]! / w.magnitudeMean[parent]!,
        },
        measured: {
          pParent: n > 0 ? this.fires[parent]! / n : 0,
          pChild: n > 0 ? this.fires[child]! / n : 0,
          pChildGivenParent: div(this.both[k]!, this.fires[parent]!),
          parentMeanMagnitude: pm,
          childMeanMagnitude: cm,
          magnitudeRatio: pm !== null && cm !== null && pm > 0 ? cm / pm : null,
        },
      };
    });
    return { nSamples: n, trueL0: n > 0 ? this.active / n : 0, nEdges: this.edges.length, edges };
  }
}
