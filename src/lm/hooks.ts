/**
 * Hook points, named as TransformerLens names them: `hook_embed` (the token embedding), `hook_pos_embed`
 * (learned position embeddings, GPT-2), `blocks.{i}.hook_resid_pre`, `hook_attn_out`,
 * `hook_resid_mid`, `hook_mlp_out`, `hook_resid_post` (in the order they fire within block i), and
 * `ln_final.hook_normalized` (the final RMSNorm's output before its weight, as TransformerLens's
 * RMSNorm hooks it). A hook sees the activation [rows, dModel] of the tokens in this forward pass
 * with their absolute positions, and may change it in place or return a replacement.
 */
import { UserError } from "../errors.js";

/** The per-block hook suffixes, in firing order. */
export const BLOCK_HOOKS = ["hook_resid_pre", "hook_attn_out", "hook_resid_mid", "hook_mlp_out", "hook_resid_post"] as const;
export type BlockHook = (typeof BLOCK_HOOKS)[number];
export const LN_FINAL_HOOK = "ln_final.hook_normalized";
export const EMBED_HOOK = "hook_embed";
export const POS_EMBED_HOOK = "hook_pos_embed";

/** What a hook is told about the activation it receives. */
export interface HookContext {
  /** The hook point's name. */
  name: string;
  /** The block index, 0 for the embeddings, or nLayers for ln_final. */
  layer: number;
  rows: number;
  dModel: number;
  /** [rows] which input sequence each row belongs to. */
  rowSeq: Int32Array;
  /** [rows] absolute position of each row in its sequence (KV-cached positions count). */
  rowPos: Int32Array;
  /** [rows] token id at each row. */
  tokens: Int32Array;
}

/**
 * A hook: reads `act` [rows, dModel], and may edit it in place or return a replacement of the same
 * size. `act` may be a reused buffer: copy it (act.slice()) to keep it after the hook returns.
 */
export type HookFn = (act: Float32Array, ctx: HookContext) => Float32Array | void;

/** Undoes an added hook. */
export interface HookHandle {
  remove(): void;
}

/** A hook point name and the function to run there. */
export type HookSpec = readonly [name: string, fn: HookFn];

/** Returns every hook point name of a model with `nLayers` blocks (and learned positions when `posEmbed`), in firing order. */
export function hookPointNames(nLayers: number, posEmbed = false): string[] {
  const out: string[] = posEmbed ? [EMBED_HOOK, POS_EMBED_HOOK] : [EMBED_HOOK];
  for (let l = 0; l < nLayers; l++) for (const h of BLOCK_HOOKS) out.push(`blocks.${l}.${h}`);
  out.push(LN_FINAL_HOOK);
  return out;
}

/** Returns the block index and suffix of a hook name (layer = nLayers for ln_final, 0 for the embeddings), or throws a UserError listing the valid names. */
export function parseHookName(name: string, nLayers: number, posEmbed = false): { layer: number; point: BlockHook | "ln_final" | "embed" } {
  if (name === LN_FINAL_HOOK) return { layer: nLayers, point: "ln_final" };
  if (name === EMBED_HOOK || (posEmbed && name === POS_EMBED_HOOK)) return { layer: 0, point: "embed" };
  if (name === POS_EMBED_HOOK) throw new UserError(`hook point "${name}": this model has no learned position embeddings`);
  const m = /^blocks\.(\d+)\.(hook_\w+)$/.exec(name);
  const point = m?.[2] as BlockHook | undefined;
  if (m && point && (BLOCK_HOOKS as readonly string[]).includes(point)) {
    const layer = Number(m[1]);
    if (layer < nLayers) return { layer, point };
    throw new UserError(`hook point "${name}": the model has blocks 0..${nLayers - 1}`);
  }
  throw new UserError(`unknown hook point "${name}"; valid names are blocks.{0..${nLayers - 1}}.{${BLOCK_HOOKS.join(",")}} ${EMBED_HOOK}${posEmbed ? `, ${POS_EMBED_HOOK}` : ""} and ${LN_FINAL_HOOK}`);
}

/** Returns the number of blocks a forward pass must run to reach hook `name` (resid_pre of block L is the residual after L blocks; all for ln_final). */
export function layersNeededFor(name: string, nLayers: number, posEmbed = false): number {
  const { layer, point } = parseHookName(name, nLayers, posEmbed);
  if (point === "ln_final") return nLayers;
  if (point === "embed") return 0;
  return point === "hook_resid_pre" ? layer : layer + 1;
}

const EMPTY: ReadonlyMap<string, HookFn[]> = new Map();

/** A set of hooks by point name; adding returns a handle whose remove() takes that one hook out again. */
export class HookRegistry {
  private readonly byName = new Map<string, HookFn[]>();

  constructor(
    private readonly nLayers: number,
    private readonly posEmbed = false,
  ) {}

  /** Adds `fn` at hook point `name` and returns its handle. */
  add(name: string, fn: HookFn): HookHandle {
    parseHookName(name, this.nLayers, this.posEmbed);
    const list = this.byName.get(name) ?? [];
    list.push(fn);
    this.byName.set(name, list);
    let removed = false;
    return {
      remove: () => {
        if (removed) return;
        removed = true;
        const cur = this.byName.get(name);
        if (!cur) return;
        const i = cur.indexOf(fn);
        if (i >= 0) cur.splice(i, 1);
        if (cur.length === 0) this.byName.delete(name);
      },
    };
  }

  /** Removes every hook. */
  clear(): void {
    this.byName.clear();
  }

  /** Returns the hooks at each point, with `extra` (per-call hooks) after the registered ones. */
  merged(extra: readonly HookSpec[] = []): ReadonlyMap<string, HookFn[]> {
    // Generation calls this once per token; without any hook the shared empty map does.
    if (this.byName.size === 0 && extra.length === 0) return EMPTY;
    const out = new Map<string, HookFn[]>();
    for (const [k, v] of this.byName) out.set(k, [...v]);
    for (const [name, fn] of extra) {
      parseHookName(name, this.nLayers, this.posEmbed);
      const list = out.get(name) ?? [];
      list.push(fn);
      out.set(name, list);
    }
    return out;
  }
}
