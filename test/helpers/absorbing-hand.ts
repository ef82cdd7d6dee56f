/**
 * Issue 4's hand-built absorption case, shared by the detector's tests: a world where feature 0 is
 * the parent of mutually exclusive children 1, 2, 3 (features 4..7 independent), a fixed batch of it,
 * an SAE that recovers every feature exactly, and one built to absorb child 1 into the parent (absorber
 * row f_parent + f_child, parent encoder f_parent - f_child).
 */
import type { WorldBatch } from "../../src/toy/types.js";
import { handSae } from "./hand-sae.js";
import { basis, handBatch, handWorld, repeat } from "./hand-world.js";

export const D = 12;
export const e = (i: number) => basis(D, i);
export const add = (...vs: number[][]) => vs.reduce((a, v) => a.map((x, i) => x + v[i]!));
export const scale = (v: number[], s: number) => v.map((x) => x * s);
// Feature 0 is the parent of mutually exclusive 1, 2, 3; features 4..7 are independent.
export const world = handWorld({ features: Array.from({ length: 8 }, (_, i) => e(i)), parent: [-1, 0, 0, 0, -1, -1, -1, -1], mutuallyExclusive: [0] });
// Counts above the detector's minSamples (25), so that its verdicts are not held back for thin data.
export const samples: Record<number, number>[] = [
  ...repeat([{ 0: 1 }], 60),
  ...repeat([{ 0: 1, 1: 1 }], 30),
  ...repeat([{ 0: 1, 2: 1 }], 30),
  ...repeat([{ 0: 1, 3: 1 }], 30),
  ...repeat<Record<number, number>>([{ 4: 1 }, { 5: 1 }, { 6: 1 }, { 7: 1 }], 50),
  ...repeat([{ 0: 1, 4: 1 }], 15),
];
export const batch: WorldBatch = handBatch(world, samples);
export const batches = [batch.acts];

export const clean = handSae({ encoder: Array.from({ length: 8 }, (_, i) => e(i)), decoder: Array.from({ length: 8 }, (_, i) => e(i)) });
// Latent 0 is the parent, carved out of child 1; latent 1 fires on child 1 and writes parent + child.
export const absorbing = handSae({
  encoder: [add(e(0), scale(e(1), -1)), e(1), e(2), e(3), e(4), e(5), e(6), e(7)],
  decoder: [e(0), add(e(0), e(1)), e(2), e(3), e(4), e(5), e(6), e(7)],
});
