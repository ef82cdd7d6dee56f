/** Small SAEs of every architecture x tying variant with random parameters, shared by the SAE tests. */
import { referenceKernels } from "../src/tensor/reference.js";
import { Rng } from "../src/tensor/rng.js";
import { ARCHITECTURE_IDS, SaeConfigSchema, TYING_VARIANTS, type SaeConfig } from "../src/sae/registry.js";
import type { Sae} from "../src/sae/model.js";
import { createSae } from "../src/sae/model.js";
import type { ArchitectureId } from "../src/sae/types.js";
import type { Tying } from "../src/sae/config.js";

export const kernels = referenceKernels();
export const D_IN = 6;
export const D_SAE = 12;
export const BATCH = 5;

/** Every (architecture, tying) pair, for describe.each. */
export const COMBOS: [ArchitectureId, Tying][] = ARCHITECTURE_IDS.flatMap((a) => TYING_VARIANTS.map((t): [ArchitectureId, Tying] => [a, t]));

/** Returns a small valid config for an architecture and tying variant. */
export function smallConfig(arch: ArchitectureId, tying: Tying, over: Record<string, unknown> = {}): SaeConfig {
  const base = { dIn: D_IN, dSae: D_SAE, tying, ...(tying === "tie_loss" ? { tieLoss: { coefficient: 0.3, form: "cosine" as const } } : {}) };
  const extra: Record<ArchitectureId, Record<string, unknown>> = {
    standard: { l1Coefficient: 0.2 },
    topk: { k: 3, auxLossCoefficient: 0.5 },
    batchtopk: { k: 3, auxLossCoefficient: 0.5 },
    jumprelu: { l0Coefficient: 0.05, jumpreluBandwidth: 0.3 },
    matryoshka_batchtopk: { k: 3, auxLossCoefficient: 0.5, matryoshkaWidths: [3, 7, D_SAE], innerLossMultiplier: [0.5, 0.75] },
  };
  return SaeConfigSchema.parse({ architecture: arch, ...base, ...extra[arch], ...over });
}

/** Returns an SAE with random (not initialised-looking) parameters so that every term is exercised. */
export function randomSae(cfg: SaeConfig, seed = 1): Sae {
  const sae = createSae(kernels, cfg, { seed });
  const rng = new Rng(seed + 100);
  const p = sae.params;
  rng.fillNormal(p.W_dec, 0, 0.5);
  if (p.W_enc) rng.fillNormal(p.W_enc, 0, 0.5);
  rng.fillNormal(p.b_enc, -0.1, 0.3);
  rng.fillNormal(p.b_dec, 0, 0.3);
  if (p.encoder_gain) rng.fillUniform(p.encoder_gain, 0.5, 1.5);
  if (p.threshold) rng.fillUniform(p.threshold, 0.1, 0.6);
  return sae;
}

/** Returns a random batch [BATCH, D_IN]. */
export function randomBatch(seed = 7, batch = BATCH, dIn = D_IN): Float32Array {
  return new Rng(seed).fillNormal(new Float32Array(batch * dIn), 0.2, 1);
}

/** Latents 8..11 dead, for the AuxK term. */
export function deadMask(d = D_SAE): Uint8Array {
  const m = new Uint8Array(d);
  for (let j = 8; j < d; j++) m[j] = 1;
  return m;
}
