/**
 * Per-feature profiles: firing probabilities (constant, linear, Zipf, list, dense overrides) and
 * magnitude statistics (constant, linear, exponential, folded normal, list), computed exactly as
 * SAELens's firing_probabilities.py and firing_magnitudes.py do.
 */
import type { Rng } from "../tensor/rng.js";
import type { FiringConfig, MagnitudeProfile, WorldConfig } from "./config.js";

/** Returns the configured firing probability of each feature (the profile, then dense overrides). */
export function firingProfile(cfg: Pick<WorldConfig, "nFeatures" | "firing" | "dense">): Float64Array {
  const n = cfg.nFeatures;
  const p = baseProfile(cfg.firing, n);
  if (cfg.dense) for (const f of cfg.dense.features) p[f] = cfg.dense.probability;
  return p;
}

function baseProfile(f: FiringConfig, n: number): Float64Array {
  const p = new Float64Array(n);
  switch (f.kind) {
    case "constant":
      p.fill(f.probability);
      break;
    case "list":
      p.set(f.probabilities);
      break;
    case "linear":
      for (let i = 0; i < n; i++) p[i] = n === 1 ? f.max : f.max + ((f.min - f.max) * i) / (n - 1);
      break;
    case "zipf": {
      // 1/rank^exponent, then an affine map taking the largest to max and the smallest to min.
      if (n === 1 || f.max === f.min) {
        p.fill(f.max);
        break;
      }
      const smallest = Math.pow(n, -f.exponent);
      for (let i = 0; i < n; i++) {
        const raw = Math.pow(i + 1, -f.exponent);
        p[i] = f.min + ((f.max - f.min) * (raw - smallest)) / (1 - smallest);
      }
      break;
    }
  }
  return p;
}

/** Returns one value per feature from a magnitude profile (folded-normal values draw from `rng`). */
export function magnitudeProfile(m: MagnitudeProfile, n: number, rng: Rng): Float64Array {
  const v = new Float64Array(n);
  switch (m.kind) {
    case "constant":
      v.fill(m.value);
      break;
    case "list":
      v.set(m.values);
      break;
    case "linear":
      for (let i = 0; i < n; i++) v[i] = n === 1 ? m.start : m.start + ((m.end - m.start) * i) / (n - 1);
      break;
    case "exponential":
      for (let i = 0; i < n; i++) v[i] = n === 1 ? m.start : m.start * Math.pow(m.end / m.start, i / (n - 1));
      break;
    case "folded_normal":
      for (let i = 0; i < n; i++) {
        let x = Math.abs(m.mean + m.std * rng.normal());
        if (m.min !== undefined) x = Math.max(m.min, x);
        if (m.max !== undefined) x = Math.min(m.max, x);
        v[i] = x;
      }
      break;
  }
  return v;
}
