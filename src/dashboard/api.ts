/**
 * The dashboard's JSON API over a catalogue: the overview, a page of latents (sorted, searched), one
 * latent's full data, an SAE's hierarchy and heatmaps, and a sweep's heatmap grids. Every query reads
 * features.sqlite read-only and by index, so a 16,384-latent SAE is served a page at a time.
 */
import Database from "better-sqlite3";
import { z } from "zod";
import { UserError } from "../errors.js";
import { getMeta, histEdges, openFeaturesDbReadOnly } from "../io/features-db.js";
import { DetectionSchema, type Detection } from "../detect/schemas.js";
import { SaeEvaluationSchema, type SaeEvaluation } from "../metrics/schemas.js";
import { axisProfile, pairGrid, SWEEP_METRICS, type SweepView } from "../report/sweep-data.js";
import type { Catalog, SaeEntry } from "./catalog.js";

/** An API failure with its HTTP status. */
export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** A features.sqlite that cannot be read as saelab writes it (corrupt pages, bad JSON in a column): names the file. */
export class StoreError extends UserError {}

/** The JSON columns and documents of features.sqlite, as the API reads them. */
const STORED = {
  hist: z.array(z.number().int().min(0)),
  tokens: z.array(z.number().int()),
  acts: z.array(z.number()),
  ranked: z.array(z.tuple([z.number().int(), z.number()])),
  neighbours: z.array(z.tuple([z.number().int(), z.number()])),
  detail: z.unknown(),
  sae: z.record(z.string(), z.unknown()),
  evaluation: SaeEvaluationSchema,
  detection: DetectionSchema,
};

/** Sort keys of the latent browser and their SQL (NULLs last). */
export const LATENT_SORTS = {
  latent: "latent ASC",
  density: "density DESC, latent ASC",
  "density-asc": "density ASC, latent ASC",
  absorption: "absorption_score IS NULL, absorption_score DESC, latent ASC",
  holes: "absorbed_hole_rate IS NULL, absorbed_hole_rate DESC, latent ASC",
  max: "max_act IS NULL, max_act DESC, latent ASC",
} as const;

const LIST_COLUMNS = "latent, n_fires, density, mean_act, max_act, hole_rate, absorbed_hole_rate, absorption_score, best_feature, best_feature_cos, matched_feature, top_tokens";

/** Read-only database handles of a catalogue, opened on first use. */
export class Api {
  private readonly dbs = new Map<string, Database.Database>();
  constructor(readonly catalog: Catalog) {}

  /** Closes every open database. */
  close(): void {
    for (const db of this.dbs.values()) db.close();
    this.dbs.clear();
  }

  private sae(id: string): SaeEntry {
    const s = this.catalog.saes.find((x) => x.id === id);
    if (!s) throw new ApiError(404, `no SAE ${id}`);
    return s;
  }

  private db(s: SaeEntry): Database.Database | null {
    if (!s.features) return null;
    let db = this.dbs.get(s.id);
    if (!db) {
      db = openFeaturesDbReadOnly(s.features);
      this.dbs.set(s.id, db);
    }
    return db;
  }

  private needDb(s: SaeEntry): Database.Database {
    const db = this.db(s);
    if (!db) throw new ApiError(404, `${s.name} has no features.sqlite: run saelab features ${s.dir} first`);
    return db;
  }

  /** Runs `read` over the SAE's store; an SQLite failure (a corrupt file) becomes a StoreError naming it. */
  private reading<T>(s: SaeEntry, read: () => T): T {
    try {
      return read();
    } catch (e) {
      if (e instanceof Database.SqliteError) throw new StoreError(`${s.features}: cannot read the features database (${e.message}); recompute it with saelab features`);
      throw e;
    }
  }

  /** Parses a stored JSON column or document; text that is not JSON of the expected shape is a StoreError naming the file. */
  private stored<K extends keyof typeof STORED>(s: SaeEntry, what: K, where: string, text: unknown): z.infer<(typeof STORED)[K]> {
    let v: unknown;
    try {
      if (typeof text !== "string") throw new Error(`a ${text === null ? "NULL" : typeof text} where JSON text belongs`);
      v = JSON.parse(text);
    } catch (e) {
      throw new StoreError(`${s.features}: ${where} is not valid JSON (${(e as Error).message}); recompute it with saelab features`);
    }
    const r = STORED[what].safeParse(v);
    if (!r.success) throw new StoreError(`${s.features}: ${where} is not what saelab features writes (${r.error.issues[0]?.message ?? "invalid"} at ${r.error.issues[0]?.path.join(".") || "top level"}); recompute it with saelab features`);
    return r.data as z.infer<(typeof STORED)[K]>;
  }

  private doc<K extends "evaluation" | "detection">(s: SaeEntry, db: Database.Database, name: K): z.infer<(typeof STORED)[K]> | null {
    const r = db.prepare("SELECT json FROM documents WHERE name = ?").get(name) as { json: unknown } | undefined;
    return r ? this.stored(s, name, `document "${name}"`, r.json) : null;
  }

  private evaluation(s: SaeEntry): SaeEvaluation | null {
    // A demo's own evaluation (its results table) first, then the one saelab features stored.
    if (s.evaluation) return s.evaluation;
    const db = this.db(s);
    return db ? this.doc(s, db, "evaluation") : null;
  }

  /** Returns the overview: every SAE with its headline numbers, every demo and sweep. */
  overview(): unknown {
    const saes = this.catalog.saes.map((s) => this.saeSummary(s));
    const demos = this.catalog.demos.map((d) => ({ id: d.id, title: d.title, world: d.world, command: d.command, saes: d.saes, report: d.report ? `/files/${d.root}/${d.report.split("/").map(encodeURIComponent).join("/")}` : null }));
    const sweeps = this.catalog.sweeps.map((w) => ({ id: w.id, name: w.name, cells: `${w.view.cellsDone}/${w.view.cellsTotal}`, configs: w.view.configs.map((c) => c.name) }));
    return { roots: this.catalog.roots.map((r) => r.label), saes, demos, sweeps };
  }

  private saeSummary(s: SaeEntry): Record<string, unknown> {
    return this.reading(s, () => this.readSummary(s));
  }

  private readSummary(s: SaeEntry): Record<string, unknown> {
    const ev = this.evaluation(s);
    const db = this.db(s);
    const meta = db ? this.stored(s, "sae", "meta \"sae\"", getMeta(db, "sae") ?? "{}") : {};
    const stats = db ? (db.prepare("SELECT COUNT(*) AS n, SUM(n_fires = 0) AS dead FROM latents").get() as { n: number; dead: number }) : null;
    return {
      id: s.id, name: s.name, demo: s.demo,
      architecture: ev?.architecture ?? meta.architecture ?? s.cfg.architecture ?? null,
      tied: ev?.tied ?? meta.tied ?? null,
      dIn: s.cfg.d_in ?? null, dSae: s.cfg.d_sae ?? null,
      features: db !== null,
      kind: db ? getMeta(db, "kind") : null,
      rows: db ? Number(getMeta(db, "rows")) : null,
      dead: stats?.dead ?? null,
      hook: (s.cfg.metadata as Record<string, unknown> | undefined)?.hook_name ?? null,
      metrics: ev ? {
        l0: ev.sparsity.l0, explainedVariance: ev.reconstruction.explainedVariance, mcc: ev.recovery.mcc,
        fullAbsorption: ev.absorption.summary.fullAbsorption, partialRatio: ev.absorption.summary.partialRatio,
        saebenchAbsorptionFraction: ev.absorption.summary.saebenchAbsorptionFraction, maxParentLikeFullAbsorption: ev.absorption.summary.maxParentLikeFullAbsorption,
      } : null,
      confidentPairs: db ? (db.prepare("SELECT COUNT(*) AS n FROM pairs WHERE confident = 1").get() as { n: number }).n : null,
    };
  }

  /** Returns one SAE's summary, meta, detector summary and whether heatmaps exist. */
  saeInfo(id: string): unknown {
    const s = this.sae(id);
    return this.reading(s, () => this.readInfo(s));
  }

  private readInfo(s: SaeEntry): unknown {
    const db = this.db(s);
    const det: Detection | null = db ? this.doc(s, db, "detection") : null;
    const ev = this.evaluation(s);
    const meta = db ? Object.fromEntries((db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[]).map((r) => [r.key, r.value])) : null;
    return { ...this.saeSummary(s), meta, detection: det ? { summary: det.summary, notes: det.notes, nSamples: det.nSamples } : null, heatmap: ev !== null, notes: ev?.notes ?? [] };
  }

  /** Returns a page of latents: sorted by `sort`, filtered by a token/text query. */
  latents(id: string, q: { offset: number; limit: number; sort: string; search: string }): unknown {
    const s = this.sae(id);
    return this.reading(s, () => this.readLatents(s, q));
  }

  private readLatents(s: SaeEntry, q: { offset: number; limit: number; sort: string; search: string }): unknown {
    const db = this.needDb(s);
    const order = LATENT_SORTS[q.sort as keyof typeof LATENT_SORTS];
    if (!order) throw new ApiError(400, `unknown sort "${q.sort}" (one of ${Object.keys(LATENT_SORTS).join(", ")})`);
    const term = q.search.trim().toLowerCase();
    const limit = Math.min(200, Math.max(1, q.limit));
    const offset = Math.max(0, q.offset);
    if (!term) {
      const total = (db.prepare("SELECT COUNT(*) AS n FROM latents").get() as { n: number }).n;
      const rows = db.prepare(`SELECT ${LIST_COLUMNS} FROM latents ORDER BY ${order} LIMIT ? OFFSET ?`).all(limit, offset);
      return { total, offset, rows };
    }
    // A latent number finds that latent; otherwise exact top tokens rank first, then substrings.
    const like = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const exact = `%|${term.replace(/[\\%_|]/g, (c) => `\\${c}`)}|%`;
    const where = "(top_tokens LIKE @like ESCAPE '\\' OR CAST(latent AS TEXT) = @term)";
    const total = (db.prepare(`SELECT COUNT(*) AS n FROM latents WHERE ${where}`).get({ like, term }) as { n: number }).n;
    const rows = db
      .prepare(`SELECT ${LIST_COLUMNS} FROM latents WHERE ${where} ORDER BY (CAST(latent AS TEXT) = @term) DESC, (top_tokens LIKE @exact ESCAPE '\\') DESC, ${order} LIMIT @limit OFFSET @offset`)
      .all({ like, exact, term, limit, offset });
    return { total, offset, rows };
  }

  /** Returns everything about one latent: statistics, histogram, contexts, logit effects, neighbours, absorption. */
  latent(id: string, j: number): unknown {
    const s = this.sae(id);
    return this.reading(s, () => this.readLatent(s, j));
  }

  private readLatent(s: SaeEntry, j: number): unknown {
    const db = this.needDb(s);
    const row = db.prepare("SELECT * FROM latents WHERE latent = ?").get(j) as Record<string, unknown> | undefined;
    if (!row) throw new ApiError(404, `${s.name} has no latent ${j}`);
    const text = this.tokenTexts(db);
    const contexts = (db.prepare("SELECT kind, slot, activation, row, seq, pos, focus, tokens, acts FROM contexts WHERE latent = ? ORDER BY kind, slot").all(j) as Record<string, unknown>[]).map((c) => {
      const where = `contexts (latent ${j}, ${String(c.kind)} ${String(c.slot)})`;
      const tokens = this.stored(s, "tokens", `${where} tokens`, c.tokens);
      return { ...c, tokens, text: text ? tokens.map(text) : tokens.map((t) => `f${t}`), acts: this.stored(s, "acts", `${where} acts`, c.acts) };
    });
    const hist = this.stored(s, "hist", `latents.hist of latent ${j}`, row.hist).map((count, b) => ({ bin: b, lo: histEdges(b)[0], hi: histEdges(b)[1], count })).filter((h) => h.count > 0);
    const ranked = (v: unknown, col: string) => (v ? this.stored(s, "ranked", `latents.${col} of latent ${j}`, v).map(([t, x]) => ({ token: t, text: text ? text(t) : String(t), value: x })) : null);
    const neighbours = row.neighbours ? this.stored(s, "neighbours", `latents.neighbours of latent ${j}`, row.neighbours).map(([l, cos]) => ({ latent: l, cos })) : [];
    const nbDensity = db.prepare("SELECT density FROM latents WHERE latent = ?");
    for (const n of neighbours) (n as Record<string, unknown>).density = (nbDensity.get(n.latent) as { density: number } | undefined)?.density ?? null;
    const pairs = db.prepare("SELECT * FROM pairs WHERE parent = ? OR absorber = ? ORDER BY score DESC").all(j, j);
    const edges = db.prepare("SELECT * FROM hierarchy_edges WHERE parent = ? OR child = ?").all(j, j);
    const world = (db.prepare("SELECT role, parent_feature, child_feature, full_absorption, detail FROM world_absorption WHERE latent = ?").all(j) as Record<string, unknown>[]).map((w) => ({ ...w, detail: this.stored(s, "detail", `world_absorption.detail of latent ${j}`, w.detail) }));
    const { hist: _h, neighbours: _n, logit_top: lt, logit_bottom: lb, ...stats } = row;
    return { sae: s.id, name: s.name, dSae: s.cfg.d_sae, stats, hist, contexts, logitTop: ranked(lt, "logit_top"), logitBottom: ranked(lb, "logit_bottom"), neighbours, pairs, edges, world };
  }

  private tokenTexts(db: Database.Database): ((t: number) => string) | null {
    const kind = getMeta(db, "kind");
    if (kind !== "lm") return null;
    const get = db.prepare("SELECT text FROM vocab WHERE token = ?");
    return (t) => (get.get(t) as { text: string } | undefined)?.text ?? `<${t}>`;
  }

  /** Returns the detector's inferred hierarchy (edges, duplicates) with each involved latent's density. */
  hierarchy(id: string): unknown {
    const s = this.sae(id);
    const det = this.reading(s, () => this.doc(s, this.needDb(s), "detection"));
    return { edges: det?.hierarchy.edges ?? [], duplicates: det?.hierarchy.duplicates ?? [], roots: det?.hierarchy.roots ?? [] };
  }

  /** Returns the toy-world cosine heatmaps (decoder and encoder against the true features). */
  heatmap(id: string): unknown {
    const s = this.sae(id);
    const ev = this.reading(s, () => this.evaluation(s));
    if (!ev) throw new ApiError(404, `${s.name} has no toy-world evaluation (no features.sqlite from --world, and not from a demo)`);
    return ev.heatmap;
  }

  /** Returns a sweep's heatmap cells: each config and metric over the first two swept axes (seeds and other axes averaged). */
  sweep(id: string): unknown {
    const w = this.catalog.sweeps.find((x) => x.id === id);
    if (!w) throw new ApiError(404, `no sweep ${id}`);
    return sweepCells(w.view);
  }
}

/** Returns the heatmap cells of a sweep view. */
export function sweepCells(view: SweepView): unknown {
  const [ax, ay] = view.dims;
  const cells: { config: string; metric: string; x: string; y: string; value: number | null; n: number }[] = [];
  for (const c of view.configs) {
    for (const m of SWEEP_METRICS) {
      if (ax !== undefined && ay !== undefined) {
        const g = pairGrid(view, c.name, ax, ay, m.key);
        const xt = view.axes[ax]!.ticks(c.name);
        const yt = view.axes[ay]!.ticks(c.name);
        g.values.forEach((row, yi) => row.forEach((v, xi) => cells.push({ config: c.name, metric: m.key, x: xt[xi]!, y: yt[yi]!, value: v, n: g.counts[yi]![xi]! })));
      } else {
        const a = ax ?? 0;
        const xt = view.axes[a]!.ticks(c.name);
        axisProfile(view, c.name, a, m.key).forEach((v, xi) => cells.push({ config: c.name, metric: m.key, x: xt[xi]!, y: "", value: v, n: 0 }));
      }
    }
  }
  return {
    name: view.name, description: view.description ?? null, cellsDone: view.cellsDone, cellsTotal: view.cellsTotal,
    xAxis: ax !== undefined ? view.axes[ax]!.label : view.axes[0]!.label, yAxis: ay !== undefined ? view.axes[ay]!.label : null,
    metrics: SWEEP_METRICS.map((m) => ({ key: m.key, label: m.label, domain: m.fixed })), configs: view.configs.map((c) => c.name), cells,
  };
}
