/**
 * The architecture registry (SAELens registry.py): one entry per architecture id, spelled as SAELens
 * spells it. A plain const object, so importing it has no side effects and adding an architecture is
 * one line here plus its file.
 */
import { z } from "zod";
import type { AnyArchConfig, ArchitectureDef } from "./arch.js";
import { batchtopk, BatchTopKConfigSchema } from "./batchtopk.js";
import { TyingSchema, type Tying } from "./config.js";
import { jumprelu, JumpReLUConfigSchema } from "./jumprelu.js";
import { matryoshka_batchtopk, MatryoshkaBatchTopKConfigSchema } from "./matryoshka_batchtopk.js";
import { standard, StandardConfigSchema } from "./standard.js";
import { topk, TopKConfigSchema } from "./topk.js";
import type { ArchitectureId } from "./types.js";
import { UserError } from "../errors.js";

/** Every SAE config: a strict object per architecture, told apart by `architecture`. */
export const SaeConfigSchema = z.discriminatedUnion("architecture", [
  StandardConfigSchema,
  TopKConfigSchema,
  BatchTopKConfigSchema,
  JumpReLUConfigSchema,
  MatryoshkaBatchTopKConfigSchema,
]);
export type SaeConfig = z.infer<typeof SaeConfigSchema>;
/** A config whose input width is known. */
export type ResolvedSaeConfig = SaeConfig & { dIn: number };

export const ARCHITECTURES = {
  standard,
  topk,
  batchtopk,
  jumprelu,
  matryoshka_batchtopk,
} as const satisfies { readonly [K in ArchitectureId]: ArchitectureDef<Extract<SaeConfig, { architecture: K }>> };

/** Architecture ids in registry order. */
export const ARCHITECTURE_IDS = Object.keys(ARCHITECTURES) as ArchitectureId[];

/** Tying variants; every architecture supports all of them. */
export const TYING_VARIANTS: readonly Tying[] = TyingSchema.options;

/** Returns the registry entry for a config's architecture. */
export function architectureOf(cfg: { architecture: ArchitectureId }): ArchitectureDef<AnyArchConfig> {
  return ARCHITECTURES[cfg.architecture] as unknown as ArchitectureDef<AnyArchConfig>;
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
