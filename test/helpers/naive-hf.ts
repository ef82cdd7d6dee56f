/**
 * An independent oracle for the HF families: a plain-loop forward pass (float64, one sequence at a
 * time, no cache) written from the Hugging Face modelling code's semantics, reading the snapshot's
 * tensors as stored (Conv1D [in, out] for GPT-2; rotate-half RoPE on HF's q/k layout for Llama). It
 * shares no code with src/lm. Returns every position's logits and every hook's value with
 * TransformerLens's names, unprocessed (raw Hugging Face values).
 */
import type { TinyHf } from "./hf-models.js";

type Vec = number[];

/** erf by its Maclaurin series (|x| < 3) or continued fraction, to ~1e-12. */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a < 3) {
    let term = a;
    let sum = a;
    for (let n = 1; n < 100; n++) {
      term *= (-a * a) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = 0;
  for (let k = 60; k >= 1; k--) f = (k / 2) / (a + f);
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / (a + f));
}

export interface NaiveOut {
  /** [position][vocab] */
  logits: Vec[];
  /** hook name -> [position][dModel] */
  hooks: Map<string, Vec[]>;
}

function get(m: TinyHf, name: string): Float32Array {
  const t = m.tensors.get(name) ?? m.tensors.get(`transformer.${name}`) ?? m.tensors.get(`model.${name}`);
  if (!t) throw new Error(`naive: no tensor ${name}`);
  return t.data;
}

/** y[o] = sum_i x[i] W[o][i] (+ b[o]) for W stored [out, in]. */
function linOI(x: Vec, W: Float32Array, out: number, b?: Float32Array): Vec {
  const n = x.length;
  const y: Vec = [];
  for (let o = 0; o < out; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < n; i++) s += x[i]! * W[o * n + i]!;
    y.push(s);
  }
  return y;
}

/** y[o] = sum_i x[i] W[i][o] + b[o] for Conv1D W stored [in, out]. */
function conv1d(x: Vec, W: Float32Array, out: number, b: Float32Array): Vec {
  const y: Vec = [];
  for (let o = 0; o < out; o++) {
    let s = b[o]!;
    for (let i = 0; i < x.length; i++) s += x[i]! * W[i * out + o]!;
    y.push(s);
  }
  return y;
}

function layerNorm(x: Vec, eps: number): Vec {
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
  return x.map((a) => (a - mean) / Math.sqrt(v + eps));
}

function rmsNorm(x: Vec, eps: number): Vec {
  const ms = x.reduce((a, b) => a + b * b, 0) / x.length;
  return x.map((a) => a / Math.sqrt(ms + eps));
}

const add = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]!);

/** Causal softmax attention of position t's query heads over keys 0..t (keys within `window` when given). */
function attend(q: Vec[], k: Vec[], v: Vec[], nH: number, nKv: number, hd: number, window: number | undefined): Vec[] {
  const out: Vec[] = [];
  for (let t = 0; t < q.length; t++) {
    const z: Vec = new Array<number>(nH * hd).fill(0);
    for (let h = 0; h < nH; h++) {
      const g = Math.floor(h / (nH / nKv));
      const s: Vec = [];
      for (let u = 0; u <= t; u++) {
        if (window !== undefined && t - u >= window) {
          s.push(-Infinity);
          continue;
        }
        let d = 0;
        for (let j = 0; j < hd; j++) d += q[t]![h * hd + j]! * k[u]![g * hd + j]!;
        s.push(d / Math.sqrt(hd));
      }
      const m = Math.max(...s);
      const e = s.map((a) => Math.exp(a - m));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let u = 0; u <= t; u++) for (let j = 0; j < hd; j++) z[h * hd + j] = z[h * hd + j]! + (e[u]! / sum) * v[u]![g * hd + j]!;
    }
    out.push(z);
  }
  return out;
}

function record(hooks: Map<string, Vec[]>, name: string, rows: Vec[]): void {
  hooks.set(name, rows.map((r) => [...r]));
}

/** GPT-2 as HF's GPT2LMHeadModel computes it. */
export function naiveGpt2(m: TinyHf, tokens: readonly number[]): NaiveOut {
  const c = m.config as { n_embd: number; n_head: number; n_layer: number; vocab_size: number; layer_norm_epsilon: number };
  const D = c.n_embd;
  const hd = D / c.n_head;
  const eps = c.layer_norm_epsilon;
  const hooks = new Map<string, Vec[]>();
  const wte = get(m, "wte.weight");
  const wpe = get(m, "wpe.weight");
  const emb = tokens.map((t) => Array.from(wte.subarray(t * D, (t + 1) * D)));
  const pos = tokens.map((_, p) => Array.from(wpe.subarray(p * D, (p + 1) * D)));
  record(hooks, "hook_embed", emb);
  record(hooks, "hook_pos_embed", pos);
  let x = emb.map((e, i) => add(e, pos[i]!));
  const ln = (v: Vec, n: string) => layerNorm(v, eps).map((a, j) => a * get(m, `${n}.weight`)[j]! + get(m, `${n}.bias`)[j]!);
  const gelu = (a: number) => 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a ** 3)));
  for (let l = 0; l < c.n_layer; l++) {
    const p = `h.${l}.`;
    record(hooks, `blocks.${l}.hook_resid_pre`, x);
    const qkv = x.map((r) => conv1d(ln(r, `${p}ln_1`), get(m, `${p}attn.c_attn.weight`), 3 * D, get(m, `${p}attn.c_attn.bias`)));
    const z = attend(qkv.map((r) => r.slice(0, D)), qkv.map((r) => r.slice(D, 2 * D)), qkv.map((r) => r.slice(2 * D)), c.n_head, c.n_head, hd, undefined);
    const attn = z.map((r) => conv1d(r, get(m, `${p}attn.c_proj.weight`), D, get(m, `${p}attn.c_proj.bias`)));
    record(hooks, `blocks.${l}.hook_attn_out`, attn);
    x = x.map((r, i) => add(r, attn[i]!));
    record(hooks, `blocks.${l}.hook_resid_mid`, x);
    const mlp = x.map((r) => conv1d(conv1d(ln(r, `${p}ln_2`), get(m, `${p}mlp.c_fc.weight`), 4 * D, get(m, `${p}mlp.c_fc.bias`)).map(gelu), get(m, `${p}mlp.c_proj.weight`), D, get(m, `${p}mlp.c_proj.bias`)));
    record(hooks, `blocks.${l}.hook_mlp_out`, mlp);
    x = x.map((r, i) => add(r, mlp[i]!));
    record(hooks, `blocks.${l}.hook_resid_post`, x);
  }
  record(hooks, "ln_final.hook_normalized", x.map((r) => layerNorm(r, eps)));
  const logits = x.map((r) => linOI(ln(r, "ln_f"), wte, c.vocab_size));
  return { logits, hooks };
}

/** Inverse frequencies as HF's default and llama3 rope initialisations compute them. */
function invFreq(cfg: Record<string, unknown>, dim: number): Vec {
  const base = (cfg.rope_theta as number | undefined) ?? 10000;
  const f: Vec = [];
  for (let i = 0; i < dim; i += 2) f.push(1 / base ** (i / dim));
  const rs = cfg.rope_scaling as { factor: number; low_freq_factor: number; high_freq_factor: number; original_max_position_embeddings: number } | undefined;
  if (!rs) return f;
  const lowW = rs.original_max_position_embeddings / rs.low_freq_factor;
  const highW = rs.original_max_position_embeddings / rs.high_freq_factor;
  return f.map((fr) => {
    const w = (2 * Math.PI) / fr;
    if (w < highW) return fr;
    if (w > lowW) return fr / rs.factor;
    const s = (rs.original_max_position_embeddings / w - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    return (1 - s) * (fr / rs.factor) + s * fr;
  });
}

/** rotate-half RoPE on each head of x (HF's apply_rotary_pos_emb) at position p. */
function rope(x: Vec, heads: number, hd: number, p: number, freqs: Vec): Vec {
  const out = [...x];
  const half = hd / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      const a = p * freqs[i]!;
      const x0 = x[h * hd + i]!;
      const x1 = x[h * hd + half + i]!;
      out[h * hd + i] = x0 * Math.cos(a) - x1 * Math.sin(a);
      out[h * hd + half + i] = x1 * Math.cos(a) + x0 * Math.sin(a);
    }
  }
  return out;
}

/** Llama, Qwen2 and Mistral as HF's *ForCausalLM compute them. */
export function naiveLlama(m: TinyHf, tokens: readonly number[]): NaiveOut {
  const c = m.config;
  const D = c.hidden_size as number;
  const nH = c.num_attention_heads as number;
  const nKv = (c.num_key_value_heads as number | undefined) ?? nH;
  const hd = (c.head_dim as number | undefined) ?? D / nH;
  const H = c.intermediate_size as number;
  const V = c.vocab_size as number;
  const eps = c.rms_norm_eps as number;
  const window = c.model_type === "mistral" ? (c.sliding_window as number | undefined) : undefined;
  const freqs = invFreq(c, hd);
  const bias = c.model_type === "qwen2";
  const hooks = new Map<string, Vec[]>();
  const embed = get(m, "embed_tokens.weight");
  let x = tokens.map((t) => Array.from(embed.subarray(t * D, (t + 1) * D)));
  record(hooks, "hook_embed", x);
  const norm = (v: Vec, n: string) => rmsNorm(v, eps).map((a, j) => a * get(m, n)[j]!);
  const silu = (a: number) => a / (1 + Math.exp(-a));
  for (let l = 0; l < (c.num_hidden_layers as number); l++) {
    const p = `layers.${l}.`;
    record(hooks, `blocks.${l}.hook_resid_pre`, x);
    const h = x.map((r) => norm(r, `${p}input_layernorm.weight`));
    const b = (n: string) => (bias ? get(m, `${p}self_attn.${n}.bias`) : undefined);
    const q = h.map((r, t) => rope(linOI(r, get(m, `${p}self_attn.q_proj.weight`), nH * hd, b("q_proj")), nH, hd, t, freqs));
    const k = h.map((r, t) => rope(linOI(r, get(m, `${p}self_attn.k_proj.weight`), nKv * hd, b("k_proj")), nKv, hd, t, freqs));
    const v = h.map((r) => linOI(r, get(m, `${p}self_attn.v_proj.weight`), nKv * hd, b("v_proj")));
    const attn = attend(q, k, v, nH, nKv, hd, window).map((r) => linOI(r, get(m, `${p}self_attn.o_proj.weight`), D));
    record(hooks, `blocks.${l}.hook_attn_out`, attn);
    x = x.map((r, i) => add(r, attn[i]!));
    record(hooks, `blocks.${l}.hook_resid_mid`, x);
    const mlp = x.map((r) => {
      const hn = norm(r, `${p}post_attention_layernorm.weight`);
      const g = linOI(hn, get(m, `${p}mlp.gate_proj.weight`), H);
      const u = linOI(hn, get(m, `${p}mlp.up_proj.weight`), H);
      return linOI(g.map((a, j) => silu(a) * u[j]!), get(m, `${p}mlp.down_proj.weight`), D);
    });
    record(hooks, `blocks.${l}.hook_mlp_out`, mlp);
    x = x.map((r, i) => add(r, mlp[i]!));
    record(hooks, `blocks.${l}.hook_resid_post`, x);
  }
  record(hooks, "ln_final.hook_normalized", x.map((r) => rmsNorm(r, eps)));
  const head = c.tie_word_embeddings === false ? m.tensors.get("lm_head.weight")!.data : embed;
  const logits = x.map((r) => linOI(norm(r, "norm.weight"), head, V));
  return { logits, hooks };
}
