/**
 * `saelab convert llama2c-to-hf` on the real stories260K: the snapshot read back through readHfSnapshot,
 * its q/k rows un-permuted by an independent loop (HF's half-split rotary pairs back to llama2.c's
 * interleaved ones), equals the llama2.c weights exactly; its tokenizer encodes as llama2.c's.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { main } from "../src/cli/main.js";
import { readHfSnapshot } from "../src/io/hf-snapshot.js";
import { readLlama2cCheckpoint, sharedModelFiles } from "../src/io/llama2c.js";
import { loadTokenizer, tokenizerFromSnapshot } from "../src/io/tokenizer-files.js";
import { generate } from "../src/lm/generate.js";
import { loadModel } from "../src/lm/load.js";
import { capture } from "./helpers/cli-io.js";

const shared = sharedModelFiles();
/** Greedy text of 60 tokens after BOS, as ../shared/models/stories260K/README.md documents it. */
const GOLDEN = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high";
const tmp = () => mkdtempSync(join(tmpdir(), "saelab-convert-"));


/** HF row p*half + i of each head came from llama2.c row 2i + p: put it back. */
function unpermute(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let h = 0; h < heads; h++) {
    for (let r = 0; r < headDim; r++) {
      const p = r < headDim / 2 ? 0 : 1;
      const i = r % (headDim / 2);
      for (let c = 0; c < cols; c++) out[(h * headDim + 2 * i + p) * cols + c] = w[(h * headDim + r) * cols + c]!;
    }
  }
  return out;
}

describe.skipIf(!shared)("saelab convert llama2c-to-hf (stories260K)", () => {
  it("writes an HF Llama snapshot whose weights, un-permuted, equal the llama2.c ones", async () => {
    const out = join(tmp(), "stories260K-hf");
    const io = capture();
    expect(await main(["convert", "llama2c-to-hf", shared!.model, "--tokenizer", shared!.tokenizer, "--out", out], io)).toBe(0);
    expect(io.stderr.join("\n")).toMatch(/wrote .*stories260K-hf: llama, 5 layers, hidden 64, 8\/4 heads, vocab 512, F32/);
    for (const f of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"]) expect(existsSync(join(out, f)), f).toBe(true);
    const snap = await readHfSnapshot(out);
    expect(snap.config).toMatchObject({ model_type: "llama", hidden_size: 64, intermediate_size: 172, num_hidden_layers: 5, num_attention_heads: 8, num_key_value_heads: 4, vocab_size: 512, max_position_embeddings: 512, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: true, hidden_act: "silu" });
    const { weights: w } = readLlama2cCheckpoint(shared!.model);
    const get = (name: string) => {
      const t = snap.tensors.get(name);
      if (!t) throw new Error(`missing ${name}`);
      return t;
    };
    expect(snap.tensors.has("lm_head.weight")).toBe(false);
    expect(get("model.embed_tokens.weight")).toEqual({ shape: [512, 64], data: w.tokenEmbedding });
    expect(get("model.norm.weight").data).toEqual(w.rmsFinal);
    const L = (a: Float32Array, l: number, n: number) => a.slice(l * n, (l + 1) * n);
    for (let l = 0; l < 5; l++) {
      const p = `model.layers.${l}`;
      const q = get(`${p}.self_attn.q_proj.weight`);
      const k = get(`${p}.self_attn.k_proj.weight`);
      expect(q.shape).toEqual([64, 64]);
      expect(k.shape).toEqual([32, 64]);
      // The permutation moves rows (the test would pass trivially if it were the identity).
      expect(q.data).not.toEqual(L(w.wq, l, 64 * 64));
      expect(unpermute(q.data, 8, 8, 64)).toEqual(L(w.wq, l, 64 * 64));
      expect(unpermute(k.data, 4, 8, 64)).toEqual(L(w.wk, l, 32 * 64));
      expect(get(`${p}.self_attn.v_proj.weight`).data).toEqual(L(w.wv, l, 32 * 64));
      expect(get(`${p}.self_attn.o_proj.weight`).data).toEqual(L(w.wo, l, 64 * 64));
      expect(get(`${p}.input_layernorm.weight`).data).toEqual(L(w.rmsAtt, l, 64));
      expect(get(`${p}.post_attention_layernorm.weight`).data).toEqual(L(w.rmsFfn, l, 64));
      expect(get(`${p}.mlp.gate_proj.weight`)).toEqual({ shape: [172, 64], data: L(w.w1, l, 172 * 64) });
      expect(get(`${p}.mlp.up_proj.weight`)).toEqual({ shape: [172, 64], data: L(w.w3, l, 172 * 64) });
      expect(get(`${p}.mlp.down_proj.weight`)).toEqual({ shape: [64, 172], data: L(w.w2, l, 64 * 172) });
    }
    expect(snap.tensors.size).toBe(2 + 5 * 9);
    const hf = tokenizerFromSnapshot(snap);
    const l2 = loadTokenizer(shared!.tokenizer);
    const text = GOLDEN;
    expect(hf.encode(text)).toEqual(l2.encode(text));
    expect(hf.decode(hf.encode(text))).toBe(text);
  });

  it("writes BF16 weights when asked, and refuses a non-empty --out", async () => {
    const dir = tmp();
    const io = capture(dir);
    expect(await main(["convert", "llama2c-to-hf", shared!.model, "--tokenizer", shared!.tokenizer, "--out", "bf16", "--dtype", "BF16"], io)).toBe(0);
    const snap = await readHfSnapshot(join(dir, "bf16"));
    expect(snap.storedDtypes.get("model.norm.weight")).toBe("BF16");
    expect(JSON.parse(readFileSync(join(dir, "bf16", "config.json"), "utf8")).torch_dtype).toBe("bfloat16");
    const { weights: w } = readLlama2cCheckpoint(shared!.model);
    const got = snap.tensors.get("model.embed_tokens.weight")!.data;
    for (let i = 0; i < got.length; i++) expect(Math.abs(got[i]! - w.tokenEmbedding[i]!)).toBeLessThanOrEqual(Math.abs(w.tokenEmbedding[i]!) * 2 ** -8);
    const err = capture(dir);
    expect(await main(["convert", "llama2c-to-hf", shared!.model, "--tokenizer", shared!.tokenizer, "--out", "bf16"], err)).toBe(1);
    expect(err.stderr.join("\n")).toMatch(/--out .*bf16 exists and is not empty/);
  });
});

describe.skipIf(!shared)("stories260K through the HF path equals the llama2.c path", () => {
  it("greedy text equals the golden text, logits and every hook agree within 1e-5", async () => {
    const out = join(tmp(), "hf");
    expect(await main(["convert", "llama2c-to-hf", shared!.model, "--tokenizer", shared!.tokenizer, "--out", out], capture())).toBe(0);
    const hf = await loadModel(out);
    const l2 = await loadModel(shared!.model);
    const tok = tokenizerFromSnapshot(await readHfSnapshot(out));
    const [gen] = generate(hf, [[tok.bos!]], { steps: 60, temperature: 0 });
    expect(tok.decode(gen!)).toBe(GOLDEN);
    expect(Array.from(gen!)).toEqual(Array.from(generate(l2, [[1]], { steps: 60, temperature: 0 })[0]!));
    const seqs = [tok.encode("Once upon a time, there was a little girl named Lily."), tok.encode("Tom had a red ball. He"), tok.encode("")];
    const capture1 = (m: typeof hf) => {
      const got = new Map<string, Float32Array>();
      const hooks = m.hookNames().map((name) => [name, (act: Float32Array) => void got.set(name, Float32Array.from(act))] as const);
      const res = m.forward(seqs, { hooks });
      return { got, logits: res.logits! };
    };
    const a = capture1(hf);
    const b = capture1(l2);
    expect(hf.hookNames()).toEqual(l2.hookNames());
    expect(a.got.size).toBe(hf.hookNames().length);
    for (const name of hf.hookNames()) {
      const x = a.got.get(name)!;
      const y = b.got.get(name)!;
      expect(x.length, name).toBe(y.length);
      let worst = 0;
      for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
      expect(worst, name).toBeLessThan(1e-5);
    }
    let worst = 0;
    for (let i = 0; i < a.logits.length; i++) worst = Math.max(worst, Math.abs(a.logits[i]! - b.logits[i]!));
    expect(worst).toBeLessThan(1e-5);
  });
});

describe("saelab convert llama2c-to-hf on bad input", () => {
  it("exits 1 with a message naming the file, without a stack trace", async () => {
    const dir = tmp();
    writeFileSync(join(dir, "short.bin"), Buffer.alloc(12));
    const io = capture(dir);
    expect(await main(["convert", "llama2c-to-hf", "short.bin", "--tokenizer", "tok.bin", "--out", "o"], io)).toBe(1);
    expect(io.stderr.join("\n")).toMatch(/short\.bin: not a valid llama2\.c checkpoint: only 12 bytes/);
    expect(io.stderr.join("\n")).not.toMatch(/\n\s+at /);
    const io2 = capture(dir);
    expect(await main(["convert", "llama2c-to-hf", "short.bin", "--out", "o"], io2)).toBe(1);
    expect(io2.stderr.join("\n")).toMatch(/tokenizer/);
  });
});
