/**
 * Renderings of the first-letter absorption eval (`saelab absorption`): the terminal table (one row
 * per SAE), the per-letter table, a reading in words computed from the numbers, and a self-contained
 * report.html (inline CSS and SVG, the same style as the demo's report).
 */
import type { FirstLetterRun, SaeFirstLetter } from "../experiments/first-letter-run.js";
import { REPORT_CSS } from "./html.js";
import { barsSvg, escapeXml } from "./svg.js";
import { alignTable } from "./text.js";

const f3 = (v: number | null | undefined): string => (v === null || v === undefined ? "n/a" : v.toFixed(3));

/** Returns the summary table: one row per SAE. */
export function renderFirstLetterTable(run: FirstLetterRun): string {
  const rows = run.saes.map((s) => {
    const m = s.result.mean;
    return [s.name, String(s.result.letters.length), f3(m?.mean_absorption_fraction_score), f3(m?.mean_full_absorption_score), m ? m.mean_num_split_features.toFixed(2) : "n/a", String(s.detector.confidentPairs), String(s.detector.probePairs), f3(s.detector.precision), f3(s.detector.recall)];
  });
  return alignTable(["SAE", "letters", "abs frac", "full abs", "split", "det pairs", "probe pairs", "det prec", "det recall"], rows);
}

/** Returns one SAE's per-letter table: probe F1, main latents, probe true positives, full absorption, fraction, absorbers with their words. */
export function renderLetterTable(s: SaeFirstLetter): string {
  const rows = s.result.letters.map((l) => [
    l.letter,
    l.probeF1.toFixed(2),
    l.splitFeats.join(",") || "-",
    l.kSparse.slice(0, 3).map((k) => k.f1.toFixed(2)).join("/"),
    String(l.numProbeTruePositives),
    String(l.numFullAbsorption),
    l.meanAbsorptionFraction.toFixed(3),
    l.absorbers.slice(0, 3).map((a) => `${a.latent}[${a.words.map((w) => JSON.stringify(w)).join(" ")}]`).join(" ") || "-",
  ]);
  return alignTable(["letter", "probe F1", "main latents", "k-sparse F1 k=1/2/3", "probe TP", "full", "abs frac", "absorbers [words]"], rows);
}

/** Returns a paragraph per run saying what was measurable and what the numbers show. */
export function renderFirstLetterReading(run: FirstLetterRun): string {
  const parts: string[] = [];
  const passing = run.probe.filter((p) => p.f1 > run.config.min_GT_probe_f1);
  parts.push(
    `${run.data.nVocabWords} single-token alphabetic words in ${run.model || "the model"}'s vocabulary (${run.data.nTrain} train, ${run.data.nTest} test${run.data.dropped.length ? `, ${run.data.dropped.length} dropped because their token did not survive in the prompt` : ""}), read at ${run.data.hook}, ` +
      `token position ${run.data.tokenPositions.join("/")} from the end (SAEBench's prompt_token_pos ${run.config.prompt_token_pos} for ${run.tokenizerFamily}). ` +
      `The letter probe passes min_GT_probe_f1 ${run.config.min_GT_probe_f1} on ${passing.length} of 26 letters${passing.length ? ` (${passing.map((p) => `${p.letter} ${p.f1.toFixed(2)} on ${p.nTest} test word${p.nTest === 1 ? "" : "s"}`).join(", ")})` : ""}.`,
  );
  if (passing.length < run.config.min_feats_for_eval) parts.push(`That is fewer than min_feats_for_eval ${run.config.min_feats_for_eval}: SAEBench reports nothing for this model, and no SAEBench JSON is written; the tables show what was measured.`);
  for (const f of run.flags) parts.push(`Flagged: ${f}.`);
  for (const s of run.saes) {
    const m = s.result.mean;
    if (!m) {
      parts.push(`${s.name}: no letter to evaluate.`);
      continue;
    }
    const tps = s.result.letters.map((l) => l.numProbeTruePositives);
    if (Math.max(...tps) < 5) parts.push(`${s.name}: every measured letter rests on at most ${Math.max(...tps)} probe-positive test word${Math.max(...tps) === 1 ? "" : "s"}, so each per-letter rate is a count of a handful of words, not an estimate.`);
    const top = s.result.letters.flatMap((l) => l.absorbers.map((a) => ({ letter: l.letter, ...a }))).sort((a, b) => b.words.length - a.words.length)[0];
    const d = s.detector;
    parts.push(
      `${s.name}: mean absorption fraction ${m.mean_absorption_fraction_score.toFixed(3)}, full absorption ${m.mean_full_absorption_score.toFixed(3)}, ${m.mean_num_split_features.toFixed(2)} main latents per letter over ${s.result.letters.length} letter${s.result.letters.length === 1 ? "" : "s"}` +
        (top ? `; the most frequent absorber is latent ${top.latent} (letter ${top.letter}, on ${top.words.map((w) => JSON.stringify(w)).join(", ")})` : "; no latent absorbs a letter on a probe-positive test word") +
        `. The detector (no labels, ${run.data.detectorRows} prompt positions) has ${d.confidentPairs} confident pairs: ${d.explained} match a probe-defined (main latent, absorber) pair, ${d.parentOnly} name a letter's main latent with another absorber, ${d.unexplained.length} involve no letter's main latent` +
        `; precision ${f3(d.precision)}, recall ${f3(d.recall)} of ${d.probePairs} probe pair${d.probePairs === 1 ? "" : "s"}.`,
    );
  }
  return parts.join("\n");
}

/** Returns the self-contained report.html of a run. */
export function renderFirstLetterHtml(run: FirstLetterRun): string {
  const title = "saelab: first-letter absorption";
  const body: string[] = [`<h1>${escapeXml(title)}</h1>`, `<div class="reading">${renderFirstLetterReading(run).split("\n").map((p) => `<p>${escapeXml(p)}</p>`).join("")}</div>`];
  body.push(`<h2>Summary</h2><pre>${escapeXml(renderFirstLetterTable(run))}</pre>`);
  body.push(`<h2>Letter probe (test F1)</h2>`);
  body.push(barsSvg("letter probe test F1 (26 letters)", ["F1"], run.probe.map((p) => ({ label: p.letter, values: [p.f1] }))));
  for (const s of run.saes) {
    body.push(`<h2>${escapeXml(s.name)}</h2>`);
    if (s.result.letters.length > 0) {
      body.push(barsSvg(`${s.name}: per letter`, ["full absorption rate", "mean absorption fraction"], s.result.letters.map((l) => ({ label: l.letter, values: [l.fullAbsorptionRate, l.meanAbsorptionFraction] }))));
    }
    body.push(`<pre>${escapeXml(renderLetterTable(s))}</pre>`);
    const d = s.detector;
    const rows = d.letters.flatMap((l) => l.detectorPairs.map((p) => `<tr><td>${l.letter}</td><td>${p.parent}</td><td>${p.absorber}</td><td>${p.score.toFixed(3)}</td><td>${p.explained ? "yes" : "no"}</td></tr>`));
    body.push(`<h3>Detector against the probes</h3><p>${d.confidentPairs} confident pairs; precision ${f3(d.precision)}, recall ${f3(d.recall)} (${d.probePairs} probe pairs); ${d.unexplained.length} pairs involve no letter's main latent.</p>`);
    if (rows.length) body.push(`<table><tr><th>letter</th><th>parent</th><th>absorber</th><th>score</th><th>probe absorber</th></tr>${rows.join("")}</table>`);
    if (d.unexplained.length) body.push(`<p>Unexplained pairs (parent &lt;- absorber): ${escapeXml(d.unexplained.slice(0, 30).map((p) => `${p.parent}<-${p.absorber} (${p.score.toFixed(2)})`).join(", "))}${d.unexplained.length > 30 ? " ..." : ""}</p>`);
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"/><title>${escapeXml(title)}</title><style>${REPORT_CSS}</style></head><body>${body.join("\n")}</body></html>\n`;
}
