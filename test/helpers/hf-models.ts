/**
 * Tiny random models in the Hugging Face layout, written by the tests: config.json and safetensors
 * (single file, shards with model.safetensors.index.json, or BF16), with tensor names as
 * save_pretrained writes them (GPT-2 also in its own repository's unprefixed layout).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Rng } from "../../src/tensor/rng.js";
import { writeSafetensors } from "../../src/io/safetensors.js";

/** A tiny model: its config.json and tensors (values exactly representable in the stored dtype). */
export interface TinyHf {
  name: string;
  config: Record<string, unknown>;
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  storage: "single" | "sharded" | "bf16";
}

/** Rounds to the nearest bfloat16 (ties to even), as a float32. */
export function toBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  u[0] = ((u[0]! + 0x7fff + ((u[0]! >>> 16) & 1)) >>> 16) << 16;
  return f[0]!;
}

function tensorsOf(rng: Rng, specs: [string, number[], "w" | "norm" | "bias" | "embed"][], bf16: boolean) {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape, kind] of specs) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const v = kind === "norm" ? 0.8 + 0.4 * rng.uniform() : rng.normal() * (kind === "embed" ? 0.5 : kind === "bias" ? 0.1 : 0.2);
      data[i] = bf16 ? toBf16(v) : v;
    }
    out.set(name, { shape, data });
  }
  return out;
}

/** A tiny GPT-NeoX in save_pretrained's layout (gpt_neox.* keys, embed_out at the top); dims default to width 32, 4 heads, MLP 64, 2 layers, vocab 50. */
export function tinyNeox(seed: number, name: string, over: Record<string, unknown>, dims: { D?: number; NH?: number; FF?: number; L?: number; V?: number } = {}): TinyHf {
  const { D = 32, NH = 4, FF = 64, L = 2, V = 50 } = dims;
  const config = {
    model_type: "gpt_neox", hidden_size: D, num_attention_heads: NH, num_hidden_layers: L, intermediate_size: FF, vocab_size: V,
    max_position_embeddings: 32, rotary_pct: 0.5, rotary_emb_base: 10000, layer_norm_eps: 1e-5, use_parallel_residual: true, hidden_act: "gelu",
    tie_word_embeddings: false, ...over,
  };
  const specs: [string, number[], "w" | "norm" | "bias" | "embed"][] = [["gpt_neox.embed_in.weight", [V, D], "embed"]];
  for (let l = 0; l < L; l++) {
    const p = `gpt_neox.layers.${l}.`;
    specs.push(
      [`${p}input_layernorm.weight`, [D], "norm"], [`${p}input_layernorm.bias`, [D], "bias"],
      [`${p}post_attention_layernorm.weight`, [D], "norm"], [`${p}post_attention_layernorm.bias`, [D], "bias"],
      [`${p}attention.query_key_value.weight`, [3 * D, D], "w"], [`${p}attention.query_key_value.bias`, [3 * D], "bias"],
      [`${p}attention.dense.weight`, [D, D], "w"], [`${p}attention.dense.bias`, [D], "bias"],
      [`${p}mlp.dense_h_to_4h.weight`, [FF, D], "w"], [`${p}mlp.dense_h_to_4h.bias`, [FF], "bias"],
      [`${p}mlp.dense_4h_to_h.weight`, [D, FF], "w"], [`${p}mlp.dense_4h_to_h.bias`, [D], "bias"],
    );
  }
  specs.push(["gpt_neox.final_layer_norm.weight", [D], "norm"], ["gpt_neox.final_layer_norm.bias", [D], "bias"], ["embed_out.weight", [V, D], "w"]);
  return { name, config, tensors: tensorsOf(new Rng(seed), specs, false), storage: "single" };
}

/** A tiny GPT-2 (2 layers, width 32, 4 heads, vocab V (50), context 24); `prefix` "transformer." as save_pretrained writes it, or "" as gpt2's own repository. */
export function tinyGpt2(seed: number, prefix: "transformer." | "", V = 50): TinyHf {
  const D = 32;
  const config = { model_type: "gpt2", n_embd: D, n_head: 4, n_layer: 2, n_positions: 24, vocab_size: V, layer_norm_epsilon: 1e-5, activation_function: "gelu_new", n_inner: null };
  const specs: [string, number[], "w" | "norm" | "bias" | "embed"][] = [[`${prefix}wte.weight`, [V, D], "embed"], [`${prefix}wpe.weight`, [24, D], "embed"]];
  for (let l = 0; l < 2; l++) {
    const p = `${prefix}h.${l}.`;
    specs.push(
      [`${p}ln_1.weight`, [D], "norm"], [`${p}ln_1.bias`, [D], "bias"],
      [`${p}attn.c_attn.weight`, [D, 3 * D], "w"], [`${p}attn.c_attn.bias`, [3 * D], "bias"],
      [`${p}attn.c_proj.weight`, [D, D], "w"], [`${p}attn.c_proj.bias`, [D], "bias"],
      [`${p}ln_2.weight`, [D], "norm"], [`${p}ln_2.bias`, [D], "bias"],
      [`${p}mlp.c_fc.weight`, [D, 4 * D], "w"], [`${p}mlp.c_fc.bias`, [4 * D], "bias"],
      [`${p}mlp.c_proj.weight`, [4 * D, D], "w"], [`${p}mlp.c_proj.bias`, [D], "bias"],
    );
  }
  specs.push([`${prefix}ln_f.weight`, [D], "norm"], [`${prefix}ln_f.bias`, [D], "bias"]);
  const tensors = tensorsOf(new Rng(seed), specs, false);
  if (prefix) tensors.set("lm_head.weight", tensors.get("transformer.wte.weight")!);
  return { name: `gpt2 (${prefix || "no"} prefix)`, config, tensors, storage: "single" };
}

/** A tiny member of the Llama family (width 32, 4 query heads, vocab 50); `over` changes config.json. */
export function tinyLlama(seed: number, name: string, over: Record<string, unknown>, storage: TinyHf["storage"] = "single"): TinyHf {
  const config: Record<string, unknown> = {
    model_type: "llama", hidden_size: 32, intermediate_size: 48, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
    vocab_size: 50, max_position_embeddings: 32, rms_norm_eps: 1e-6, rope_theta: 10000, tie_word_embeddings: true, hidden_act: "silu", ...over,
  };
  const D = 32;
  const V = 50;
  const H = 48;
  const hd = (config.head_dim as number | undefined) ?? D / 4;
  const Q = 4 * hd;
  const KV = (config.num_key_value_heads as number) * hd;
  const bias = config.model_type === "qwen2";
  const specs: [string, number[], "w" | "norm" | "bias" | "embed"][] = [["model.embed_tokens.weight", [V, D], "embed"]];
  for (let l = 0; l < 2; l++) {
    const p = `model.layers.${l}.`;
    specs.push([`${p}input_layernorm.weight`, [D], "norm"], [`${p}self_attn.q_proj.weight`, [Q, D], "w"], [`${p}self_attn.k_proj.weight`, [KV, D], "w"], [`${p}self_attn.v_proj.weight`, [KV, D], "w"]);
    if (bias) specs.push([`${p}self_attn.q_proj.bias`, [Q], "bias"], [`${p}self_attn.k_proj.bias`, [KV], "bias"], [`${p}self_attn.v_proj.bias`, [KV], "bias"]);
    specs.push(
      [`${p}self_attn.o_proj.weight`, [D, Q], "w"], [`${p}post_attention_layernorm.weight`, [D], "norm"],
      [`${p}mlp.gate_proj.weight`, [H, D], "w"], [`${p}mlp.up_proj.weight`, [H, D], "w"], [`${p}mlp.down_proj.weight`, [D, H], "w"],
    );
  }
  specs.push(["model.norm.weight", [D], "norm"]);
  if (config.tie_word_embeddings === false) specs.push(["lm_head.weight", [V, D], "embed"]);
  return { name, config, tensors: tensorsOf(new Rng(seed), specs, storage === "bf16"), storage };
}

/** Writes a BF16 safetensors file (the values must already be bfloat16-exact). */
function writeBf16(path: string, tensors: TinyHf["tensors"]): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: "BF16", shape: t.shape, data_offsets: [off, off + 2 * t.data.length] };
    off += 2 * t.data.length;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== 0) json += " ";
  const buf = Buffer.alloc(8 + json.length + off);
  buf.writeBigUInt64LE(BigInt(json.length), 0);
  buf.write(json, 8, "utf8");
  let p = 8 + json.length;
  for (const t of tensors.values()) {
    const u = new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    for (let i = 0; i < u.length; i++, p += 2) buf.writeUInt16LE(u[i]! >>> 16, p);
  }
  writeFileSync(path, buf);
}

/** Writes the model as a snapshot directory and returns its path. */
export function writeTinyHf(m: TinyHf, dir = mkdtempSync(join(tmpdir(), "saelab-hf-"))): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), JSON.stringify(m.config, null, 2));
  const entries = [...m.tensors];
  const asRecord = (list: typeof entries) => Object.fromEntries(list.map(([n, t]) => [n, { data: t.data, shape: t.shape }]));
  if (m.storage === "bf16") writeBf16(join(dir, "model.safetensors"), m.tensors);
  else if (m.storage === "single") writeSafetensors(join(dir, "model.safetensors"), asRecord(entries));
  else {
    const half = Math.ceil(entries.length / 2);
    const files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
    const parts = [entries.slice(0, half), entries.slice(half)];
    const weightMap: Record<string, string> = {};
    parts.forEach((part, i) => {
      writeSafetensors(join(dir, files[i]!), asRecord(part));
      for (const [n] of part) weightMap[n] = files[i]!;
    });
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  }
  return dir;
}
