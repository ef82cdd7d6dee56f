/** A SAELens SAE directory written by hand for LM tests: the sign-split SAE, which reconstructs its input exactly. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeSafetensors } from "../../src/io/safetensors.js";

/** Writes the sign-split SAE for width dIn (latent 2i reads +x_i, 2i+1 reads -x_i; decoders +-e_i) with cfg.json metadata. */
export function writeSignSplitSaeDir(dir: string, dIn: number, metadata: Record<string, unknown>): void {
  mkdirSync(dir, { recursive: true });
  const dSae = 2 * dIn;
  const W_enc = new Float32Array(dIn * dSae);
  const W_dec = new Float32Array(dSae * dIn);
  for (let i = 0; i < dIn; i++) {
    W_enc[i * dSae + 2 * i] = 1;
    W_enc[i * dSae + 2 * i + 1] = -1;
    W_dec[2 * i * dIn + i] = 1;
    W_dec[(2 * i + 1) * dIn + i] = -1;
  }
  writeSafetensors(join(dir, "sae_weights.safetensors"), {
    W_enc: { data: W_enc, shape: [dIn, dSae] }, W_dec: { data: W_dec, shape: [dSae, dIn] },
    b_enc: { data: new Float32Array(dSae), shape: [dSae] }, b_dec: { data: new Float32Array(dIn), shape: [dIn] },
  });
  const cfg = { d_in: dIn, d_sae: dSae, dtype: "float32", device: "cpu", apply_b_dec_to_input: true, normalize_activations: "none", architecture: "standard", metadata: { sae_lens_version: "6.0.0", ...metadata } };
  writeFileSync(join(dir, "cfg.json"), JSON.stringify(cfg));
}
