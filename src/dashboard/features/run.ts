/**
 * `saelab features` as a library call: one pass over the source's rows into the accumulator
 * (checkpointed into `features.sqlite.partial`, so an interrupted run resumes where it stopped),
 * then the weight-space data (logit effects, decoder neighbours), the detector's results and, for a
 * toy world, the evaluation against the true features; finally the partial file is renamed into place.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Kernels } from "../../tensor/kernels.js";
import type { Sae } from "../../sae/model.js";
import type { World } from "../../toy/types.js";
import { detectAbsorption } from "../../detect/detect.js";
import type { Detection, DetectOptionsInput } from "../../detect/schemas.js";
import type { SaeEvaluation } from "../../metrics/schemas.js";
import { SAE_WEIGHTS_FILENAME } from "../../io/saelens.js";
import {
  commitFeaturesDb, FEATURES_PARTIAL_SUFFIX, FEATURES_SCHEMA_VERSION, featuresPath, getMeta, HIST_BINS, HIST_BINS_PER_DECADE, HIST_LOG10_MAX, HIST_LOG10_MIN,
  openPartialFeaturesDb, removePartialFeaturesDb, setMeta, type FeaturesDb,
} from "../../io/features-db.js";
import { LatentAccumulator } from "./accumulate.js";
import type { FeatureSource } from "./sources.js";
import { restoreAccumulator, saveAccumulator } from "./store.js";
import { decoderNeighbours, encodeRows, logitEffects } from "./weights.js";
import { writeDetection, writeLmExtras, writeWorldEvaluation } from "./finish.js";

/** What an LM source adds: the unembedding and how tokens print. */
export interface LmInfo {
  /** [vocab, dIn] */
  unembed: Float32Array;
  vocab: number;
  /** [dIn] final norm gain folded into the unembedding, or null. */
  gain: Float32Array | null;
  /** Text of each token id. */
  tokenText: (id: number) => string;
  model: string;
}

/** Options of computeFeatures. */
export interface FeaturesRunOptions {
  saeDir: string;
  sae: Sae;
  kernels: Kernels;
  source: FeatureSource;
  topK: number;
  samples: number;
  seed: number;
  before: number;
  after: number;
  neighbours: number;
  logitTokens: number;
  /** The detector's input batches (called once, after the pass). */
  detectBatches: () => Float32Array[];
  detectOptions: DetectOptionsInput;
  lm: LmInfo | null;
  /** For a toy world: the world and its evaluation (called once, after the pass). */
  world: { world: World; label: string; evaluate: () => SaeEvaluation } | null;
  /** Seconds between checkpoints of the pass. */
  checkpointSeconds: number;
  onProgress?: (done: number, total: number) => void;
  log: (msg: string) => void;
  /** Stops the pass after this many chunks (tests of resuming); the partial file stays. */
  stopAfterChunks?: number;
}

/** What computeFeatures did. */
export interface FeaturesRunResult {
  /** The finished database, or null when stopped early. */
  path: string | null;
  rows: number;
  resumedAt: number;
}

/** Returns a key that changes whenever the SAE weights, the data or the settings change. */
function runKey(o: FeaturesRunOptions): string {
  const h = createHash("sha256");
  h.update(readFileSync(join(o.saeDir, SAE_WEIGHTS_FILENAME)));
  const settings = { source: o.source.describe, rows: o.source.totalRows, topK: o.topK, samples: o.samples, seed: o.seed, before: o.before, after: o.after };
  h.update(JSON.stringify(settings));
  return h.digest("hex");
}

/** Computes features.sqlite for the SAE in `o.saeDir`, resuming a matching partial run. */
export function computeFeatures(o: FeaturesRunOptions): FeaturesRunResult {
  const key = runKey(o);
  const partial = featuresPath(o.saeDir) + FEATURES_PARTIAL_SUFFIX;
  const acc = new LatentAccumulator({ dSae: o.sae.dSae, topK: o.topK, samples: o.samples, seed: o.seed, before: o.before, after: o.after });
  let db: FeaturesDb;
  let resumedAt = 0;
  if (existsSync(partial)) {
    db = openPartialFeaturesDb(o.saeDir);
    const same = getMeta(db, "run_key") === key;
    const rows = Number(getMeta(db, "rows_done") ?? "NaN");
    if (same && Number.isInteger(rows)) {
      restoreAccumulator(db, acc, rows);
      resumedAt = rows;
      o.log(`resuming ${partial} at row ${rows} of ${o.source.totalRows}`);
    } else {
      db.close();
      removePartialFeaturesDb(o.saeDir);
      o.log(`discarding ${partial}: it was computed for other weights, data or settings`);
      db = openPartialFeaturesDb(o.saeDir);
    }
  } else db = openPartialFeaturesDb(o.saeDir);
  if (resumedAt === 0) {
    setMeta(db, "schema_version", String(FEATURES_SCHEMA_VERSION));
    setMeta(db, "run_key", key);
    setMeta(db, "complete", "0");
  }

  const total = o.source.totalRows;
  let last = performance.now();
  let chunks = 0;
  if (acc.rowsDone < total) {
    for (const chunk of o.source.chunks(acc.rowsDone)) {
      const latents = encodeRows(o.sae, chunk.acts, chunk.rows);
      acc.addChunk(chunk, latents);
      o.onProgress?.(acc.rowsDone, total);
      chunks++;
      if (o.stopAfterChunks !== undefined && chunks >= o.stopAfterChunks && acc.rowsDone < total) {
        saveAccumulator(db, acc);
        db.close();
        return { path: null, rows: acc.rowsDone, resumedAt };
      }
      if (performance.now() - last > o.checkpointSeconds * 1000) {
        saveAccumulator(db, acc);
        last = performance.now();
      }
    }
  }
  saveAccumulator(db, acc);
  finish(db, o, acc);
  return { path: commitFeaturesDb(db, o.saeDir), rows: acc.rowsDone, resumedAt };
}

/** Writes everything computed after the pass, and the meta table. */
function finish(db: FeaturesDb, o: FeaturesRunOptions, acc: LatentAccumulator): void {
  const sae = o.sae;
  o.log("decoder neighbours");
  const neighbours = decoderNeighbours(sae, o.neighbours, o.kernels);
  o.log("detector");
  const detection: Detection = detectAbsorption(sae, o.detectBatches(), o.detectOptions, o.kernels);
  db.transaction(() => {
    const setNb = db.prepare("UPDATE latents SET neighbours = ? WHERE latent = ?");
    neighbours.forEach((nb, j) => setNb.run(JSON.stringify(nb.map(([l, c]) => [l, Number(c.toFixed(4))])), j));
    writeDetection(db, detection);
    if (o.lm) {
      o.log("logit effects");
      writeLmExtras(db, o.lm, logitEffects(sae, o.lm.unembed, o.lm.vocab, o.lm.gain, o.logitTokens, o.kernels), sae.dSae);
    }
    if (o.world) {
      o.log("evaluation against the true features");
      writeWorldEvaluation(db, o.world.world, o.world.evaluate(), sae, o.kernels);
    }
    const meta: Record<string, unknown> = {
      schema_version: FEATURES_SCHEMA_VERSION,
      kind: o.source.kind,
      sae: { dir: o.saeDir, architecture: sae.architecture, tied: sae.tied, dIn: sae.dIn, dSae: sae.dSae },
      source: o.source.describe,
      rows: acc.rowsDone,
      settings: { topK: o.topK, samples: o.samples, seed: o.seed, before: o.before, after: o.after, neighbours: o.neighbours, logitTokens: o.logitTokens },
      histogram: { log10Min: HIST_LOG10_MIN, log10Max: HIST_LOG10_MAX, binsPerDecade: HIST_BINS_PER_DECADE, bins: HIST_BINS },
      world: o.world ? o.world.label : null,
      model: o.lm ? o.lm.model : null,
      created: new Date().toISOString(),
    };
    for (const [k, v] of Object.entries(meta)) setMeta(db, k, typeof v === "string" ? v : JSON.stringify(v));
    setMeta(db, "complete", "1");
  })();
}
