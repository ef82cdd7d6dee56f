/**
 * What the dashboard serves: the paths it was given, each an SAE directory, a demo output directory
 * (results.json + report.html + SAE directories + the world) or a sweep results directory, or a
 * directory holding such directories one level down. Everything is addressed by index ("s0", "d0",
 * "w0"), never by a path from the request.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { UserError } from "../errors.js";
import { SAE_CFG_FILENAME, SAE_WEIGHTS_FILENAME } from "../io/saelens.js";
import { FEATURES_FILENAME } from "../io/features-db.js";
import { loadSweepResults, MANIFEST_FILE } from "../experiments/sweep.js";
import type { SaeEvaluation } from "../metrics/schemas.js";
import { sweepView, type SweepView } from "../report/sweep-data.js";

/** One served root directory (a path given on the command line, resolved through symlinks). */
export interface Root {
  index: number;
  /** As given. */
  label: string;
  /** Real path. */
  dir: string;
}

/** An SAE directory. */
export interface SaeEntry {
  id: string;
  name: string;
  dir: string;
  root: number;
  /** features.sqlite when present. */
  features: string | null;
  cfg: Record<string, unknown>;
  /** The demo's evaluation of this SAE, when it came from a demo directory. */
  evaluation: SaeEvaluation | null;
  demo: string | null;
}

/** A demo output directory. */
export interface DemoEntry {
  id: string;
  dir: string;
  root: number;
  title: string;
  world: unknown;
  command: string | null;
  saes: string[];
  /** report.html relative to its root, when present. */
  report: string | null;
}

/** A sweep results directory. */
export interface SweepEntry {
  id: string;
  dir: string;
  root: number;
  name: string;
  view: SweepView;
}

/** Everything found under the given paths. */
export interface Catalog {
  roots: Root[];
  saes: SaeEntry[];
  demos: DemoEntry[];
  sweeps: SweepEntry[];
}

const isSaeDir = (d: string) => existsSync(join(d, SAE_CFG_FILENAME)) && existsSync(join(d, SAE_WEIGHTS_FILENAME));
const isDemoDir = (d: string) => existsSync(join(d, "results.json"));
const isSweepDir = (d: string) => {
  if (!existsSync(join(d, MANIFEST_FILE))) return false;
  try {
    const m = JSON.parse(readFileSync(join(d, MANIFEST_FILE), "utf8")) as { format?: unknown };
    return typeof m.format === "string" && m.format.startsWith("saelab-sweep");
  } catch {
    return false;
  }
};

function readJson(path: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
  } catch (e) {
    throw new UserError(`${path}: not valid JSON (${(e as Error).message})`);
  }
}

/** Returns the catalogue of the given paths (relative to `cwd`); a path that holds nothing servable is a UserError. */
export function buildCatalog(paths: readonly string[], cwd: string): Catalog {
  if (paths.length === 0) throw new UserError("give at least one SAE, demo or sweep directory");
  const cat: Catalog = { roots: [], saes: [], demos: [], sweeps: [] };
  const addSae = (dir: string, root: number, name: string, evaluation: SaeEvaluation | null, demo: string | null): string => {
    const id = `s${cat.saes.length}`;
    const f = join(dir, FEATURES_FILENAME);
    cat.saes.push({ id, name, dir, root, features: existsSync(f) ? f : null, cfg: readJson(join(dir, SAE_CFG_FILENAME)), evaluation, demo });
    return id;
  };
  const addDemo = (dir: string, root: number, rootDir: string) => {
    const results = readJson(join(dir, "results.json"));
    const id = `d${cat.demos.length}`;
    const evals = new Map<string, SaeEvaluation>();
    for (const s of (results.saes ?? []) as { name?: string; evaluation?: SaeEvaluation }[]) if (s.name && s.evaluation) evals.set(s.name, s.evaluation);
    const entry: DemoEntry = {
      id, dir, root, title: typeof results.title === "string" ? results.title : basename(dir), world: results.world ?? null,
      command: typeof results.command === "string" ? results.command : null, saes: [],
      report: existsSync(join(dir, "report.html")) ? relativeTo(rootDir, join(dir, "report.html")) : null,
    };
    cat.demos.push(entry);
    for (const sub of subdirs(dir)) if (isSaeDir(sub)) entry.saes.push(addSae(sub, root, basename(sub), evals.get(basename(sub)) ?? null, id));
  };
  const addSweep = (dir: string, root: number) => {
    const { plan, results } = loadSweepResults(dir);
    const view = sweepView(plan, results);
    cat.sweeps.push({ id: `w${cat.sweeps.length}`, dir, root, name: view.name || basename(dir), view });
  };
  const visit = (dir: string, root: number, rootDir: string): boolean => {
    if (isSaeDir(dir)) addSae(dir, root, basename(dir), null, null);
    else if (isDemoDir(dir)) addDemo(dir, root, rootDir);
    else if (isSweepDir(dir)) addSweep(dir, root);
    else return false;
    return true;
  };
  paths.forEach((p, index) => {
    const abs = resolve(cwd, p);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new UserError(`${p} is not a directory`);
    const dir = realpathSync(abs);
    cat.roots.push({ index, label: p, dir });
    if (visit(dir, index, dir)) return;
    const found = subdirs(dir).filter((d) => visit(d, index, dir));
    if (found.length === 0) throw new UserError(`${p} holds no SAE directory (cfg.json + sae_weights.safetensors), demo output (results.json) or sweep results (manifest.json), here or one level down`);
  });
  return cat;
}

function subdirs(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(dir, e.name))
    .sort();
}

function relativeTo(root: string, path: string): string {
  return path.slice(root.length + 1);
}
