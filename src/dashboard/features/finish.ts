/**
 * The tables `saelab features` fills after its pass: the detector's pairs, holes and hierarchy; for an
 * LM, the vocabulary, logit effects and the search text of each latent's top tokens; for a toy world,
 * the evaluation against the true features (matched feature, cosines, per-edge absorption).
 */
import type { Kernels } from "../../tensor/kernels.js";
import type { SaeModel } from "../../sae/types.js";
import type { World } from "../../toy/types.js";
import type { Detection } from "../../detect/schemas.js";
import type { SaeEvaluation } from "../../metrics/schemas.js";
import { saeGeometry } from "../../metrics/cosine.js";
import type { FeaturesDb } from "../../io/features-db.js";
import type { LmInfo } from "./run.js";
import type { Ranked } from "./weights.js";

const r4 = (v: number): number => Number(v.toFixed(4));

/** Returns the search form of a token's text: trimmed and lower-cased. */
export function searchToken(text: string): string {
  return text.trim().toLowerCase().replace(/\|/g, "");
}

/** Writes the detection: the document, pairs, hierarchy edges, and per-latent hole rates and absorption scores. */
export function writeDetection(db: FeaturesDb, det: Detection): void {
  db.prepare("INSERT OR REPLACE INTO documents (name, json) VALUES ('detection', ?)").run(JSON.stringify(det));
  db.prepare("DELETE FROM pairs").run();
  db.prepare("DELETE FROM hierarchy_edges").run();
  const ins = db.prepare(
    "INSERT INTO pairs (parent, absorber, kind, score, confident, decoder_cos, parent_silent, carried_share, co_firing, partial_ratio, n_absorber_fires) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
  );
  const score = new Map<number, number>();
  for (const p of det.pairs) {
    ins.run(p.parent, p.absorber, p.kind, p.score, p.confident ? 1 : 0, p.decoderCos, p.parentSilent, p.carriedShare, p.coFiring, p.partialRatio, p.nAbsorberFires);
    if (p.kind !== "absorption") continue;
    for (const l of [p.parent, p.absorber]) score.set(l, Math.max(score.get(l) ?? -Infinity, p.score));
  }
  const edge = db.prepare("INSERT INTO hierarchy_edges (parent, child, evidence, score, co_firing) VALUES (?, ?, ?, ?, ?)");
  for (const e of det.hierarchy.edges) edge.run(e.parent, e.child, e.evidence.join("+"), e.score, e.coFiring);
  const holes = db.prepare("UPDATE latents SET hole_rate = ?, absorbed_hole_rate = ? WHERE latent = ?");
  for (const l of det.latents) holes.run(l.holeRate, l.absorbedHoleRate, l.latent);
  const sc = db.prepare("UPDATE latents SET absorption_score = ? WHERE latent = ?");
  for (const [l, s] of score) sc.run(s, l);
}

/** Writes the vocabulary, each latent's logit effects and the search text of its top contexts' tokens. */
export function writeLmExtras(db: FeaturesDb, lm: LmInfo, effects: { top: Ranked[]; bottom: Ranked[] }, dSae: number): void {
  const voc = db.prepare("INSERT OR REPLACE INTO vocab (token, text) VALUES (?, ?)");
  for (let t = 0; t < lm.vocab; t++) voc.run(t, lm.tokenText(t));
  const set = db.prepare("UPDATE latents SET logit_top = ?, logit_bottom = ? WHERE latent = ?");
  for (let j = 0; j < dSae; j++) {
    set.run(JSON.stringify(effects.top[j]!.map(([t, v]) => [t, r4(v)])), JSON.stringify(effects.bottom[j]!.map(([t, v]) => [t, r4(v)])), j);
  }
  const words = new Map<number, string[]>();
  for (const r of db.prepare("SELECT latent, focus, tokens FROM contexts WHERE kind = 'top' ORDER BY latent, slot").iterate() as Iterable<{ latent: number; focus: number; tokens: string }>) {
    const toks = JSON.parse(r.tokens) as number[];
    const w = searchToken(lm.tokenText(toks[r.focus]!));
    const list = words.get(r.latent) ?? [];
    if (w && !list.includes(w)) list.push(w);
    words.set(r.latent, list);
  }
  const tt = db.prepare("UPDATE latents SET top_tokens = ? WHERE latent = ?");
  for (const [j, list] of words) tt.run(`|${list.join("|")}|`, j);
}

/** Writes a toy-world SAE's evaluation: the document, each latent's best and matched feature, and per-edge absorption rows. */
export function writeWorldEvaluation(db: FeaturesDb, world: World, ev: SaeEvaluation, sae: SaeModel, kernels: Kernels): void {
  const put = db.prepare("INSERT OR REPLACE INTO documents (name, json) VALUES (?, ?)");
  put.run("evaluation", JSON.stringify(ev));
  put.run("world", JSON.stringify({ nFeatures: world.nFeatures, dModel: world.dModel, parent: Array.from(world.parent) }));
  const F = world.nFeatures;
  const g = saeGeometry({ dIn: sae.dIn, dSae: sae.dSae, W_dec: sae.W_dec, W_enc: sae.encoderWeights() }, world.featureVectors, F, kernels);
  const matched = new Map<number, number>();
  ev.recovery.latentOfFeature.forEach((l, f) => l >= 0 && matched.set(l, f));
  const set = db.prepare("UPDATE latents SET best_feature = ?, best_feature_cos = ?, matched_feature = ?, f1 = ?, top_tokens = ? WHERE latent = ?");
  for (let j = 0; j < sae.dSae; j++) {
    let best = 0;
    for (let f = 1; f < F; f++) if (Math.abs(g.decoderCos[j * F + f]!) > Math.abs(g.decoderCos[j * F + best]!)) best = f;
    const m = matched.get(j);
    const tags = [`f${best}`, ...(m !== undefined && m !== best ? [`f${m}`] : [])];
    set.run(best, r4(g.decoderCos[j * F + best]!), m ?? null, ev.recovery.classification.perLatent.f1[j] ?? null, `|${tags.join("|")}|`, j);
  }
  put.run("decoder_cos", JSON.stringify({ nFeatures: F, values: Array.from(g.decoderCos, r4) }));
  db.prepare("DELETE FROM world_absorption").run();
  const ins = db.prepare("INSERT INTO world_absorption (latent, role, parent_feature, child_feature, full_absorption, detail) VALUES (?, ?, ?, ?, ?, ?)");
  for (const p of ev.absorption.parents) {
    for (const e of p.edges) {
      for (const m of p.mainLatents) ins.run(m.latent, "main", e.parent, e.child, e.fullAbsorption, JSON.stringify({ decoderCos: m.decoderCos, partialRatio: e.partialRatio, absorptionGap: e.absorptionGap, saebench: e.saebench }));
      for (const a of e.absorbers) ins.run(a.latent, "absorber", e.parent, e.child, null, JSON.stringify(a));
      for (const l of e.parentLikeLatents) ins.run(l.latent, "parent-like", e.parent, e.child, l.fullAbsorption, JSON.stringify(l));
    }
  }
}
