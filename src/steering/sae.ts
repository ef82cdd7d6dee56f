/** Steering with an SAE latent: the latent's decoder row as the steering direction. */
import type { SaeModel } from "../sae/types.js";
import { SteeringVector, type LayerType } from "./vector.js";

/** Returns a steering vector that adds `scale` times W_dec[latent] (unit-normalised first when `normalize`) at each of `layers`. */
export function steeringVectorFromSae(sae: SaeModel, latent: number, layers: number | readonly number[], opts: { scale?: number; normalize?: boolean; layerType?: LayerType } = {}): SteeringVector {
  if (!Number.isInteger(latent) || latent < 0 || latent >= sae.dSae) throw new RangeError(`latent ${latent} is outside the SAE's 0..${sae.dSae - 1}`);
  const row = sae.W_dec.slice(latent * sae.dIn, (latent + 1) * sae.dIn);
  let norm = 1;
  if (opts.normalize) {
    norm = Math.sqrt(row.reduce((a, v) => a + v * v, 0));
    if (norm === 0) throw new RangeError(`latent ${latent} has a zero decoder row`);
  }
  const scale = (opts.scale ?? 1) / norm;
  const vec = Float32Array.from(row, (v) => v * scale);
  const list = typeof layers === "number" ? [layers] : layers;
  return new SteeringVector(new Map(list.map((l) => [l, vec])), opts.layerType ?? "decoder_block");
}
