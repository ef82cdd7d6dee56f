/** The figures `saelab steer` prints beside its text: the vector's scale at its layer and the targets' log-probabilities per multiplier. */
import { UserError } from "../errors.js";
import type { HookSpec } from "../lm/hooks.js";
import { continuationLogProbs, meanActivationNorms, vectorNorm } from "../steering/scale.js";
import type { SteeringVector } from "../steering/vector.js";
import type { LoadedLm } from "./lm-common.js";
import { promptTokens } from "./lm-common.js";

/** Returns one line per layer of `vec`: its norm against the mean per-token norm of the activation it is added to (over `prompt`'s tokens after BOS). */
export function scaleLines(lm: LoadedLm, vec: SteeringVector, prompt: readonly number[]): string[] {
  const layers = [...vec.layerActivations.keys()];
  const norms = meanActivationNorms(lm.model, [prompt], layers, vec.layerType, 1);
  const what = vec.layerType === "decoder_block" ? "residual" : "activation";
  return norms.map((n) => {
    const v = vectorNorm(vec.layerActivations.get(n.layer)!);
    const over = prompt.length > 1 ? `over the prompt's ${n.tokens} token${n.tokens === 1 ? "" : "s"} after BOS` : "at the BOS token only (give --prompt for a typical figure)";
    const ratio = n.meanNorm > 0 ? (v / n.meanNorm).toFixed(3) : "n/a";
    return `layer ${n.layer} (${n.hook}): vector norm ${fmt(v)}, mean token ${what} norm ${fmt(n.meanNorm)} ${over}; ratio ${ratio} per unit of multiplier`;
  });
}

/**
 * Splits a --targets value on commas, keeping each piece's spaces (" happy, sad" is " happy" and " sad"),
 * and returns the tokens each adds after the prompt's text.
 */
export function targetTokens(lm: LoadedLm, promptText: string, targets: string): { text: string; ids: number[] }[] {
  const pieces = targets.split(",");
  if (pieces.some((p) => p.length === 0)) throw new UserError(`--targets "${targets}": an empty target (targets are separated by commas)`);
  const base = promptTokens(lm, promptText);
  return pieces.map((text) => {
    // Tokenized together with the prompt, as the model would see the text; alone only when the prompt's tokens are not a prefix.
    const full = promptTokens(lm, promptText + text);
    const prefix = base.every((t, i) => full[i] === t) && full.length > base.length;
    const ids = prefix ? full.slice(base.length) : lm.tok.encode(text, { addBos: false });
    if (ids.length === 0) throw new UserError(`--targets: "${text}" has no tokens`);
    return { text, ids };
  });
}

/** One row of the targets table: a multiplier (null: unsteered) and each target's log-probability. */
export interface TargetRow {
  multiplier: number | null;
  logProbs: number[];
}

/** Returns the targets' log-probabilities after `prompt`, unsteered and under each multiplier's hooks. */
export function targetRows(lm: LoadedLm, prompt: readonly number[], targets: readonly { ids: number[] }[], multipliers: readonly number[], hooksFor: (m: number) => HookSpec[]): TargetRow[] {
  const ids = targets.map((t) => t.ids);
  return [
    { multiplier: null, logProbs: continuationLogProbs(lm.model, prompt, ids) },
    ...multipliers.map((m) => ({ multiplier: m, logProbs: continuationLogProbs(lm.model, prompt, ids, hooksFor(m)) })),
  ];
}

/** Returns the targets table: each target's log-probability with its change from unsteered, and the first two targets' difference. */
export function renderTargetTable(lm: LoadedLm, targets: readonly { text: string; ids: number[] }[], rows: readonly TargetRow[]): string {
  const q = (s: string) => JSON.stringify(s);
  const tokensOf = targets.map((t) => `${q(t.text)} = [${t.ids.map((i) => q(lm.tok.decode([i]))).join(", ")}]`).join("; ");
  const head = ["multiplier", ...targets.map((t) => `logp ${q(t.text)} (change)`)];
  const two = targets.length >= 2;
  if (two) head.push(`${q(targets[0]!.text)} - ${q(targets[1]!.text)}`);
  const base = rows[0]!.logProbs;
  const body = rows.map((r) => {
    const cells = [r.multiplier === null ? "unsteered" : `x${r.multiplier}`];
    r.logProbs.forEach((lp, i) => cells.push(r.multiplier === null ? fmt(lp) : `${fmt(lp)} (${signed(lp - base[i]!)})`));
    if (two) cells.push(fmt(r.logProbs[0]! - r.logProbs[1]!));
    return cells;
  });
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: readonly string[]) => cells.map((s, c) => s.padEnd(widths[c]!)).join("  ").trimEnd();
  return [`log-probability of each target right after the prompt (natural log; tokens: ${tokensOf})`, line(head), ...body.map(line)].join("\n");
}

function fmt(v: number): string {
  const s = v.toFixed(3);
  return s === "-0.000" ? "0.000" : s;
}

function signed(v: number): string {
  const s = fmt(v);
  return s.startsWith("-") || s === "0.000" ? s : `+${s}`;
}
