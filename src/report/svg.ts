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
  const left = 44;
  const top = 34;
  const w = left + cols * cell + 8;
  const h = top + rows * cell + 8;
  const labelEvery = (n: number) => Math.max(1, Math.ceil(9 / cell) * (n > 40 ? 2 : 1));
  const parts: string[] = [
    `<svg class="heatmap-panel" data-kind="${escapeXml(p.kind)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(p.title)}">`,
    `<text x="${left}" y="12" class="t">${escapeXml(p.title)}</text>`,
  ];
  const ce = labelEvery(cols);
  for (let c = 0; c < cols; c += ce) {
    parts.push(`<text x="${left + c * cell + cell / 2}" y="${top - 4}" class="l" text-anchor="middle">${escapeXml(p.colLabels[c]!)}</text>`);
  }
  const re = labelEvery(rows);
  for (let r = 0; r < rows; r++) {
    if (r % re === 0) parts.push(`<text x="${left - 3}" y="${top + r * cell + cell * 0.8}" class="l" text-anchor="end">${escapeXml(p.rowLabels[r] ?? "")}</text>`);
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
  const w = Math.max(260, left + groups.length * groupW + 10);
  const h = top + plotH + 40;
  const y = (v: number) => top + ((hi - v) / (hi - lo)) * plotH;
  const parts: string[] = [`<svg class="bars" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(title)}">`];
  parts.push(`<text x="${left}" y="12" class="t">${escapeXml(title)}</text>`);
  series.forEach((s, i) => {
    const x = left + i * 110;
    parts.push(`<rect x="${x}" y="17" width="8" height="8" fill="${SERIES_COLORS[i % SERIES_COLORS.length]}"/><text x="${x + 11}" y="25" class="l">${escapeXml(s)}</text>`);
  });
  for (const tick of [lo, 0, 0.5, 1, hi].filter((t, i, a) => a.indexOf(t) === i && t >= lo && t <= hi)) {
    parts.push(`<line x1="${left}" x2="${w - 6}" y1="${y(tick)}" y2="${y(tick)}" class="grid"/><text x="${left - 3}" y="${y(tick) + 3}" class="l" text-anchor="end">${n2(tick)}</text>`);
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
    parts.push(`<text x="${x0 + (series.length * barW) / 2}" y="${top + plotH + 14}" class="l" text-anchor="middle">${escapeXml(g.label)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

/** Returns a histogram (counts per bin with its lower-edge label) as an <svg> element. */
export function histogramSvg(title: string, edgeLabels: readonly string[], counts: readonly number[], footnote: string): string {
  const max = Math.max(1, ...counts);
  const barW = Math.max(8, Math.min(28, Math.floor(360 / Math.max(counts.length, 1))));
  const left = 34;
  const top = 22;
  const plotH = 110;
  const w = left + counts.length * barW + 30;
  const h = top + plotH + 42;
  const parts: string[] = [`<svg class="histogram" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(title)}">`];
  parts.push(`<text x="${left}" y="12" class="t">${escapeXml(title)}</text>`);
  parts.push(`<text x="${left - 3}" y="${top + 8}" class="l" text-anchor="end">${max}</text><text x="${left - 3}" y="${top + plotH}" class="l" text-anchor="end">0</text>`);
  counts.forEach((c, i) => {
    const bh = (c / max) * plotH;
    parts.push(`<rect x="${left + i * barW}" y="${top + plotH - bh}" width="${barW - 1}" height="${bh}" fill="#5d6d7e"><title>${escapeXml(`${edgeLabels[i]}: ${c}`)}</title></rect>`);
  });
  edgeLabels.forEach((l, i) => {
    if (i % Math.ceil(24 / barW) === 0) parts.push(`<text x="${left + i * barW}" y="${top + plotH + 12}" class="l">${escapeXml(l)}</text>`);
  });
  parts.push(`<text x="${left}" y="${h - 6}" class="l">${escapeXml(footnote)}</text>`, "</svg>");
  return parts.join("");
}
