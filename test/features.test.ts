/**
 * `saelab features` against independent recomputations: on a toy world (a standard SAE) and on
 * stories260K activations (a topk SAE), the stored top contexts, firing counts, histograms, means and
 * maxima are checked against a plain-loop encoder over the same rows; the LM's logit effects against
 * W_dec times the unembedding computed directly from the checkpoint file; the toy world's best
 * features against plain-loop cosines. Resuming an interrupted pass gives the same database.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { readSafetensors, getFloat32, toInt32 } from "../src/io/safetensors.js";
import { readLlama2cCheckpoint, readLlama2cTokenizer, sharedModelFiles } from "../src/io/llama2c.js";
import { createSae } from "../src/sae/model.js";
import { SaeConfigSchema } from "../src/sae/registry.js";
import { saveSaelensSae } from "../src/io/saelens.js";
import { loadKernels } from "../src/tensor/backend.js";
import { createWorld } from "../src/toy/world.js";
import { getPreset } from "../src/toy/presets.js";
import { HIST_BINS } from "../src/io/features-db.js";
import { computeFeatures } from "../src/dashboard/features/run.js";
import { worldSource } from "../src/dashboard/features/sources.js";

function io(cwd: string): CliIO & { text(): string; errText(): string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, cwd, text: () => out.join("\n"), errText: () => err.join("\n") };
}

/** Plain-loop encoder: pre = (x - b_dec) W_enc + b_enc, then ReLU (standard) or the k largest kept if > 0 (topk). */
function bruteEncode(x: Float32Array, rows: number, w: { W_enc: Float32Array; b_enc: Float32Array; b_dec: Float32Array; dIn: number; dSae: number; k: number | null }): Float64Array {
  const { dIn, dSae } = w;
  const out = new Float64Array(rows * dSae);
  const pre = new Float64Array(dSae);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < dSae; j++) pre[j] = w.b_enc[j]!;
    for (let i = 0; i < dIn; i++) {
      const xi = x[r * dIn + i]! - w.b_dec[i]!;
      for (let j = 0; j < dSae; j++) pre[j]! += xi * w.W_enc[i * dSae + j]!;
    }
    if (w.k === null) {
      for (let j = 0; j < dSae; j++) out[r * dSae + j] = Math.max(0, pre[j]!);
    } else {
      const order = Array.from({ length: dSae }, (_, j) => j).sort((a, b) => pre[b]! - pre[a]! || a - b);
      for (const j of order.slice(0, w.k)) if (pre[j]! > 0) out[r * dSae + j] = pre[j]!;
    }
  }
  return out;
}

function readWeights(dir: string, k: number | null) {
  const f = readSafetensors(join(dir, "sae_weights.safetensors"));
  const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8")) as { d_in: number; d_sae: number };
  const [n, d] = [cfg.d_in, cfg.d_sae];
  return { W_enc: getFloat32(f, "W_enc", [n, d], "w"), W_dec: getFloat32(f, "W_dec", [d, n], "w"), b_enc: getFloat32(f, "b_enc", [d], "w"), b_dec: getFloat32(f, "b_dec", [n], "w"), dIn: n, dSae: d, k };
}

interface LatentRow { latent: number; n_fires: number; density: number; mean_act: number | null; max_act: number | null; hist: string; logit_top: string | null; logit_bottom: string | null; best_feature: number | null; neighbours: string }
interface CtxRow { latent: number; kind: string; slot: number; activation: number; row: number; focus: number; tokens: string; acts: string }

/** Checks the pass's per-latent data against brute-force activations [rows, dSae]. */
function checkAgainstBrute(db: Database.Database, acts: Float64Array, rows: number, dSae: number, topK: number, tokens: Int32Array | null, sequences: Int32Array | null): void {
  const lat = db.prepare("SELECT * FROM latents ORDER BY latent").all() as LatentRow[];
  expect(lat).toHaveLength(dSae);
  const ctxs = db.prepare("SELECT * FROM contexts WHERE kind = 'top' ORDER BY latent, slot").all() as CtxRow[];
  let checkedContexts = 0;
  for (let j = 0; j < dSae; j++) {
    const fires: { v: number; r: number }[] = [];
    for (let r = 0; r < rows; r++) if (acts[r * dSae + j]! > 0) fires.push({ v: acts[r * dSae + j]!, r });
    const L = lat[j]!;
    // Firing counts may differ only by values within float error of zero.
    expect(Math.abs(L.n_fires - fires.length)).toBeLessThanOrEqual(Math.max(1, fires.length * 1e-3));
    const hist = JSON.parse(L.hist) as number[];
    expect(hist).toHaveLength(HIST_BINS);
    expect(hist.reduce((a, b) => a + b, 0)).toBe(L.n_fires);
    expect(L.density).toBeCloseTo(L.n_fires / rows, 12);
    if (fires.length === 0) continue;
    const max = Math.max(...fires.map((f) => f.v));
    expect(L.max_act!).toBeCloseTo(max, 4);
    expect(L.mean_act!).toBeCloseTo(fires.reduce((a, f) => a + f.v, 0) / fires.length, 4);
    fires.sort((a, b) => b.v - a.v || a.r - b.r);
    const mine = ctxs.filter((c) => c.latent === j);
    expect(mine).toHaveLength(Math.min(topK, L.n_fires));
    const kth = fires[Math.min(topK, fires.length) - 1]!.v;
    mine.forEach((c, i) => {
      // Ranked, each at its true activation, and none below the true k-th largest.
      expect(c.slot).toBe(i);
      expect(c.activation).toBeCloseTo(acts[c.row * dSae + j]!, 4);
      expect(c.activation).toBeGreaterThanOrEqual(kth - 1e-4);
      if (i > 0) expect(c.activation).toBeLessThanOrEqual(mine[i - 1]!.activation);
      if (tokens && sequences) {
        const toks = JSON.parse(c.tokens) as number[];
        const a = JSON.parse(c.acts) as number[];
        const start = c.row - c.focus;
        toks.forEach((t, q) => {
          expect(t).toBe(tokens[start + q]);
          expect(sequences[start + q]).toBe(sequences[c.row]);
          expect(a[q]!).toBeCloseTo(acts[(start + q) * dSae + j]!, 4);
        });
        // The window is as wide as the sequence allows: 12 before, 4 after.
        const before = Math.min(12, countSame(sequences, c.row, -1));
        expect(c.focus).toBe(before);
        expect(toks.length - c.focus - 1).toBe(Math.min(4, countSame(sequences, c.row, 1)));
      }
      checkedContexts++;
    });
  }
  expect(checkedContexts).toBeGreaterThan(dSae);
}

function countSame(seq: Int32Array, r: number, step: number): number {
  let n = 0;
  for (let i = r + step; i >= 0 && i < seq.length && seq[i] === seq[r]; i += step) n++;
  return n;
}

describe("saelab features on a toy world", () => {
  let dir: string;
  const { kernels } = loadKernels();
  const world = createWorld(getPreset("absorption-basic"), { kernels });
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "saelab-features-world-"));
    saveSaelensSae(join(dir, "sae"), createSae(kernels, SaeConfigSchema.parse({ architecture: "standard", dSae: 24 }), { dIn: world.dModel, seed: 5 }));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("stores top contexts, counts and histograms equal to a brute-force recomputation, and the world's features", async () => {
    const c = io(dir);
    expect(await main(["features", "sae", "--preset", "absorption-basic", "--tokens", "6000", "--detectRows", "4096", "--top", "10"], c)).toBe(0);
    expect(c.text()).toMatch(/wrote .*features\.sqlite \(24 latents, 6000 rows\)/);
    expect(existsSync(join(dir, "sae", "features.sqlite.partial"))).toBe(false);
    const db = new Database(join(dir, "sae", "features.sqlite"), { readonly: true });
    const w = readWeights(join(dir, "sae"), null);
    // The same stream: world.sampler(seed 7) in batches of 4096.
    const sampler = world.sampler(7);
    const x = new Float32Array(6000 * world.dModel);
    x.set(sampler.next(4096).acts, 0);
    x.set(sampler.next(6000 - 4096).acts, 4096 * world.dModel);
    checkAgainstBrute(db, bruteEncode(x, 6000, w), 6000, 24, 10, null, null);
    // Best feature: the highest |cosine| of the decoder row with a true feature, by plain loops.
    const F = world.nFeatures;
    const D = world.dModel;
    for (const r of db.prepare("SELECT latent, best_feature, best_feature_cos FROM latents").all() as { latent: number; best_feature: number; best_feature_cos: number }[]) {
      let best = -1;
      let bestCos = 0;
      for (let f = 0; f < F; f++) {
        let dot = 0, nd = 0, nf = 0;
        for (let i = 0; i < D; i++) {
          const a = w.W_dec[r.latent * D + i]!, b = world.featureVectors[f * D + i]!;
          dot += a * b; nd += a * a; nf += b * b;
        }
        const cos = dot / Math.sqrt(nd * nf);
        if (best < 0 || Math.abs(cos) > Math.abs(bestCos)) [best, bestCos] = [f, cos];
      }
      expect(r.best_feature).toBe(best);
      expect(r.best_feature_cos).toBeCloseTo(bestCos, 3);
    }
    // World contexts list the sample's true features; every edge of the world has a main-latent row.
    const ctx = db.prepare("SELECT row, tokens FROM contexts WHERE kind = 'top' LIMIT 1").get() as { row: number; tokens: string };
    const truth = world.sampler(7).next(4096).features;
    const want: number[] = [];
    if (ctx.row < 4096) for (let e = truth.rowPtr[ctx.row]!; e < truth.rowPtr[ctx.row + 1]!; e++) want.push(truth.colIdx[e]!);
    if (ctx.row < 4096) expect(JSON.parse(ctx.tokens)).toEqual(want);
    const edges = db.prepare("SELECT DISTINCT parent_feature, child_feature FROM world_absorption WHERE role = 'main'").all();
    expect(edges.length).toBe(Array.from(world.parent).filter((p) => p >= 0).length);
    expect(JSON.parse((db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string }).value)).toBe(1);
    db.close();
  });

  it("resumes an interrupted pass to the same database as an uninterrupted one", () => {
    const sae = createSae(kernels, SaeConfigSchema.parse({ architecture: "standard", dSae: 24 }), { dIn: world.dModel, seed: 5 });
    const run = (saeDir: string, stop?: number) =>
      computeFeatures({
        saeDir, sae, kernels, source: worldSource(world, 3, 10_000, { world: "absorption-basic" }), topK: 8, samples: 6, seed: 3, before: 12, after: 4, neighbours: 4, logitTokens: 5,
        detectBatches: () => [world.sampler(3).next(2048).acts], detectOptions: {}, lm: null, world: null, checkpointSeconds: 1e9, log: () => undefined,
        ...(stop !== undefined ? { stopAfterChunks: stop } : {}),
      });
    const a = join(dir, "a");
    const b = join(dir, "b");
    for (const d of [a, b]) saveSaelensSae(d, sae);
    run(a);
    expect(run(b, 1)).toMatchObject({ path: null, rows: 4096 });
    expect(existsSync(join(b, "features.sqlite.partial"))).toBe(true);
    const resumed = run(b);
    expect(resumed.resumedAt).toBe(4096);
    const dump = (d: string) => {
      const db = new Database(join(d, "features.sqlite"), { readonly: true });
      const out = { lat: db.prepare("SELECT * FROM latents ORDER BY latent").all(), ctx: db.prepare("SELECT * FROM contexts ORDER BY latent, kind, slot").all() };
      db.close();
      return out;
    };
    const [da, db] = [dump(a), dump(b)];
    expect(da.ctx.length).toBeGreaterThan(24 * 8);
    expect(db).toEqual(da);
  });

  it("refuses bad input with a clear message", async () => {
    const c = io(dir);
    expect(await main(["features", "sae"], c)).toBe(1);
    expect(c.errText()).toMatch(/no data given: pass --activations DIR, --model M --corpus FILE, or --world W/);
    const d = io(dir);
    expect(await main(["features", "nope", "--preset", "absorption-basic"], d)).toBe(1);
    expect(d.errText()).toMatch(/SAE directory nope does not exist/);
  });
});

describe.skipIf(!sharedModelFiles())("saelab features on stories260K activations", () => {
  let dir: string;
  const { kernels } = loadKernels();
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-features-lm-"));
    expect(await main(["activations", "--hook", "blocks.2.hook_resid_post", "--sequences", "8", "--seqLen", "96", "--shardTokens", "300", "--out", "acts"], io(dir))).toBe(0);
    saveSaelensSae(join(dir, "sae"), createSae(kernels, SaeConfigSchema.parse({ architecture: "topk", dSae: 96, k: 6 }), { dIn: 64, seed: 11 }), {}, { hook_name: "blocks.2.hook_resid_post" });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("stores top contexts with their token windows, counts and logit effects equal to direct recomputations", async () => {
    const c = io(dir);
    expect(await main(["features", "sae", "--activations", "acts", "--top", "12"], c)).toBe(0);
    const db = new Database(join(dir, "sae", "features.sqlite"), { readonly: true });
    // All shards in order (several of them, so sequences cross shard boundaries).
    const manifest = JSON.parse(readFileSync(join(dir, "acts", "manifest.json"), "utf8")) as { shards: { file: string; tokens: number }[]; totalTokens: number };
    expect(manifest.shards.length).toBeGreaterThan(2);
    const N = manifest.totalTokens;
    const x = new Float32Array(N * 64);
    const tokens = new Int32Array(N);
    const seqs = new Int32Array(N);
    let at = 0;
    for (const s of manifest.shards) {
      const f = readSafetensors(join(dir, "acts", s.file));
      x.set(getFloat32(f, "activations", [s.tokens, 64], s.file), at * 64);
      tokens.set(toInt32(f.tensors.get("tokens")!, "tokens"), at);
      seqs.set(toInt32(f.tensors.get("sequences")!, "sequences"), at);
      at += s.tokens;
    }
    const w = readWeights(join(dir, "sae"), 6);
    checkAgainstBrute(db, bruteEncode(x, N, w), N, 96, 12, tokens, seqs);

    // Logit effects: W_dec [96, 64] times (embedding * final RMSNorm gain)^T, by plain loops from the checkpoint file.
    const files = sharedModelFiles()!;
    const ck = readLlama2cCheckpoint(files.model);
    const V = ck.config.vocabSize;
    const E = ck.weights.tokenEmbedding;
    const g = ck.weights.rmsFinal;
    for (const r of db.prepare("SELECT latent, logit_top, logit_bottom FROM latents WHERE latent % 7 = 0").all() as LatentRow[]) {
      const eff: { t: number; v: number }[] = [];
      for (let t = 0; t < V; t++) {
        let s = 0;
        for (let i = 0; i < 64; i++) s += w.W_dec[r.latent * 64 + i]! * g[i]! * E[t * 64 + i]!;
        eff.push({ t, v: s });
      }
      eff.sort((a, b) => b.v - a.v);
      const top = JSON.parse(r.logit_top!) as [number, number][];
      const bottom = JSON.parse(r.logit_bottom!) as [number, number][];
      expect(top).toHaveLength(10);
      top.forEach(([t, v], i) => {
        expect(v).toBeCloseTo(eff[i]!.v, 3);
        expect(v).toBeCloseTo(eff.find((e) => e.t === t)!.v, 3);
      });
      bottom.forEach(([t, v], i) => {
        expect(v).toBeCloseTo(eff[V - 1 - i]!.v, 3);
        expect(v).toBeCloseTo(eff.find((e) => e.t === t)!.v, 3);
      });
    }
    // The vocabulary table prints tokens as the tokenizer decodes them.
    const vocab = readLlama2cTokenizer(files.tokenizer, V);
    const the = (db.prepare("SELECT text FROM vocab WHERE token = 265").get() as { text: string }).text;
    expect(the).toBe(new TextDecoder().decode(vocab.pieces[265]));
    // Neighbours: the highest decoder cosines, excluding the latent itself.
    const nb = JSON.parse((db.prepare("SELECT neighbours FROM latents WHERE latent = 0").get() as { neighbours: string }).neighbours) as [number, number][];
    const cos = (a: number, b: number) => {
      let d = 0, na = 0, nb2 = 0;
      for (let i = 0; i < 64; i++) {
        const u = w.W_dec[a * 64 + i]!, v = w.W_dec[b * 64 + i]!;
        d += u * v; na += u * u; nb2 += v * v;
      }
      return d / Math.sqrt(na * nb2);
    };
    const all = Array.from({ length: 95 }, (_, i) => i + 1).map((b) => ({ b, c: cos(0, b) })).sort((p, q) => q.c - p.c);
    nb.forEach(([l, c2], i) => {
      expect(l).toBe(all[i]!.b);
      expect(c2).toBeCloseTo(all[i]!.c, 3);
    });
    db.close();
  });

  it("reads --model --corpus as it reads the activation shards of the same corpus", async () => {
    const stories = [
      "Once upon a time, there was a little girl named Lily. She loved to play with her toys in the park.",
      "One day, a big dog came to the park. The dog was very happy and wanted to play with Lily.",
      "Tom had a red ball. He threw the ball to his friend Sam, and they laughed all day.",
    ];
    // Enough windows for several forward batches of 32 sequences.
    writeFileSync(join(dir, "corpus.txt"), Array.from({ length: 12 }, () => stories.join("\n\n")).join("\n\n"));
    mkdirSync(join(dir, "c1"));
    mkdirSync(join(dir, "c2"));
    for (const f of ["cfg.json", "sae_weights.safetensors", "saelab.json"]) for (const d of ["c1", "c2"]) copyFileSync(join(dir, "sae", f), join(dir, d, f));
    expect(await main(["features", "c1", "--corpus", "corpus.txt", "--seqLen", "16"], io(dir))).toBe(0);
    expect(await main(["activations", "--hook", "blocks.2.hook_resid_post", "--corpus", "corpus.txt", "--seqLen", "16", "--out", "acts2"], io(dir))).toBe(0);
    expect(await main(["features", "c2", "--activations", "acts2"], io(dir))).toBe(0);
    const dump = (d: string) => {
      const db = new Database(join(dir, d, "features.sqlite"), { readonly: true });
      const out = { rows: (db.prepare("SELECT value FROM meta WHERE key = 'rows'").get() as { value: string }).value, lat: db.prepare("SELECT latent, n_fires, max_act, hist, top_tokens FROM latents ORDER BY latent").all(), ctx: db.prepare("SELECT * FROM contexts ORDER BY latent, kind, slot").all() };
      db.close();
      return out;
    };
    const [a, b] = [dump("c1"), dump("c2")];
    // Every token of the corpus except the BOS of each window.
    const manifest = JSON.parse(readFileSync(join(dir, "acts2", "manifest.json"), "utf8")) as { totalTokens: number; source: { sequences: number } };
    expect(manifest.source.sequences).toBeGreaterThan(64);
    expect(Number(a.rows)).toBe(manifest.totalTokens);
    expect(a).toEqual(b);
  });
});
