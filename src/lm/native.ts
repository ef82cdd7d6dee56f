/**
 * The native twin of the LM kernels (native/src/lm.c), used only when the compiled addon exports
 * them; otherwise, or when the caller asks for the reference backend, the TypeScript reference kernels run.
 */
import type { BackendChoice, IsaChoice } from "../tensor/backend.js";
import { loadAddon } from "../tensor/native.js";
import { referenceLmKernels, type LmKernels, type ModelBuffers } from "./kernels.js";
import { LAYOUT_HEAD_SIZE, LAYOUT_N_LAYERS } from "./params.js";

type F = Float32Array;
type I = Int32Array;
/** The attention variant as the addon takes it: windows [nLayers] (0: none), scale (0: 1/sqrt(headSize)), softcap (0: none). */
type AttnArgs = [windows: I, scale: number, softcap: number];

/** The LM functions the addon exports (see native/src/lm.c for argument order). */
interface NativeLm {
  lmRmsnorm(x: F, rows: number, dim: number, w: F, out: F, eps: number): void;
  lmSwiglu(h13: F, rows: number, hidden: number, out: F): void;
  lmLinear(x: F, rows: number, inDim: number, w: F, outDim: number, out: F): void;
  lmRopeStore(layout: I, rope: F, k: F, v: F, slots: number, cap: number, rows: number, rowSlot: I, rowPos: I, qkv: F, layer: number): void;
  lmAttention(layout: I, k: F, v: F, slots: number, cap: number, rows: number, rowSlot: I, rowPos: I, qkv: F, layer: number, out: F, ...attn: AttnArgs): void;
  lmPackedSize(layout: I): number;
  lmPack(layout: I, buffer: F, packed: F): void;
  lmAttnBlock(layout: I, rope: F, k: F, v: F, slots: number, cap: number, rows: number, rowSlot: I, rowPos: I, buffer: F, packed: F, x: F, layer: number, out: F, ...attn: AttnArgs): void;
  lmMlpBlock(layout: I, buffer: F, packed: F, x: F, rows: number, layer: number, out: F): void;
  lmLayers(layout: I, rope: F, k: F, v: F, slots: number, cap: number, rows: number, rowSlot: I, rowPos: I, buffer: F, packed: F, x: F, from: number, to: number, ...attn: AttnArgs): void;
  lmClassify(layout: I, packed: F, x: F, rows: number, out: F): void;
}

const NATIVE_FUNCTIONS = [
  "lmRmsnorm", "lmSwiglu", "lmLinear", "lmRopeStore", "lmAttention", "lmPackedSize", "lmPack", "lmAttnBlock", "lmMlpBlock", "lmLayers", "lmClassify",
] as const;

/** Returns the addon's LM functions (the best ISA's, or `isa`'s library), or undefined when the addon is missing or lacks any of them. */
function loadNativeLm(isa: IsaChoice): NativeLm | undefined {
  const loaded = loadAddon();
  if ("error" in loaded) return undefined;
  const isas = loaded.module.isas as Readonly<Record<string, Record<string, unknown>>> | undefined;
  const addon = isa === "auto" ? loaded.module : isas?.[isa];
  return addon && NATIVE_FUNCTIONS.every((f) => typeof addon[f] === "function") ? (addon as unknown as NativeLm) : undefined;
}

/** Returns the LM kernels for `choice`: native when available ("auto"; on the `isa` library, default the best this CPU runs), else the TypeScript reference. */
export function loadLmKernels(choice: BackendChoice = "auto", isa: IsaChoice = "auto"): LmKernels {
  if (choice === "reference") return referenceLmKernels();
  const n = loadNativeLm(isa);
  if (n) return nativeLmKernels(n);
  if (choice === "native" || isa !== "auto") throw new Error(`backend "native" requested but the native addon does not provide the LM kernels${isa === "auto" ? "" : ` for ISA ${isa}`}`);
  return referenceLmKernels();
}

function nativeLmKernels(n: NativeLm): LmKernels {
  // The weights are packed into the kernels' column panels once per model, on first use.
  const packed = (m: ModelBuffers): Float32Array => {
    if (!m.packed) {
      const p = new Float32Array(n.lmPackedSize(m.layout));
      n.lmPack(m.layout, m.buffer, p);
      m.packed = p;
    }
    return m.packed;
  };
  // The attention variant of a model's buffers, converted once per buffers object.
  const attnOf = new WeakMap<ModelBuffers, AttnArgs>();
  const attn = (m: ModelBuffers): AttnArgs => {
    let a = attnOf.get(m);
    if (!a) {
      const nLayers = m.layout[LAYOUT_N_LAYERS]!;
      const hs = m.layout[LAYOUT_HEAD_SIZE]!;
      const windows = Int32Array.from({ length: nLayers }, (_, l) => m.windows?.[l] ?? 0);
      // The default scale is left to the addon (1 / sqrtf(hs) in float32) so default models keep their exact numbers.
      const scale = m.attnScale === undefined || Math.abs(m.attnScale * Math.sqrt(hs) - 1) < 1e-12 ? 0 : m.attnScale;
      a = [windows, scale, m.attnSoftcap ?? 0];
      attnOf.set(m, a);
    }
    return a;
  };
  return {
    name: "native",
    rmsnorm: (x, rows, dim, w, out, eps) => n.lmRmsnorm(x, rows, dim, w, out, eps),
    swiglu: (h, rows, hid, out) => n.lmSwiglu(h, rows, hid, out),
    linear: (x, rows, inDim, w, outDim, out) => n.lmLinear(x, rows, inDim, w, outDim, out),
    ropeStore: (m, qkv, ri, c, layer) => n.lmRopeStore(m.layout, m.rope, c.k, c.v, c.slots, c.cap, ri.rows, ri.rowSlot, ri.rowPos, qkv, layer),
    attention: (m, qkv, ri, c, layer, out) => n.lmAttention(m.layout, c.k, c.v, c.slots, c.cap, ri.rows, ri.rowSlot, ri.rowPos, qkv, layer, out, ...attn(m)),
    attnBlock: (m, x, ri, c, layer, out) => n.lmAttnBlock(m.layout, m.rope, c.k, c.v, c.slots, c.cap, ri.rows, ri.rowSlot, ri.rowPos, m.buffer, packed(m), x, layer, out, ...attn(m)),
    mlpBlock: (m, x, rows, layer, out) => n.lmMlpBlock(m.layout, m.buffer, packed(m), x, rows, layer, out),
    layers: (m, x, ri, c, from, to) => n.lmLayers(m.layout, m.rope, c.k, c.v, c.slots, c.cap, ri.rows, ri.rowSlot, ri.rowPos, m.buffer, packed(m), x, from, to, ...attn(m)),
    classify: (m, x, rows, out) => n.lmClassify(m.layout, packed(m), x, rows, out),
  };
}
