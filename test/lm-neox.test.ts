/**
 * GPT-NeoX (Pythia) against a plain-loop oracle written here from Hugging Face's GPTNeoX modelling
 * code (float64, one sequence at a time, tensors read as stored: fused per-head query_key_value,
 * rotate-half partial rotary, parallel residual, erf GELU), sharing no code with src/lm. Tiny random
 * models in the HF layout, parallel and sequential, loaded through loadModel on every backend.
 */
import { describe, expect, it } from "vitest";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "../src/lm/load.js";
import { tinyNeox, writeTinyHf, type TinyHf } from "./helpers/hf-models.js";
import { erf } from "./helpers/naive-hf.js";
import { stepwiseLogits } from "./helpers/kv-steps.js";
import { backendsUnderTest, maxAbsDiff } from "./lm-fixtures.js";

const TOL = 1e-4;
const D = 32;
const NH = 4;
const HD = D / NH;
const V = 50;
const FF = 64;
const L = 2;

type Vec = number[];

/** The oracle: logits [pos][vocab] and every TransformerLens hook [pos][dModel], raw weights. */
function naiveNeox(m: TinyHf, tokens: readonly number[]): { logits: Vec[]; hooks: Map<string, Vec[]> } {
  const c = m.config as { rotary_pct: number; use_parallel_residual: boolean; layer_norm_eps: number; rotary_emb_base: number };
  const T = (n: string) => m.tensors.get(n)!.data;
  const lin = (x: Vec, W: Float32Array, out: number, b?: Float32Array): Vec => {
    const y: Vec = [];
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < x.length; i++) s += x[i]! * W[o * x.length + i]!;
      y.push(s);
    }
    return y;
  };
  const ln = (x: Vec) => {
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    return x.map((a) => (a - mean) / Math.sqrt(v + c.layer_norm_eps));
  };
  const affine = (x: Vec, w: Float32Array, b: Float32Array) => x.map((v, i) => v * w[i]! + b[i]!);
  const rot = Math.floor(HD * c.rotary_pct);
  const rope = (x: Vec, pos: number): Vec => {
    const out = x.slice();
    for (let i = 0; i < rot / 2; i++) {
      const ang = pos / Math.pow(c.rotary_emb_base, (2 * i) / rot);
      const x1 = x[i]!;
      const x2 = x[i + rot / 2]!;
      out[i] = x1 * Math.cos(ang) - x2 * Math.sin(ang);
      out[i + rot / 2] = x2 * Math.cos(ang) + x1 * Math.sin(ang);
    }
    return out;
  };
  const hooks = new Map<string, Vec[]>();
  const rec = (n: string, t: number, v: Vec) => {
    if (!hooks.has(n)) hooks.set(n, []);
    hooks.get(n)![t] = v.slice();
  };
  let xs = tokens.map((tok, t) => {
    const e = Array.from(T("gpt_neox.embed_in.weight").subarray(tok * D, (tok + 1) * D));
    rec("hook_embed", t, e);
    return e;
  });
  for (let l = 0; l < L; l++) {
    const p = `gpt_neox.layers.${l}.`;
    xs.forEach((x, t) => rec(`blocks.${l}.hook_resid_pre`, t, x));
    const qkv = xs.map((x) => lin(affine(ln(x), T(`${p}input_layernorm.weight`), T(`${p}input_layernorm.bias`)), T(`${p}attention.query_key_value.weight`), 3 * D, T(`${p}attention.query_key_value.bias`)));
    // [q_h; k_h; v_h] per head h
    const head = (v: Vec, h: number, j: number) => v.slice((h * 3 + j) * HD, (h * 3 + j + 1) * HD);
    const attn = xs.map((_, t) => {
      const z: Vec = [];
      for (let h = 0; h < NH; h++) {
        const q = rope(head(qkv[t]!, h, 0), t);
        const scores: Vec = [];
        for (let s = 0; s <= t; s++) {
          const k = rope(head(qkv[s]!, h, 1), s);
          scores.push(q.reduce((a, qi, d) => a + qi * k[d]!, 0) / Math.sqrt(HD));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let d = 0; d < HD; d++) z.push(e.reduce((a, w, s) => a + (w / sum) * head(qkv[s]!, h, 2)[d]!, 0));
      }
      return lin(z, T(`${p}attention.dense.weight`), D, T(`${p}attention.dense.bias`));
    });
    attn.forEach((a, t) => rec(`blocks.${l}.hook_attn_out`, t, a));
    const mlp = (x: Vec) => {
      const h = lin(affine(ln(x), T(`${p}post_attention_layernorm.weight`), T(`${p}post_attention_layernorm.bias`)), T(`${p}mlp.dense_h_to_4h.weight`), FF, T(`${p}mlp.dense_h_to_4h.bias`));
      return lin(h.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2))), T(`${p}mlp.dense_4h_to_h.weight`), D, T(`${p}mlp.dense_4h_to_h.bias`));
    };
    if (c.use_parallel_residual) {
      const outs = xs.map(mlp);
      outs.forEach((o, t) => rec(`blocks.${l}.hook_mlp_out`, t, o));
      xs = xs.map((x, t) => x.map((v, i) => v + attn[t]![i]! + outs[t]![i]!));
    } else {
      const mid = xs.map((x, t) => x.map((v, i) => v + attn[t]![i]!));
      mid.forEach((x, t) => rec(`blocks.${l}.hook_resid_mid`, t, x));
      const outs = mid.map(mlp);
      outs.forEach((o, t) => rec(`blocks.${l}.hook_mlp_out`, t, o));
      xs = mid.map((x, t) => x.map((v, i) => v + outs[t]![i]!));
    }
    xs.forEach((x, t) => rec(`blocks.${l}.hook_resid_post`, t, x));
  }
  const logits = xs.map((x, t) => {
    const n = ln(x);
    rec("ln_final.hook_normalized", t, n);
    return lin(affine(n, T("gpt_neox.final_layer_norm.weight"), T("gpt_neox.final_layer_norm.bias")), T("embed_out.weight"), V);
  });
  return { logits, hooks };
}

const SEQS = [[3, 17, 42, 5, 9, 11, 30], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [7], [49, 0, 13, 21, 8, 8, 8, 2, 33, 40]];
const MODELS = [
  tinyNeox(11, "gpt_neox, parallel residual, rotary_pct 0.5", {}),
  tinyNeox(12, "gpt_neox, sequential, full rotary, rotary_emb_base 500", { use_parallel_residual: false, rotary_pct: 1, rotary_emb_base: 500 }),
];
const minusMean = (r: Vec) => {
  const mu = r.reduce((a, b) => a + b, 0) / r.length;
  return r.map((v) => v - mu);
};

describe.each(MODELS)("$name", (m) => {
  const dir = writeTinyHf(m);
  const want = SEQS.map((s) => naiveNeox(m, s));
  const parallel = m.config.use_parallel_residual === true;

  describe.each(backendsUnderTest())("on %s", (_b, backends) => {
    it("logits and every hook match the plain-loop model (raw weights); processing centres the residual hooks", async () => {
      const model = await loadModel(dir, { backends, processing: false });
      expect(model.spec).toMatchObject({ family: "gpt_neox", parallelResidual: parallel, positions: { kind: "rope", rotaryDim: parallel ? 4 : 8 } });
      const { result, cache } = model.runWithCache(SEQS);
      expect(maxAbsDiff(result.logits!, want.flatMap((o) => o.logits.flat()))).toBeLessThan(TOL);
      const names = model.hookNames();
      expect(names.some((n) => n.endsWith("hook_resid_mid"))).toBe(!parallel);
      expect(names.length).toBe(want[0]!.hooks.size);
      for (const n of names) expect(maxAbsDiff(cache.get(n)!, want.flatMap((o) => o.hooks.get(n)!.flat())), n).toBeLessThan(TOL);
      if (parallel) expect(() => model.parseHook("blocks.0.hook_resid_mid")).toThrow(/parallel-residual block \(gpt_neox\) has no resid_mid/);

      const processed = await loadModel(dir, { backends });
      const p = processed.runWithCache(SEQS);
      expect(maxAbsDiff(p.result.logits!, want.flatMap((o) => o.logits.flatMap(minusMean)))).toBeLessThan(TOL);
      for (const n of names.filter((x) => x.includes("resid"))) expect(maxAbsDiff(p.cache.get(n)!, want.flatMap((o) => o.hooks.get(n)!.flatMap(minusMean))), n).toBeLessThan(TOL);
    });

    it("KV-cached prefill and one-token steps give the uncached logits", async () => {
      const model = await loadModel(dir, { backends, processing: false });
      const got = stepwiseLogits(model, SEQS, SEQS.map((s) => Math.ceil(s.length / 2)));
      SEQS.forEach((_, i) => expect(maxAbsDiff(got[i]!, want[i]!.logits.flat()), `sequence ${i}`).toBeLessThan(TOL));
    });
  });
});

describe("gpt_neox configs the family cannot express", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ["an odd number of rotary channels", { rotary_pct: 0.375 }, /rotary_pct 0\.375 of head size 8 gives 3 rotary channels/],
    ["an unknown activation", { hidden_act: "relu2" }, /hidden_act "relu2" is not supported/],
    ["rope scaling", { rope_scaling: { type: "linear", factor: 2 } }, /rope_scaling is not supported for gpt_neox/],
  ];
  it.each(cases)("%s", async (_n, over, re) => {
    const dir = writeTinyHf(tinyNeox(13, "bad", over));
    await expect(loadModel(dir)).rejects.toThrow(re);
  });

  it("a missing embed_out and a fused qkv of the wrong shape are named", async () => {
    const m = tinyNeox(14, "no head", {});
    m.tensors.delete("embed_out.weight");
    await expect(loadModel(writeTinyHf(m))).rejects.toThrow(/tensor "embed_out\.weight" is missing/);
    const m2 = tinyNeox(15, "bad qkv", {});
    m2.tensors.set("gpt_neox.layers.1.attention.query_key_value.weight", { shape: [2 * D, D], data: new Float32Array(2 * D * D) });
    const dir = writeTinyHf(m2);
    writeFileSync(join(dir, "README.md"), "");
    await expect(loadModel(dir)).rejects.toThrow(/query_key_value\.weight" has shape \[64, 32\] but config\.json implies \[96, 32\]/);
  });
});
