/**
 * The sweep report's heatmap: a small grid over two axes with each cell's value written in it, on a
 * sequential colour scale shared by every panel of the same metric (so panels compare at a glance).
 * Inline SVG, every text escaped, no external references.
 */
import { escapeXml } from "./svg.js";

/** One heatmap panel. */
export interface GridHeatmap {
  /** Metric key (data-metric attribute). */
  metric: string;
  /** SAE config name (data-sae attribute). */
  sae: string;
  /** Axis keys joined by "x" (data-axes attribute). */
  axes: string;
  title: string;
  xLabel: string;
  yLabel: string;
  xTicks: readonly string[];
  yTicks: readonly string[];
  /** [rows = y][cols = x]; null draws a grey cell (no data). */
  values: readonly (readonly (number | null)[])[];
  /** The colour scale's range: lo is white, hi the darkest shade. */
  domain: readonly [number, number];
  /** Hue of the scale (degrees). */
  hue: number;
  digits: number;
  cellTitle: (row: number, col: number, v: number | null) => string;
}

/** Returns the fill of value `v` on a white-to-`hue` scale over `domain`, and whether text on it should be white. */
export function sequentialColor(v: number, domain: readonly [number, number], hue: number): { fill: string; dark: boolean } {
  const [lo, hi] = domain;
  const t = hi > lo ? Math.max(0, Math.min(1, (v - lo) / (hi - lo))) : 0;
  const light = 97 - t * 62;
  return { fill: `hsl(${hue},65%,${light.toFixed(1)}%)`, dark: light < 55 };
}

const FONT = 'font-family="sans-serif"';
const textWidth = (s: string, size: number) => s.length * size * 0.6;

/** Returns one grid heatmap as an <svg> element. */
export function gridHeatmapSvg(p: GridHeatmap): string {
  const cw = Math.max(40, ...p.xTicks.map((t) => textWidth(t, 9) + 6));
  const ch = 22;
  const rows = p.values.length;
  const cols = p.xTicks.length;
  const left = 16 + Math.max(24, ...p.yTicks.map((t) => textWidth(t, 9)));
  const top = 44;
  const w = Math.max(left + cols * cw + 8, left + textWidth(p.title, 11), left + textWidth(p.xLabel, 9));
  const h = top + rows * ch + 24;
  const parts = [
    `<svg class="sweep-heatmap" data-metric="${escapeXml(p.metric)}" data-sae="${escapeXml(p.sae)}" data-axes="${escapeXml(p.axes)}" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" role="img" aria-label="${escapeXml(p.title)}">`,
    `<text x="4" y="12" font-size="11" font-weight="600" ${FONT}>${escapeXml(p.title)}</text>`,
    `<text x="${left}" y="26" font-size="9" fill="#444" ${FONT}>${escapeXml(p.xLabel)} →</text>`,
  ];
  p.xTicks.forEach((t, c) => parts.push(`<text x="${left + c * cw + cw / 2}" y="${top - 4}" font-size="9" fill="#444" text-anchor="middle" ${FONT}>${escapeXml(t)}</text>`));
  for (let r = 0; r < rows; r++) {
    const y = top + r * ch;
    parts.push(`<text x="${left - 4}" y="${y + ch / 2 + 3}" font-size="9" fill="#444" text-anchor="end" ${FONT}>${escapeXml(p.yTicks[r] ?? "")}</text>`);
    for (let c = 0; c < cols; c++) {
      const v = p.values[r]![c] ?? null;
      const x = left + c * cw;
      const { fill, dark } = v === null ? { fill: "#ddd", dark: false } : sequentialColor(v, p.domain, p.hue);
      parts.push(
        `<g><title>${escapeXml(p.cellTitle(r, c, v))}</title><rect x="${x}" y="${y}" width="${cw}" height="${ch}" fill="${fill}" stroke="#fff"/>` +
          `<text x="${x + cw / 2}" y="${y + ch / 2 + 3}" font-size="9" text-anchor="middle" fill="${dark ? "#fff" : "#222"}" ${FONT}>${v === null ? "-" : v.toFixed(p.digits)}</text></g>`,
      );
    }
  }
  parts.push(`<text x="4" y="${h - 6}" font-size="9" fill="#444" ${FONT}>↓ ${escapeXml(p.yLabel)}</text>`, "</svg>");
  return parts.join("");
}
