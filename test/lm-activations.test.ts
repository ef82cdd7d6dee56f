import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ActivationShardWriter, openActivations } from "../src/io/activations.js";
import { extractActivations, sampleCorpus, textCorpus } from "../src/lm/activations.js";
import { LlamaModel } from "../src/lm/model.js";
import { BOS, Tokenizer } from "../src/lm/tokenizer.js";
import { llama2cTokenizer } from "../src/lm/tokenizers/llama2c.js";
import { backendsUnderTest, maxAbsDiff, tinyCheckpoint, tinyVocab, writeTinyModel } from "./lm-fixtures.js";

const D = 5;

/** Writes `n` rows whose activations encode their row index, in shards of `shard` rows. */
function writeRows(n: number, shard: number): string {
  const { dir } = writeTinyModel(1);
  const out = join(dir, "acts");
  const w = new ActivationShardWriter(out, "blocks.0.hook_resid_post", D, shard);
  for (let start = 0; start < n; start += 7) {
    const m = Math.min(7, n - start);
    const acts = new Float32Array(m * D);
    for (let i = 0; i < m; i++) for (let j = 0; j < D; j++) acts[i * D + j] = (start + i) * 10 + j;
    w.append({ activations: acts, tokens: Int32Array.from({ length: m }, (_, i) => start + i), positions: new Int32Array(m), sequences: new Int32Array(m) });
  }
  w.finish({ note: "test" });
  return out;
}

const rowIds = (b: Float32Array) => Array.from({ length: b.length / D }, (_, i) => b[i * D]! / 10);

describe("activation shards", () => {
  it("write in shards and read back in order, with tokens beside the activations", () => {
    const dir = writeRows(50, 16);
    const ds = openActivations(dir);
    expect(ds.manifest.shards.map((s) => s.tokens)).toEqual([16, 16, 16, 2]);
    expect(ds.totalTokens).toBe(50);
    expect(ds.manifest.source).toEqual({ note: "test" });
    const batches = [...ds.batches({ batchSize: 12 })];
    expect(batches.map((b) => b.length / D)).toEqual([12, 12, 12, 12, 2]);
    expect(batches.flatMap(rowIds)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(ds.readShard(1).tokens)).toEqual(Array.from({ length: 16 }, (_, i) => 16 + i));
    expect([...ds.batches({ batchSize: 12, dropLast: true })].length).toBe(4);
    expect([...ds.batches({ batchSize: 25, epochs: 2 })].flatMap(rowIds)).toEqual([...Array(50).keys(), ...Array(50).keys()]);
  });

  it("shuffle deterministically by seed, covering every row once per epoch", () => {
    const ds = openActivations(writeRows(50, 8));
    const a = [...ds.batches({ batchSize: 10, shuffle: true, seed: 3 })].flatMap(rowIds);
    const b = [...ds.batches({ batchSize: 10, shuffle: true, seed: 3 })].flatMap(rowIds);
    const c = [...ds.batches({ batchSize: 10, shuffle: true, seed: 4 })].flatMap(rowIds);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect([...a].sort((x, y) => x - y)).toEqual([...Array(50).keys()]);
    expect(a).not.toEqual([...Array(50).keys()]);
  });

  it("reject missing, inconsistent or corrupted directories with clear errors", () => {
    const dir = writeRows(20, 8);
    const mpath = join(dir, "manifest.json");
    const m = JSON.parse(readFileSync(mpath, "utf8"));
    expect(() => new ActivationShardWriter(dir, "x", D)).toThrow(/already holds an activations manifest/);
    writeFileSync(mpath, JSON.stringify({ ...m, totalTokens: 21 }));
    expect(() => openActivations(dir)).toThrow(/totalTokens: is 21 but the shards hold 20 rows/);
    writeFileSync(mpath, JSON.stringify({ ...m, extra: true }));
    expect(() => openActivations(dir)).toThrow(/unknown key "extra"/);
    writeFileSync(mpath, JSON.stringify({ ...m, dModel: 4 }));
    expect(() => openActivations(dir).readShard(0)).toThrow(/tensor "activations" has shape \[8, 5\], expected \[8, 4\]/);
    expect(() => openActivations(join(dir, "nope"))).toThrow(/no manifest\.json/);
    const w = new ActivationShardWriter(join(dir, "bad"), "x", 2);
    expect(() => w.append({ activations: Float32Array.of(1, NaN), tokens: Int32Array.of(1), positions: Int32Array.of(0), sequences: Int32Array.of(0) })).toThrow(/is NaN; refusing/);
  });
});

describe.each(backendsUnderTest())("activation extraction on a tiny model (%s)", (_n, backends) => {
  const model = new LlamaModel(tinyCheckpoint(5), backends);
  const tok = new Tokenizer(tinyVocab());
  const seqs = textCorpus(llama2cTokenizer(tinyVocab()), "the happy cab\n\na sad dad had a cab\n\n\nhappy happy", 6);

  it("cuts a text into BOS-prefixed stories and consecutive windows", () => {
    const stream = [...tok.encode("the happy cab"), ...tok.encode("a sad dad had a cab"), ...tok.encode("happy happy")];
    expect(seqs.flatMap((s) => Array.from(s))).toEqual(stream.length % 6 === 1 ? stream.slice(0, -1) : stream);
    expect(seqs.slice(0, -1).every((s) => s.length === 6)).toBe(true);
  });

  it("yields the hook's activations, without BOS rows unless asked, with tokens, positions and sequences", () => {
    for (const hook of ["blocks.0.hook_mlp_out", "blocks.1.hook_resid_pre", "blocks.0.hook_resid_post", "blocks.1.hook_resid_post", "ln_final.hook_normalized"]) {
      const rows = [...extractActivations(model, seqs, { hook, batchSequences: 2 })];
      const direct = model.runWithCache(seqs, { names: [hook] });
      const act = direct.cache.get(hook)!;
      const keep: number[] = [];
      for (let r = 0; r < direct.result.rows; r++) if (seqs[direct.result.rowSeq[r]!]![direct.result.rowPos[r]!] !== BOS) keep.push(r);
      const all = rows.reduce((a, b) => a + b.tokens.length, 0);
      expect(all).toBe(keep.length);
      let i = 0;
      for (const b of rows) {
        for (let k = 0; k < b.tokens.length; k++, i++) {
          const r = keep[i]!;
          expect(b.sequences[k]).toBe(direct.result.rowSeq[r]);
          expect(b.positions[k]).toBe(direct.result.rowPos[r]);
          expect(b.tokens[k]).not.toBe(BOS);
          expect(maxAbsDiff(b.activations.subarray(k * 16, (k + 1) * 16), act.subarray(r * 16, (r + 1) * 16))).toBeLessThan(1e-5);
        }
      }
    }
    const withBos = [...extractActivations(model, seqs, { hook: "blocks.0.hook_resid_pre", includeBos: true })];
    expect(withBos.reduce((a, b) => a + b.tokens.length, 0)).toBe(seqs.reduce((a, s) => a + s.length, 0));
  });

  it("samples the same corpus whatever the batch size", () => {
    // A high temperature, since the random model's distributions are nearly one-hot.
    const a = sampleCorpus(model, 5, 12, { seed: 9, batch: 2, temperature: 4, topp: 1 });
    const b = sampleCorpus(model, 5, 12, { seed: 9, batch: 5, temperature: 4, topp: 1 });
    expect(a.map((s) => Array.from(s))).toEqual(b.map((s) => Array.from(s)));
    expect(a.every((s) => s.length === 12 && s[0] === BOS)).toBe(true);
    const c = sampleCorpus(model, 5, 12, { seed: 10, temperature: 4, topp: 1 });
    expect(c.map((s) => Array.from(s))).not.toEqual(a.map((s) => Array.from(s)));
  });
});
