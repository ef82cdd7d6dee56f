/**
 * Gemma 2 against a plain-loop oracle written here from Hugging Face's Gemma2 modelling code (float64,
 * one sequence at a time, tensors as stored: (1 + w) RMSNorm, pre and post norms, GeGLU with tanh
 * GELU, rotate-half RoPE, query_pre_attn_scalar, attention and final soft-caps, sliding window on
 * even layers, sqrt(hidden) embedding scale, tied unembedding), sharing no code with src/lm. The tiny
 * model has head_dim x heads (32) unlike hidden_size (24) and prompts longer than its window.
 */
import { describe, expect, it } from "vitest";
import { loadModel } from "../src/lm/load.js";
import { Rng } from "../src/tensor/rng.js";
import { writeTinyHf, type TinyHf } from "./helpers/hf-models.js";
import { stepwiseLogits } from "./helpers/kv-steps.js";
import { backendsUnderTest, maxAbsDiff } from "./lm-fixtures.js";

const TOL = 1e-4;
const D = 24;
const NH = 4;
const NKV = 2;
const HD = 8;
const V = 50;
const FF = 40;
const L = 3;
const WINDOW = 4;

function tinyGemma2(seed: number, over: Record<string, unknown> = {}): TinyHf {
  const config = {
    model_type: "gemma2", hidden_size: D, num_attention_heads: NH, num_key_value_heads: NKV, head_dim: HD, num_hidden_layers: L, intermediate_size: FF,
    vocab_size: V, max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_activation: "gelu_pytorch_tanh", query_pre_attn_scalar: 12,
    attn_logit_softcapping: 5, final_logit_softcapping: 3, sliding_window: WINDOW, tie_word_embeddings: true, ...over,
  };
  const rng = new Rng(seed);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (n: string, shape: number[], sd: number) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal() * sd;
    tensors.set(n, { shape, data });
  };
  put("model.embed_tokens.weight", [V, D], 0.3);
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    for (const n of ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"]) put(`${p}${n}.weight`, [D], 0.2);
    put(`${p}self_attn.q_proj.weight`, [NH * HD, D], 0.3);
    put(`${p}self_attn.k_proj.weight`, [NKV * HD, D], 0.3);
    put(`${p}self_attn.v_proj.weight`, [NKV * HD, D], 0.3);
    put(`${p}self_attn.o_proj.weight`, [D, NH * HD], 0.2);
    put(`${p}mlp.gate_proj.weight`, [FF, D], 0.2);
    put(`${p}mlp.up_proj.weight`, [FF, D], 0.2);
    put(`${p}mlp.down_proj.weight`, [D, FF], 0.2);
  }
  put("model.norm.weight", [D], 0.2);
  return { name: "gemma2", config, tensors, storage: "single" };
}

type Vec = number[];

/** The oracle: logits [pos][vocab] and every TransformerLens hook [pos][dModel]. */
function naiveGemma2(m: TinyHf, tokens: readonly number[], slidingLayers: (l: number) => boolean): { logits: Vec[]; hooks: Map<string, Vec[]> } {
  const cfg = m.config as { query_pre_attn_scalar: number; attn_logit_softcapping: number; final_logit_softcapping: number; rms_norm_eps: number; rope_theta: number };
  const T = (n: string) => m.tensors.get(n)!.data;
  const lin = (x: Vec, W: Float32Array, out: number): Vec => {
    const y: Vec = [];
    for (let o = 0; o < out; o++) {
      let s = 0;
      for (let i = 0; i < x.length; i++) s += x[i]! * W[o * x.length + i]!;
      y.push(s);
    }
    return y;
  };
  const rmsUnit = (x: Vec) => {
    const ms = x.reduce((a, b) => a + b * b, 0) / x.length;
    return x.map((v) => v / Math.sqrt(ms + cfg.rms_norm_eps));
  };
  const rms = (x: Vec, w: Float32Array) => rmsUnit(x).map((v, i) => v * (1 + w[i]!));
  const rope = (x: Vec, pos: number): Vec => {
    const out = x.slice();
    for (let i = 0; i < HD / 2; i++) {
      const ang = pos / Math.pow(cfg.rope_theta, (2 * i) / HD);
      out[i] = x[i]! * Math.cos(ang) - x[i + HD / 2]! * Math.sin(ang);
      out[i + HD / 2] = x[i + HD / 2]! * Math.cos(ang) + x[i]! * Math.sin(ang);
    }
    return out;
  };
  const geluTanh = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
  const hooks = new Map<string, Vec[]>();
  const rec = (n: string, t: number, v: Vec) => {
    if (!hooks.has(n)) hooks.set(n, []);
    hooks.get(n)![t] = v.slice();
  };
  const E = T("model.embed_tokens.weight");
  let xs = tokens.map((tok, t) => {
    const e = Array.from(E.subarray(tok * D, (tok + 1) * D), (v) => v * Math.sqrt(D));
    rec("hook_embed", t, e);
    return e;
  });
  for (let l = 0; l < L; l++) {
    const p = `model.layers.${l}.`;
    xs.forEach((x, t) => rec(`blocks.${l}.hook_resid_pre`, t, x));
    const h = xs.map((x) => rms(x, T(`${p}input_layernorm.weight`)));
    const q = h.map((v) => lin(v, T(`${p}self_attn.q_proj.weight`), NH * HD));
    const k = h.map((v) => lin(v, T(`${p}self_attn.k_proj.weight`), NKV * HD));
    const vv = h.map((v) => lin(v, T(`${p}self_attn.v_proj.weight`), NKV * HD));
    const attn = xs.map((_, t) => {
      const z: Vec = [];
      for (let hh = 0; hh < NH; hh++) {
        const g = Math.floor(hh / (NH / NKV));
        const qh = rope(q[t]!.slice(hh * HD, (hh + 1) * HD), t);
        const scores: Vec = [];
        const keys: number[] = [];
        for (let s = 0; s <= t; s++) {
          if (slidingLayers(l) && t - s >= WINDOW) continue;
          const kh = rope(k[s]!.slice(g * HD, (g + 1) * HD), s);
          const raw = qh.reduce((a, qi, d) => a + qi * kh[d]!, 0) / Math.sqrt(cfg.query_pre_attn_scalar);
          scores.push(cfg.attn_logit_softcapping * Math.tanh(raw / cfg.attn_logit_softcapping));
          keys.push(s);
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < HD; d++) z.push(e.reduce((a, w, j) => a + (w / sum) * vv[keys[j]!]![g * HD + d]!, 0));
      }
      return rms(lin(z, T(`${p}self_attn.o_proj.weight`), D), T(`${p}post_attention_layernorm.weight`));
    });
    attn.forEach((a, t) => rec(`blocks.${l}.hook_attn_out`, t, a));
    const mid = xs.map((x, t) => x.map((v, i) => v + attn[t]![i]!));
    mid.forEach((x, t) => rec(`blocks.${l}.hook_resid_mid`, t, x));
    const mlp = mid.map((x) => {
      const hh = rms(x, T(`${p}pre_feedforward_layernorm.weight`));
      const gate = lin(hh, T(`${p}mlp.gate_proj.weight`), FF);
      const up = lin(hh, T(`${p}mlp.up_proj.weight`), FF);
      return rms(lin(gate.map((gv, i) => geluTanh(gv) * up[i]!), T(`${p}mlp.down_proj.weight`), D), T(`${p}post_feedforward_layernorm.weight`));
    });
    mlp.forEach((o, t) => rec(`blocks.${l}.hook_mlp_out`, t, o));
    xs = mid.map((x, t) => x.map((v, i) => v + mlp[t]![i]!));
    xs.forEach((x, t) => rec(`blocks.${l}.hook_resid_post`, t, x));
  }
  const logits = xs.map((x, t) => {
    const n = rmsUnit(x);
    rec("ln_final.hook_normalized", t, n);
    const fw = T("model.norm.weight");
    return lin(n.map((v, i) => v * (1 + fw[i]!)), E, V).map((v) => cfg.final_logit_softcapping * Math.tanh(v / cfg.final_logit_softcapping));
  });
  return { logits, hooks };
}

const SEQS = [[3, 17, 42, 5, 9, 11, 30], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [7], [49, 0, 13, 21, 8, 8, 8, 2, 33, 40]];
const even = (l: number) => l % 2 === 0;

describe("gemma2 (head_dim x heads != hidden_size, soft-caps, sliding window 4 on even layers)", () => {
  const m = tinyGemma2(21);
  const dir = writeTinyHf(m);
  const want = SEQS.map((s) => naiveGemma2(m, s, even));

  it("the spec: TransformerLens's conventions, window on layers 0 and 2; the window changes the answer", async () => {
    const model = await loadModel(dir, { processing: false });
    expect(model.spec).toMatchObject({ family: "gemma2", postNorms: true, attnSoftcap: 5, finalSoftcap: 3, slidingWindow: [WINDOW, null, WINDOW], queryScale: 1 / Math.sqrt(12) });
    const noWindow = SEQS.map((s) => naiveGemma2(m, s, () => false));
    expect(maxAbsDiff(want[1]!.logits.flat(), noWindow[1]!.logits.flat())).toBeGreaterThan(1e-3);
    // layer_types overrides the even/odd default.
    const m2 = tinyGemma2(21, { layer_types: ["full_attention", "sliding_attention", "full_attention"] });
    const model2 = await loadModel(writeTinyHf(m2), { processing: false });
    expect(model2.spec.slidingWindow).toEqual([null, WINDOW, null]);
    const want2 = naiveGemma2(m2, SEQS[1]!, (l) => l === 1);
    expect(maxAbsDiff(model2.forward([SEQS[1]!]).logits!, want2.logits.flat())).toBeLessThan(TOL);
  });

  describe.each(backendsUnderTest())("on %s", (_b, backends) => {
    it("logits and every hook match the plain-loop model; processing leaves it unchanged", async () => {
      const model = await loadModel(dir, { backends, processing: false });
      const { result, cache } = model.runWithCache(SEQS);
      expect(maxAbsDiff(result.logits!, want.flatMap((o) => o.logits.flat()))).toBeLessThan(TOL);
      const names = model.hookNames();
      expect(names.length).toBe(want[0]!.hooks.size);
      for (const n of names) expect(maxAbsDiff(cache.get(n)!, want.flatMap((o) => o.hooks.get(n)!.flat())), n).toBeLessThan(TOL);
      const processed = await loadModel(dir, { backends });
      expect(maxAbsDiff(processed.forward(SEQS).logits!, result.logits!)).toBe(0);
    });

    it("KV-cached prefill and one-token steps past the window give the uncached logits", async () => {
      const model = await loadModel(dir, { backends, processing: false });
      const got = stepwiseLogits(model, SEQS, SEQS.map((s) => Math.min(3, s.length)));
      SEQS.forEach((_, i) => expect(maxAbsDiff(got[i]!, want[i]!.logits.flat()), `sequence ${i}`).toBeLessThan(TOL));
    });
  });
});

describe("gemma2 configs the family cannot express", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["an untied head", { tie_word_embeddings: false }, /untied lm_head is not supported/],
    ["another activation", { hidden_activation: "silu" }, /hidden_activation "silu" is not supported/],
    ["layer_types of the wrong length", { layer_types: ["full_attention"] }, /"layer_types" must list .* for each of the 3 layers/],
    ["a negative soft-cap", { attn_logit_softcapping: -1 }, /"attn_logit_softcapping" must be a positive number/],
  ];
  it.each(cases)("%s", async (_n, over, re) => {
    await expect(loadModel(writeTinyHf(tinyGemma2(22, over)))).rejects.toThrow(re);
  });
});
