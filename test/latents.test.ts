/**
 * `saelab latents` on stories260K activations with an SAE trained on them: each latent's firing
 * count, token histogram and top contexts equal a brute-force recomputation written here (shards read
 * with the safetensors reader, a plain-loop topk encoder, counts in a Map), and the printed token
 * texts are the tokenizer file's pieces.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { main } from "../src/cli/main.js";
import { getFloat32, readSafetensors, toInt32 } from "../src/io/safetensors.js";
import { readLlama2cTokenizer, sharedModelFiles } from "../src/io/llama2c.js";

function io(cwd: string): CliIO & { text(): string; errText(): string } {
  const out: string[] = [];
  const err: string[] = [];
  return { out: (t) => out.push(t), err: (t) => err.push(t), isTTY: false, cwd, text: () => out.join("\n"), errText: () => err.join("\n") };
}

interface Shards { x: Float32Array; tokens: Int32Array; seqs: Int32Array; n: number }

function readShards(dir: string, dIn: number): Shards {
  const m = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")) as { shards: { file: string; tokens: number }[]; totalTokens: number };
  const n = m.totalTokens;
  const x = new Float32Array(n * dIn);
  const tokens = new Int32Array(n);
  const seqs = new Int32Array(n);
  let at = 0;
  for (const s of m.shards) {
    const f = readSafetensors(join(dir, s.file));
    x.set(getFloat32(f, "activations", [s.tokens, dIn], s.file), at * dIn);
    tokens.set(toInt32(f.tensors.get("tokens")!, "tokens"), at);
    seqs.set(toInt32(f.tensors.get("sequences")!, "sequences"), at);
    at += s.tokens;
  }
  return { x, tokens, seqs, n };
}

/** Plain-loop topk encoder: pre = (x - b_dec) W_enc + b_enc; the k largest kept where > 0. Returns [n, dSae]. */
function bruteEncode(dir: string, x: Float32Array, n: number, k: number): { acts: Float64Array; dSae: number } {
  const cfg = JSON.parse(readFileSync(join(dir, "cfg.json"), "utf8")) as { d_in: number; d_sae: number };
  const f = readSafetensors(join(dir, "sae_weights.safetensors"));
  const [dIn, dSae] = [cfg.d_in, cfg.d_sae];
  const W = getFloat32(f, "W_enc", [dIn, dSae], "W_enc");
  const be = getFloat32(f, "b_enc", [dSae], "b_enc");
  const bd = getFloat32(f, "b_dec", [dIn], "b_dec");
  const acts = new Float64Array(n * dSae);
  for (let r = 0; r < n; r++) {
    const pre = Array.from(be, Number);
    for (let i = 0; i < dIn; i++) {
      const xi = x[r * dIn + i]! - bd[i]!;
      for (let j = 0; j < dSae; j++) pre[j]! += xi * W[i * dSae + j]!;
    }
    const order = pre.map((_, j) => j).sort((a, b) => pre[b]! - pre[a]! || a - b);
    for (const j of order.slice(0, k)) if (pre[j]! > 0) acts[r * dSae + j] = pre[j]!;
  }
  return { acts, dSae };
}

interface JsonLatent { latent: number; nFires: number; density: number; topTokens: { token: number; text: string; count: number }[]; contexts: { activation: number; row: number; tokens: number[]; focus: number }[] }

describe.skipIf(!sharedModelFiles())("saelab latents on stories260K activations", () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "saelab-latents-"));
    const q = io(dir);
    expect(await main(["activations", "--hook", "blocks.2.hook_resid_post", "--sequences", "12", "--seqLen", "96", "--shardTokens", "400", "--out", "acts"], q)).toBe(0);
    writeFileSync(join(dir, "sae.json"), JSON.stringify({ architecture: "topk", dSae: 48, k: 4 }));
    expect(await main(["train", "--activations", "acts", "--sae", "sae.json", "--steps", "150", "--batchSize", "128", "--lr", "0.003", "--out", "sae"], q)).toBe(0);
  }, 120_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reports each latent's top tokens, density and top contexts as a brute-force recount of the shards", async () => {
    const c = io(dir);
    expect(await main(["latents", "sae", "--activations", "acts", "--top", "5", "--contexts", "3", "--json"], c)).toBe(0);
    const res = JSON.parse(c.text()) as { rows: number; latents: JsonLatent[] };
    const s = readShards(join(dir, "acts"), 64);
    expect(res.rows).toBe(s.n);
    const { acts, dSae } = bruteEncode(join(dir, "sae"), s.x, s.n, 4);
    expect(res.latents).toHaveLength(dSae);
    const vocab = readLlama2cTokenizer(sharedModelFiles()!.tokenizer, 512);
    let live = 0;
    for (const L of res.latents) {
      const j = L.latent;
      const counts = new Map<number, number>();
      const fires: { v: number; r: number }[] = [];
      for (let r = 0; r < s.n; r++) {
        const v = acts[r * dSae + j]!;
        if (v > 0) {
          counts.set(s.tokens[r]!, (counts.get(s.tokens[r]!) ?? 0) + 1);
          fires.push({ v, r });
        }
      }
      expect(L.nFires).toBe(fires.length);
      expect(L.density).toBeCloseTo(fires.length / s.n, 12);
      const expected = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 5);
      expect(L.topTokens.map((t) => [t.token, t.count])).toEqual(expected);
      for (const t of L.topTokens) {
        // A byte token's piece is spelt <0xHH>; a leading space of a word piece is kept (no BOS before it).
        const piece = new TextDecoder().decode(vocab.pieces[t.token]);
        const byte = /^<0x([0-9A-F]{2})>$/.exec(piece);
        expect(t.text).toBe(byte ? String.fromCharCode(parseInt(byte[1]!, 16)) : piece);
      }
      fires.sort((a, b) => b.v - a.v || a.r - b.r);
      expect(L.contexts.map((x) => x.row)).toEqual(fires.slice(0, 3).map((f) => f.r));
      for (const x of L.contexts) {
        expect(x.activation).toBeCloseTo(acts[x.row * dSae + j]!, 4);
        expect(x.tokens[x.focus]).toBe(s.tokens[x.row]);
        // The window is the run of tokens of the firing token's sequence ending 3 tokens after it.
        const lo = x.row - x.focus;
        x.tokens.forEach((t, i) => {
          expect(t).toBe(s.tokens[lo + i]);
          expect(s.seqs[lo + i]).toBe(s.seqs[x.row]);
        });
      }
      if (fires.length > 0) live++;
    }
    expect(live).toBeGreaterThan(10);
  });

  it("detect --activations names each pair's latents by their top tokens and shows the absorber firing with the parent silent", async () => {
    const c = io(dir);
    expect(await main(["detect", "sae", "--activations", "acts", "--top", "8"], c)).toBe(0);
    const lines = c.text().split("\n");
    const s = readShards(join(dir, "acts"), 64);
    const { acts, dSae } = bruteEncode(join(dir, "sae"), s.x, s.n, 4);
    const vocab = readLlama2cTokenizer(sharedModelFiles()!.tokenizer, 512);
    const text = (t: number) => {
      const piece = new TextDecoder().decode(vocab.pieces[t]);
      const byte = /^<0x([0-9A-F]{2})>$/.exec(piece);
      return byte ? String.fromCharCode(parseInt(byte[1]!, 16)) : piece;
    };
    const brute = (j: number) => {
      const counts = new Map<number, number>();
      let n = 0;
      for (let r = 0; r < s.n; r++) if (acts[r * dSae + j]! > 0) {
        n++;
        counts.set(s.tokens[r]!, (counts.get(s.tokens[r]!) ?? 0) + 1);
      }
      return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, 3).map(([t, k]) => `${JSON.stringify(text(t))} ${Math.round((100 * k) / n)}%`).join(", ");
    };
    let checked = 0;
    lines.forEach((line, i) => {
      const m = /^ {2}(\d+) \[(.*)\] <- (\d+) \[(.*)\] {2}score/.exec(line);
      if (!m) return;
      const [parent, absorber] = [Number(m[1]), Number(m[3])];
      expect(m[2]).toBe(brute(parent));
      expect(m[4]).toBe(brute(absorber));
      // The first context: the absorber's strongest firing among rows where the parent is silent.
      let best = -1;
      let bestRow = -1;
      for (let r = 0; r < s.n; r++) if (acts[r * dSae + parent] === 0 && acts[r * dSae + absorber]! > best) [best, bestRow] = [acts[r * dSae + absorber]!, r];
      if (best <= 0) return;
      const ctx = /^ {6}\s*([\d.]+) {2}(.*)$/.exec(lines[i + 1]!)!;
      expect(Number(ctx[1])).toBeCloseTo(best, 2);
      expect(ctx[2]).toContain(`[[${text(s.tokens[bestRow]!).replace(/\n/g, "\\n")}]]`);
      checked++;
    });
    expect(checked).toBeGreaterThan(2);
  });

  it("prints histograms and marked contexts for chosen latents, and rejects an out-of-range id", async () => {
    const c = io(dir);
    expect(await main(["latents", "sae", "--activations", "acts", "--ids", "3,1", "--top", "4"], c)).toBe(0);
    const text = c.text();
    expect(text).toMatch(/^latent 3: fires on \d+ of \d+ tokens \(density [\d.]+\)/m);
    expect(text).toMatch(/^latent 1: /m);
    expect(text).not.toMatch(/^latent 0: /m);
    expect(text.indexOf("latent 3:")).toBeLessThan(text.indexOf("latent 1:"));
    expect(text).toMatch(/\[\[.+?\]\]/);
    const bad = io(dir);
    expect(await main(["latents", "sae", "--activations", "acts", "--ids", "48"], bad)).toBe(1);
    expect(bad.errText()).toMatch(/latent 48 is out of range \(the SAE has 48 latents\)/);
  });
});
