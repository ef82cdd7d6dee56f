/* The LM kernels of lm_math.c, called by the Node-API wrappers in lm.c. Layout indices (L_*, Y_*)
   mirror src/lm/params.ts. */
#ifndef SAELAB_LM_H
#define SAELAB_LM_H
#include <stddef.h>
#include <stdint.h>

enum {
  L_DIM = 0, L_KV_DIM, L_HIDDEN, L_N_HEADS, L_N_KV_HEADS, L_HEAD_SIZE, L_N_LAYERS, L_VOCAB, L_SEQ_LEN,
  L_OFF_EMB, L_OFF_FINAL, L_OFF_CLS, L_LAYER0
};
enum { Y_RMS_ATT = 0, Y_WQKV, Y_WO, Y_RMS_FFN, Y_W13, Y_W2, Y_PER_LAYER };
#define RMS_EPS 1e-5f

/* One step's rows and the KV cache they use (see src/lm/kernels.ts for the cache layout). */
typedef struct {
  const int32_t *L;
  const float *rope;
  float *k, *v;
  int slots, cap, layer;
  int rows;
  const int32_t *slot, *pos;
} Step;

/* out[r] = w * x[r] / rms(x[r]); rows split across threads when large. */
void lm_rmsnorm(const float *x, int rows, int dim, const float *w, float *out, float eps);
/* out[r] = silu(h13[r, :hidden]) * h13[r, hidden:]; rows split across threads when large. */
void lm_swiglu(const float *h13, int rows, int hidden, float *out);
/* y [rows, out] = x [rows, in] @ W^T. */
void lm_linear(const float *x, int rows, int in, const float *W, int out, float *y);
/* Rotates q in place and writes rotated keys and values into the cache (rows must not share a slot and position). */
void lm_rope_store(const Step *s, float *qkv);
/* Causal attention over each row's slot; returns 0 when out of memory. */
int lm_attention(const Step *s, const float *qkv, float *out);
/* The attention block's output for residual x; returns 0 when out of memory. */
int lm_attn_block(const Step *s, const float *buf, const float *x, float *out);
/* The MLP block's output for residual x; returns 0 when out of memory. */
int lm_mlp_block(const int32_t *L, const float *buf, const float *x, int rows, int layer, float *out);
#endif
