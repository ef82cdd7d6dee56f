/**
 * Steering vectors: one direction per layer, added (or applied through an operator) to the output
 * of those layers' blocks. Token selection uses absolute positions (HookContext.rowPos), so the
 * patch hits the same tokens whether they are computed in one pass or generated one at a time
 * with the KV cache. Patching returns a handle whose remove() undoes it.
 */
import type { HookFn, HookHandle, HookSpec } from "../lm/hooks.js";
import type { HookedModel } from "../lm/model.js";
import type { PatchDeltaOperator } from "./operators.js";

/** Which activation of a layer is read and patched, with the steering-vectors library's names. */
export const LAYER_TYPES = {
  /** The block's output (the residual stream after it). */
  decoder_block: "hook_resid_post",
  /** The attention block's output, before it joins the residual stream. */
  self_attn: "hook_attn_out",
  /** The MLP block's output, before it joins the residual stream. */
  mlp: "hook_mlp_out",
} as const;
export type LayerType = keyof typeof LAYER_TYPES;

/** Returns the hook point of `layerType` at block `layer`. */
export function layerHookName(layer: number, layerType: LayerType = "decoder_block"): string {
  return `blocks.${layer}.${LAYER_TYPES[layerType]}`;
}

/** Returns the layer and layer type whose steering hook is the hook point `name` (blocks.L.hook_resid_pre is block L-1's output), or undefined when no steering hook reaches it. */
export function steeringSiteOfHook(name: string): { layer: number; layerType: LayerType } | undefined {
  const m = /^blocks\.(\d+)\.(hook_\w+)$/.exec(name);
  if (!m) return undefined;
  const layer = Number(m[1]);
  if (m[2] === "hook_resid_pre") return layer > 0 ? { layer: layer - 1, layerType: "decoder_block" } : undefined;
  const type = (Object.keys(LAYER_TYPES) as LayerType[]).find((t) => LAYER_TYPES[t] === m[2]);
  return type ? { layer, layerType: type } : undefined;
}

/** Returns `layer` with negative values counted from the end (-1 = last block), checked against nLayers. */
export function resolveLayer(layer: number, nLayers: number): number {
  const l = layer < 0 ? nLayers + layer : layer;
  if (!Number.isInteger(l) || l < 0 || l >= nLayers) throw new RangeError(`layer ${layer} is outside the model's blocks 0..${nLayers - 1} (or -${nLayers}..-1)`);
  return l;
}

/** How and where a steering vector is applied. */
export interface PatchOptions {
  /** Scales the vector. Default 1. */
  multiplier?: number;
  /** Maps (original activation, scaled vector) to the delta to add. Default: the vector itself. */
  operator?: PatchDeltaOperator;
  /** Patch only tokens at absolute position >= this. */
  minTokenIndex?: number;
  /** Patch only these absolute positions (a list, or a predicate). Not together with minTokenIndex. */
  tokenIndices?: readonly number[] | ((position: number) => boolean);
}

/** A steering vector: a direction [dModel] for each of some layers. */
export class SteeringVector {
  constructor(
    readonly layerActivations: ReadonlyMap<number, Float32Array>,
    readonly layerType: LayerType = "decoder_block",
  ) {
    if (layerActivations.size === 0) throw new RangeError("a steering vector needs at least one layer");
    const dims = new Set([...layerActivations.values()].map((v) => v.length));
    if (dims.size !== 1) throw new RangeError(`steering vector layers have different widths: ${[...dims].join(", ")}`);
    for (const [l, v] of layerActivations) {
      if (!Number.isInteger(l) || l < 0) throw new RangeError(`steering vector layer ${l} must be a non-negative block index`);
      if (!v.every(Number.isFinite)) throw new RangeError(`steering vector for layer ${l} holds a non-finite value`);
    }
  }

  /** Width of the vectors. */
  get dModel(): number {
    return this.layerActivations.values().next().value!.length;
  }

  /** Returns hook specs that apply this vector (for runWithHooks or generate's hooks). */
  hooks(opts: PatchOptions = {}): HookSpec[] {
    if (opts.minTokenIndex !== undefined && opts.tokenIndices !== undefined) throw new RangeError("give minTokenIndex or tokenIndices, not both");
    const selected = positionFilter(opts);
    const multiplier = opts.multiplier ?? 1;
    return [...this.layerActivations].map(([layer, v]) => {
      const scaled = Float32Array.from(v, (x) => x * multiplier);
      const fn: HookFn = (act, ctx) => {
        const D = ctx.dModel;
        if (D !== scaled.length) throw new RangeError(`steering vector has width ${scaled.length} but ${ctx.name} has dModel ${D}`);
        for (let r = 0; r < ctx.rows; r++) {
          if (!selected(ctx.rowPos[r]!)) continue;
          const row = act.subarray(r * D, (r + 1) * D);
          const delta = opts.operator ? opts.operator(row, scaled) : scaled;
          for (let j = 0; j < D; j++) row[j] = row[j]! + delta[j]!;
        }
      };
      return [layerHookName(layer, this.layerType), fn] as const;
    });
  }

  /** Patches the model until the returned handle's remove() (the steering-vectors library's patch_activations). */
  patch(model: HookedModel, opts: PatchOptions = {}): HookHandle {
    for (const l of this.layerActivations.keys()) resolveLayer(l, model.spec.nLayers);
    const handles = this.hooks(opts).map(([name, fn]) => model.addHook(name, fn));
    return { remove: () => handles.forEach((h) => h.remove()) };
  }

  /** Runs `fn` with the model patched, then removes the patch (the library's apply context manager). */
  apply<T>(model: HookedModel, opts: PatchOptions, fn: () => T): T {
    const handle = this.patch(model, opts);
    try {
      return fn();
    } finally {
      handle.remove();
    }
  }
}

function positionFilter(opts: PatchOptions): (pos: number) => boolean {
  const idx = opts.tokenIndices;
  if (typeof idx === "function") return idx;
  if (idx) {
    const set = new Set(idx);
    return (p) => set.has(p);
  }
  const min = opts.minTokenIndex ?? 0;
  return (p) => p >= min;
}
