import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkpointBytes, parseLlama2cCheckpoint, parseLlama2cTokenizer, readLlama2cCheckpoint, readLlama2cTokenizer,
  serializeLlama2cCheckpoint, serializeLlama2cTokenizer, sharedModelFiles,
} from "../src/io/llama2c.js";
import { tinyCheckpoint, tinyVocab, writeTinyModel } from "./lm-fixtures.js";

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe("llama2.c checkpoint files", () => {
  const ckpt = tinyCheckpoint(3);
  const bytes = concat(serializeLlama2cCheckpoint(ckpt));

  it("round-trips a checkpoint through the legacy layout, at the size the header implies", () => {
    expect(bytes.length).toBe(checkpointBytes(ckpt.config));
    const back = parseLlama2cCheckpoint(bytes);
    expect(back.config).toEqual(ckpt.config);
    for (const k of Object.keys(ckpt.weights) as (keyof typeof ckpt.weights)[]) expect(Array.from(back.weights[k]!)).toEqual(Array.from(ckpt.weights[k]!));
    const sep = tinyCheckpoint(3, { sharedClassifier: false });
    const back2 = parseLlama2cCheckpoint(concat(serializeLlama2cCheckpoint(sep)));
    expect(back2.config.sharedClassifier).toBe(false);
    expect(Array.from(back2.weights.wcls!)).toEqual(Array.from(sep.weights.wcls!));
  });

  it("reads the files the tests write, and the shared model's file when present", () => {
    const f = writeTinyModel(3);
    expect(readLlama2cCheckpoint(f.model).config).toEqual(ckpt.config);
    const shared = sharedModelFiles();
    if (shared) {
      expect(readLlama2cCheckpoint(shared.model).config).toEqual({ dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, sharedClassifier: true });
    }
  });

  it("rejects a truncated file", () => {
    expect(() => parseLlama2cCheckpoint(bytes.subarray(0, bytes.length - 4), "m.bin")).toThrow(/m\.bin: not a valid llama2\.c checkpoint: .* needs \d+ bytes but the file has \d+ \(truncated\?\)/);
    expect(() => parseLlama2cCheckpoint(bytes.subarray(0, 20), "m.bin")).toThrow(/shorter than the 28-byte header/);
  });

  it("rejects trailing bytes (another layout, e.g. a separate classifier with a positive vocab_size)", () => {
    const longer = concat([bytes, new Uint8Array(ckpt.config.vocabSize * ckpt.config.dim * 4)]);
    expect(() => parseLlama2cCheckpoint(longer, "m.bin")).toThrow(/more; it has another layout/);
  });

  it("rejects inconsistent headers and llama2.c's versioned export format", () => {
    const withHeader = (vals: number[]) => {
      const b = bytes.slice();
      const dv = new DataView(b.buffer);
      vals.forEach((v, i) => dv.setInt32(i * 4, v, true));
      return b;
    };
    expect(() => parseLlama2cCheckpoint(withHeader([16, 24, 2, 5]))).toThrow(/dim = 16 is not divisible by n_heads = 5/);
    expect(() => parseLlama2cCheckpoint(withHeader([16, 24, 2, 4, 3]))).toThrow(/not a multiple of n_kv_heads = 3/);
    expect(() => parseLlama2cCheckpoint(withHeader([16, 24, 0]))).toThrow(/n_layers = 0 must be a positive integer/);
    expect(() => parseLlama2cCheckpoint(withHeader([18, 24, 2, 6, 2]))).toThrow(/head size .* must be even/);
    expect(() => parseLlama2cCheckpoint(withHeader([0x616b3432, 1]))).toThrow(/magic "ak42" .*\(version 1\); only the legacy layout/);
  });

  it("rejects non-finite weights, naming the tensor", () => {
    const b = bytes.slice();
    const off = 28 + 4 * (ckpt.config.vocabSize * ckpt.config.dim + 2 * ckpt.config.dim + 5);
    new DataView(b.buffer).setFloat32(off, NaN, true);
    expect(() => parseLlama2cCheckpoint(b)).toThrow(/wq\[5\] is NaN; the weights must be finite/);
  });

  it("names the file it cannot read", () => {
    expect(() => readLlama2cCheckpoint("/nonexistent/x.bin")).toThrow(/cannot read llama2\.c checkpoint \/nonexistent\/x\.bin/);
  });
});

describe("llama2.c tokenizer files", () => {
  const vocab = tinyVocab();
  const bytes = serializeLlama2cTokenizer(vocab);

  it("round-trips, and checks the token count against the model's vocabulary", () => {
    const back = parseLlama2cTokenizer(bytes, "t.bin", vocab.pieces.length);
    expect(back.pieces.map((p) => Array.from(p))).toEqual(vocab.pieces.map((p) => Array.from(p)));
    expect(Array.from(back.scores)).toEqual(Array.from(vocab.scores));
    expect(parseLlama2cTokenizer(bytes).pieces.length).toBe(vocab.pieces.length);
    expect(() => parseLlama2cTokenizer(bytes, "t.bin", vocab.pieces.length - 1)).toThrow(/bytes are left after \d+ tokens \(is this the tokenizer for a model with a different vocabulary\?\)/);
    expect(() => parseLlama2cTokenizer(bytes, "t.bin", vocab.pieces.length + 1)).toThrow(/token \d+ starts at byte \d+ but the file ends/);
  });

  it("rejects truncation, impossible lengths and non-finite scores", () => {
    expect(() => parseLlama2cTokenizer(bytes.subarray(0, bytes.length - 2), "t.bin")).toThrow(/truncated/);
    const b = bytes.slice();
    new DataView(b.buffer).setInt32(8, 99, true);
    expect(() => parseLlama2cTokenizer(b, "t.bin")).toThrow(/token 0 has byte length 99, outside 0..max_token_length/);
    const c = bytes.slice();
    new DataView(c.buffer).setFloat32(4, Infinity, true);
    expect(() => parseLlama2cTokenizer(c, "t.bin")).toThrow(/token 0 has score Infinity/);
  });

  it("reads a written file", () => {
    const f = writeTinyModel(4);
    expect(readLlama2cTokenizer(f.tokenizer).pieces.length).toBe(vocab.pieces.length);
    writeFileSync(join(f.dir, "short.bin"), readFileSync(f.tokenizer).subarray(0, 3));
    expect(() => readLlama2cTokenizer(join(f.dir, "short.bin"))).toThrow(/only 3 bytes/);
  });
});
