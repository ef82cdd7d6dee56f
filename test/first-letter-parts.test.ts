/**
 * The first-letter eval's parts: vocabulary and prompts, reading the word's token in each prompt
 * (the prompt_token_pos mapping) with stories260K's real tokenizer, and scoring detector pairs
 * against probe-defined pairs.
 */
import { beforeAll, describe, expect, it } from "vitest";
import type { Detection } from "../src/detect/schemas.js";
import { AbsorptionEvalConfigSchema, ProbeSettingsSchema } from "../src/experiments/first-letter-config.js";
import { collectFirstLetterData } from "../src/experiments/first-letter-data.js";
import { compareDetectorWithProbes } from "../src/experiments/first-letter-detect.js";
import type { FirstLetterResult, LetterResult } from "../src/experiments/first-letter-eval.js";
import { tokenTexts, type ProbeLm } from "../src/experiments/first-letter-lm.js";
import { alphaWords, iclPrompt, letterOf, splitWords } from "../src/experiments/first-letter-prompts.js";
import { readLlama2cTokenizer, sharedModelFiles } from "../src/io/llama2c.js";
import { llama2cTokenizer } from "../src/lm/tokenizers/llama2c.js";
import { Rng } from "../src/tensor/rng.js";

describe("vocabulary and prompts", () => {
  it("keeps alphabetic tokens with an optional leading space, one id per text (the highest)", () => {
    const v = alphaWords([{ id: 3, text: "A" }, { id: 5, text: " the" }, { id: 6, text: "ing" }, { id: 7, text: " 3d" }, { id: 8, text: " " }, { id: 9, text: "A" }, { id: 10, text: "é" }]);
    expect(v).toEqual([{ id: 5, text: " the" }, { id: 6, text: "ing" }, { id: 9, text: "A" }]);
    expect(letterOf(" The")).toBe(19);
  });

  it("splits 80/20 after a seeded shuffle, the same for the same seed", () => {
    const words = Array.from({ length: 10 }, (_, i) => `w${i}`);
    const a = splitWords(words, 0.8, new Rng(1));
    expect(a.train.length).toBe(8);
    expect([...a.train, ...a.test].sort()).toEqual(words.slice().sort());
    expect(splitWords(words, 0.8, new Rng(1))).toEqual(a);
  });

  it("builds SAEBench's in-context prompt without the word among its examples", () => {
    const ex = [" cat", " dog", " sun", " hat"];
    const p = iclPrompt(" dog", ex, "{word} has the first letter:", 3, new Rng(4));
    const lines = p.text.split("\n");
    expect(lines[0]).toBe("");
    expect(lines.length).toBe(5);
    for (const l of lines.slice(1, 4)) expect(l).toMatch(/^ (cat|sun|hat) has the first letter: [CSH]$/);
    expect(new Set(lines.slice(1, 4)).size).toBe(3);
    expect(lines[4]).toBe(" dog has the first letter:");
    expect(p.throughWord).toBe(p.text.slice(0, p.text.length - " has the first letter:".length));
  });
});

describe.skipIf(!sharedModelFiles())("reading the word's token with stories260K's tokenizer", () => {
  // Read in beforeAll: a skipped describe still runs its body, and the file may be absent.
  let tok!: ReturnType<typeof llama2cTokenizer>;
  beforeAll(() => {
    tok = llama2cTokenizer(readLlama2cTokenizer(sharedModelFiles()!.tokenizer, 512));
  });
  // A stand-in model whose activation at each position is [token id, position]: the rows picked show which token was read.
  const fake: ProbeLm = {
    name: "fake",
    dModel: 2,
    nLayers: 1,
    tokenizerFamily: "llama2.c",
    vocab: () => tokenTexts(tok).map((text, id) => ({ id, text })),
    encode: (s) => Int32Array.from(tok.encode(s, { addBos: true })),
    *activations(seqs) {
      const rows = seqs.flatMap((s, q) => Array.from(s, (t, p) => ({ t, p, q })).filter((r) => r.p > 0));
      yield { activations: Float32Array.from(rows.flatMap((r) => [r.t, r.p])), tokens: Int32Array.from(rows, (r) => r.t), positions: Int32Array.from(rows, (r) => r.p), sequences: Int32Array.from(rows, (r) => r.q) };
    },
  };

  it("token texts keep the leading space of SentencePiece pieces", () => {
    const texts = tokenTexts(tok);
    expect(texts.filter((t) => t === " the").length).toBe(1);
    expect(texts).toContain(" Lily");
  });

  it("reads every prompt at the word's token, 12 positions from the end (SAEBench's -6)", () => {
    const cfg = AbsorptionEvalConfigSchema.parse({});
    const data = collectFirstLetterData(fake, "blocks.0.hook_resid_post", cfg, ProbeSettingsSchema.parse({}));
    expect(data.nVocabWords).toBe(202);
    expect(data.tokenPositions).toEqual([-12]);
    expect(data.dropped).toEqual([]);
    for (const rows of [data.train, data.test]) {
      rows.words.forEach((w, i) => {
        expect(rows.acts[2 * i]).toBe(Math.max(...[...tokenTexts(tok).entries()].filter(([, t]) => t === w).map(([id]) => id)));
        expect(rows.labels[i]).toBe(letterOf(w));
      });
    }
    expect(data.test.words.length).toBe(data.absorption.length / 2);
    data.test.words.forEach((w, i) => expect(data.absorption[2 * i]).toBe(data.test.acts[2 * i]));
    const literal = collectFirstLetterData(fake, "h", { ...cfg, prompt_token_pos: -1 }, ProbeSettingsSchema.parse({ max_words: 20 }));
    expect(literal.nVocabWords).toBe(20);
    expect(literal.tokenPositions).toEqual([-1]);
    expect(literal.train.acts[0]).toBe(tok.encode(":", { addBos: false }).at(-1));
  });
});

describe("the detector against probe-defined pairs", () => {
  const letter = (l: string, splitFeats: number[], absorbers: number[]): LetterResult => ({
    letter: l, probeF1: 1, kSparse: [], splitFeats, numSplitFeatures: splitFeats.length, numProbeTruePositives: 4, numFullAbsorption: 1, fullAbsorptionRate: 0.25, meanAbsorptionFraction: 0.25, words: [],
    absorbers: absorbers.map((latent) => ({ latent, probeCos: 0.5, words: ["w"], fullWords: ["w"] })),
  });
  const result: FirstLetterResult = { letters: [letter("a", [1], [10, 11]), letter("b", [2, 3], [12])], skipped: [], enoughLetters: true, mean: null };
  const pair = (parent: number, absorber: number, confident = true) => ({ parent, absorber, confident, score: 0.5, kind: "absorption" as const });

  it("counts explained, parent-only and unexplained pairs, precision and recall", () => {
    const detection = { pairs: [pair(1, 10), pair(3, 12), pair(1, 12), pair(7, 8), pair(2, 11, false)] } as unknown as Detection;
    const c = compareDetectorWithProbes(detection, result);
    expect(c.confidentPairs).toBe(4);
    expect(c.probePairs).toBe(3);
    expect(c.explained).toBe(2); // 1<-10 (a), 3<-12 (b)
    expect(c.parentOnly).toBe(1); // 1<-12: a's main latent, b's absorber
    expect(c.unexplained.map((p) => [p.parent, p.absorber])).toEqual([[7, 8]]);
    expect(c.precision).toBe(0.5);
    expect(c.recall).toBeCloseTo(2 / 3, 12);
    expect(c.letters[0]!.found).toEqual([10]);
    expect(c.letters[1]!.found).toEqual([12]);
  });
});
