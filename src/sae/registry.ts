/**
 * The architecture registry: the rows of architectures.ts and what derives from them, the config
 * schema (a discriminated union of every row's schema), the architecture ids and config types, and
 * lookups by id. Nothing else lists the architectures.
 */
import { z } from "zod";
import type { AnyArchConfig, ArchitectureDef } from "./arch.js";
import { ARCHITECTURES } from "./architectures.js";
import { TyingSchema, type Tying } from "./config.js";
import { UserError } from "../errors.js";

export { ARCHITECTURES };

type Rows = typeof ARCHITECTURES;
// Each row is an architecture definition filed under its own id.
ARCHITECTURES satisfies { readonly [K in keyof Rows]: { readonly id: K } };

/** Architecture ids, spelled as SAELens spells them. */
export type ArchitectureId = keyof Rows & string;

/** Every SAE config: the union of the registered architectures' parsed configs, told apart by `architecture`. */
export type SaeConfig = { [K in ArchitectureId]: z.output<Rows[K]["schema"]> }[ArchitectureId];
/** A config whose input width is known. */
export type ResolvedSaeConfig = SaeConfig & { dIn: number };

type ConfigSchema = z.ZodType<SaeConfig> & Pick<z.ZodDiscriminatedUnion, "options">;

/** Every SAE config: a strict object per architecture, told apart by `architecture`. */
export const SaeConfigSchema = z.discriminatedUnion(
  "architecture",
  Object.values(ARCHITECTURES).map((d) => d.schema) as unknown as [z.ZodObject, ...z.ZodObject[]],
) as unknown as ConfigSchema;

/** Architecture ids in registry order. */
export const ARCHITECTURE_IDS = Object.keys(ARCHITECTURES) as ArchitectureId[];

/** Tying variants; every architecture supports all of them. */
export const TYING_VARIANTS: readonly Tying[] = TyingSchema.options;

/** Returns whether `id` names a registered architecture. */
export function isArchitectureId(id: unknown): id is ArchitectureId {
  return typeof id === "string" && Object.hasOwn(ARCHITECTURES, id);
}

/** Returns the registry entry for a config's architecture. */
export function architectureOf(cfg: { architecture: string }): ArchitectureDef<AnyArchConfig> {
  if (!isArchitectureId(cfg.architecture)) throw new Error(`architecture "${cfg.architecture}" is not registered`);
  return ARCHITECTURES[cfg.architecture] as unknown as ArchitectureDef<AnyArchConfig>;
}

/** Returns every registry entry, in registry order. */
export function architectureDefs(): ArchitectureDef<AnyArchConfig>[] {
  return Object.values(ARCHITECTURES) as unknown as ArchitectureDef<AnyArchConfig>[];
}

/** Returns `cfg` with its input width set, checking it against a configured dIn. */
export function resolveSaeConfig(cfg: SaeConfig, dIn: number | undefined): ResolvedSaeConfig {
  const want = dIn ?? cfg.dIn;
  if (want === undefined) throw new UserError(`SAE "${cfg.name ?? cfg.architecture}": dIn is not set and no data width was given`);
  if (cfg.dIn !== undefined && cfg.dIn !== want) {
    throw new UserError(`SAE "${cfg.name ?? cfg.architecture}": config says dIn ${cfg.dIn} but the data has width ${want}`);
  }
  return { ...cfg, dIn: want };
}
