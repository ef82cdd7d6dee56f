/** Binary classification scores (scikit-learn's conventions: an undefined ratio is 0). */

/** Precision, recall and F1 of a binary prediction. */
export interface BinaryScores {
  precision: number;
  recall: number;
  f1: number;
  truePositives: number;
  positives: number;
  predicted: number;
}

/** Returns precision, recall and F1 of `predicted` against `actual` (0 where a denominator is 0, as scikit-learn's zero_division default). */
export function binaryScores(actual: ArrayLike<boolean>, predicted: ArrayLike<boolean>): BinaryScores {
  if (actual.length !== predicted.length) throw new RangeError(`${actual.length} labels but ${predicted.length} predictions`);
  let tp = 0;
  let pos = 0;
  let pred = 0;
  for (let i = 0; i < actual.length; i++) {
    if (actual[i]) pos++;
    if (predicted[i]) pred++;
    if (actual[i] && predicted[i]) tp++;
  }
  const precision = pred > 0 ? tp / pred : 0;
  const recall = pos > 0 ? tp / pos : 0;
  const f1 = pos + pred > 0 ? (2 * tp) / (pos + pred) : 0;
  return { precision, recall, f1, truePositives: tp, positives: pos, predicted: pred };
}
