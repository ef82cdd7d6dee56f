/**
 * The self-contained `report.html`: the results table, the reading, cosine heatmaps against the true
 * features, absorption bars per parent/child and firing-density histograms for several SAEs. Inline
 * CSS and SVG only (no scripts, fonts or network references); returns a string, the caller writes it.
 */
import { parseConfig } from "../errors.js";
import type { SaeEvaluation } from "../metrics/schemas.js";
import { renderReading } from "./reading.js";
import { barsSvg, escapeXml, heatmapSvg, histogramSvg } from "./svg.js";
import { COLUMNS, fmt, ReportInputSchema, summaryRows, type ReportInput, type ReportInputRaw } from "./summary.js";

export const REPORT_CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
.reading{background:#f8f9fb;border-left:4px solid #2e86c1;padding:8px 12px}
figure{display:inline-block;vertical-align:top;margin:8px 16px 8px 0}figcaption{font-weight:600}

pre{background:#f4f4f4;padding:6px 10px;overflow-x:auto}ul.notes li{margin:2px 0}
`;

/** Returns `input` validated (throwing a ConfigError naming bad fields). */
function validated(input: ReportInput | ReportInputRaw): ReportInput {
  return parseConfig(ReportInputSchema, input, "report input");
}

function featureRole(e: SaeEvaluation, f: number): string {
  const p = e.absorption.parents.find((x) => x.parent === f);
  if (p) return ` (parent of ${p.children.join(", ")})`;
  const c = e.absorption.parents.find((x) => x.children.includes(f));
  return c ? ` (child of ${c.parent})` : "";
}

function heatmapFigure(name: string, e: SaeEvaluation): string {
  const hm = e.heatmap;
  const rowLabels = hm.latents.map((j) => `L${j}`);
  const colLabels = hm.features.map((f) => `f${f}`);
  const panel = (kind: "decoder" | "encoder") =>
    heatmapSvg({
      kind,
      title: `${kind} cosine (rows: latents, cols: true features)`,
      rowLabels,
      colLabels,
      values: hm[kind],
      cellTitle: (r, c, v) => `latent ${hm.latents[r]} / feature ${hm.features[c]}${featureRole(e, hm.features[c]!)}: ${kind} cos ${v.toFixed(3)}`,
    });
  const note = hm.truncated ? ` (showing ${hm.latents.length} of ${e.dSae} latents, ${hm.features.length} of ${e.nFeatures} features)` : "";
  return (
    `<figure class="heatmap" data-sae="${escapeXml(name)}"><figcaption>${escapeXml(name)}${escapeXml(note)}</figcaption>` +
    `${panel("decoder")}${panel("encoder")}</figure>`
  );
}

function absorptionFigure(name: string, e: SaeEvaluation): string {
  const groups = e.absorption.parents.flatMap((p) =>
    p.edges.map((edge) => ({ label: `${p.parent}>${edge.child}`, values: [edge.fullAbsorption, edge.saebench.absorptionFraction, edge.saebench.fullAbsorption] })),
  );
  const body = groups.length > 0 ? barsSvg(`absorption per parent>child: ${name}`, ["full absorption", "SAEBench fraction", "SAEBench full"], groups) : "<p>No hierarchy in this world: nothing to absorb.</p>";
  return `<figure class="absorption" data-sae="${escapeXml(name)}"><figcaption>${escapeXml(name)}</figcaption>${body}</figure>`;
}

function densityFigure(name: string, e: SaeEvaluation): string {
  const h = e.sparsity.densityHistogram;
  // Only whole decades get a label; the bins between them are fractions of a decade.
  const label = (v: number) => (Math.abs(v - Math.round(v)) < 1e-9 ? (Math.round(v) === 0 ? "1" : `1e${Math.round(v)}`) : null);
  const svg = histogramSvg(`latent firing density (log10 bins): ${name}`, h.log10Edges, h.counts, label, `${h.dead} dead latent${h.dead === 1 ? "" : "s"} not shown`);
  return `<figure class="density" data-sae="${escapeXml(name)}"><figcaption>${escapeXml(name)}</figcaption>${svg}</figure>`;
}

function resultsTable(input: ReportInput): string {
  const head = COLUMNS.map((c) => `<th title="${escapeXml(c.help)}">${escapeXml(c.header)}</th>`).join("");
  const rows = summaryRows(input)
    .map((r) => `<tr>${COLUMNS.map((c) => `<td>${escapeXml(c.format(r))}</td>`).join("")}</tr>`)
    .join("");
  return `<table class="results"><thead><tr>${head}</tr></thead><tbody>${rows}</tbody></table>`;
}

function edgeTable(input: ReportInput): string {
  const head = ["SAE", "parent", "child", "main latent(s)", "F1 main", "samples", "full abs", "partial", "below half", "gap", "enc cos child", "absorbers (latent: dec cos parent, share)", "SB frac", "SB full"];
  const rows: string[] = [];
  for (const { name, evaluation } of input.saes) {
    for (const p of evaluation.absorption.parents) {
      for (const e of p.edges) {
        const cells = [
          name,
          String(p.parent),
          String(e.child),
          p.mainLatents.map((m) => `${m.latent} (cos ${m.decoderCos.toFixed(2)})`).join(", "),
          p.mainByF1 ? `${p.mainByF1.latent} (F1 ${p.mainByF1.f1.toFixed(2)})${p.mainAgree ? "" : " differs"}` : "none",
          String(e.nSamples),
          fmt(e.fullAbsorption),
          fmt(e.partialRatio),
          fmt(e.belowHalfShare),
          fmt(e.absorptionGap),
          e.encoderCosWithChild.map((v) => v.toFixed(2)).join(", "),
          e.absorbers.map((a) => `${a.latent}: ${a.decoderCosParent.toFixed(2)}, ${a.projectionShare.toFixed(2)}`).join("; ") || "none",
          fmt(e.saebench.absorptionFraction),
          fmt(e.saebench.fullAbsorption),
        ];
        rows.push(`<tr>${cells.map((c) => `<td>${escapeXml(c)}</td>`).join("")}</tr>`);
      }
    }
  }
  if (rows.length === 0) return "<p>No parent/child edges in this world.</p>";
  return `<table class="edges"><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

function notesList(input: ReportInput): string {
  const items = input.saes.flatMap(({ name, evaluation }) => evaluation.notes.map((n) => `<li><b>${escapeXml(name)}</b>: ${escapeXml(n)}</li>`));
  return items.length > 0 ? `<ul class="notes">${items.join("")}</ul>` : "<p>No measures disagree and none is undefined.</p>";
}

/** Returns the complete, self-contained report.html for several SAEs evaluated on one world. */
export function renderReportHtml(raw: ReportInput | ReportInputRaw): string {
  const input = validated(raw);
  const title = escapeXml(input.title);
  const w = input.world;
  const section = (id: string, heading: string, body: string) => `<section id="${id}"><h2>${escapeXml(heading)}</h2>${body}</section>`;
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/><title>${title}</title><style>${REPORT_CSS}</style></head><body>`,
    `<h1>${title}</h1>`,
    `<p>World <b>${escapeXml(w.name)}</b>: ${w.nFeatures} true features in ${w.dModel} dimensions.</p>`,
    input.command ? `<pre>${escapeXml(input.command)}</pre>` : "",
    `<p class="reading">${escapeXml(renderReading(input))}</p>`,
    section("results", "Results", resultsTable(input)),
    section("edges", "Absorption per parent and child", edgeTable(input)),
    section("absorption-bars", "Absorption bars", input.saes.map((s) => absorptionFigure(s.name, s.evaluation)).join("")),
    section(
      "heatmaps",
      "Cosines against the true features",
      "<p>Rows are latents ordered by their matched feature, so an SAE that recovers the features shows a diagonal; red is positive, blue negative.</p>" +
        input.saes.map((s) => heatmapFigure(s.name, s.evaluation)).join(""),
    ),
    section("density", "Latent firing density", input.saes.map((s) => densityFigure(s.name, s.evaluation)).join("")),
    section("notes", "Notes: where measures disagree or are undefined", notesList(input)),
    "<footer><p>Generated by saelab.</p></footer>",
    "</body></html>",
    "",
  ].join("\n");
}
