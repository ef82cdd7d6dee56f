/**
 * An independent, dense, float64 implementation of every architecture's training loss, written
 * straight from the SAELens formulas (standard_sae.py, topk_sae.py, batchtopk_sae.py,
 * jumprelu_sae.py, matryoshka_batchtopk_sae.py) with no kernels and no sparse structures. Tests
 * compare the fast sparse implementation against it.
 */
import type { Sae } from "../src/sae/model.js";

/** Returns the dense encoder [dIn, dSae] straight from the parameter views. */
export function denseEncoder(sae: Sae): Float64Array {
  const { dIn: n, dSae: d } = sae;
  const p = sae.params;
  const w = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      w[i * d + j] = p.W_enc ? p.W_enc[i * d + j]! : (p.encoder_gain ? p.encoder_gain[j]! : 1) * p.W_dec[j * n + i]!;
    }
  }
  return w;
}

/** Returns the dense pre-activations [B, dSae] in float64. */
export function densePre(sae: Sae, x: Float32Array, B: number): Float64Array {
  const { dIn: n, dSae: d } = sae;
  const p = sae.params;
  const w = denseEncoder(sae);
  const pre = new Float64Array(B * d);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < d; j++) {
      let s = p.b_enc[j]!;
      for (let i = 0; i < n; i++) s += (x[b * n + i]! - (sae.config.applyBDecToInput ? p.b_dec[i]! : 0)) * w[i * d + j]!;
      pre[b * d + j] = s;
    }
  }
  return pre;
}

/** Top `k` indices of `vals` restricted to `allowed`, positive values only, ties to the lower index. */
function topIdx(vals: number[], k: number, allowed: (j: number) => boolean): number[] {
  const idx = vals.map((_, j) => j).filter(allowed);
  idx.sort((a, b) => vals[b]! - vals[a]! || a - b);
  return idx.slice(0, k).filter((j) => vals[j]! > 0);
}

/** Returns the dense training activations [B, dSae] in float64. */
export function denseActs(sae: Sae, pre: Float64Array, B: number): Float64Array {
  const d = sae.dSae;
  const cfg = sae.config;
  const f = new Float64Array(B * d);
  if (cfg.architecture === "standard") {
    for (let i = 0; i < B * d; i++) f[i] = Math.max(0, pre[i]!);
  } else if (cfg.architecture === "jumprelu") {
    const t = sae.params.threshold!;
    for (let i = 0; i < B * d; i++) f[i] = pre[i]! > Math.max(0, t[i % d]!) ? pre[i]! : 0;
  } else if (cfg.architecture === "topk") {
    for (let b = 0; b < B; b++) {
      const row = Array.from(pre.subarray(b * d, (b + 1) * d));
      for (const j of topIdx(row, cfg.k, () => true)) f[b * d + j] = row[j]!;
    }
  } else {
    const all = Array.from(pre);
    for (const i of topIdx(all, Math.floor(cfg.k * B), () => true)) f[i] = all[i]!;
  }
  return f;
}

/** Returns the named loss terms of one training step, computed densely in float64. */
export function referenceLosses(sae: Sae, x: Float32Array, B: number, coefficient: number, deadMask: Uint8Array | null): Record<string, number> {
  const { dIn: n, dSae: d } = sae;
  const cfg = sae.config;
  const p = sae.params;
  const pre = densePre(sae, x, B);
  const f = denseActs(sae, pre, B);
  const out: Record<string, number> = {};
  const levels = sae.levels;
  const xhatFull = new Float64Array(B * n);
  for (const lv of levels) {
    let sq = 0;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < n; i++) {
        let v = p.b_dec[i]!;
        for (let j = 0; j < lv.width; j++) v += f[b * d + j]! * p.W_dec[j * n + i]!;
        if (lv.width === d) xhatFull[b * n + i] = v;
        sq += (v - x[b * n + i]!) ** 2;
      }
    }
    out[lv.lossName] = (lv.multiplier * sq) / B;
  }
  const rowNorm = (j: number) => Math.hypot(...Array.from(p.W_dec.subarray(j * n, (j + 1) * n)));
  if (cfg.architecture === "standard") {
    let s = 0;
    for (let b = 0; b < B; b++) for (let j = 0; j < d; j++) s += f[b * d + j]! * rowNorm(j);
    out.l1 = (coefficient * s) / B;
  }
  if (cfg.architecture === "jumprelu") {
    if (cfg.jumpreluSparsityLossMode === "tanh") {
      // SAELens: tanh(jumprelu_tanh_scale * feature_acts * W_dec_norm).sum(-1), times l0, mean over the batch.
      let s = 0;
      for (let b = 0; b < B; b++) for (let j = 0; j < d; j++) s += Math.tanh(cfg.jumpreluTanhScale * f[b * d + j]! * rowNorm(j));
      out.l0 = (coefficient * s) / B;
    } else {
      let c = 0;
      for (let i = 0; i < B * d; i++) if (f[i] !== 0) c++;
      out.l0 = (coefficient * c) / B;
    }
    if (cfg.preActLossCoefficient !== undefined) out.pre_act = referencePreAct(sae, pre, B, deadMask);
  }
  if (cfg.architecture === "topk" || cfg.architecture === "batchtopk" || cfg.architecture === "matryoshka_batchtopk") {
    const resid = new Float64Array(B * n);
    for (let k = 0; k < B * n; k++) resid[k] = x[k]! - xhatFull[k]!;
    out.auxk = referenceAuxk(sae, x, B, deadMask, resid);
  }
  if (cfg.tying === "tie_loss" && cfg.tieLoss) {
    const We = p.W_enc!;
    let s = 0;
    for (let j = 0; j < d; j++) {
      let dot = 0;
      let ee = 0;
      let ww = 0;
      let diff = 0;
      for (let i = 0; i < n; i++) {
        const e = We[i * d + j]!;
        const w = p.W_dec[j * n + i]!;
        dot += e * w;
        ee += e * e;
        ww += w * w;
        diff += (e - w) ** 2;
      }
      s += cfg.tieLoss.form === "squared" ? diff : 1 - dot / Math.sqrt(ee * ww);
    }
    out.tie = (cfg.tieLoss.coefficient * s) / d;
  }
  return out;
}

/** Returns the full-width residual x - x_hat [B, dIn] in float64. */
export function referenceResidual(sae: Sae, x: Float32Array, B: number): Float64Array {
  const { dIn: n, dSae: d } = sae;
  const p = sae.params;
  const f = denseActs(sae, densePre(sae, x, B), B);
  const r = new Float64Array(B * n);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < n; i++) {
      let v = p.b_dec[i]!;
      for (let j = 0; j < d; j++) v += f[b * d + j]! * p.W_dec[j * n + i]!;
      r[b * n + i] = x[b * n + i]! - v;
    }
  }
  return r;
}

/** Returns the AuxK loss for a given residual (which the loss treats as a constant, as SAELens detaches it). */
export function referenceAuxk(sae: Sae, x: Float32Array, B: number, deadMask: Uint8Array | null, resid: Float64Array): number {
  const { dIn: n, dSae: d } = sae;
  const cfg = sae.config;
  if (cfg.architecture !== "topk" && cfg.architecture !== "batchtopk" && cfg.architecture !== "matryoshka_batchtopk") return 0;
  const numDead = deadMask ? deadMask.reduce((a, v) => a + (v ? 1 : 0), 0) : 0;
  if (!deadMask || numDead === 0) return 0;
  const pre = densePre(sae, x, B);
  const half = Math.floor(n / 2);
  const scale = Math.min(numDead / half, 1);
  const kAux = Math.min(half, numDead);
  let sq = 0;
  for (let b = 0; b < B; b++) {
    const row = Array.from(pre.subarray(b * d, (b + 1) * d));
    const picked = topIdx(row, kAux, (j) => deadMask[j] === 1);
    for (let i = 0; i < n; i++) {
      let r = 0;
      for (const j of picked) r += row[j]! * sae.params.W_dec[j * n + i]!;
      sq += (r - resid[b * n + i]!) ** 2;
    }
  }
  return (cfg.auxLossCoefficient * scale * sq) / B;
}

/** Returns the straight-through threshold gradient of a JumpReLU SAE, computed densely (SAELens JumpReLU/Step backward). */
export function referenceThresholdGrad(sae: Sae, x: Float32Array, B: number, coefficient: number): Float64Array {
  const { dIn: n, dSae: d } = sae;
  const p = sae.params;
  const cfg = sae.config;
  if (cfg.architecture !== "jumprelu") throw new Error("jumprelu only");
  const bw = cfg.jumpreluBandwidth;
  const pre = densePre(sae, x, B);
  const f = denseActs(sae, pre, B);
  const g = new Float64Array(d);
  for (let b = 0; b < B; b++) {
    const dy = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let v = p.b_dec[i]!;
      for (let j = 0; j < d; j++) v += f[b * d + j]! * p.W_dec[j * n + i]!;
      dy[i] = (2 * (v - x[b * n + i]!)) / B;
    }
    for (let j = 0; j < d; j++) {
      const raw = p.threshold![j]!;
      const t = Math.max(0, raw);
      const z = (pre[b * d + j]! - t) / bw;
      if (!(raw > 0) || !(z > -0.5 && z < 0.5)) continue;
      let dF = 0;
      for (let i = 0; i < n; i++) dF += dy[i]! * p.W_dec[j * n + i]!;
      if (cfg.jumpreluSparsityLossMode === "tanh") {
        // dL/df of the tanh penalty, evaluated at f (0 below the threshold), through the same estimator.
        const nj = Math.hypot(...Array.from(p.W_dec.subarray(j * n, (j + 1) * n)));
        const u = cfg.jumpreluTanhScale * f[b * d + j]! * nj;
        dF += (coefficient / B) * cfg.jumpreluTanhScale * nj * (1 - Math.tanh(u) ** 2);
        g[j]! += -(t / bw) * dF;
      } else {
        g[j]! += -(t / bw) * dF - coefficient / B / bw;
      }
    }
  }
  return g;
}

/** Returns the pre-activation loss of a JumpReLU SAE (SAELens calculate_pre_act_loss): only dead latents, 0 without any. */
export function referencePreAct(sae: Sae, pre: Float64Array, B: number, deadMask: Uint8Array | null): number {
  const { dIn: n, dSae: d } = sae;
  const cfg = sae.config;
  if (cfg.architecture !== "jumprelu" || cfg.preActLossCoefficient === undefined) throw new Error("jumprelu with a pre-activation loss only");
  if (!deadMask || !deadMask.some((v) => v !== 0)) return 0;
  let s = 0;
  for (let j = 0; j < d; j++) {
    if (!deadMask[j]) continue;
    const t = Math.max(0, sae.params.threshold![j]!);
    const nj = Math.hypot(...Array.from(sae.params.W_dec.subarray(j * n, (j + 1) * n)));
    for (let b = 0; b < B; b++) s += Math.max(0, t - pre[b * d + j]!) * nj;
  }
  return (cfg.preActLossCoefficient * s) / B;
}

/** Returns the exact threshold gradient of the pre-activation loss (a true derivative: the loss is continuous in the threshold). */
export function referencePreActThresholdGrad(sae: Sae, x: Float32Array, B: number, deadMask: Uint8Array | null): Float64Array {
  const { dIn: n, dSae: d } = sae;
  const cfg = sae.config;
  const g = new Float64Array(d);
  if (cfg.architecture !== "jumprelu" || cfg.preActLossCoefficient === undefined || !deadMask) return g;
  const pre = densePre(sae, x, B);
  for (let j = 0; j < d; j++) {
    const raw = sae.params.threshold![j]!;
    if (!deadMask[j] || !(raw > 0)) continue;
    const nj = Math.hypot(...Array.from(sae.params.W_dec.subarray(j * n, (j + 1) * n)));
    for (let b = 0; b < B; b++) if (raw - pre[b * d + j]! > 0) g[j]! += (cfg.preActLossCoefficient * nj) / B;
  }
  return g;
}
