/**
 * TransformerLens's weight processing (`from_pretrained` defaults) as far as it changes hook values:
 * for LayerNorm families, every weight that writes to the residual stream (W_E, W_pos, W_O and b_O,
 * W_out and b_out) is centred over d_model (center_writing_weights), so every residual-stream hook
 * equals the raw value minus its mean over d_model; and the unembedding is centred over the vocabulary
 * (center_unembed), so each logit row loses its mean. LayerNorm removes the mean anyway, so nothing
 * downstream changes. Folding the LayerNorm weights into the next layer (fold_ln) changes no hook
 * value and is not done. RMSNorm families are left as they are (TransformerLens centres only for
 * LayerNorm). `--no-processing` is from_pretrained_no_processing.
 */
import type { CanonicalWeights, ModelSpec } from "./spec.js";

/** Returns whether processing changes this spec's weights (LayerNorm families). */
export function processingApplies(spec: ModelSpec): boolean {
  return spec.norm === "layer";
}

/** Rows [n, d] each minus its mean (in float64). */
function centreRows(w: Float32Array, d: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < w.length / d; r++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += w[r * d + j]!;
    const m = s / d;
    for (let j = 0; j < d; j++) out[r * d + j] = w[r * d + j]! - m;
  }
  return out;
}

/** w [d, cols] ([out, in] with d outputs): each column minus its mean over the d outputs. */
function centreOutputs(w: Float32Array, d: number): Float32Array {
  const cols = w.length / d;
  const mean = new Float64Array(cols);
  for (let i = 0; i < d; i++) for (let j = 0; j < cols; j++) mean[j] = mean[j]! + w[i * cols + j]!;
  const out = new Float32Array(w.length);
  for (let i = 0; i < d; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = w[i * cols + j]! - mean[j]! / d;
  return out;
}

/** Returns the weights as TransformerLens processes them (unchanged for RMSNorm families); the unembedding becomes untied. */
export function processWeights(spec: ModelSpec, w: CanonicalWeights): { spec: ModelSpec; weights: CanonicalWeights } {
  if (!processingApplies(spec)) return { spec, weights: w };
  const D = spec.dModel;
  const unembed = centreOutputs(w.unembed ?? w.embed, spec.vocabSize);
  return {
    spec: { ...spec, tiedEmbeddings: false },
    weights: {
      embed: centreRows(w.embed, D),
      posEmbed: w.posEmbed ? centreRows(w.posEmbed, D) : undefined,
      layers: w.layers.map((l) => ({
        ...l,
        wo: centreOutputs(l.wo, D),
        bo: l.bo ? centreRows(l.bo, D) : undefined,
        wOut: centreOutputs(l.wOut, D),
        bOut: l.bOut ? centreRows(l.bOut, D) : undefined,
      })),
      lnFinal: w.lnFinal,
      unembed,
    },
  };
}
