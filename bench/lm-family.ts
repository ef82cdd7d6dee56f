/**
 * `npm run bench:lm -- --family gpt2 | gpt_neox | gemma2`: throughput of a model family on random
 * weights of a real model's shape, beside PyTorch eager on the same weights (bench/reference/
 * lm_family.py, run with Debian's python3-torch in the same session):
 *   - gpt2: GPT-2 small (12 layers, 768 wide, 12 heads, vocab 50257), extraction at blocks.6;
 *   - gpt_neox: Pythia-70m (6 layers, 512 wide, 8 heads, rotary_pct 0.25, parallel residual, vocab 50304);
 *   - gemma2: one layer of Gemma-2-2B (2304 wide, 8 heads of 256, 4 KV heads, MLP 9216, soft-caps,
 *     sliding window 4096), vocab --vocab (default 256000, Gemma's).
 * Figures (rows `<family> extract` and `<family> generate`): batched extraction at a middle block's
 * hook_resid_post (64 sequences x 128 tokens; the pass stops after that block) and greedy generation
 * of 128 tokens from a 16-token prompt with the KV cache, each as the best of --reps runs in
 * tokens/s, with the ratio ours / PyTorch, and each process's peak resident memory. Our figures come
 * from a child process that only loads the snapshot, so its peak memory is the model's, not the
 * weight generator's.
 *
 *   npm run bench:lm -- --family gpt2 [--reps 3] [--python /usr/bin/python3] [--vocab N] [--torch off]
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeSafetensors } from "../src/io/safetensors.js";
import { loadModel } from "../src/lm/load.js";
import { Rng } from "../src/tensor/rng.js";

type Tensors = Record<string, { data: Float32Array; shape: number[] }>;

const SHAPES = {
  gpt2: {
    config: { model_type: "gpt2", n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, vocab_size: 50257, layer_norm_epsilon: 1e-5, activation_function: "gelu_new" },
    hookLayer: 6,
    tensors(c: Record<string, number>, put: (n: string, shape: number[], sd: number, mean?: number) => void) {
      const D = c.n_embd!;
      put("transformer.wte.weight", [c.vocab_size!, D], 0.02);
      put("transformer.wpe.weight", [c.n_positions!, D], 0.01);
      for (let l = 0; l < c.n_layer!; l++) {
        const p = `transformer.h.${l}.`;
        for (const n of ["ln_1", "ln_2"]) {
          put(`${p}${n}.weight`, [D], 0.02, 1);
          put(`${p}${n}.bias`, [D], 0.02);
        }
        put(`${p}attn.c_attn.weight`, [D, 3 * D], 0.02);
        put(`${p}attn.c_attn.bias`, [3 * D], 0.02);
        put(`${p}attn.c_proj.weight`, [D, D], 0.02);
        put(`${p}attn.c_proj.bias`, [D], 0.02);
        put(`${p}mlp.c_fc.weight`, [D, 4 * D], 0.02);
        put(`${p}mlp.c_fc.bias`, [4 * D], 0.02);
        put(`${p}mlp.c_proj.weight`, [4 * D, D], 0.02);
        put(`${p}mlp.c_proj.bias`, [D], 0.02);
      }
      put("transformer.ln_f.weight", [D], 0.02, 1);
      put("transformer.ln_f.bias", [D], 0.02);
    },
  },
  gpt_neox: {
    hookLayer: undefined,
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
    hookLayer: undefined,
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

/** The figures of our side, measured in a child process. */
interface Ours { extract: number; gen: number; generated: number[]; peakMb: number; backend: string }

/** Measures our extraction and generation on the snapshot in `dir` and prints them as one JSON line (the child process). */
async function measure(dir: string, reps: number): Promise<void> {
  const spec = JSON.parse(readFileSync(join(dir, "bench.json"), "utf8")) as { hook: string; stopAt: number; seqs: number[][]; prompt: number[] };
  const model = await loadModel(dir, { processing: false });
  const seqs = spec.seqs.map((q) => Int32Array.from(q));
  const V = model.spec.vocabSize;
  // A one-token pass packs the weights for the native kernels before anything is timed.
  model.forward([[0]], { logits: "last" });
  const best = (f: () => number) => Math.max(...Array.from({ length: reps }, f));
  const extract = best(() => {
    const t0 = performance.now();
    const { cache } = model.runWithCache(seqs, { names: [spec.hook], stopAtLayer: spec.stopAt, logits: "none" });
    if (cache.get(spec.hook)?.length !== seqs.length * 128 * model.spec.dModel) throw new Error("extraction returned the wrong number of rows");
    return (seqs.length * 128) / ((performance.now() - t0) / 1000);
  });
  let generated: number[] = [];
  const gen = best(() => {
    const t0 = performance.now();
    const cache = model.newCache(1, 16 + 128);
    let last = model.forward([spec.prompt], { cache, logits: "last" }).logits!;
    generated = [];
    for (let i = 0; i < 128; i++) {
      let arg = 0;
      for (let v = 1; v < V; v++) if (last[v]! > last[arg]!) arg = v;
      generated.push(arg);
      if (i < 127) last = model.forward([[arg]], { cache, logits: "last" }).logits!;
    }
    return 128 / ((performance.now() - t0) / 1000);
  });
  const ours: Ours = { extract, gen, generated, peakMb: process.resourceUsage().maxRSS / 1024, backend: model.backendName() };
  console.log(JSON.stringify(ours));
}

/** Runs the family benchmark and prints its lines (or, with --measure DIR, our side alone as JSON). */
export async function benchFamily(args: readonly string[]): Promise<void> {
  const flag = (name: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const reps = Number(flag("reps") ?? 3);
  const measureDir = flag("measure");
  if (measureDir) return measure(measureDir, reps);
  const family = flag("family") as keyof typeof SHAPES;
  const shape = SHAPES[family];
  if (!shape) throw new Error(`--family must be one of ${Object.keys(SHAPES).join(", ")}`);
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

    const L = (config.num_hidden_layers ?? config.n_layer) as number;
    const V = config.vocab_size as number;
    const layer = shape.hookLayer ?? Math.floor((L - 1) / 2);
    const hook = `blocks.${layer}.hook_resid_post`;
    const prng = new Rng(2);
    const seqs = Array.from({ length: 64 }, () => Array.from({ length: 128 }, () => prng.int(V)));
    const prompt = Array.from({ length: 16 }, () => prng.int(V));
    writeFileSync(join(dir, "bench.json"), JSON.stringify({ hook, stopAt: layer + 1, seqs, prompt }));
    console.log(`${family}: ${L} layer(s), width ${config.hidden_size ?? config.n_embd}, vocab ${V}; ${cpus().length} CPUs (${cpus()[0]?.model}); load average ${loadavg().map((v) => v.toFixed(2)).join(" ")}`);

    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(new URL("./lm.ts", import.meta.url)), "--family", family, "--measure", dir, "--reps", String(reps)], { encoding: "utf8", maxBuffer: 1 << 26 });
    if (child.status !== 0) throw new Error(`measuring ${family} failed: ${child.stderr}`);
    const ours = JSON.parse(child.stdout.trim().split("\n").pop()!) as Ours;
    let torch: { extract: number; generate: number; tokens: number[]; threads: number; version: string; peak_rss_mb: number } | null = null;
    if (flag("torch") !== "off") {
      const ref = spawnSync(python, [fileURLToPath(new URL("./reference/lm_family.py", import.meta.url)), dir, hook, String(layer + 1), String(reps)], {
        input: JSON.stringify({ seqs, prompt }),
        encoding: "utf8",
        maxBuffer: 1 << 26,
      });
      if (ref.status === 0) torch = JSON.parse(ref.stdout.trim().split("\n").pop()!);
      else console.log(`PyTorch reference did not run (${python}): ${(ref.stderr || ref.error?.message || "").trim().split("\n").pop()}`);
    }
    const f = (x: number) => Math.round(x).toLocaleString("en-US");
    const line = (what: string, o: number, theirs: number | undefined) =>
      console.log(`${family} ${what}: ${f(o)} tokens/s (${ours.backend})` + (theirs ? `   PyTorch eager ${f(theirs)} tokens/s   ratio ${(o / theirs).toFixed(2)}x` : "   PyTorch n/a"));
    line(`extract (${hook}, 64 x 128)`, ours.extract, torch?.extract);
    line("generate (16 + 128 greedy, KV cache)", ours.gen, torch?.generate);
    const same = torch ? `; greedy tokens identical to ours: ${torch.tokens.filter((t, i) => t === ours.generated[i]).length}/128` : "";
    console.log(`peak memory saelab ${f(ours.peakMb)} MB` + (torch ? `, PyTorch ${f(torch.peak_rss_mb)} MB; PyTorch ${torch.version}, ${torch.threads} thread(s)${same}` : ""));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
