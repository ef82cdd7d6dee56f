/**
 * A one-paragraph reading of a results table. Every sentence is derived from the numbers (which SAE
 * absorbs most and how, whether tied SAEs absorb too, what MCC says, where measures disagree); the
 * thresholds below only choose words, never conclusions fixed in advance.
 */
import { parentLikeByLatent } from "../metrics/absorption-finish.js";
import type { EdgeAbsorption, SaeEvaluation } from "../metrics/schemas.js";
import { fmt, summaryRows, type ReportInput, type SummaryRow } from "./summary.js";

/** Full absorption at or above this is called clear, at or above SOME is called some. */
const CLEAR = 0.25;
const SOME = 0.05;
/** Our and SAEBench's full absorption further apart than this are reported as disagreeing. */
const DISAGREE = 0.2;
/**
 * SAEBench's absorption fraction also counts partial absorption, so it normally exceeds full
 * absorption; a gap wider than this means other latents carry the parent where the main latent
 * still fires (split or duplicated parent latents), which the reading must say.
 */
const FRACTION_GAP = 0.3;

const pct = (v: number | null) => (v === null ? "n/a" : `${Math.round(100 * v)}%`);
const level = (v: number | null) => (v === null ? "unmeasured" : v >= CLEAR ? "clear" : v >= SOME ? "some" : "little or no");
const list = (xs: readonly string[]) => (xs.length <= 1 ? xs.join("") : `${xs.slice(0, -1).join(", ")} and ${xs[xs.length - 1]}`);

/** Returns the edge with the highest full absorption of an evaluation, or null when none is measured. */
export function worstEdge(e: SaeEvaluation): EdgeAbsorption | null {
  let best: EdgeAbsorption | null = null;
  for (const p of e.absorption.parents) {
    for (const edge of p.edges) {
      if (edge.fullAbsorption !== null && (best === null || edge.fullAbsorption > best.fullAbsorption!)) best = edge;
    }
  }
  return best;
}

function describeWorst(name: string, row: SummaryRow, e: SaeEvaluation): string {
  const edge = worstEdge(e);
  const parent = edge ? e.absorption.parents.find((p) => p.parent === edge.parent) : undefined;
  if (!edge || !parent) return `${name} shows the most full absorption (${fmt(row.fullAbsorption)}).`;
  const main = parent.mainLatents.map((m) => m.latent).join(" and ");
  let s =
    `${name} shows the most full absorption (${fmt(row.fullAbsorption)} averaged over edges): on parent ${edge.parent}, ` +
    `its main latent ${main} is silent on ${pct(edge.silentWithChild)} of the samples where child ${edge.child} fires, against ${pct(edge.silentAlone)} when the parent fires alone`;
  const a = edge.absorbers[0];
  if (a) s += `, and latent ${a.latent} (decoder cosine ${a.decoderCosParent.toFixed(2)} with the parent) carries ${pct(a.projectionShare)} of the parent direction there instead`;
  const enc = edge.encoderCosWithChild[0];
  if (enc !== undefined && enc < -0.05) s += `; the main latent's encoder has cosine ${enc.toFixed(2)} with the child, the signature of absorption`;
  return `${s}.`;
}

/** Returns one paragraph stating what the results show. */
export function renderReading(input: ReportInput): string {
  const rows = summaryRows(input);
  const evals = new Map(input.saes.map((s) => [s.name, s.evaluation]));
  const out: string[] = [];
  const sizes = [...new Set(input.saes.map((s) => s.evaluation.nSamples))];
  out.push(
    `On ${input.world.name}, ${rows.length} SAE${rows.length === 1 ? " was" : "s were"} evaluated on ${sizes.length > 1 ? "evaluation sets of different sizes" : `${rows.length > 1 ? "the same " : ""}${sizes[0]} samples`}.`,
  );

  const byAbs = [...rows].sort((a, b) => (b.fullAbsorption ?? -Infinity) - (a.fullAbsorption ?? -Infinity));
  const top = byAbs[0]!;
  if (top.fullAbsorption === null) {
    out.push("No parent/child pair fired together often enough to measure absorption.");
  } else if (top.fullAbsorption >= SOME) {
    out.push(describeWorst(top.name, top, evals.get(top.name)!));
  } else {
    out.push(`No SAE shows more than ${fmt(top.fullAbsorption)} full absorption averaged over parent/child pairs.`);
  }
  const others = byAbs.slice(top.fullAbsorption !== null && top.fullAbsorption >= SOME ? 1 : 0);
  if (others.length > 0) {
    out.push(
      `${others.length === rows.length ? "By SAE" : "The others"}: ${others
        .map((r) => `${r.name}: ${level(r.fullAbsorption)} full absorption (${fmt(r.fullAbsorption)}), partial ratio ${fmt(r.partialRatio)}, SAEBench fraction ${fmt(r.saebenchAbsorptionFraction)}`)
        .join("; ")}.`,
    );
  }

  const tied = rows.filter((r) => r.tied);
  if (tied.length > 0 && tied.length < rows.length) {
    const absorbing = tied.filter((r) => (r.fullAbsorption ?? 0) >= SOME);
    if (absorbing.length > 0) {
      out.push(`Tying does not prevent absorption here: the tied ${list(absorbing.map((r) => `${r.name} (${fmt(r.fullAbsorption)})`))} absorb${absorbing.length === 1 ? "s" : ""} too.`);
    } else {
      const weak = tied.filter((r) => r.partialRatio !== null && r.partialRatio < 0.8);
      const split = tied.filter((r) => splitParentLatents(evals.get(r.name)!).length > 0);
      out.push(
        `The tied SAE${tied.length === 1 ? "" : "s"} ${list(tied.map((r) => `${r.name} (${fmt(r.fullAbsorption)})`))} show${tied.length === 1 ? "s" : ""} little full absorption of the main latent` +
          (weak.length > 0 ? `, though the main latent weakens when a child fires (partial ratio ${list(weak.map((r) => fmt(r.partialRatio)))})` : "") +
          (split.length > 0 ? `; yet in ${list(split.map((r) => r.name))} a second latent that carries the parent is absorbed (below), so tying did not prevent absorption altogether.` : "."),
      );
    }
  }

  const byMcc = [...rows].sort((a, b) => b.mcc - a.mcc);
  const hi = byMcc[0]!;
  const lo = byMcc[byMcc.length - 1]!;
  let mcc =
    rows.length === 1 ? `MCC is ${fmt(hi.mcc)}` : fmt(lo.mcc) === fmt(hi.mcc) ? `MCC is ${fmt(hi.mcc)} for every SAE` : `MCC ranges from ${fmt(lo.mcc)} (${lo.name}) to ${fmt(hi.mcc)} (${hi.name})`;
  if ((hi.fullAbsorption ?? 0) >= SOME) {
    mcc += `, and ${hi.name} absorbs despite ${fmt(lo.mcc) === fmt(hi.mcc) ? "that" : "the highest MCC"}, so a high MCC does not rule absorption out`;
  }
  out.push(`${mcc}.`);

  const disagreements: string[] = [];
  for (const r of rows) {
    if (r.fullAbsorption !== null && r.saebenchFullAbsorption !== null && Math.abs(r.fullAbsorption - r.saebenchFullAbsorption) > DISAGREE) {
      disagreements.push(
        `${r.name}'s full absorption is ${fmt(r.fullAbsorption)} by main-latent silence but ${fmt(r.saebenchFullAbsorption)} by SAEBench's rule, which scores every sample where the parent fires and needs one other latent to carry a large share of the parent's projection`,
      );
    }
    const e = evals.get(r.name)!;
    if (r.fullAbsorption !== null && r.saebenchAbsorptionFraction !== null && r.saebenchAbsorptionFraction - r.fullAbsorption > FRACTION_GAP) {
      const carriers = fractionCarriers(e);
      disagreements.push(
        `${r.name}'s SAEBench absorption fraction is ${fmt(r.saebenchAbsorptionFraction)} while its main latent is silent on only ${fmt(r.fullAbsorption)} (full absorption): ` +
          `on child samples other latents aligned with the parent${carriers ? ` (${carriers})` : ""} carry part of its projection alongside the main latent, which SAEBench counts as absorption`,
      );
    }
    const split = splitParentLatents(e);
    if (split.length > 0 && (r.fullAbsorption ?? 0) < CLEAR) {
      disagreements.push(
        `${r.name}'s main latent ${(r.fullAbsorption ?? 0) < SOME ? "is not absorbed" : "is only weakly absorbed"}, but another latent that carries the parent is: ${list(split)}; ` +
          `counting only the main latent hides this`,
      );
    }
    if (e.absorption.summary.mainDisagreements > 0) {
      disagreements.push(`for ${r.name}, the main latent by decoder cosine is not the latent that best tracks the parent's firing on ${e.absorption.summary.mainDisagreements} parent(s)`);
    }
  }
  if (disagreements.length > 0) {
    out.push(`Measures disagree: ${disagreements.join("; ")}.`);
  } else if (rows.some((r) => r.fullAbsorption !== null)) {
    out.push("Overall, main-latent silence, SAEBench's scores and the decoder-cosine versus F1 choice of main latent agree within tolerance.");
  }
  const nNotes = rows.reduce((s, r) => s + r.notes, 0);
  if (nNotes > 0) out.push(`${nNotes} edge-level note${nNotes === 1 ? " spells" : "s spell"} out finer differences.`);

  const ev = rows.map((r) => r.explainedVariance);
  const l0 = rows.map((r) => r.l0);
  const dead = rows.filter((r) => r.deadLatents > 0);
  out.push(
    `Explained variance is ${fmtRange(ev, 3)} at L0 ${fmtRange(l0, 1)}` +
      (dead.length > 0 ? `; ${list(dead.map((r) => `${r.name} has ${r.deadLatents} dead latent${r.deadLatents === 1 ? "" : "s"}`))}.` : ", with no dead latents."),
  );
  return out.join(" ");
}

/** Returns phrases for the parent-like latents (not main) whose full absorption, averaged over a parent's children, is clear. */
function splitParentLatents(e: SaeEvaluation): string[] {
  return e.absorption.parents.flatMap((p) =>
    parentLikeByLatent(p)
      .filter((l) => l.meanFullAbsorption !== null && l.meanFullAbsorption >= CLEAR)
      .map((l) => `latent ${l.latent} (decoder cosine ${l.decoderCos.toFixed(2)} with parent ${p.parent}) is silent on ${pct(l.meanSilentWithChild)} of child samples against ${pct(l.silentAlone)} when the parent fires alone`),
  );
}

/** Returns "latents L1 (cos c1) and L2 (cos c2)" for the first absorbers found across edges, or "" when none. */
function fractionCarriers(e: SaeEvaluation): string {
  const seen = new Map<number, number>();
  for (const p of e.absorption.parents) {
    for (const edge of p.edges) for (const a of edge.absorbers) if (!seen.has(a.latent)) seen.set(a.latent, a.decoderCosParent);
  }
  const items = [...seen].slice(0, 3).map(([l, c]) => `${l} (cos ${c.toFixed(2)})`);
  return items.length === 0 ? "" : `latent${items.length > 1 ? "s" : ""} ${list(items)}`;
}

function fmtRange(v: readonly number[], digits: number): string {
  const lo = Math.min(...v);
  const hi = Math.max(...v);
  return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)} to ${hi.toFixed(digits)}`;
}
