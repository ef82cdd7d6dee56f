/**
 * Feature hierarchies: validation of explicit trees (one parent per child, no cycles), generated
 * forests (breadth-first from feature 0, as SAELens's generate_hierarchy), and the built forest
 * that the sampler walks.
 */
import type { Rng } from "../tensor/rng.js";
import type { HierarchyConfig } from "./config.js";

type Issue = (path: (string | number)[], message: string) => void;

/** A built forest over all features. Features outside every tree have parent -1 and no children. */
export interface Forest {
  /** [nFeatures]: parent index or -1. */
  parent: Int32Array;
  /** Children of each feature (empty for leaves and independent features). */
  children: number[][];
  /** [nFeatures]: 1 when the feature's children are mutually exclusive. */
  mutuallyExclusive: Uint8Array;
  /** [nFeatures]: depth below its root (0 for roots and independent features). */
  depth: Int32Array;
  /** Features that are roots of a tree with at least one child. */
  roots: number[];
  /** Features in top-down order: every parent appears before its children. */
  topDown: number[];
}

/** Returns the number of features a generated forest with fixed branching uses (before truncation). */
export function generatedSize(roots: number, branching: number, depth: number): number {
  let total = 0;
  let level = roots;
  // Bounded however invalid the numbers are (a negative root count, a depth of 2^32): the schema reports those.
  for (let d = 0; d <= depth; d++) {
    total += level;
    level *= branching;
    if (Math.abs(total) > 1e12 || d >= 64) return Infinity;
  }
  return total;
}

/**
 * Validates a hierarchy config, reporting each problem with its path; returns child -> parent for
 * the features whose parent is known without generating (explicit nodes, fixed-branching forests).
 */
export function checkHierarchy(h: HierarchyConfig, n: number, issue: Issue): Map<number, number> | undefined {
  if ((h.nodes === undefined) === (h.generate === undefined)) {
    issue(["hierarchy"], "give exactly one of hierarchy.nodes (explicit trees) or hierarchy.generate (a generated forest)");
    return undefined;
  }
  if (h.generate) {
    const g = h.generate;
    if (Array.isArray(g.branching) && g.branching[0] > g.branching[1]) issue(["hierarchy", "generate", "branching"], `[min, max] has min ${g.branching[0]} above max ${g.branching[1]}`);
    if (g.mutuallyExclusiveMaxDepth !== undefined && g.mutuallyExclusiveMaxDepth < g.mutuallyExclusiveMinDepth) {
      issue(["hierarchy", "generate", "mutuallyExclusiveMaxDepth"], "must be >= mutuallyExclusiveMinDepth");
    }
    if (g.roots > n) issue(["hierarchy", "generate", "roots"], `${g.roots} roots need more than nFeatures (${n}) features`);
    if (typeof g.branching !== "number") return undefined;
    const size = generatedSize(g.roots, g.branching, g.depth);
    if (size > n) {
      issue(["hierarchy", "generate"], `the forest needs ${size} features (roots * (1 + branching + ... + branching^depth)) but nFeatures is ${n}`);
      return undefined;
    }
    const childOf = new Map<number, number>();
    // Breadth-first numbering: the children of feature f are contiguous and follow all of f's level.
    let next = g.roots;
    const queue: [number, number][] = [];
    for (let r = 0; r < g.roots; r++) queue.push([r, 0]);
    for (let q = 0; q < queue.length; q++) {
      const [f, d] = queue[q]!;
      if (d >= g.depth) continue;
      for (let c = 0; c < g.branching; c++) {
        childOf.set(next, f);
        queue.push([next, d + 1]);
        next++;
      }
    }
    return childOf;
  }
  const nodes = h.nodes!;
  const childOf = new Map<number, number>();
  const childAt = new Map<number, string>();
  const nodeAt = new Map<number, number>();
  nodes.forEach((node, k) => {
    const base = ["hierarchy", "nodes", k];
    if (node.feature >= n) issue([...base, "feature"], `feature ${node.feature} does not exist (nFeatures is ${n})`);
    const prev = nodeAt.get(node.feature);
    if (prev !== undefined) issue([...base, "feature"], `feature ${node.feature} is listed twice (also at hierarchy.nodes[${prev}]); give all its children in one entry`);
    else nodeAt.set(node.feature, k);
    if (node.mutuallyExclusive && node.children.length < 2) issue([...base, "mutuallyExclusive"], "mutually exclusive children need at least 2 children");
    node.children.forEach((c, j) => {
      const path = [...base, "children", j];
      if (c >= n) issue(path, `feature ${c} does not exist (nFeatures is ${n})`);
      if (c === node.feature) {
        issue(path, `feature ${c} is listed as its own child (a cycle)`);
        return;
      }
      const p = childOf.get(c);
      if (p !== undefined) {
        issue(path, `feature ${c} is already a child of feature ${p} (${childAt.get(c)}); a feature can have only one parent`);
        return;
      }
      childOf.set(c, node.feature);
      childAt.set(c, `hierarchy.nodes[${k}]`);
    });
  });
  // With one parent each, a cycle is a parent chain that returns to where it started.
  const reported = new Set<number>();
  for (const [k, node] of nodes.entries()) {
    const chain = [node.feature];
    let f = childOf.get(node.feature);
    while (f !== undefined && chain.length <= nodes.length + 1) {
      if (f === node.feature) {
        if (!chain.some((x) => reported.has(x))) {
          issue(["hierarchy", "nodes", k], `the parent links form a cycle: ${[...chain, f].reverse().join(" -> ")}`);
          chain.forEach((x) => reported.add(x));
        }
        break;
      }
      chain.push(f);
      f = childOf.get(f);
    }
  }
  return childOf;
}

/** Returns the built forest for a validated hierarchy config (generated trees draw from `rng`). */
export function buildForest(h: HierarchyConfig | undefined, n: number, rng: Rng): Forest {
  const parent = new Int32Array(n).fill(-1);
  const children: number[][] = Array.from({ length: n }, () => []);
  const me = new Uint8Array(n);
  if (h?.nodes) {
    for (const node of h.nodes) {
      children[node.feature] = [...node.children];
      if (node.mutuallyExclusive) me[node.feature] = 1;
      for (const c of node.children) parent[c] = node.feature;
    }
  } else if (h?.generate) {
    const g = h.generate;
    const branching = (): number => (typeof g.branching === "number" ? g.branching : g.branching[0] + rng.int(g.branching[1] - g.branching[0] + 1));
    let next = 0;
    const parents: { f: number; d: number }[] = [];
    let level: { f: number; d: number }[] = [];
    for (let r = 0; r < g.roots && next < n; r++) level.push({ f: next++, d: 0 });
    while (level.length > 0) {
      const deeper: { f: number; d: number }[] = [];
      for (const node of level) {
        parents.push(node);
        if (node.d >= g.depth) continue;
        const count = branching();
        for (let c = 0; c < count && next < n; c++) {
          const child = next++;
          parent[child] = node.f;
          children[node.f]!.push(child);
          deeper.push({ f: child, d: node.d + 1 });
        }
      }
      level = deeper;
    }
    const maxD = g.mutuallyExclusiveMaxDepth ?? Infinity;
    const eligible = parents.filter((p) => p.d >= g.mutuallyExclusiveMinDepth && p.d <= maxD && children[p.f]!.length >= 2);
    const count = Math.floor(eligible.length * g.mutuallyExclusivePortion);
    // Choose `count` distinct parents uniformly (partial Fisher-Yates), as random.sample does.
    const idx = eligible.map((_, i) => i);
    for (let i = 0; i < count; i++) {
      const j = i + rng.int(idx.length - i);
      const t = idx[i]!;
      idx[i] = idx[j]!;
      idx[j] = t;
      me[eligible[idx[i]!]!.f] = 1;
    }
  }
  const depth = new Int32Array(n);
  const roots: number[] = [];
  const topDown: number[] = [];
  for (let f = 0; f < n; f++) {
    if (parent[f] !== -1 || children[f]!.length === 0) continue;
    roots.push(f);
    const stack = [f];
    while (stack.length > 0) {
      const v = stack.pop()!;
      topDown.push(v);
      for (const c of children[v]!) {
        depth[c] = depth[v]! + 1;
        stack.push(c);
      }
    }
  }
  return { parent, children, mutuallyExclusive: me, depth, roots, topDown };
}
