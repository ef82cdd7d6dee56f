/**
 * Co-occurrence inference: which latents behave like parents of which. Two kinds of evidence:
 *   absorption: a confident absorption pair P <- A says A's inputs carry P's direction (A's feature
 *     implies P's), even though P is silent there;
 *   co-firing ("activation coverage"): the child fires almost only when the parent does,
 *     P(parent | child) >= hierarchyCoverage, but not the reverse, and far more than the parent's base
 *     rate (lift), which keeps always-on latents from parenting everything.
 * Near-duplicate latents (decoder rows with cosine >= duplicateCos, whether or not they fire together:
 * they write the same direction) are grouped, never linked.
 * Edges implied by a path through another parent (P -> Q -> C makes P -> C redundant) are dropped.
 */
import { rowCos, type DecoderRows } from "./geometry.js";
import type { DetectionStats } from "./stats.js";
import type { AbsorptionPair, DetectOptions, Hierarchy, HierarchyEdge } from "./schemas.js";

/** Returns the inferred latent hierarchy from the detector's statistics and its ranked pairs. */
export function inferHierarchy(stats: DetectionStats, rows: DecoderRows, pairs: readonly AbsorptionPair[], o: DetectOptions): Hierarchy {
  const d = stats.d;
  const N = stats.nSamples;
  const rate = (j: number) => (N > 0 ? stats.nFire[j]! / N : 0);
  const cond = (p: number, c: number) => (stats.nFire[c]! > 0 ? stats.coFireCount(p, c) / stats.nFire[c]! : null);

  // Duplicate groups by union-find.
  const root = Int32Array.from({ length: d }, (_, j) => j);
  const find = (j: number): number => {
    while (root[j] !== j) {
      root[j] = root[root[j]!]!;
      j = root[j]!;
    }
    return j;
  };
  for (const p of pairs) if (p.kind === "duplicate") root[find(p.parent)] = find(p.absorber);
  const groups = new Map<number, number[]>();
  for (let j = 0; j < d; j++) {
    const r = find(j);
    groups.set(r, [...(groups.get(r) ?? []), j]);
  }
  const duplicates = [...groups.values()].filter((g) => g.length > 1).map((g) => g.sort((a, b) => a - b));
  const sameGroup = (a: number, b: number) => find(a) === find(b);

  const edges = new Map<string, HierarchyEdge>();
  const put = (parent: number, child: number, evidence: "absorption" | "co-firing", score: number) => {
    const key = `${parent}:${child}`;
    const have = edges.get(key);
    if (have) {
      if (!have.evidence.includes(evidence)) have.evidence.push(evidence);
      if (evidence === "absorption") have.score = score;
      return;
    }
    const c = cond(parent, child);
    const rp = rate(parent);
    edges.set(key, { parent, child, evidence: [evidence], coFiring: c, reverseCoFiring: cond(child, parent), lift: c !== null && rp > 0 ? c / rp : null, score });
  };
  for (const p of pairs) if (p.confident && !sameGroup(p.parent, p.absorber)) put(p.parent, p.absorber, "absorption", p.score);
  for (const [key, n] of stats.coFire) {
    const a = Math.floor(key / d);
    const b = key % d;
    for (const [parent, child] of [[a, b], [b, a]] as const) {
      if (stats.nFire[child]! < o.minSamples || sameGroup(parent, child)) continue;
      const cov = n / stats.nFire[child]!;
      const rev = n / stats.nFire[parent]!;
      const rp = rate(parent);
      if (cov < o.hierarchyCoverage || rev >= o.hierarchyCoverage || !(rp > 0) || cov / rp < o.hierarchyLift) continue;
      if (rowCos(rows, parent, child) >= o.duplicateCos) continue;
      put(parent, child, "co-firing", cov);
    }
  }

  // A pair linked both ways keeps its stronger direction.
  for (const e of [...edges.values()]) {
    const rev = edges.get(`${e.child}:${e.parent}`);
    if (rev && (rev.score > e.score || (rev.score === e.score && rev.parent < e.parent))) edges.delete(`${e.parent}:${e.child}`);
  }
  const parentsOf = new Map<number, Set<number>>();
  for (const e of edges.values()) parentsOf.set(e.child, (parentsOf.get(e.child) ?? new Set()).add(e.parent));
  const reduced = [...edges.values()].filter((e) => {
    for (const q of parentsOf.get(e.child) ?? []) if (q !== e.parent && !sameGroup(q, e.parent) && parentsOf.get(q)?.has(e.parent)) return false;
    return true;
  });
  reduced.sort((x, y) => x.parent - y.parent || x.child - y.child);
  const children = new Set(reduced.map((e) => e.child));
  const roots = [...new Set(reduced.map((e) => e.parent))].filter((p) => !children.has(p)).sort((a, b) => a - b);
  return { edges: reduced, duplicates, roots };
}
