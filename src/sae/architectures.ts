/**
 * The registry rows (SAELens registry.py): one entry per architecture, keyed by its id as SAELens
 * spells it. A plain const object, so importing it has no side effects; adding an architecture is
 * its file plus one row here. Everything else (the config schema, the ids, the config types) is
 * derived from these rows in registry.ts.
 */
import { batchtopk } from "./batchtopk.js";
import { jumprelu } from "./jumprelu.js";
import { matryoshka_batchtopk } from "./matryoshka_batchtopk.js";
import { standard } from "./standard.js";
import { topk } from "./topk.js";

export const ARCHITECTURES = {
  standard,
  topk,
  batchtopk,
  jumprelu,
  matryoshka_batchtopk,
} as const;
