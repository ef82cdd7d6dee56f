/**
 * `features.sqlite`: per-latent data of one SAE (written by `saelab features`, read by the dashboard),
 * an SQLite database through better-sqlite3. The schema is versioned (`meta.schema_version`) and
 * documented in docs/features.md so any SQLite client can query it. While it is being computed the
 * database lives in `features.sqlite.partial` beside it (resumable); it is renamed into place only
 * when complete, so `features.sqlite` is never half-written.
 */
import { existsSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { UserError } from "../errors.js";

export const FEATURES_FILENAME = "features.sqlite";
export const FEATURES_PARTIAL_SUFFIX = ".partial";
/** Bump when a table or column changes meaning; readers refuse other versions. */
export const FEATURES_SCHEMA_VERSION = 1;

/** Activation histogram: log10 bins from HIST_LOG10_MIN to HIST_LOG10_MAX, plus one underflow and one overflow bin. */
export const HIST_LOG10_MIN = -4;
export const HIST_LOG10_MAX = 4;
export const HIST_BINS_PER_DECADE = 10;
export const HIST_BINS = (HIST_LOG10_MAX - HIST_LOG10_MIN) * HIST_BINS_PER_DECADE + 2;

/** Returns the histogram bin of a positive activation (0: below 1e-4, HIST_BINS-1: at or above 1e4). */
export function histBin(v: number): number {
  const b = Math.floor((Math.log10(v) - HIST_LOG10_MIN) * HIST_BINS_PER_DECADE);
  return b < 0 ? 0 : b >= HIST_BINS - 2 ? HIST_BINS - 1 : b + 1;
}

/** Returns the [lower, upper) activation edges of histogram bin b. */
export function histEdges(b: number): [number, number] {
  if (b === 0) return [0, 10 ** HIST_LOG10_MIN];
  if (b === HIST_BINS - 1) return [10 ** HIST_LOG10_MAX, Infinity];
  return [10 ** (HIST_LOG10_MIN + (b - 1) / HIST_BINS_PER_DECADE), 10 ** (HIST_LOG10_MIN + b / HIST_BINS_PER_DECADE)];
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS latents (
  latent INTEGER PRIMARY KEY,
  n_fires INTEGER NOT NULL,
  density REAL NOT NULL,
  sum_act REAL NOT NULL,
  mean_act REAL,
  max_act REAL,
  hist TEXT NOT NULL,
  top_tokens TEXT NOT NULL DEFAULT '',
  logit_top TEXT,
  logit_bottom TEXT,
  neighbours TEXT,
  hole_rate REAL,
  absorbed_hole_rate REAL,
  absorption_score REAL,
  best_feature INTEGER,
  best_feature_cos REAL,
  matched_feature INTEGER,
  f1 REAL
);
CREATE TABLE IF NOT EXISTS contexts (
  latent INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('top', 'sample')),
  slot INTEGER NOT NULL,
  activation REAL NOT NULL,
  row INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  pos INTEGER NOT NULL,
  focus INTEGER NOT NULL,
  tokens TEXT NOT NULL,
  acts TEXT NOT NULL,
  PRIMARY KEY (latent, kind, slot)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS vocab (token INTEGER PRIMARY KEY, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (
  parent INTEGER NOT NULL,
  absorber INTEGER NOT NULL,
  kind TEXT NOT NULL,
  score REAL NOT NULL,
  confident INTEGER NOT NULL,
  decoder_cos REAL NOT NULL,
  parent_silent REAL,
  carried_share REAL,
  co_firing REAL,
  partial_ratio REAL,
  n_absorber_fires INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS pairs_parent ON pairs (parent);
CREATE INDEX IF NOT EXISTS pairs_absorber ON pairs (absorber);
CREATE TABLE IF NOT EXISTS hierarchy_edges (parent INTEGER NOT NULL, child INTEGER NOT NULL, evidence TEXT NOT NULL, score REAL NOT NULL, co_firing REAL);
CREATE TABLE IF NOT EXISTS world_absorption (
  latent INTEGER NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('main', 'absorber', 'parent-like')),
  parent_feature INTEGER NOT NULL,
  child_feature INTEGER NOT NULL,
  full_absorption REAL,
  detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS world_absorption_latent ON world_absorption (latent);
CREATE TABLE IF NOT EXISTS documents (name TEXT PRIMARY KEY, json TEXT NOT NULL);
`;

export type FeaturesDb = Database.Database;

/** Returns the path of features.sqlite in an SAE directory. */
export function featuresPath(saeDir: string): string {
  return join(saeDir, FEATURES_FILENAME);
}

/** Opens (creating if needed) the partial database of `saeDir` for writing, with the schema in place. */
export function openPartialFeaturesDb(saeDir: string): FeaturesDb {
  const db = new Database(featuresPath(saeDir) + FEATURES_PARTIAL_SUFFIX);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.exec(SCHEMA);
  return db;
}

/** Deletes the partial database of `saeDir` (and its WAL files). */
export function removePartialFeaturesDb(saeDir: string): void {
  const p = featuresPath(saeDir) + FEATURES_PARTIAL_SUFFIX;
  for (const f of [p, `${p}-wal`, `${p}-shm`]) rmSync(f, { force: true });
}

/** Folds the WAL into the partial file, closes it and renames it over features.sqlite. */
export function commitFeaturesDb(db: FeaturesDb, saeDir: string): string {
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.pragma("journal_mode = DELETE");
  db.close();
  const final = featuresPath(saeDir);
  renameSync(final + FEATURES_PARTIAL_SUFFIX, final);
  return final;
}

/** Returns meta.value for `key`, or null. */
export function getMeta(db: FeaturesDb, key: string): string | null {
  const r = db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
  return r ? r.value : null;
}

/** Sets meta `key` to `value`. */
export function setMeta(db: FeaturesDb, key: string, value: string): void {
  db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value").run(key, value);
}

/** Opens a finished features.sqlite read-only, checking its schema version. */
export function openFeaturesDbReadOnly(path: string): FeaturesDb {
  if (!existsSync(path)) throw new UserError(`${path} does not exist (run saelab features on the SAE first)`);
  let db: FeaturesDb;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new UserError(`${path}: cannot open as SQLite (${(e as Error).message})`);
  }
  let version: string | null;
  try {
    version = getMeta(db, "schema_version");
  } catch (e) {
    db.close();
    throw new UserError(`${path}: not a saelab features database (${(e as Error).message})`);
  }
  if (version !== String(FEATURES_SCHEMA_VERSION)) {
    db.close();
    throw new UserError(`${path}: schema version ${version ?? "missing"}, this saelab reads version ${FEATURES_SCHEMA_VERSION}; recompute it with saelab features`);
  }
  const bad = schemaMismatch(db);
  const damaged = bad ? undefined : damage(db);
  if (bad || damaged) {
    db.close();
    if (bad) throw new UserError(`${path}: ${bad}, not as saelab features writes schema version ${FEATURES_SCHEMA_VERSION} (a corrupt file?); recompute it with saelab features`);
    throw new UserError(`${path}: SQLite finds the file damaged (${damaged}); recompute it with saelab features`);
  }
  return db;
}

/**
 * Returns SQLite's first finding when the file's b-trees are damaged (keys out of order or repeated:
 * a latent listed but not found, or listed twice), or undefined; reads the whole file once.
 */
function damage(db: FeaturesDb): string | undefined {
  let found: string;
  try {
    found = String(db.pragma("quick_check(1)", { simple: true }));
  } catch (e) {
    found = (e as Error).message;
  }
  return found === "ok" ? undefined : found;
}

/**
 * Returns how the tables and indexes of `db` differ from the ones this version creates (a column
 * whose declaration was damaged reads as NULL everywhere), or undefined when each is there as
 * written; objects a user added beside them are allowed.
 */
function schemaMismatch(db: FeaturesDb): string | undefined {
  const expected = new Database(":memory:");
  try {
    expected.exec(SCHEMA);
    const objects = (d: FeaturesDb) => new Map((d.prepare("SELECT type, name, sql FROM sqlite_master WHERE type IN ('table', 'index') AND sql IS NOT NULL").all() as { type: string; name: string; sql: string }[]).map((o) => [o.name, o]));
    const have = objects(db);
    for (const [name, o] of objects(expected)) {
      const got = have.get(name);
      if (!got) return `${o.type} "${name}" is missing`;
      if (got.type !== o.type || got.sql !== o.sql) return `${o.type} "${name}" is declared differently`;
    }
    return undefined;
  } finally {
    expected.close();
  }
}
