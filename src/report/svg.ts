/**
 * Inline SVG charts for the HTML report: cosine heatmaps, grouped bars and histograms. Output is a
 * string of well-formed markup with every text escaped and no external references (no xmlns URL is
 * needed for SVG inlined in HTML).
 */

/** Returns `s` with the five XML special characters escaped (safe in text and in quoted attributes). */
export function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

const n2 = (v: number) => (Math.round(v * 100) / 100).toString();
/** Text styles are attributes, not CSS classes, so each chart also renders correctly on its own. */
const TITLE = 'font-size="12" font-weight="600" font-family="sans-serif"';
const LABEL = 'font-size="9" fill="#444" font-family="sans-serif"';
/** Rough width of a label in pixels, for layout. */
const textWidth = (s: string, size: number) => s.length * size * 0.6;

/** Returns a diverging colour for v in [-1, 1]: blue for negative, white at 0, red for positive. */
export function divergingColor(v: number): string {
  const t = Math.max(-1, Math.min(1, v));
  const c = Math.round(255 * (1 - Math.abs(t)));
  return t >= 0 ? `rgb(255,${c},${c})` : `rgb(${c},${c},255)`;
}

export interface HeatmapPanel {
  /** "decoder" or "encoder": becomes the data-kind attribute. */
  kind: string;
  title: string;
  rowLabels: readonly string[];
  colLabels: readonly string[];
  /** [rows][cols], values in [-1, 1]. */
  values: readonly (readonly number[])[];
  /** Tooltip of each cell, from its row and column index and value. */
  cellTitle: (r: number, c: number, v: number) => string;
}

/** Returns one heatmap panel as an <svg> element. */
export function heatmapSvg(p: HeatmapPanel): string {
  const rows = p.values.length;
  const cols = p.colLabels.length;
  const cell = Math.max(3, Math.min(14, Math.floor(420 / Math.max(rows, cols, 1))));
  const left = 8 + Math.max(20, ...p.rowLabels.map((l) => textWidth(l, 9)));
  const top = 22 + Math.max(12, ...p.colLabels.map((l) => textWidth(l, 9) * 0.87));
  const w = Math.max(left + cols * cell + 8, left + textWidth(p.title, 12));
  const h = top + rows * cell + 8;
  const labelEvery = () => Math.max(1, Math.ceil(10 / cell));
  const parts: string[] = [
    `<svg class="heatmap-panel" data-kind="${escapeXml(p.kind)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(p.title)}">`,
    `<text x="${left}" y="12" ${TITLE}>${escapeXml(p.title)}</text>`,
  ];
  const ce = labelEvery();
  for (let c = 0; c < cols; c += ce) {
    // Column labels run upwards at 60 degrees so neighbours never overlap.
    const x = left + c * cell + cell / 2 + 3;
    parts.push(`<text x="${x}" y="${top - 3}" ${LABEL} transform="rotate(-60 ${x} ${top - 3})">${escapeXml(p.colLabels[c]!)}</text>`);
  }
  const re = labelEvery();
  for (let r = 0; r < rows; r++) {
    if (r % re === 0) parts.push(`<text x="${left - 3}" y="${top + r * cell + cell * 0.8}" ${LABEL} text-anchor="end">${escapeXml(p.rowLabels[r] ?? "")}</text>`);
    const row = p.values[r]!;
    for (let c = 0; c < cols; c++) {
      const v = row[c]!;
      parts.push(
        `<rect x="${left + c * cell}" y="${top + r * cell}" width="${cell}" height="${cell}" fill="${divergingColor(v)}"><title>${escapeXml(p.cellTitle(r, c, v))}</title></rect>`,
      );
    }
  }
  parts.push(`<rect x="${left}" y="${top}" width="${cols * cell}" height="${rows * cell}" fill="none" stroke="#888"/>`, "</svg>");
  return parts.join("");
}

export interface BarGroup {
  label: string;
  /** One value per series; null draws nothing (undefined rate). */
  values: readonly (number | null)[];
}

const SERIES_COLORS = ["#c0392b", "#2e86c1", "#7d3c98", "#229954", "#b9770e"];

/** Returns a grouped bar chart (one group per label, one bar per series) as an <svg> element. */
export function barsSvg(title: string, series: readonly string[], groups: readonly BarGroup[]): string {
  const all = groups.flatMap((g) => g.values).filter((v): v is number => v !== null);
  const lo = Math.min(0, ...all);
  const hi = Math.max(1, ...all);
  const barW = 12;
  const groupW = series.length * barW + 14;
  const left = 36;
  const top = 30;
  const plotH = 140;
  const legendW = series.map((x) => textWidth(x, 9) + 24);
  const w = Math.max(left + groups.length * groupW + 10, left + legendW.reduce((a, b) => a + b, 0), left + textWidth(title, 12));
  const h = top + plotH + 40;
  const y = (v: number) => top + ((hi - v) / (hi - lo)) * plotH;
  const parts: string[] = [`<svg class="bars" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(title)}">`];
  parts.push(`<text x="${left}" y="12" ${TITLE}>${escapeXml(title)}</text>`);
  series.forEach((s, i) => {
    const x = left + legendW.slice(0, i).reduce((a, b) => a + b, 0);
    parts.push(`<rect x="${x}" y="17" width="8" height="8" fill="${SERIES_COLORS[i % SERIES_COLORS.length]}"/><text x="${x + 11}" y="25" ${LABEL}>${escapeXml(s)}</text>`);
  });
  for (const tick of [lo, 0, 0.5, 1, hi].filter((t, i, a) => a.indexOf(t) === i && t >= lo && t <= hi)) {
    parts.push(`<line x1="${left}" x2="${w - 6}" y1="${y(tick)}" y2="${y(tick)}" stroke="#e5e5e5"/><text x="${left - 3}" y="${y(tick) + 3}" ${LABEL} text-anchor="end">${n2(tick)}</text>`);
  }
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + 7;
    g.values.forEach((v, si) => {
      if (v === null) return;
      const yTop = Math.min(y(v), y(0));
      const hBar = Math.abs(y(v) - y(0));
      parts.push(
        `<rect x="${x0 + si * barW}" y="${yTop}" width="${barW - 2}" height="${Math.max(hBar, 0.5)}" fill="${SERIES_COLORS[si % SERIES_COLORS.length]}"><title>${escapeXml(`${g.label} ${series[si]}: ${v.toFixed(3)}`)}</title></rect>`,
      );
    });
    parts.push(`<text x="${x0 + (series.length * barW) / 2}" y="${top + plotH + 14}" ${LABEL} text-anchor="middle">${escapeXml(g.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

/**
 * Returns a histogram as an <svg> element: `edges` are the bin boundaries (counts.length + 1 of
 * them), labelled where `edgeLabel` returns a string.
 */
export function histogramSvg(title: string, edges: readonly number[], counts: readonly number[], edgeLabel: (v: number) => string | null, footnote: string): string {
  const max = Math.max(1, ...counts);
  const barW = Math.max(8, Math.min(28, Math.floor(360 / Math.max(counts.length, 1))));
  const left = 34;
  const top = 22;
  const plotH = 110;
  const w = Math.max(left + counts.length * barW + 30, left + textWidth(title, 12), left + textWidth(footnote, 9));
  const h = top + plotH + 42;
  const parts: string[] = [`<svg class="histogram" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(title)}">`];
  parts.push(`<text x="${left}" y="12" ${TITLE}>${escapeXml(title)}</text>`);
  parts.push(`<text x="${left - 3}" y="${top + 8}" ${LABEL} text-anchor="end">${max}</text><text x="${left - 3}" y="${top + plotH}" ${LABEL} text-anchor="end">0</text>`);
  counts.forEach((c, i) => {
    const bh = (c / max) * plotH;
    const range = `${edgeLabel(edges[i]!) ?? edges[i]!.toFixed(2)} to ${edgeLabel(edges[i + 1]!) ?? edges[i + 1]!.toFixed(2)}`;
    parts.push(`<rect x="${left + i * barW}" y="${top + plotH - bh}" width="${barW - 1}" height="${bh}" fill="#5d6d7e"><title>${escapeXml(`${range}: ${c}`)}</title></rect>`);
  });
  edges.forEach((v, i) => {
    const l = edgeLabel(v);
    if (l !== null) parts.push(`<text x="${left + i * barW}" y="${top + plotH + 12}" ${LABEL} text-anchor="middle">${escapeXml(l)}</text>`);
  });
  parts.push(`<text x="${left}" y="${h - 6}" ${LABEL}>${escapeXml(footnote)}</text>`, "</svg>");
  return parts.join("");
}
