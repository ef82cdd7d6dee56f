/** Plain-text renderings of a report for the terminal: the results table and the per-edge detail. */
import { COLUMNS, fmt, summaryRows, type ReportInput } from "./summary.js";

/** Returns `rows` as an aligned plain-text table (text left-aligned, numbers right-aligned). */
export function alignTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.]+$|^n\/a$/.test(r[i] ?? "")));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Returns the results table: one row per SAE with L0, explained variance, MCC and the absorption scores. */
export function renderTable(input: ReportInput): string {
  const rows = summaryRows(input).map((r) => COLUMNS.map((c) => c.format(r)));
  return alignTable(COLUMNS.map((c) => c.header), rows);
}

/** Returns an edge table's main-latent cell: "14", or "14 (best F1: 8)" when the F1-best latent differs from the cosine-best. */
export function mainCell(p: { mainLatents: readonly { latent: number }[]; mainAgree: boolean; mainByF1?: { latent: number } | null | undefined }): string {
  const main = p.mainLatents.map((m) => m.latent).join("+") || "-";
  return p.mainAgree ? main : `${main} (best F1: ${p.mainByF1?.latent ?? "none"})`;
}

/** Returns one line per SAE and parent/child edge: main latent, full and partial absorption, absorbers. */
export function renderEdgeTable(input: ReportInput): string {
  const header = ["SAE", "parent", "child", "main", "n", "full abs", "partial", "gap", "SB frac", "SB full", "absorbers (latent:cos)"];
  const rows: string[][] = [];
  for (const { name, evaluation } of input.saes) {
    for (const p of evaluation.absorption.parents) {
      const main = mainCell(p);
      for (const e of p.edges) {
        rows.push([
          name,
          String(p.parent),
          String(e.child),
          main,
          String(e.nSamples),
          fmt(e.fullAbsorption),
          fmt(e.partialRatio),
          fmt(e.absorptionGap),
          fmt(e.saebench.absorptionFraction),
          fmt(e.saebench.fullAbsorption),
          e.absorbers.map((a) => `${a.latent}:${a.decoderCosParent.toFixed(2)}`).join(" ") || "-",
        ]);
      }
    }
  }
  return alignTable(header, rows);
}

/** Returns the evaluations' notes (where measures disagree or are undefined), one line each under a heading, or a line saying there are none. */
export function renderNotes(input: ReportInput): string {
  const lines = input.saes.flatMap(({ name, evaluation }) => evaluation.notes.map((n) => `  ${name}: ${n}`));
  return lines.length > 0 ? ["Notes (where measures disagree or are undefined):", ...lines].join("\n") : "Notes: no measures disagree and none is undefined.";
}
