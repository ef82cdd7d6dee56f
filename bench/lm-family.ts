/**
 * `npm run bench:lm -- --family gpt_neox | gemma2`: throughput of a model family on random weights of
 * a real model's shape, beside PyTorch eager on the same weights (bench/reference/lm_family.py, run
 * with Debian's python3-torch in the same session):
 *   - gpt_neox: Pythia-70m (6 layers, 512 wide, 8 heads, rotary_pct 0.25, parallel residual, vocab 50304);
 *   - gemma2: one layer of Gemma-2-2B (2304 wide, 8 heads of 256, 4 KV heads, MLP 9216, soft-caps,
 *     sliding window 4096), vocab --vocab (default 256000, Gemma's).
 * Figures: batched extraction at the middle block's hook_resid_post (64 sequences x 128 tokens; the
 * pass stops after that block) and greedy generation of 128 tokens from a 16-token prompt with the
 * KV cache, each as the best of --reps runs in tokens/s, with the ratio ours / PyTorch.
 *
 *   npm run bench:lm -- --family gpt_neox [--reps 3] [--python /usr/bin/python3] [--vocab N]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { writeSafetensors } from "../src/io/safetensors.js";
import { loadModel } from "../src/lm/load.js";
import { Rng } from "../src/tensor/rng.js";

type Tensors = Record<string, { data: Float32Array; shape: number[] }>;

const SHAPES = {
  gpt_neox: {
    config: { model_type: "gpt_neox", hidden_size: 512, num_attention_heads: 8, num_hidden_layers: 6, intermediate_size: 2048, vocab_size: 50304, max_position_embeddings: 2048, rotary_pct: 0.25, rotary_emb_base: 10000, layer_norm_eps: 1e-5, use_parallel_residual: true, hidden_act: "gelu", tie_word_embeddings: false },
    tensors(c: Record<string, number>, put: (n: string, shape: number[], sd: number, mean?: number) => void) {
      const D = c.hidden_size!;
      put("gpt_neox.embed_in.weight", [c.vocab_size!, D], 0.02);
      for (let l = 0; l < c.num_hidden_layers!; l++) {
        const p = `gpt_neox.layers.${l}.`;
        for (const n of ["input_layernorm", "post_attention_layernorm"]) {
          put(`${p}${n}.weight`, [D], 0.02, 1);
          put(`${p}${n}.bias`, [D], 0.02);
        }
        put(`${p}attention.query_key_value.weight`, [3 * D, D], 0.02);
        put(`${p}attention.query_key_value.bias`, [3 * D], 0.02);
        put(`${p}attention.dense.weight`, [D, D], 0.02);
        put(`${p}attention.dense.bias`, [D], 0.02);
        put(`${p}mlp.dense_h_to_4h.weight`, [c.intermediate_size!, D], 0.02);
        put(`${p}mlp.dense_h_to_4h.bias`, [c.intermediate_size!], 0.02);
        put(`${p}mlp.dense_4h_to_h.weight`, [D, c.intermediate_size!], 0.02);
        put(`${p}mlp.dense_4h_to_h.bias`, [D], 0.02);
      }
      put("gpt_neox.final_layer_norm.weight", [D], 0.02, 1);
      put("gpt_neox.final_layer_norm.bias", [D], 0.02);
      put("embed_out.weight", [c.vocab_size!, D], 0.02);
    },
  },
  gemma2: {
    config: { model_type: "gemma2", hidden_size: 2304, num_attention_heads: 8, num_key_value_heads: 4, head_dim: 256, num_hidden_layers: 1, intermediate_size: 9216, vocab_size: 256000, max_position_embeddings: 8192, rms_norm_eps: 1e-6, rope_theta: 10000, hidden_activation: "gelu_pytorch_tanh", query_pre_attn_scalar: 256, attn_logit_softcapping: 50, final_logit_softcapping: 30, sliding_window: 4096, tie_word_embeddings: true },
    tensors(c: Record<string, number>, put: (n: string, shape: number[], sd: number, mean?: number) => void) {
      const D = c.hidden_size!;
      const Q = c.num_attention_heads! * c.head_dim!;
      const KV = c.num_key_value_heads! * c.head_dim!;
      put("model.embed_tokens.weight", [c.vocab_size!, D], 0.02);
      for (let l = 0; l < c.num_hidden_layers!; l++) {
        const p = `model.layers.${l}.`;
        for (const n of ["input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"]) put(`${p}${n}.weight`, [D], 0.02);
        put(`${p}self_attn.q_proj.weight`, [Q, D], 0.02);
        put(`${p}self_attn.k_proj.weight`, [KV, D], 0.02);
        put(`${p}self_attn.v_proj.weight`, [KV, D], 0.02);
        put(`${p}self_attn.o_proj.weight`, [D, Q], 0.02);
        put(`${p}mlp.gate_proj.weight`, [c.intermediate_size!, D], 0.02);
        put(`${p}mlp.up_proj.weight`, [c.intermediate_size!, D], 0.02);
        put(`${p}mlp.down_proj.weight`, [D, c.intermediate_size!], 0.02);
      }
      put("model.norm.weight", [D], 0.02);
    },
  },
} as const;

/** Runs the family benchmark and prints its lines. */
export async function benchFamily(args: readonly string[]): Promise<void> {
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const family = flag("family") as keyof typeof SHAPES;
  const shape = SHAPES[family];
  if (!shape) throw new Error(`--family must be one of ${Object.keys(SHAPES).join(", ")}`);
  const reps = Number(flag("reps") ?? 3);
  const python = flag("python") ?? "/usr/bin/python3";
  const config: Record<string, number | string | boolean> = { ...shape.config };
  if (flag("vocab")) config.vocab_size = Number(flag("vocab"));
  const dir = mkdtempSync(join(tmpdir(), `saelab-bench-${family}-`));
  try {
    const rng = new Rng(1);
    const tensors: Tensors = {};
    shape.tensors(config as Record<string, number>, (n, s, sd, mean = 0) => {
      tensors[n] = { data: Float32Array.from({ length: s.reduce((a, b) => a * b, 1) }, () => mean + sd * rng.normal()), shape: s };
    });
    writeFileSync(join(dir, "config.json"), JSON.stringify(config));
    writeSafetensors(join(dir, "model.safetensors"), tensors);
    for (const k of Object.keys(tensors)) delete tensors[k];

    const L = config.num_hidden_layers as number;
    const V = config.vocab_size as number;
    const mid = Math.floor((L - 1) / 2);
    const hook = `blocks.${mid}.hook_resid_post`;
    const model = await loadModel(dir, { processing: false });
    const prng = new Rng(2);
    const seqs = Array.from({ length: 64 }, () => Int32Array.from({ length: 128 }, () => prng.int(V)));
    const prompt = Int32Array.from({ length: 16 }, () => prng.int(V));
    console.log(`${family}: ${L} layer(s), width ${config.hidden_size}, vocab ${V}, backends ${model.backendName()}; ${cpus().length} CPUs (${cpus()[0]?.model}); load average ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);

    const best = (f: () => number) => Math.max(...Array.from({ length: reps }, f));
    const extract = best(() => {
      const t0 = performance.now();
      model.runWithCache(seqs, { names: [hook], stopAtLayer: mid + 1, logits: "none" });
      return (64 * 128) / ((performance.now() - t0) / 1000);
    });
    let generated: number[] = [];
    const gen = best(() => {
      const t0 = performance.now();
      const cache = model.newCache(1, 16 + 128);
      let last = model.forward([prompt], { cache, logits: "last" }).logits!;
      generated = [];
      for (let i = 0; i < 128; i++) {
        let arg = 0;
        for (let v = 1; v < V; v++) if (last[v]! > last[arg]!) arg = v;
        generated.push(arg);
        if (i < 127) last = model.forward([[arg]], { cache, logits: "last" }).logits!;
      }
      return 128 / ((performance.now() - t0) / 1000);
    });
    const ref = spawnSync(python, [new URL("./reference/lm_family.py", import.meta.url).pathname, dir, hook, String(mid + 1), String(reps)], {
      input: JSON.stringify({ seqs: seqs.map((s) => Array.from(s)), prompt: Array.from(prompt) }),
      encoding: "utf8",
      maxBuffer: 1 << 26,
    });
    let torch: { extract: number; generate: number; tokens: number[]; threads: number; version: string } | null = null;
    if (ref.status === 0) torch = JSON.parse(ref.stdout.trim().split("\n").pop()!);
    else console.log(`PyTorch reference did not run (${python}): ${(ref.stderr || ref.error?.message || "").trim().split("\n").pop()}`);
    const line = (what: string, ours: number, theirs: number | undefined) =>
      console.log(`${family} ${what}: ${Math.round(ours).toLocaleString("en-US")} tokens/s` + (theirs ? `   PyTorch eager ${Math.round(theirs).toLocaleString("en-US")} tokens/s   ratio ${(ours / theirs).toFixed(2)}x` : ""));
    line(`extract (${hook}, 64 x 128)`, extract, torch?.extract);
    line("generate (16 + 128 greedy, KV cache)", gen, torch?.generate);
    if (torch) {
      const same = torch.tokens.filter((t, i) => t === generated[i]).length;
      console.log(`PyTorch ${torch.version}, ${torch.threads} thread(s); greedy tokens identical to ours: ${same}/128; peak RSS ours ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(2)} GiB`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
