/**
 * --model by Hub id: a tiny GPT-NeoX snapshot (sharded safetensors, tokenizer files, and files saelab
 * skips) served by a local fake Hub resolves into the HF cache and loads as the same model.
 */
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CliIO } from "../src/cli/args.js";
import { modelHubFlags, resolveModelPath } from "../src/cli/sae-source.js";
import { isModelFile } from "../src/io/hub-model.js";
import { loadModel } from "../src/lm/load.js";
import { Rng } from "../src/tensor/rng.js";
import { writeTinyHf, type TinyHf } from "./helpers/hf-models.js";
import { fakeCommit, startFakeHub, type FakeHub } from "./helpers/hub-server.js";
import { maxAbsDiff } from "./lm-fixtures.js";

function tinyNeoxSharded(): TinyHf {
  const D = 16;
  const V = 30;
  const config = { model_type: "gpt_neox", hidden_size: D, num_attention_heads: 2, num_hidden_layers: 1, intermediate_size: 32, vocab_size: V, max_position_embeddings: 16, rotary_pct: 0.25 };
  const rng = new Rng(5);
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const put = (n: string, shape: number[]) => tensors.set(n, { shape, data: Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal() * 0.3) });
  put("gpt_neox.embed_in.weight", [V, D]);
  const p = "gpt_neox.layers.0.";
  for (const n of ["input_layernorm", "post_attention_layernorm"]) {
    put(`${p}${n}.weight`, [D]);
    put(`${p}${n}.bias`, [D]);
  }
  put(`${p}attention.query_key_value.weight`, [3 * D, D]);
  put(`${p}attention.query_key_value.bias`, [3 * D]);
  put(`${p}attention.dense.weight`, [D, D]);
  put(`${p}attention.dense.bias`, [D]);
  put(`${p}mlp.dense_h_to_4h.weight`, [32, D]);
  put(`${p}mlp.dense_h_to_4h.bias`, [32]);
  put(`${p}mlp.dense_4h_to_h.weight`, [D, 32]);
  put(`${p}mlp.dense_4h_to_h.bias`, [D]);
  put("gpt_neox.final_layer_norm.weight", [D]);
  put("gpt_neox.final_layer_norm.bias", [D]);
  put("embed_out.weight", [V, D]);
  return { name: "neox", config, tensors, storage: "sharded" };
}

describe("--model by Hub id (local fake Hub)", () => {
  let hub: FakeHub;
  const src = writeTinyHf(tinyNeoxSharded());
  const root = join(src, "..", `hubmodel-${process.pid}`);
  const env = () => ({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: join(root, "hf"), SAELAB_CACHE: join(root, "saelab") });
  const io = (): CliIO & { errs: string[] } => {
    const errs: string[] = [];
    return { out: () => undefined, err: (t) => errs.push(t), isTTY: false, cwd: root, env: env(), errs };
  };
  const COMMIT = fakeCommit("pythia-tiny");

  beforeAll(async () => {
    const files: Record<string, Uint8Array> = { "tokenizer.json": new TextEncoder().encode("{}"), "pytorch_model.bin": new Uint8Array(500), "onnx/model.onnx": new Uint8Array(300) };
    for (const f of readdirSync(src)) files[f] = new Uint8Array(readFileSync(join(src, f)));
    const broken = Object.fromEntries(Object.entries(files).filter(([f]) => f !== "model-00002-of-00002.safetensors"));
    hub = await startFakeHub({ "EleutherAI/pythia-tiny": { commit: COMMIT, files }, "EleutherAI/broken": { commit: fakeCommit("b"), files: broken } });
  });
  afterAll(async () => hub.close());

  it("the flags are spelled --offline and --revision", () => {
    expect(Object.keys(modelHubFlags).sort()).toEqual(["offline", "revision"]);
    expect(["config.json", "model-00001-of-00002.safetensors", "tokenizer.json", "pytorch_model.bin", "onnx/model.onnx", "README.md"].map(isModelFile)).toEqual([true, true, true, false, false, false]);
  });

  it("downloads only what saelab loads, into the HF cache, and loads the same model; then works offline with no request", async () => {
    const a = io();
    const dir = await resolveModelPath("EleutherAI/pythia-tiny", a);
    expect(dir).toBe(join(root, "hf", "models--EleutherAI--pythia-tiny", "snapshots", COMMIT));
    expect(a.errs.join("\n")).toMatch(/downloaded .*model-00002-of-00002\.safetensors/);
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json"]);
    const seqs = [[1, 2, 3, 4, 5], [7, 8]];
    const fromHub = (await loadModel(dir)).forward(seqs).logits!;
    const fromDir = (await loadModel(src)).forward(seqs).logits!;
    expect(maxAbsDiff(fromHub, fromDir)).toBe(0);
    const before = hub.log.length;
    expect(await resolveModelPath("EleutherAI/pythia-tiny", io(), { offline: true })).toBe(dir);
    expect(await resolveModelPath("EleutherAI/pythia-tiny", io(), { revision: COMMIT })).toBe(dir);
    expect(hub.log.length).toBe(before);
    // A path that exists is taken as it is.
    expect(await resolveModelPath(src, io())).toBe(src);
  });

  it("a snapshot missing a listed shard, an unknown revision and a non-id are clear errors", async () => {
    await expect(resolveModelPath("EleutherAI/broken", io())).rejects.toThrow(/EleutherAI\/broken@main \(commit [0-9a-f]{40}\) on .* lacks model-00002-of-00002\.safetensors/);
    await expect(resolveModelPath("EleutherAI/pythia-tiny", io(), { revision: "v0" })).rejects.toThrow(/EleutherAI\/pythia-tiny@v0: not found .*--revision/);
    await expect(resolveModelPath("./no/such/dir/", io())).rejects.toThrow(/model \.\/no\/such\/dir\/ does not exist, and it is not spelled like a Hub repo id/);
    await expect(resolveModelPath("google/gemma-2-2b", io(), { offline: true })).rejects.toThrow(/not complete in the Hugging Face cache/);
  });
});
