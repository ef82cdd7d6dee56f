/**
 * Words and prompts of the first-letter eval (SAEBench's vocab.py and prompting.py): the vocabulary is
 * the model's single tokens that are alphabetic words, optionally after the tokenizer's leading-space
 * marker (SentencePiece's "▁", GPT-2's "Ġ", both decoded to " "); a prompt is in-context examples
 * "{word} has the first letter: X" separated by newlines (with a leading newline, as SAEBench does for
 * Mistral's tokenizer), then the word's own line without its answer.
 */
import type { Rng } from "../tensor/rng.js";

export const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/**
 * Returns the vocabulary entries that are alphabetic words (text with an optional leading space), in id
 * order, one per text: where several ids spell the same text (a byte-fallback token "<0x41>" beside
 * the piece "A"), the highest id, which is the merged piece (SAEBench drops "<0x..>" tokens too).
 */
export function alphaWords(tokens: readonly { id: number; text: string }[]): { id: number; text: string }[] {
  const byText = new Map<string, number>();
  for (const t of tokens) {
    const w = t.text.startsWith(" ") ? t.text.slice(1) : t.text;
    if (w.length > 0 && /^[A-Za-z]+$/.test(w)) byText.set(t.text, Math.max(t.id, byText.get(t.text) ?? -1));
  }
  return [...byText.entries()].map(([text, id]) => ({ id, text })).sort((a, b) => a.id - b.id);
}

/** Returns the letter index (0..25) of a word's first letter. */
export function letterOf(word: string): number {
  const c = word.trim()[0]!.toLowerCase();
  return LETTERS.indexOf(c);
}

/** Returns SAEBench's answer for a word: a space and its first letter in upper case. */
export function firstLetterAnswer(word: string): string {
  return " " + word.trim()[0]!.toUpperCase();
}

/** Returns the words shuffled by `rng` and cut into train (the first `fraction`, rounded down) and test. */
export function splitWords<T>(words: readonly T[], fraction: number, rng: Rng): { train: T[]; test: T[] } {
  const a = words.slice();
  for (let i = a.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  const cut = Math.floor(a.length * fraction);
  return { train: a.slice(0, cut), test: a.slice(cut) };
}

/** One prompt: the text up to and including the word, and the whole text fed to the model. */
export interface WordPrompt {
  word: string;
  /** The prompt ends with the template after the word (no answer). */
  text: string;
  /** The prefix of `text` that ends with the word. */
  throughWord: string;
}

/**
 * Returns an in-context prompt for `word`: `maxIcl` examples drawn without replacement from `examples`
 * other than the word itself (SAEBench resamples until the word is absent, which draws from the same
 * distribution), each "template + answer", joined and preceded by newlines, then the word's template.
 */
export function iclPrompt(word: string, examples: readonly string[], template: string, maxIcl: number, rng: Rng): WordPrompt {
  if (!template.includes("{word}")) throw new Error(`prompt template "${template}" has no {word}`);
  const pool = examples.filter((e) => e !== word);
  const picked: string[] = [];
  for (let i = 0; i < Math.min(maxIcl, pool.length); i++) {
    const j = i + rng.int(pool.length - i);
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
    picked.push(pool[i]!);
  }
  const at = template.indexOf("{word}");
  const lines = picked.map((e) => template.replace("{word}", e) + firstLetterAnswer(e));
  const head = "\n" + lines.map((l) => l + "\n").join("") + template.slice(0, at) + word;
  return { word, throughWord: head, text: head + template.slice(at + "{word}".length) };
}
