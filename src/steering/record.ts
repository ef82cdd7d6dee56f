/**
 * Recording activations during any run (the steering-vectors library's record_activations): every
 * forward pass appends a copy of each watched layer's activation with its rows' sequences and
 * absolute positions, until remove().
 */
import type { HookedModel } from "../lm/model.js";
import { layerHookName, resolveLayer, type LayerType } from "./vector.js";

/** One forward pass's activation at one layer. */
export interface RecordedActivation {
  /** [rows, dModel] */
  activations: Float32Array;
  rowSeq: Int32Array;
  rowPos: Int32Array;
}

/** A recording in progress. */
export interface ActivationRecorder {
  /** Per layer, one entry per forward pass so far. */
  readonly records: Map<number, RecordedActivation[]>;
  /** Stops recording. */
  remove(): void;
}

/** Starts recording the activations of `layers` (default all; negative from the end) on every forward pass of `model`. */
export function recordActivations(model: HookedModel, opts: { layers?: readonly number[]; layerType?: LayerType } = {}): ActivationRecorder {
  const nLayers = model.spec.nLayers;
  const layers = (opts.layers ?? Array.from({ length: nLayers }, (_, i) => i)).map((l) => resolveLayer(l, nLayers));
  const records = new Map<number, RecordedActivation[]>(layers.map((l) => [l, []]));
  const handles = layers.map((l) =>
    model.addHook(layerHookName(l, opts.layerType), (act, ctx) => {
      records.get(l)!.push({ activations: act.slice(), rowSeq: ctx.rowSeq.slice(), rowPos: ctx.rowPos.slice() });
    }),
  );
  return { records, remove: () => handles.forEach((h) => h.remove()) };
}
