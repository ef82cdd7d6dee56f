/**
 * The sweep's self-contained report.html: the summary of the pattern found, heatmaps of full
 * absorption, SAEBench's absorption fraction, MCC, L0 and explained variance over each pair of swept
 * axes (one panel per SAE config, colour scales shared across panels), the world check (configured
 * against measured co-occurrence and magnitude ratio) and every grid point's numbers. Inline CSS and
 * SVG only; returns a string, the caller writes it.
 */
import { WORLD_AXES, WORLD_AXIS_NAMES } from "../experiments/sweep-axes.js";
import { escapeXml } from "./svg.js";
import { gridHeatmapSvg } from "./sweep-svg.js";
import { gridPoints, pairGrid, SWEEP_METRICS, tick, type SweepView } from "./sweep-data.js";
import { renderSweepSummary } from "./sweep-text.js";

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1300px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}h3{font-size:15px;margin:14px 0 2px}
table{border-collapse:collapse;margin:8px 0}th,td{padding:3px 8px;border-bottom:1px solid #eee;text-align:right}
th:first-child,td:first-child{text-align:left}th{background:#f4f4f4}
.reading{background:#f8f9fb;border-left:4px solid #2e86c1;padding:6px 12px;margin:6px 0}
figure{display:inline-block;vertical-align:top;margin:6px 14px 6px 0}figcaption{font-weight:600;font-size:13px}
pre{background:#f4f4f4;padding:6px 10px;overflow-x:auto}
`;

/** What the report says about how the sweep ran. */
export interface SweepReportMeta {
  /** The command that produced the results. */
  command?: string;
  /** Wall time of the run that finished the sweep, in seconds. */
  wallSeconds?: number;
}

const f3 = (v: number | null) => (v === null ? "n/a" : v.toFixed(3));

function heatmapSection(view: SweepView, ax: number, ay: number): string {
  const xa = view.axes[ax]!;
  const ya = view.axes[ay]!;
  const others = view.dims.filter((d) => d !== ax && d !== ay).map((d) => view.axes[d]!.label);
  const avg = [...others, ...(view.seeds.length > 1 ? ["seeds"] : [])];
  const parts: string[] = [];
  const single = ax === ay;
  const heading = single ? `Along ${xa.label}` : `${ya.label} (rows) by ${xa.label} (columns)`;
  parts.push(`<h2>${escapeXml(heading)}</h2>`, `<p>Each cell is the mean over ${avg.length > 0 ? escapeXml(avg.join(", ")) : "its single result"}. Hover a cell for the number of results behind it.</p>`);
  for (const m of SWEEP_METRICS) {
    const grids = view.configs.map((c) => ({ c, g: pairGrid(view, c.name, ax, ay, m.key) }));
    const all = grids.flatMap((x) => x.g.values.flat()).filter((v): v is number => v !== null);
    const domain: [number, number] = m.fixed ? [m.fixed[0], m.fixed[1]] : [0, Math.max(1e-9, ...all)];
    const figures = grids.map(({ c, g }) => {
      const values = single ? [g.values.map((row, i) => row[i] ?? null)] : g.values;
      const counts = single ? [g.counts.map((row, i) => row[i] ?? 0)] : g.counts;
      const yTicks = single ? [""] : ya.ticks(c.name);
      const svg = gridHeatmapSvg({
        metric: m.key,
        sae: c.name,
        axes: single ? xa.key : `${ya.key}x${xa.key}`,
        title: `${m.label}: ${c.name}`,
        xLabel: xa.key === "sparsity" && c.parameter ? c.parameter : xa.label,
        yLabel: single ? "" : ya.key === "sparsity" && c.parameter ? c.parameter : ya.label,
        xTicks: xa.ticks(c.name),
        yTicks,
        values,
        domain,
        hue: m.hue,
        digits: 2,
        cellTitle: (r, col, v) =>
          `${c.name}${single ? "" : `, ${ya.label} ${yTicks[r]}`}, ${xa.label} ${xa.ticks(c.name)[col]}: ${m.label} ${v === null ? "no data" : v.toFixed(3)} (mean of ${counts[r]![col]} result${counts[r]![col] === 1 ? "" : "s"})`,
      });
      return `<figure data-sae="${escapeXml(c.name)}">${svg}</figure>`;
    });
    parts.push(`<h3>${escapeXml(m.label)} <small>(colour scale ${domain[0]} to ${Number(domain[1].toFixed(2))}${m.fixed && m.fixed[0] > 0 ? `; lower values are white` : ""})</small></h3>`, `<div class="metric-row" data-metric="${m.key}">${figures.join("")}</div>`);
  }
  return `<section class="pair">${parts.join("")}</section>`;
}

function worldTable(view: SweepView): string {
  const swept = WORLD_AXIS_NAMES.filter((n) => view.axes.some((a) => a.key === n));
  const head = [...swept.map((n) => WORLD_AXES[n].label), "seeds", "P(child|parent) configured", "measured", "child/parent magnitude configured", "measured", "true L0"];
  const rows = view.worldPoints.map((w) =>
    [...swept.map((n) => (w.values[n] === undefined ? "-" : tick(w.values[n]!))), String(w.seeds), f3(w.configured.pChildGivenParent), f3(w.measured.pChildGivenParent), f3(w.configured.magnitudeRatio), f3(w.measured.magnitudeRatio), w.measured.trueL0.toFixed(3)]
      .map((c) => `<td>${escapeXml(c)}</td>`)
      .join(""),
  );
  return (
    "<p>What each cell's evaluation samples showed, averaged over the hierarchy's edges: the configured values come from the world after the axis edits, the measured ones from the samples.</p>" +
    `<table class="world"><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr></thead><tbody>${rows.map((r) => `<tr>${r}</tr>`).join("")}</tbody></table>`
  );
}

function pointsTable(view: SweepView): string {
  const swept = view.dims.map((d) => view.axes[d]!);
  const head = ["SAE", ...swept.map((a) => a.label), ...SWEEP_METRICS.map((m) => m.label)];
  const rows = gridPoints(view).map((p) => {
    const cells = [p.config, ...view.dims.map((d) => view.axes[d]!.ticks(p.config)[p.coords[d]!]!), ...SWEEP_METRICS.map((m) => f3(p.mean[m.key]))];
    return `<tr>${cells.map((c) => `<td>${escapeXml(c)}</td>`).join("")}</tr>`;
  });
  return `<table class="points"><thead><tr>${head.map((h) => `<th>${escapeXml(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("")}</tbody></table>`;
}

/** Returns the complete, self-contained report.html of a sweep. */
export function renderSweepHtml(view: SweepView, meta: SweepReportMeta = {}): string {
  const title = escapeXml(`saelab sweep: ${view.name}`);
  const pairs: [number, number][] = [];
  for (let i = 0; i < view.dims.length; i++) for (let j = i + 1; j < view.dims.length; j++) pairs.push([view.dims[j]!, view.dims[i]!]);
  if (view.dims.length === 1) pairs.push([view.dims[0]!, view.dims[0]!]);
  if (view.dims.length === 0) pairs.push([0, 0]);
  const configs = view.configs.map((c) => `<li><b>${escapeXml(c.name)}</b>: ${escapeXml(c.architecture)}, ${escapeXml(c.tying)}${c.parameter ? `, ${escapeXml(c.parameter)} ${c.values.map((v) => (v === null ? "-" : tick(v))).join(" / ")}` : ""}</li>`);
  const summary = view.cellsDone > 0 ? renderSweepSummary(view) : ["No cell has finished yet."];
  return [
    "<!DOCTYPE html>",
    `<html lang="en"><head><meta charset="utf-8"/><meta name="viewport" content="width=device-width, initial-scale=1"/><title>${title}</title><style>${CSS}</style></head><body>`,
    `<h1>${title}</h1>`,
    view.description ? `<p>${escapeXml(view.description)}</p>` : "",
    meta.command ? `<pre>${escapeXml(meta.command)}</pre>` : "",
    `<p>${view.cellsDone} of ${view.cellsTotal} cells finished; seeds ${view.seeds.join(", ")}${meta.wallSeconds !== undefined ? `; this run took ${meta.wallSeconds.toFixed(0)} s` : ""}.</p>`,
    `<ul class="configs">${configs.join("")}</ul>`,
    `<section id="summary"><h2>What the numbers show</h2>${summary.map((p) => `<p class="reading">${escapeXml(p)}</p>`).join("")}</section>`,
    ...(view.cellsDone > 0 ? pairs.map(([ax, ay]) => heatmapSection(view, ax, ay)) : []),
    `<section id="world"><h2>World check</h2>${worldTable(view)}</section>`,
    `<section id="points"><h2>Every grid point</h2>${pointsTable(view)}</section>`,
    "<footer><p>Generated by saelab.</p></footer>",
    "</body></html>",
    "",
  ].join("\n");
}
