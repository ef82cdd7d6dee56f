/**
 * A llama2.c checkpoint and tokenizer as a Hugging Face Llama snapshot (what transformers'
 * LlamaForCausalLM.save_pretrained writes): config.json with model_type "llama", HF weight names
 * `model.layers.N...`, q/k rows permuted from llama2.c's interleaved rotary pairs (2i, 2i+1) to HF's
 * half-split pairs (i, i + head_dim/2) (transformers' convert_llama_weights_to_hf `permute`), the
 * classifier omitted when tied, and the tokenizer files.
 */
import type { Llama2cCheckpoint, Llama2cVocab } from "./llama2c.js";
import type { HfSnapshotToWrite } from "./hf-snapshot.js";
import { llama2cTokenizerFiles } from "../lm/tokenizers/llama2c-json.js";

/** llama2.c's run.c constants, which its header does not store. */
const RMS_NORM_EPS = 1e-5;
const ROPE_THETA = 10000;

/**
 * Returns the rows of w [heads * headDim, cols] reordered so that, within each head, row 2i+p moves to
 * p * headDim/2 + i (llama2.c/Meta interleaved rotary layout -> HF's rotate_half layout).
 */
export function permuteRotaryRows(w: Float32Array, heads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < half; i++) {
      for (let p = 0; p < 2; p++) {
        const src = (h * headDim + 2 * i + p) * cols;
        out.set(w.subarray(src, src + cols), (h * headDim + p * half + i) * cols);
      }
    }
  }
  return out;
}

/** Returns the snapshot (config, HF-named weights, tokenizer files) of a llama2.c model. */
export function llama2cToHfSnapshot(ckpt: Llama2cCheckpoint, vocab: Llama2cVocab, opts: { dtype?: "F32" | "F16" | "BF16"; tokenizerSource?: string } = {}): HfSnapshotToWrite {
  const c = ckpt.config;
  const w = ckpt.weights;
  const headDim = c.dim / c.nHeads;
  const kvDim = c.nKvHeads * headDim;
  const tensors: HfSnapshotToWrite["tensors"] = { "model.embed_tokens.weight": { shape: [c.vocabSize, c.dim], data: w.tokenEmbedding } };
  const layer = (a: Float32Array, l: number, size: number) => a.subarray(l * size, (l + 1) * size);
  for (let l = 0; l < c.nLayers; l++) {
    const p = `model.layers.${l}`;
    tensors[`${p}.input_layernorm.weight`] = { shape: [c.dim], data: layer(w.rmsAtt, l, c.dim) };
    tensors[`${p}.self_attn.q_proj.weight`] = { shape: [c.dim, c.dim], data: permuteRotaryRows(layer(w.wq, l, c.dim * c.dim), c.nHeads, headDim, c.dim) };
    tensors[`${p}.self_attn.k_proj.weight`] = { shape: [kvDim, c.dim], data: permuteRotaryRows(layer(w.wk, l, kvDim * c.dim), c.nKvHeads, headDim, c.dim) };
    tensors[`${p}.self_attn.v_proj.weight`] = { shape: [kvDim, c.dim], data: layer(w.wv, l, kvDim * c.dim) };
    tensors[`${p}.self_attn.o_proj.weight`] = { shape: [c.dim, c.dim], data: layer(w.wo, l, c.dim * c.dim) };
    tensors[`${p}.post_attention_layernorm.weight`] = { shape: [c.dim], data: layer(w.rmsFfn, l, c.dim) };
    tensors[`${p}.mlp.gate_proj.weight`] = { shape: [c.hiddenDim, c.dim], data: layer(w.w1, l, c.hiddenDim * c.dim) };
    tensors[`${p}.mlp.up_proj.weight`] = { shape: [c.hiddenDim, c.dim], data: layer(w.w3, l, c.hiddenDim * c.dim) };
    tensors[`${p}.mlp.down_proj.weight`] = { shape: [c.dim, c.hiddenDim], data: layer(w.w2, l, c.dim * c.hiddenDim) };
  }
  tensors["model.norm.weight"] = { shape: [c.dim], data: w.rmsFinal };
  if (!c.sharedClassifier) tensors["lm_head.weight"] = { shape: [c.vocabSize, c.dim], data: w.wcls! };
  const tok = llama2cTokenizerFiles(vocab, { modelMaxLength: c.seqLen, ...(opts.tokenizerSource ? { source: opts.tokenizerSource } : {}) });
  return {
    config: {
      architectures: ["LlamaForCausalLM"],
      model_type: "llama",
      hidden_size: c.dim,
      intermediate_size: c.hiddenDim,
      num_hidden_layers: c.nLayers,
      num_attention_heads: c.nHeads,
      num_key_value_heads: c.nKvHeads,
      head_dim: headDim,
      vocab_size: c.vocabSize,
      max_position_embeddings: c.seqLen,
      rms_norm_eps: RMS_NORM_EPS,
      rope_theta: ROPE_THETA,
      rope_scaling: null,
      hidden_act: "silu",
      attention_bias: false,
      attention_dropout: 0,
      mlp_bias: false,
      tie_word_embeddings: c.sharedClassifier,
      bos_token_id: 1,
      eos_token_id: 2,
      initializer_range: 0.02,
      pretraining_tp: 1,
      use_cache: true,
      torch_dtype: { F32: "float32", F16: "float16", BF16: "bfloat16" }[opts.dtype ?? "F32"],
    },
    tensors,
    dtype: opts.dtype ?? "F32",
    tokenizer: tok.tokenizer,
    tokenizerConfig: tok.tokenizerConfig,
    specialTokensMap: tok.specialTokensMap,
    generationConfig: { bos_token_id: 1, eos_token_id: 2 },
  };
}
