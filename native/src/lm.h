/* The LM kernels (lm_mm.c: products on packed weights; lm_rope.c: RoPE and the KV-cache write;
   lm_attn.c, lm_attn512.c: causal attention; lm_math.c: RMSNorm, SwiGLU and single steps;
   lm_blocks.c: whole layers on the thread pool), called by the Node-API wrappers in lm.c. Layout
   indices (L_*, Y_*) mirror src/lm/params.ts.

   Determinism: every output row is computed by the same sequence of floating-point operations
   whatever else is in the pass, however rows are split into chunks, tiles or threads, and whether
   it is one decoding step or part of a prefill. So results are bitwise independent of the thread
   count, and a KV-cached decode gives exactly the uncached forward's numbers. */
#ifndef SAELAB_LM_H
#define SAELAB_LM_H
#include <stddef.h>
#include <stdint.h>

enum {
  L_DIM = 0, L_KV_DIM, L_HIDDEN, L_N_HEADS, L_N_KV_HEADS, L_HEAD_SIZE, L_N_LAYERS, L_VOCAB, L_SEQ_LEN,
  L_OFF_EMB, L_OFF_FINAL, L_OFF_CLS, L_FLAGS, L_EPS_BITS, L_OFF_FINAL_B, L_LAYER0
};
/* Per layer: norms, products and their optional biases (offset -1 when absent). Y_W13 is the MLP's
   input projection ([gate; up] when gated), Y_W2 its output projection. */
enum { Y_RMS_ATT = 0, Y_WQKV, Y_WO, Y_RMS_FFN, Y_W13, Y_W2, Y_LN1_B, Y_BQKV, Y_BO, Y_LN2_B, Y_BIN, Y_BOUT, Y_PER_LAYER };
/* L_FLAGS: LayerNorm (else RMSNorm), gated MLP (SwiGLU), parallel residual (GPT-NeoX: x + attn(ln1 x) +
   mlp(ln2 x), the branches summed first, in double as the TypeScript path does), and the activation of a plain MLP in bits 4-7. */
enum { LF_LAYERNORM = 1, LF_GATED = 2, LF_PARALLEL = 4 };
enum { ACT_SILU = 0, ACT_GELU_TANH = 1, ACT_GELU_ERF = 2 };
#define LM_ACT(L) (((L)[L_FLAGS] >> 4) & 15)
#define RMS_EPS 1e-5f
/* The norm epsilon stored as float bits in the layout. */
static inline float lm_eps(const int32_t *L) { union { int32_t i; float f; } u = { L[L_EPS_BITS] }; return u.f; }
/* Parameters at a per-layer offset, or NULL when the offset is -1. */
static inline const float *lm_opt(const float *buf, const int32_t *L, int layer, int which) {
  const int32_t o = L[L_LAYER0 + Y_PER_LAYER * layer + which];
  return o < 0 ? NULL : buf + o;
}

/* ---- packed weights (lm_mm.c) -------------------------------------------------------------
   Each matrix W [n, k] (llama2.c's [out, in]) is stored as panels of 16 output columns, each
   panel [k][16] (zero-padded), so a product streams one panel per 16 outputs. For a gated MLP w1
   and w3 are interleaved: panel b holds w1's outputs 8b..8b+7 then w3's, so SwiGLU is applied in
   registers; a plain MLP's input projection is packed like any other matrix.
   Per layer: qkv, wo, w13, w2; then the classifier. */
enum { P_QKV = 0, P_WO, P_W13, P_W2, P_PER_LAYER };
/* Floats of packed weights for the model described by L. */
size_t lm_packed_size(const int32_t *L);
/* Offset of matrix `which` of `layer` in the packed buffer (layer == n_layers: the classifier). */
size_t lm_packed_off(const int32_t *L, int layer, int which);
/* Fills `packed` (lm_packed_size floats) from the parameter buffer. */
void lm_pack(const int32_t *L, const float *buf, float *packed);

/* How lm_mm writes y: store, add to y (a residual), or SwiGLU of interleaved w1/w3 panels. */
enum { MM_STORE = 0, MM_ADD, MM_SWIGLU };
/* y [rows, n] (mode)= x [rows, k] @ W^T for W packed as above (row strides ldx, ldy). For MM_SWIGLU
   n is the hidden width and y[r, j] = silu(x W1^T)[j] * (x W3^T)[j]. Each y element is one FMA
   chain over k in order. Runs on the calling thread. */
void lm_mm(const float *x, int ldx, int rows, int k, const float *panels, int n, float *y, int ldy, int mode);
/* lm_mm for passes of at most LM_COL_ROWS rows (decoding), where splitting rows cannot use the pool:
   large products are split by panels between the pool's threads (the same chains, so the same
   bits); anything else, or a call from inside a pool task, runs on the calling thread. */
#define LM_COL_ROWS 4
void lm_mm_cols(const float *x, int ldx, int rows, int k, const float *panels, int n, float *y, int ldy, int mode);

/* ---- one pass of rows over the KV cache (lm_rope.c, lm_attn.c) ---------------------------- */
typedef struct {
  const int32_t *L;
  const float *rope;   /* [seq_len, head_size / 2, 2] (cos, sin) */
  float *k, *v;        /* k: [layers, slots, kv_dim, cap] (position fastest); v: [layers, slots, cap, kv_dim] */
  int slots, cap;
  int rows;
  const int32_t *slot, *pos;
  /* Attention variant (zero-initialised: none): per layer, the keys a query sees (sliding window:
     positions pos - window + 1 .. pos; 0 = all), or NULL; the score scale (0: 1/sqrt(head_size));
     logit soft-capping s -> softcap * tanh(s / softcap) of the scaled score (0: none). */
  const int32_t *window;
  float scale, softcap;
} Pass;

static inline size_t lm_k_off(const Pass *s, int layer, int slot) {
  return ((size_t)layer * s->slots + slot) * (size_t)s->L[L_KV_DIM] * s->cap;
}
static inline size_t lm_v_off(const Pass *s, int layer, int slot) { return lm_k_off(s, layer, slot); }

/* The query width n_heads * head_size (Gemma 2's differs from L_DIM; the fused blocks need them equal). */
static inline int lm_q_dim(const int32_t *L) { return L[L_N_HEADS] * L[L_HEAD_SIZE]; }

/* Rotates the q and k parts of qkv rows [r0, r1) (row r at qkv + (r - r0) * ldqkv, [q (q_dim) | k | v])
   in place and writes each row's rotated key and value into the cache at (slot[r], pos[r]). */
void lm_rope_rows(const Pass *s, int layer, float *qkv, int ldqkv, int r0, int r1);
/* Causal attention of rows [r0, r1): row r's queries at q + r * ldq (unrotated layout [heads][hs],
   already rotated), over its slot's cached positions 0..pos[r] (the last `window` of them when the
   layer has one); writes out + (r - r0) * ldo.
   scratch: at least lm_attn_scratch(s) floats. */
void lm_attend_rows(const Pass *s, int layer, const float *q, int ldq, int r0, int r1, float *out, int ldo, float *scratch);
size_t lm_attn_scratch(const Pass *s);

/* ---- helpers shared by lm_math.c and lm_blocks.c ------------------------------------------- */
/* saelab_scratch slots (pool.h reserves 10-15 for kernel files like these): per-thread chunk
   buffers, the caller's row weights, all rows' queries (caller), one sequence's queries (per thread). */
enum { LM_SCRATCH_THREAD = 10, LM_SCRATCH_SHARED = 11, LM_SCRATCH_QALL = 12, LM_SCRATCH_QRUN = 13 };
/* out[r] = w * x[r] / rms(x[r]) for rows of stride ldx (out: ldo), on the calling thread. */
void lm_rmsnorm_rows(const float *x, int ldx, int rows, int dim, const float *w, float *out, int ldo, float eps);
/* The model's norm (L_FLAGS: LayerNorm with bias b, else RMSNorm; eps from the layout) of rows. */
void lm_norm_rows(const int32_t *L, const float *x, int ldx, int rows, const float *w, const float *b, float *out, int ldo);
/* y[r] += b for rows of width n (stride ldy); nothing when b is NULL. */
void lm_add_bias(float *y, int ldy, int rows, int n, const float *b);
/* y[r] = act(y[r] + b) for the plain MLP's activation (LM_ACT) over rows of width n. */
void lm_bias_act(const int32_t *L, float *y, int ldy, int rows, int n, const float *b);
/* Threads for a step of `flops` (1: the calling thread alone; 0: the whole pool). */
int lm_threads_for(double flops, int rows);
typedef void (*lm_range_fn)(void *ctx, int r0, int r1);
/* Runs fn on contiguous row ranges, one per thread: equal rows, or equal weight when prefix (rows + 1
   running sums) is given. */
void lm_run_rows(lm_range_fn fn, void *ctx, int rows, const int64_t *prefix, int nthreads);
/* Running sums of each row's attention and product cost (in a scratch buffer of the calling thread);
   *flops gets the total. NULL when out of memory. */
int64_t *lm_attention_prefix(const Pass *s, double *flops, int with_mlp);

/* ---- whole steps (lm_math.c, lm_blocks.c), threaded on the pool; return 0 when out of memory - */
/* out[r] = w * x[r] / rms(x[r]). */
void lm_rmsnorm(const float *x, int rows, int dim, const float *w, float *out, float eps);
/* out[r] = silu(h13[r, :hidden]) * h13[r, hidden:]. */
void lm_swiglu(const float *h13, int rows, int hidden, float *out);
/* y [rows, out] = x [rows, in] @ W^T (W unpacked). */
void lm_linear(const float *x, int rows, int in, const float *W, int out, float *y);
/* Rotates q in place and writes keys and values into the cache (rows must not share a slot and position). */
void lm_rope_store(const Pass *s, int layer, float *qkv);
/* Causal attention over each row's slot for qkv rows [q | k | v]. */
int lm_attention(const Pass *s, int layer, const float *qkv, float *out);
/* The attention block's output for residual x (before the residual add). */
int lm_attn_block(const Pass *s, int layer, const float *buf, const float *packed, const float *x, float *out);
/* The MLP block's output for residual x (before the residual add). */
int lm_mlp_block(const int32_t *L, int layer, const float *buf, const float *packed, const float *x, int rows, float *out);
/* Runs blocks from..to-1 on the residual x in place. */
int lm_layers(const Pass *s, int from, int to, const float *buf, const float *packed, float *x);
/* logits [rows, vocab] = x [rows, dim] @ classifier^T. */
void lm_classify(const int32_t *L, const float *packed, const float *x, int rows, float *out);
#endif
