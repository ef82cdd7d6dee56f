/** Helpers for building fuzz seeds: files written by saelab's own writers, read back as bytes. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { checkpointArrays, serializeLlama2cCheckpoint, type Llama2cConfig, type Llama2cWeights } from "../../src/io/llama2c.js";
import { Rng } from "../../src/tensor/rng.js";
import type { FuzzFiles } from "./mutate.js";

const enc = new TextEncoder();

/** Returns the named files of `dir` (all regular files when `names` is omitted) as a fuzz input. */
export function filesOf(dir: string, names?: readonly string[]): FuzzFiles {
  const out: FuzzFiles = {};
  const walk = (d: string): void => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else out[relative(dir, p)] = readFileSync(p);
    }
  };
  if (names) for (const n of names) out[n] = readFileSync(join(dir, n));
  else walk(dir);
  return out;
}

/** Runs `write(dir)` in a fresh temporary directory and returns what it wrote. */
export function tempFiles(label: string, write: (dir: string) => void): FuzzFiles {
  const dir = mkdtempSync(join(tmpdir(), `saelab-fuzz-seed-${label}-`));
  try {
    write(dir);
    return filesOf(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Returns true when every value is finite. */
export function sampleFinite(x: ArrayLike<number>): boolean {
  for (let i = 0; i < x.length; i++) if (!Number.isFinite(x[i]!)) return false;
  return true;
}

/** A llama2.c vocabulary: the special pieces, 256 byte pieces and a few merges. */
export function tinyVocab(): { maxTokenLength: number; pieces: Uint8Array[]; scores: Float32Array } {
  const pieces = [enc.encode("<unk>"), enc.encode("\n<s>\n"), enc.encode("\n</s>\n")];
  for (let b = 0; b < 256; b++) pieces.push(enc.encode(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`));
  for (const p of [" ", "e", "t", " t", "he", " the", "on", "ce", "Once"]) pieces.push(enc.encode(p));
  return { maxTokenLength: 6, pieces, scores: Float32Array.from(pieces, (_, i) => (i > 258 ? -i / 10 : 0)) };
}

/** A tiny llama2.c checkpoint (dim 8, one layer) with random weights. */
export function tinyCheckpoint(shared: boolean, vocabSize = 16): Uint8Array {
  const config: Llama2cConfig = { dim: 8, hiddenDim: 12, nLayers: 1, nHeads: 2, nKvHeads: 1, vocabSize, seqLen: 8, sharedClassifier: shared };
  const rng = new Rng(shared ? 1 : 2);
  const weights: Partial<Llama2cWeights> = {};
  for (const [name, count] of checkpointArrays(config)) {
    if (name !== "ropeReal" && name !== "ropeImag") weights[name] = rng.fillNormal(new Float32Array(count), 0, 0.2);
  }
  return Buffer.concat(serializeLlama2cCheckpoint({ config, weights: weights as Llama2cWeights }));
}
