/**
 * The first-letter eval's data from a language model (SAEBench's probe datasets): the alphabetic
 * single-token words, their train/test split, one in-context prompt per word (train words with train
 * examples, test words with test examples) and a fresh prompt per test word with examples from the
 * whole vocabulary (SAEBench's absorption calculator builds its own), each read at the word's token.
 *
 * Token position: SAEBench reads `prompt_token_pos` = -6, which is the word's token when the template's
 * remainder " has the first letter:" is five tokens (GPT-2 and Gemma tokenizers). Other tokenizers
 * split that remainder differently (llama2.c's 512-token vocabulary: eleven tokens, so the word is at
 * -12), so saelab reads the word's own token, found by encoding the prompt up to the word, and reports
 * the position that is from the end. A `prompt_token_pos` other than -6 is read literally from the end.
 * A word whose token does not survive tokenisation in its prompt (merged with a neighbour) is dropped
 * and listed.
 */
import { Rng } from "../tensor/rng.js";
import { SAEBENCH_WORD_POS, type AbsorptionEvalConfig, type ProbeSettings } from "./first-letter-config.js";
import type { WordRows } from "./first-letter-eval.js";
import type { ProbeLm } from "./first-letter-lm.js";
import { alphaWords, iclPrompt, letterOf, splitWords, type WordPrompt } from "./first-letter-prompts.js";

/** Everything the eval reads from the model, for any number of SAEs at one hook. */
export interface FirstLetterData {
  hook: string;
  train: WordRows;
  test: WordRows;
  /** [nTest, dModel]: the test words read from fresh prompts (row i = test word i). */
  absorption: Float32Array;
  /** Unlabelled activations at every non-BOS position of every prompt, for the detector ([rows, dModel] batches). */
  detectorBatches: Float32Array[];
  nVocabWords: number;
  /** Words left out because their token did not survive in a prompt. */
  dropped: string[];
  /** The positions from the end that were read (one value when every prompt agrees). */
  tokenPositions: number[];
  promptsRun: number;
}

interface Placed {
  word: string;
  tokens: Int32Array;
  pos: number;
}

/** Returns the eval's activations from `lm` at `hook` (see the module note). */
export function collectFirstLetterData(lm: ProbeLm, hook: string, cfg: AbsorptionEvalConfig, s: ProbeSettings, opts: { maxDetectorRows?: number; onProgress?: (done: number, total: number) => void } = {}): FirstLetterData {
  const rng = new Rng(cfg.random_seed);
  const vocab = alphaWords(lm.vocab());
  const wordIds = new Map(vocab.map((v) => [v.text, v.id]));
  const all = vocab.map((v) => v.text);
  const words = s.max_words > 0 && s.max_words < all.length ? splitWords(all, 1, rng.fork("subset")).train.slice(0, s.max_words) : all;
  const { train, test } = splitWords(words, s.train_test_fraction, rng.fork("split"));
  const prompts = (list: string[], examples: string[], label: string) => {
    const r = rng.fork(label);
    return list.map((w) => iclPrompt(w, examples, cfg.prompt_template, s.max_icl_examples, r));
  };
  const dropped = new Set<string>();
  const positions = new Set<number>();
  const place = (p: WordPrompt): Placed | null => {
    const tokens = lm.encode(p.text);
    const head = lm.encode(p.throughWord);
    const at = head.length - 1;
    const ok = head.length <= tokens.length && head.every((t, i) => tokens[i] === t) && head[at] === wordIds.get(p.word);
    if (!ok) {
      dropped.add(p.word);
      return null;
    }
    const pos = cfg.prompt_token_pos === SAEBENCH_WORD_POS ? at : tokens.length + cfg.prompt_token_pos;
    positions.add(pos - tokens.length);
    return { word: p.word, tokens, pos };
  };
  const trP = prompts(train, train, "train-prompts").map(place);
  const teP = prompts(test, test, "test-prompts").map(place);
  const abP = prompts(test, words, "absorption-prompts").map(place);
  const trainKeep = trP.filter((p): p is Placed => p !== null && !dropped.has(p.word));
  const testKeep: [Placed, Placed][] = [];
  teP.forEach((p, i) => {
    const a = abP[i];
    if (p && a && !dropped.has(p.word)) testKeep.push([p, a]);
  });
  const placed = [...trainKeep, ...testKeep.map((t) => t[0]), ...testKeep.map((t) => t[1])];
  const D = lm.dModel;
  const picked = new Float32Array(placed.length * D);
  const detectorBatches: Float32Array[] = [];
  let detectorRows = 0;
  const maxDetectorRows = opts.maxDetectorRows ?? 50_000;
  let seqBase = 0;
  const batch = cfg.llm_batch_size;
  for (let s0 = 0; s0 < placed.length; s0 += batch) {
    const part = placed.slice(s0, s0 + batch);
    for (const rows of lm.activations(part.map((p) => p.tokens), hook, batch)) {
      const n = rows.tokens.length;
      for (let r = 0; r < n; r++) {
        const q = rows.sequences[r]!;
        if (rows.positions[r] === part[q]!.pos) picked.set(rows.activations.subarray(r * D, (r + 1) * D), (s0 + q) * D);
      }
      const take = Math.min(n, maxDetectorRows - detectorRows);
      if (take > 0) detectorBatches.push(rows.activations.slice(0, take * D));
      detectorRows += take;
    }
    seqBase += part.length;
    opts.onProgress?.(seqBase, placed.length);
  }
  const rowsOf = (list: Placed[], offset: number): WordRows => ({
    acts: picked.slice(offset * D, (offset + list.length) * D),
    words: list.map((p) => p.word),
    labels: Int32Array.from(list, (p) => letterOf(p.word)),
  });
  const nTr = trainKeep.length;
  const nTe = testKeep.length;
  return {
    hook,
    train: rowsOf(trainKeep, 0),
    test: rowsOf(testKeep.map((t) => t[0]), nTr),
    absorption: picked.slice((nTr + nTe) * D, (nTr + 2 * nTe) * D),
    detectorBatches,
    nVocabWords: words.length,
    dropped: [...dropped].sort(),
    tokenPositions: [...positions].sort((a, b) => a - b),
    promptsRun: placed.length,
  };
}
