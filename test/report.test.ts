import { describe, expect, it } from "vitest";
import { evaluateSae } from "../src/metrics/evaluate.js";
import type { SaeEvaluation } from "../src/metrics/schemas.js";
import { renderReportHtml } from "../src/report/html.js";
import { renderReading } from "../src/report/reading.js";
import type { ReportInput } from "../src/report/summary.js";
import { renderEdgeTable, renderTable } from "../src/report/text.js";
import { handSae } from "./helpers/hand-sae.js";
import { basis, handBatch, handWorld, repeat } from "./helpers/hand-world.js";

const D = 6;
const e = (i: number) => basis(D, i);
const world = handWorld({ features: [0, 1, 2, 3, 4, 5].map(e), parent: [-1, 0, 0, 0, -1, -1], mutuallyExclusive: [0] });
const SAMPLES: Record<number, number>[] = [{ 0: 1 }, { 0: 1, 4: 0.5 }, { 0: 1, 1: 1 }, { 0: 1, 2: 0.7 }, { 0: 1, 3: 2 }, { 4: 1 }, { 5: 0.5 }, {}];
const batches = () => [handBatch(world, repeat(SAMPLES, 4))];

// A clean SAE whose latents are the features in a shuffled order (so the heatmap must reorder them).
const perm = [3, 0, 5, 1, 4, 2];
const clean = evaluateSae(handSae({ encoder: perm.map(e), decoder: perm.map(e) }), world, batches());
// The absorbing construction of issue 4 on edge 0 -> 1, flagged as tied to exercise the reading's tied logic.
const r2 = Math.SQRT2;
const absorbingSae = (tied: boolean) =>
  handSae({
    tied,
    encoder: [e(0).map((v, i) => v - e(1)[i]!), e(1).map((v) => v * r2), e(2), e(3), e(4), e(5)],
    decoder: [e(0), e(0).map((v, i) => (v + e(1)[i]!) / r2), e(2), e(3), e(4), e(5)],
  });
const absorbing = evaluateSae(absorbingSae(false), world, batches());
const absorbingTied = evaluateSae(absorbingSae(true), world, batches());

const input = (saes: { name: string; evaluation: SaeEvaluation }[]): ReportInput => ({
  title: "test <report>",
  world: { name: "hand-world", nFeatures: 6, dModel: 6 },
  saes,
});
const NASTY = `<script>alert("x")</script> & 'q'`;

/** Checks that every opened tag is closed in order (void elements self-close with "/>"), returning the tag names seen. */
function checkWellFormed(html: string): string[] {
  const body = html.replace(/^<!DOCTYPE html>\s*/, "");
  const stack: string[] = [];
  const seen: string[] = [];
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w-]*)((?:\s+[\w:-]+="[^"]*")*)\s*(\/?)>/g)) {
    const [, close, name, , self] = m;
    seen.push(name!);
    if (self) continue;
    if (close) {
      const top = stack.pop();
      if (top !== name) throw new Error(`</${name}> closes <${top}>`);
    } else {
      stack.push(name!);
    }
  }
  if (stack.length) throw new Error(`unclosed: ${stack.join(", ")}`);
  // Every "<" must have been part of a tag that the pattern recognised (text is escaped).
  const tags = body.match(/</g)?.length ?? 0;
  if (tags !== seen.length) throw new Error(`${tags - seen.length} "<" outside well-formed tags`);
  return seen;
}

describe("report.html", () => {
  const html = renderReportHtml(input([
    { name: "clean", evaluation: clean },
    { name: NASTY, evaluation: absorbing },
    { name: "tied-absorbing", evaluation: absorbingTied },
  ]));

  it("is well-formed, self-contained and has one heatmap (decoder and encoder panels) per SAE", () => {
    const tags = checkWellFormed(html);
    expect(tags[0]).toBe("html");
    expect(html).not.toMatch(/https?:/);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|@import|url\(|\bsrc=/i);
    const figures = [...html.matchAll(/<figure class="heatmap" data-sae="([^"]*)">(.*?)<\/figure>/g)];
    expect(figures).toHaveLength(3);
    for (const f of figures) {
      expect([...f[2]!.matchAll(/<svg class="heatmap-panel" data-kind="(\w+)"/g)].map((m) => m[1])).toEqual(["decoder", "encoder"]);
      // 6 latents x 6 features = 36 cells per panel, plus one frame.
      expect(f[2]!.match(/<rect /g)?.length).toBe(2 * (36 + 1));
    }
    expect(html.match(/<figure class="absorption"/g)).toHaveLength(3);
    expect(html.match(/<figure class="density"/g)).toHaveLength(3);
  });

  it("escapes names everywhere", () => {
    expect(html).not.toContain(NASTY);
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;");
    expect(html).toContain("<title>test &lt;report&gt;</title>");
  });

  it("orders heatmap latents by matched feature, so a clean SAE shows the diagonal", () => {
    expect(clean.heatmap.features).toEqual([0, 1, 2, 3, 4, 5]);
    // Feature f is latent perm.indexOf(f).
    expect(clean.heatmap.latents).toEqual([1, 3, 5, 0, 4, 2]);
    clean.heatmap.decoder.forEach((row, i) => row.forEach((v, j) => expect(v).toBe(i === j ? 1 : 0)));
    // The diagonal is drawn: the cell for (row i, col i) is fully red.
    const first = html.match(/<figure class="heatmap" data-sae="clean">.*?<\/figure>/)![0];
    expect(first.match(/fill="rgb\(255,0,0\)"/g)).toHaveLength(2 * 6);
  });

  it("rejects an empty results object by name", () => {
    expect(() => renderReportHtml({ world: { name: "w", nFeatures: 1, dModel: 1 }, saes: [] })).toThrow(/saes/);
  });
});

describe("terminal table and reading", () => {
  it("prints one aligned row per SAE with the summary values", () => {
    const inp = input([{ name: "clean", evaluation: clean }, { name: "absorbing", evaluation: absorbing }]);
    const lines = renderTable(inp).split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^SAE\s+arch\s+tied\s+width\s+L0\s+dead\s+expl\.var\s+MCC\s+full abs\s+partial\s+gap\s+2nd parent\s+SB frac\s+SB full$/);
    // The expected row comes from the evaluation itself (and L0 from encoding the batch), not from summaryRows.
    const acts = absorbingSae(false).encode(batches()[0]!.acts, batches()[0]!.batch);
    const l0 = acts.nnz / acts.rows;
    expect(l0).toBe(absorbing.sparsity.l0);
    const s = absorbing.absorption.summary;
    expect(lines[3]!.split(/\s+/)).toEqual(["absorbing", "standard", "no", "6", l0.toFixed(2), "0", absorbing.reconstruction.explainedVariance.toFixed(3), absorbing.recovery.mcc.toFixed(3), (1 / 3).toFixed(3), s.partialRatio!.toFixed(3), s.absorptionGap!.toFixed(3), "n/a", s.saebenchAbsorptionFraction!.toFixed(3), s.saebenchFullAbsorption!.toFixed(3)]);
    // Columns line up: every line has the same length up to trailing spaces of the last column.
    const widths = new Set(lines.map((l) => l.length));
    expect(widths.size).toBe(1);
    const edges = renderEdgeTable(inp).split("\n");
    expect(edges).toHaveLength(2 + 2 * 3);
    expect(edges.find((l) => /^absorbing\s+0\s+1\s/.test(l))).toMatch(/1\.000.*1:0\.71/);
  });

  it("states what the numbers show, and changes when they change", () => {
    const both = renderReading(input([{ name: "clean", evaluation: clean }, { name: "absorbing", evaluation: absorbing }]));
    expect(both).toMatch(/absorbing shows the most full absorption \(0\.333/);
    expect(both).toMatch(/main latent 0 is silent on 100% of the samples where child 1 fires, against 0% when the parent fires alone/);
    expect(both).toMatch(/latent 1 \(decoder cosine 0\.71 with the parent\) carries 100%/);
    expect(both).toMatch(/The others: clean: little or no full absorption \(0\.000\), partial ratio 1\.000, SAEBench fraction 0\.000\./);
    // The absorbing SAE's sibling edges carry notes (gap versus full absorption), and the reading points to them.
    expect(both).toMatch(/2 edge-level notes spell out finer differences/);
    expect(both.split("\n")).toHaveLength(1);

    const onlyClean = renderReading(input([{ name: "clean", evaluation: clean }]));
    expect(onlyClean).toMatch(/No SAE shows more than 0\.000 full absorption/);
    expect(onlyClean).not.toMatch(/Tying/);

    const tiedAbsorbs = renderReading(input([{ name: "clean", evaluation: clean }, { name: "tiedA", evaluation: absorbingTied }]));
    expect(tiedAbsorbs).toMatch(/Tying does not prevent absorption here: the tied tiedA \(0\.333\) absorbs too/);
    const tiedClean = renderReading(input([{ name: "u", evaluation: absorbing }, { name: "t", evaluation: { ...clean, tied: true } }]));
    expect(tiedClean).toMatch(/The tied SAE t \(0\.000\) shows little full absorption of the main latent\./);
    expect(tiedClean).toMatch(/MCC ranges from 0\.951 \(u\) to 1\.000 \(t\)\./);
    expect(both).toMatch(/MCC ranges from 0\.951 \(absorbing\) to 1\.000 \(clean\)\./);
    // When the best-MCC SAE is the one that absorbs, the reading says MCC did not catch it.
    const fooled = renderReading(input([{ name: "a", evaluation: { ...absorbing, recovery: { ...absorbing.recovery, mcc: 0.99 } } }, { name: "c", evaluation: { ...clean, recovery: { ...clean.recovery, mcc: 0.9 } } }]));
    expect(fooled).toMatch(/a absorbs despite the highest MCC/);
    // A main latent that keeps firing while SAEBench's rule sees other latents carrying the parent is a
    // disagreement the reading must state, not hide behind "little full absorption".
    const split = { ...clean, absorption: { ...clean.absorption, summary: { ...clean.absorption.summary, saebenchAbsorptionFraction: 0.65 } } };
    const splitReading = renderReading(input([{ name: "s", evaluation: split }]));
    expect(splitReading).toMatch(/s's SAEBench absorption fraction is 0\.650 while its main latent is silent on only 0\.000/);
    expect(renderReading(input([{ name: "c", evaluation: clean }]))).not.toMatch(/SAEBench absorption fraction is/);
    // A tied SAE whose main latent keeps firing while a second parent latent is absorbed: the reading says both.
    const copy = [0.9, -Math.sqrt(0.19), 0, 0, 0, 0];
    const splitSae = handSae({ tied: true, encoder: [...[0, 1, 2, 3, 4, 5].map(e), e(0).map((v, i) => v - e(1)[i]!)], decoder: [...[0, 1, 2, 3, 4, 5].map(e), copy] });
    const splitTied = renderReading(input([{ name: "u", evaluation: absorbing }, { name: "t", evaluation: evaluateSae(splitSae, world, batches()) }]));
    expect(splitTied).toMatch(/The tied SAE t \(0\.000\) shows little full absorption of the main latent; yet in t a second latent that carries the parent is absorbed/);
    expect(splitTied).toMatch(/t's main latent is not absorbed, but another latent that carries the parent is: latent 6 \(decoder cosine 0\.90 with parent 0\) is silent on 33% of child samples against 0% when the parent fires alone/);
    expect(renderReading(input([{ name: "u", evaluation: absorbing }, { name: "t", evaluation: { ...clean, tied: true } }]))).not.toMatch(/another latent that carries/);

  });
});
