/**
 * Saving the accumulator into the (partial) features database and restoring it from there. The
 * tables the pass fills are the final ones: `latents` (counts, sums, maxima, histograms) and
 * `contexts` (the top-k, ranked, and the reservoir, by slot), so a checkpoint is the finished
 * database minus what is computed after the pass.
 */
import type { FeaturesDb } from "../../io/features-db.js";
import { HIST_BINS, setMeta } from "../../io/features-db.js";
import type { ContextEntry, LatentAccumulator } from "./accumulate.js";

const round7 = (v: number): number => Number(v.toPrecision(7));

interface ContextRow {
  latent: number;
  kind: "top" | "sample";
  slot: number;
  activation: number;
  row: number;
  seq: number;
  pos: number;
  focus: number;
  tokens: string;
  acts: string;
}

/** Writes the accumulator's state (all latent statistics, the contexts of latents changed since the last save) and `rows_done`. */
export function saveAccumulator(db: FeaturesDb, acc: LatentAccumulator): void {
  const d = acc.o.dSae;
  const upsert = db.prepare(
    `INSERT INTO latents (latent, n_fires, density, sum_act, mean_act, max_act, hist) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT(latent) DO UPDATE SET n_fires = excluded.n_fires, density = excluded.density, sum_act = excluded.sum_act,
       mean_act = excluded.mean_act, max_act = excluded.max_act, hist = excluded.hist`,
  );
  const del = db.prepare("DELETE FROM contexts WHERE latent = ?");
  const ins = db.prepare("INSERT INTO contexts (latent, kind, slot, activation, row, seq, pos, focus, tokens, acts) VALUES (@latent, @kind, @slot, @activation, @row, @seq, @pos, @focus, @tokens, @acts)");
  const row = (latent: number, kind: "top" | "sample", slot: number, c: ContextEntry): ContextRow => ({
    latent, kind, slot, activation: c.activation, row: c.row, seq: c.seq, pos: c.pos, focus: c.focus,
    tokens: JSON.stringify(c.tokens), acts: JSON.stringify(c.acts.map(round7)),
  });
  db.transaction(() => {
    const rows = Math.max(1, acc.rowsDone);
    for (let j = 0; j < d; j++) {
      const n = acc.nFires[j]!;
      const hist = JSON.stringify(Array.from(acc.hist.subarray(j * HIST_BINS, (j + 1) * HIST_BINS)));
      upsert.run(j, n, n / rows, acc.sumAct[j]!, n > 0 ? acc.sumAct[j]! / n : null, n > 0 ? acc.maxAct[j]! : null, hist);
      if (!acc.dirty[j]) continue;
      del.run(j);
      acc.topContexts(j).forEach((c, i) => ins.run(row(j, "top", i, c)));
      acc.sampleContexts(j).forEach((c, i) => c && ins.run(row(j, "sample", i, c)));
      acc.dirty[j] = 0;
    }
    setMeta(db, "rows_done", String(acc.rowsDone));
  })();
}

/** Restores the accumulator from a database written by saveAccumulator. */
export function restoreAccumulator(db: FeaturesDb, acc: LatentAccumulator, rowsDone: number): void {
  const R = acc.o.samples;
  for (const r of db.prepare("SELECT latent, n_fires, sum_act, max_act, hist FROM latents").iterate() as Iterable<{ latent: number; n_fires: number; sum_act: number; max_act: number | null; hist: string }>) {
    const j = r.latent;
    acc.nFires[j] = r.n_fires;
    acc.sumAct[j] = r.sum_act;
    acc.maxAct[j] = r.max_act ?? 0;
    acc.hist.set(JSON.parse(r.hist) as number[], j * HIST_BINS);
  }
  const tops = new Map<number, ContextEntry[]>();
  for (const r of db.prepare("SELECT * FROM contexts").iterate() as Iterable<ContextRow>) {
    const c: ContextEntry = { activation: r.activation, row: r.row, seq: r.seq, pos: r.pos, focus: r.focus, tokens: JSON.parse(r.tokens) as number[], acts: JSON.parse(r.acts) as number[] };
    if (r.kind === "top") {
      const list = tops.get(r.latent) ?? [];
      list.push(c);
      tops.set(r.latent, list);
    } else acc.sampleCtx[r.latent * R + r.slot] = c;
  }
  for (const [j, list] of tops) acc.restoreTop(j, list);
  acc.dirty.fill(0);
  acc.rowsDone = rowsDone;
}
