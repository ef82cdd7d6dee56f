/**
 * Patch operators, as in the steering-vectors library: given the original activation of one token
 * and the (multiplied) steering vector, each returns the delta that is added to the activation.
 */

/** Returns the delta [dModel] to add to `original` [dModel] given the scaled steering `vector` [dModel]. */
export type PatchDeltaOperator = (original: Float32Array, vector: Float32Array) => Float32Array;

/** Returns the default operator: add the vector. */
export function additionOperator(): PatchDeltaOperator {
  return (_original, vector) => vector;
}

/**
 * Returns the operator that removes the activation's component along the vector's direction (the
 * multiplier's size and sign do not matter, as in the Python library); a zero vector removes nothing.
 */
export function ablationOperator(): PatchDeltaOperator {
  return (original, vector) => {
    let nn = 0;
    for (const v of vector) nn += v * v;
    const out = new Float32Array(vector.length);
    if (nn === 0) return out;
    let dot = 0;
    for (let i = 0; i < vector.length; i++) dot += original[i]! * vector[i]!;
    for (let i = 0; i < vector.length; i++) out[i] = (-dot / nn) * vector[i]!;
    return out;
  };
}

/** Returns the operator that first removes the direction, then adds the vector. */
export function ablationThenAdditionOperator(): PatchDeltaOperator {
  const ablate = ablationOperator();
  return (original, vector) => {
    const a = ablate(original, vector);
    for (let i = 0; i < a.length; i++) a[i] = a[i]! + vector[i]!;
    return a;
  };
}

/** The operators by the names the CLI and saved settings use. */
export const OPERATORS = {
  addition: additionOperator,
  ablation: ablationOperator,
  ablation_then_addition: ablationThenAdditionOperator,
} as const;
export type OperatorName = keyof typeof OPERATORS;
