/**
 * Every family against a plain-loop oracle (test/helpers/naive-hf.ts, no code shared with src/lm):
 * tiny random models written in the Hugging Face layout (GPT-2 in both key layouts; Llama with GQA,
 * sharded; Llama 3 rope scaling with an untied head; Qwen2 with q/k/v biases in BF16; Mistral with a
 * sliding window shorter than the prompts), loaded through loadModel on each backend, compared on
 * logits and every hook for a batch of sequences of different lengths, uncached and KV-cached.
 */
import { describe, expect, it } from "vitest";
import { loadModel } from "../src/lm/load.js";
import type { HookedModel } from "../src/lm/model.js";
import { tinyGpt2, tinyLlama, writeTinyHf, type TinyHf } from "./helpers/hf-models.js";
import { naiveGpt2, naiveLlama, type NaiveOut } from "./helpers/naive-hf.js";
import { backendsUnderTest, maxAbsDiff } from "./lm-fixtures.js";

const TOL = 1e-4;

const MODELS: TinyHf[] = [
  tinyGpt2(1, "transformer."),
  tinyGpt2(2, ""),
  tinyLlama(3, "llama, GQA, sharded", {}, "sharded"),
  tinyLlama(4, "llama, Llama 3 rope scaling, untied", { rope_theta: 500000, rms_norm_eps: 1e-5, tie_word_embeddings: false, head_dim: 8, rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 } }),
  tinyLlama(5, "qwen2, q/k/v biases, BF16", { model_type: "qwen2", num_key_value_heads: 1 }, "bf16"),
  tinyLlama(6, "mistral, sliding window 4", { model_type: "mistral", sliding_window: 4 }),
];

const SEQS = [[3, 17, 42, 5, 9, 11, 30], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [7], [49, 0, 13, 21, 8, 8, 8, 2, 33, 40]];

function naive(m: TinyHf, seq: readonly number[]): NaiveOut {
  return m.config.model_type === "gpt2" ? naiveGpt2(m, seq) : naiveLlama(m, seq);
}

/** Rows of every sequence concatenated, as the model packs them. */
function packed(outs: NaiveOut[], pick: (o: NaiveOut) => number[][]): number[] {
  return outs.flatMap((o) => pick(o).flat());
}

const minusMean = (rows: number[][]) => rows.map((r) => {
  const m = r.reduce((a, b) => a + b, 0) / r.length;
  return r.map((v) => v - m);
});

describe.each(MODELS)("$name", (m) => {
  const dir = writeTinyHf(m);
  const want = SEQS.map((s) => naive(m, s));
  const layerNormFamily = m.config.model_type === "gpt2";

  describe.each(backendsUnderTest())("on %s", (_b, backends) => {
    const load = (processing: boolean) => loadModel(dir, { backends, processing });

    it("logits and every hook match the plain-loop model (raw weights)", async () => {
      const model = await load(false);
      const { result, cache } = model.runWithCache(SEQS);
      expect(maxAbsDiff(result.logits!, packed(want, (o) => o.logits))).toBeLessThan(TOL);
      const names = model.hookNames();
      expect(names.length).toBe(want[0]!.hooks.size);
      for (const n of names) {
        const got = cache.get(n)!;
        const ref = packed(want, (o) => o.hooks.get(n)!);
        expect(got.length, n).toBe(ref.length);
        expect(maxAbsDiff(got, ref), n).toBeLessThan(TOL);
      }
    });

    it("KV-cached prefill and one-token steps give the uncached logits", async () => {
      const model = await load(false);
      const cache = model.newCache(SEQS.length, 16);
      const got: number[][] = SEQS.map(() => []);
      const V = model.spec.vocabSize;
      const cut = SEQS.map((s) => Math.ceil(s.length / 2));
      const pre = model.forward(SEQS.map((s, i) => s.slice(0, cut[i])), { cache });
      let r = 0;
      SEQS.forEach((_, i) => {
        got[i]!.push(...pre.logits!.subarray(r * V, (r + cut[i]!) * V));
        r += cut[i]!;
      });
      for (let t = 0; ; t++) {
        const live = SEQS.map((s, i) => i).filter((i) => cut[i]! + t < SEQS[i]!.length);
        if (live.length === 0) break;
        const step = model.forward(live.map((i) => [SEQS[i]![cut[i]! + t]!]), { cache, slots: live, logits: "last" });
        live.forEach((i, j) => got[i]!.push(...step.logits!.subarray(j * V, (j + 1) * V)));
      }
      SEQS.forEach((_, i) => expect(maxAbsDiff(got[i]!, want[i]!.logits.flat()), `sequence ${i}`).toBeLessThan(TOL));
    });

    it("stopAtLayer and hooks at absolute positions work as on llama2.c models", async () => {
      const model: HookedModel = await load(false);
      const r = model.forward(SEQS, { stopAtLayer: 1 });
      expect(maxAbsDiff(r.residual, packed(want, (o) => o.hooks.get("blocks.0.hook_resid_post")!))).toBeLessThan(TOL);
      const seen: number[] = [];
      model.forward([SEQS[1]!], { stopAtLayer: 1, hooks: [["blocks.0.hook_resid_mid", (_a, ctx) => void seen.push(...ctx.rowPos)]] });
      expect(seen).toEqual(SEQS[1]!.map((_, i) => i));
    });

    it.runIf(layerNormFamily)("processing (the default) subtracts each token's mean from residual-stream hooks and logits; ln_final is unchanged", async () => {
      const model = await load(true);
      const { result, cache } = model.runWithCache(SEQS);
      expect(maxAbsDiff(result.logits!, packed(want, (o) => minusMean(o.logits)))).toBeLessThan(TOL);
      for (const n of model.hookNames()) {
        const centred = n !== "ln_final.hook_normalized";
        const ref = packed(want, (o) => (centred ? minusMean(o.hooks.get(n)!) : o.hooks.get(n)!));
        expect(maxAbsDiff(cache.get(n)!, ref), n).toBeLessThan(TOL);
      }
    });

    it.runIf(!layerNormFamily)("processing leaves RMSNorm families unchanged", async () => {
      const a = (await load(true)).forward(SEQS).logits!;
      const b = (await load(false)).forward(SEQS).logits!;
      expect(maxAbsDiff(a, b)).toBe(0);
    });
  });
});

describe("bad snapshots are refused naming the file and field", () => {
  const load = (m: TinyHf) => loadModel(writeTinyHf(m), { backends: backendsUnderTest()[0]![1] });

  it("an unknown model_type, by name", async () => {
    const m = tinyLlama(8, "x", { model_type: "falcon" });
    await expect(load(m)).rejects.toThrow(/config\.json: model_type "falcon" is not supported \(supported: gpt2, llama, qwen2, mistral\)/);
  });

  it("a tensor whose shape disagrees with config.json, and a missing one", async () => {
    const wide = tinyLlama(8, "x", { intermediate_size: 40 });
    await expect(load(wide)).rejects.toThrow(/tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[48, 32\] but config\.json implies \[40, 32\]/);
    const untied = tinyLlama(8, "x", {});
    untied.config.tie_word_embeddings = false;
    await expect(load(untied)).rejects.toThrow(/"lm_head\.weight" is missing/);
    const g = tinyGpt2(9, "");
    g.tensors.delete("h.1.mlp.c_fc.bias");
    await expect(load(g)).rejects.toThrow(/tensor "h\.1\.mlp\.c_fc\.bias" is missing/);
  });

  it("a config field of the wrong type, and a hook the family lacks", async () => {
    await expect(load(tinyGpt2(9, "transformer."))).resolves.toBeDefined();
    const bad = tinyGpt2(9, "transformer.");
    bad.config.n_head = "four";
    await expect(load(bad)).rejects.toThrow(/config\.json: field "n_head" must be a positive integer/);
    const llama = await load(tinyLlama(3, "x", {}));
    expect(() => llama.parseHook("hook_pos_embed")).toThrow(/no learned position embeddings/);
    expect(() => llama.parseHook("blocks.2.hook_resid_post")).toThrow(/blocks 0\.\.1/);
  });
});
