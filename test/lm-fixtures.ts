/**
 * Test helpers for the LM: a tiny random Llama model and a small tokenizer in llama2.c's file
 * formats (written by the tests themselves), the shared stories260K model when present, and an
 * independent single-token forward pass transcribed from llama2.c's run.c as the oracle.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../src/tensor/rng.js";
import {
  checkpointArrays, readLlama2cCheckpoint, readLlama2cTokenizer, sharedModelFiles, writeLlama2cCheckpoint, writeLlama2cTokenizer,
  type Llama2cCheckpoint, type Llama2cConfig, type Llama2cVocab, type Llama2cWeights,
} from "../src/io/llama2c.js";
import { LlamaModel, type ModelBackends } from "../src/lm/model.js";
import { Tokenizer } from "../src/lm/tokenizer.js";
import { referenceLmKernels } from "../src/lm/kernels.js";
import { loadLmKernels } from "../src/lm/native.js";
import { referenceKernels } from "../src/tensor/reference.js";
import { loadKernels, parseIsa } from "../src/tensor/backend.js";
import { emptySparse, reserveSparse, type SparseRows } from "../src/tensor/kernels.js";
import type { SaeModel } from "../src/sae/types.js";

/** Pieces after the specials and byte tokens, best-scoring first. */
const EXTRA_PIECES = [" ", "a", "b", "c", "d", "e", "h", "p", "y", "s", "t", " a", "ab", " b", "ha", "pp", "hap", "happ", "happy", " happy", "sa", "sad", " sad", "cab", " the", "th", " t", "he"];

/** Returns a small llama2.c-style vocabulary (specials, 256 byte tokens, a few merges). */
export function tinyVocab(): Llama2cVocab {
  const enc = new TextEncoder();
  const pieces: Uint8Array[] = [enc.encode("<unk>"), enc.encode("\n<s>\n"), enc.encode("\n</s>\n")];
  for (let b = 0; b < 256; b++) pieces.push(enc.encode(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`));
  const scores: number[] = pieces.map(() => 0);
  // Merged pieces score higher than their parts, as in a trained BPE vocabulary; singles score low.
  EXTRA_PIECES.forEach((p, i) => {
    pieces.push(enc.encode(p));
    scores.push(p.length === 1 ? -100 - i : -i);
  });
  return { maxTokenLength: Math.max(...pieces.map((p) => p.length)), pieces, scores: Float32Array.from(scores) };
}

/** Returns a tiny random checkpoint (dim 16, 2 layers, 4 heads sharing 2 KV heads). */
export function tinyCheckpoint(seed = 1, over: Partial<Llama2cConfig> = {}): Llama2cCheckpoint {
  const config: Llama2cConfig = { dim: 16, hiddenDim: 24, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: tinyVocab().pieces.length, seqLen: 40, sharedClassifier: true, ...over };
  const rng = new Rng(seed);
  const weights: Partial<Llama2cWeights> = {};
  for (const [name, n] of checkpointArrays(config)) {
    if (name === "ropeReal" || name === "ropeImag") continue;
    const w = new Float32Array(n);
    if (name.startsWith("rms")) for (let i = 0; i < n; i++) w[i] = 0.8 + 0.4 * rng.uniform();
    else rng.fillNormal(w, 0, name === "tokenEmbedding" || name === "wcls" ? 1 : 0.35);
    weights[name] = w;
  }
  return { config, weights: weights as Llama2cWeights };
}

/** Writes the tiny model and tokenizer to a fresh temp directory and returns their paths. */
export function writeTinyModel(seed = 1): { dir: string; model: string; tokenizer: string } {
  const dir = mkdtempSync(join(tmpdir(), "saelab-lm-"));
  const model = join(dir, "tiny.bin");
  const tokenizer = join(dir, "tok.bin");
  writeLlama2cCheckpoint(model, tinyCheckpoint(seed));
  writeLlama2cTokenizer(tokenizer, tinyVocab());
  return { dir, model, tokenizer };
}

/** The backends to test: the reference pair always, plus what loadKernels() and the addon's LM kernels provide (on SAELAB_ISA's library when set). */
export function backendsUnderTest(): [string, ModelBackends][] {
  const out: [string, ModelBackends][] = [["reference", { kernels: referenceKernels(), lm: referenceLmKernels() }]];
  const isa = parseIsa(process.env.SAELAB_ISA);
  const lm = loadLmKernels("auto", isa);
  const { kernels } = loadKernels("auto", isa);
  if (lm.name === "native" || kernels.name !== "reference") out.push([`gemm ${kernels.name}, lm ${lm.name}${isa === "auto" ? "" : ` (${isa})`}`, { kernels, lm }]);
  return out;
}

/** The shared stories260K model and tokenizer, loaded once per call, or undefined when absent. */
export function sharedModel(backends?: ModelBackends): { model: LlamaModel; tok: Tokenizer; ckpt: Llama2cCheckpoint } | undefined {
  const f = sharedModelFiles();
  if (!f) return undefined;
  const ckpt = readLlama2cCheckpoint(f.model);
  const tok = new Tokenizer(readLlama2cTokenizer(f.tokenizer, ckpt.config.vocabSize));
  return { model: new LlamaModel(ckpt, backends ?? { kernels: referenceKernels(), lm: loadLmKernels("auto") }), tok, ckpt };
}

export const SHARED_MODEL_MISSING = "skipped: ../shared/models/stories260K/ (stories260K.bin, tok512.bin) is absent beside the repository";

/**
 * An independent oracle: llama2.c run.c's transformer() transcribed to TypeScript (float64 sums),
 * one token at a time with its own cache, using the checkpoint's arrays directly. Returns the
 * logits of every position of `tokens`.
 */
export function runCForward(ckpt: Llama2cCheckpoint, tokens: readonly number[]): Float64Array[] {
  const p = ckpt.config;
  const w = ckpt.weights;
  const dim = p.dim;
  const hs = dim / p.nHeads;
  const kvDim = (dim * p.nKvHeads) / p.nHeads;
  const kvMul = p.nHeads / p.nKvHeads;
  const hid = p.hiddenDim;
  const wcls = p.sharedClassifier ? w.tokenEmbedding : w.wcls!;
  const keyCache: number[][][] = [];
  const valueCache: number[][][] = [];
  for (let l = 0; l < p.nLayers; l++) {
    keyCache.push([]);
    valueCache.push([]);
  }
  const matmul = (x: ArrayLike<number>, W: Float32Array, off: number, n: number, d: number): number[] => {
    const out: number[] = [];
    for (let i = 0; i < d; i++) {
      let v = 0;
      for (let j = 0; j < n; j++) v += W[off + i * n + j]! * x[j]!;
      out.push(v);
    }
    return out;
  };
  const rmsnorm = (x: number[], W: Float32Array, off: number): number[] => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const s = 1 / Math.sqrt(ss / x.length + 1e-5);
    return x.map((v, j) => W[off + j]! * (s * v));
  };
  const all: Float64Array[] = [];
  tokens.forEach((token, pos) => {
    const x = Array.from(w.tokenEmbedding.subarray(token * dim, (token + 1) * dim));
    for (let l = 0; l < p.nLayers; l++) {
      let xb = rmsnorm(x, w.rmsAtt, l * dim);
      const q = matmul(xb, w.wq, l * dim * dim, dim, dim);
      const k = matmul(xb, w.wk, l * dim * kvDim, dim, kvDim);
      const v = matmul(xb, w.wv, l * dim * kvDim, dim, kvDim);
      for (let i = 0; i < dim; i += 2) {
        const freq = 1 / Math.pow(10000, (i % hs) / hs);
        const fcr = Math.cos(pos * freq);
        const fci = Math.sin(pos * freq);
        for (const vec of i < kvDim ? [q, k] : [q]) {
          const v0 = vec[i]!;
          const v1 = vec[i + 1]!;
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      keyCache[l]!.push(k);
      valueCache[l]!.push(v);
      xb = new Array<number>(dim).fill(0);
      for (let h = 0; h < p.nHeads; h++) {
        const att: number[] = [];
        for (let t = 0; t <= pos; t++) {
          let score = 0;
          for (let i = 0; i < hs; i++) score += q[h * hs + i]! * keyCache[l]![t]![Math.floor(h / kvMul) * hs + i]!;
          att.push(score / Math.sqrt(hs));
        }
        const max = Math.max(...att);
        const e = att.map((a) => Math.exp(a - max));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t <= pos; t++) {
          for (let i = 0; i < hs; i++) xb[h * hs + i]! += (e[t]! / sum) * valueCache[l]![t]![Math.floor(h / kvMul) * hs + i]!;
        }
      }
      const xb2 = matmul(xb, w.wo, l * dim * dim, dim, dim);
      for (let i = 0; i < dim; i++) x[i]! += xb2[i]!;
      xb = rmsnorm(x, w.rmsFfn, l * dim);
      const hb = matmul(xb, w.w1, l * dim * hid, dim, hid);
      const hb2 = matmul(xb, w.w3, l * dim * hid, dim, hid);
      for (let i = 0; i < hid; i++) hb[i] = (hb[i]! / (1 + Math.exp(-hb[i]!))) * hb2[i]!;
      const out = matmul(hb, w.w2, l * dim * hid, hid, dim);
      for (let i = 0; i < dim; i++) x[i]! += out[i]!;
    }
    const xf = rmsnorm(x, w.rmsFinal, 0);
    all.push(Float64Array.from(matmul(xf, wcls, 0, dim, p.vocabSize)));
  });
  return all;
}

/** Returns max |a - b| over two equal-length arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * A hand-built SAE with dSae = 2 dIn: latents are relu(x) and relu(-x), decoder rows +e_i and -e_i,
 * scaled by `gain`. With gain 1 the reconstruction is exactly x; with gain 0 it is exactly zero.
 */
export function signSplitSae(dIn: number, gain: number): SaeModel {
  const dSae = 2 * dIn;
  const W_dec = new Float32Array(dSae * dIn);
  for (let i = 0; i < dIn; i++) {
    W_dec[i * dIn + i] = gain;
    W_dec[(dIn + i) * dIn + i] = -gain;
  }
  const encode = (x: Float32Array, batch: number, out: SparseRows = emptySparse(batch, dSae)): SparseRows => {
    reserveSparse(out, batch, dSae, batch * dIn);
    let e = 0;
    for (let r = 0; r < batch; r++) {
      out.rowPtr[r] = e;
      for (const [off, sign] of [[0, 1], [dIn, -1]] as const) {
        for (let i = 0; i < dIn; i++) {
          const v = sign * x[r * dIn + i]!;
          if (v > 0) {
            out.colIdx[e] = off + i;
            out.values[e] = v;
            e++;
          }
        }
      }
    }
    out.rowPtr[batch] = e;
    out.nnz = e;
    return out;
  };
  const decode = (acts: SparseRows, out = new Float32Array(acts.rows * dIn)): Float32Array => {
    out.fill(0);
    for (let r = 0; r < acts.rows; r++) {
      for (let e = acts.rowPtr[r]!; e < acts.rowPtr[r + 1]!; e++) {
        const j = acts.colIdx[e]!;
        for (let i = 0; i < dIn; i++) out[r * dIn + i] = out[r * dIn + i]! + acts.values[e]! * W_dec[j * dIn + i]!;
      }
    }
    return out;
  };
  return {
    architecture: "standard", tied: false, dIn, dSae, W_dec,
    b_enc: new Float32Array(dSae), b_dec: new Float32Array(dIn),
    encoderWeights: () => {
      const w = new Float32Array(dIn * dSae);
      for (let i = 0; i < dIn; i++) {
        w[i * dSae + i] = 1;
        w[i * dSae + dIn + i] = -1;
      }
      return w;
    },
    encode,
    decode,
    preActivations: (x, batch) => {
      const out = new Float32Array(batch * dSae);
      for (let r = 0; r < batch; r++) for (let i = 0; i < dIn; i++) {
        out[r * dSae + i] = x[r * dIn + i]!;
        out[r * dSae + dIn + i] = -x[r * dIn + i]!;
      }
      return out;
    },
  };
}

