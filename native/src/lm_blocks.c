/* The fused blocks that run whole layers, on the persistent thread pool (pool.h). A large pass is
   split into contiguous row ranges, one per thread, processed in chunks of CHUNK rows so that a
   chunk's intermediates stay in cache:
     phase A (rows split evenly): RMSNorm, the qkv product, RoPE and the KV-cache write;
     phase B (rows split by attention cost): attention, the output product and its residual add,
       then the MLP (RMSNorm, w1/w3 with SwiGLU, w2 and its residual add).
   With a parallel residual (GPT-NeoX) phase B runs both branches on the block's input and adds their
   sum. Attention needs every row's keys, so phase B starts when phase A has finished on all threads. A
   pass of many sequences instead gives each thread whole sequences through all layers.
   Every row's operations are the same however the rows are split (see lm.h). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "lm.h"
#include "pool.h"

#define CHUNK 48

static inline const float *W(const float *buf, const int32_t *L, int layer, int which) { return buf + L[L_LAYER0 + Y_PER_LAYER * layer + which]; }

typedef struct {
  const Pass *s;
  int layer;
  const float *buf, *packed;
  const float *x;  /* residual input (phase A; MLP-only) */
  float *xio;      /* residual updated in place (layers), or NULL */
  float *out;      /* branch output (attn/mlp block), or NULL */
  float *q;        /* [rows, dim] rotated queries (shared) */
  int mlp;         /* phase B also runs the MLP */
  int ok;
} BlockCtx;

/* Per-thread buffers for CHUNK rows: xb [dim], qkv [dim + 2 kv], att [dim], hb [hidden], attention scratch. */
static float *chunk_scratch(const Pass *s, const int32_t *L, float **xb, float **qkv, float **att, float **hb, float **S) {
  const size_t dim = L[L_DIM], kv = L[L_KV_DIM], hid = L[L_HIDDEN];
  const size_t a = CHUNK * dim, b = CHUNK * (dim + 2 * kv), c = CHUNK * dim, d = CHUNK * hid + 8, e = s ? lm_attn_scratch(s) : 0;
  float *base = saelab_scratch(LM_SCRATCH_THREAD, sizeof(float) * (a + b + c + d + e + 64));
  if (!base) return NULL;
  *xb = base;
  *qkv = *xb + a;
  *att = *qkv + b;
  *hb = *att + c;
  *S = *hb + d;
  return base;
}

/* Phase A: RMSNorm, qkv, RoPE and the cache write; rotated queries to ctx->q. */
static void phase_a(void *c, int r0, int r1) {
  BlockCtx *k = c;
  const Pass *s = k->s;
  const int32_t *L = s->L;
  const int dim = L[L_DIM], stride = dim + 2 * L[L_KV_DIM], l = k->layer;
  float *xb, *qkv, *att, *hb, *S;
  if (!chunk_scratch(NULL, L, &xb, &qkv, &att, &hb, &S)) { k->ok = 0; return; }
  const float *x = k->xio ? k->xio : k->x;
  for (int c0 = r0; c0 < r1; c0 += CHUNK) {
    const int n = r1 - c0 < CHUNK ? r1 - c0 : CHUNK;
    lm_norm_rows(L, x + (size_t)c0 * dim, dim, n, W(k->buf, L, l, Y_RMS_ATT), lm_opt(k->buf, L, l, Y_LN1_B), xb, dim);
    lm_mm_cols(xb, dim, n, dim, k->packed + lm_packed_off(L, l, P_QKV), stride, qkv, stride, MM_STORE);
    lm_add_bias(qkv, stride, n, stride, lm_opt(k->buf, L, l, Y_BQKV));
    lm_rope_rows(s, l, qkv, stride, c0, c0 + n);
    for (int i = 0; i < n; i++) memcpy(k->q + (size_t)(c0 + i) * dim, qkv + (size_t)i * stride, sizeof(float) * dim);
  }
}

/* y (mode)= the product x W^T plus bias b: with a bias and MM_ADD the branch is rounded (stored in
   tmp, biased) before the residual add, as the TypeScript path computes it. */
static void mm_bias(const float *x, int ldx, int n, int k, const float *P, int m, float *y, int mode, const float *b, float *tmp) {
  if (!b) {
    lm_mm_cols(x, ldx, n, k, P, m, y, m, mode);
    return;
  }
  float *dst = mode == MM_ADD ? tmp : y;
  lm_mm_cols(x, ldx, n, k, P, m, dst, m, MM_STORE);
  lm_add_bias(dst, m, n, m, b);
  if (mode == MM_ADD) for (size_t i = 0; i < (size_t)n * m; i++) y[i] += tmp[i];
}

static void mlp_rows(const int32_t *L, int l, const float *buf, const float *packed, const float *x, int n, float *y, int mode, float *xb, float *hb) {
  const int dim = L[L_DIM], hid = L[L_HIDDEN];
  lm_norm_rows(L, x, dim, n, W(buf, L, l, Y_RMS_FFN), lm_opt(buf, L, l, Y_LN2_B), xb, dim);
  if (L[L_FLAGS] & LF_GATED) {
    lm_mm_cols(xb, dim, n, dim, packed + lm_packed_off(L, l, P_W13), hid, hb, hid, MM_SWIGLU);
  } else {
    lm_mm_cols(xb, dim, n, dim, packed + lm_packed_off(L, l, P_W13), hid, hb, hid, MM_STORE);
    lm_bias_act(L, hb, hid, n, hid, lm_opt(buf, L, l, Y_BIN));
  }
  /* xb is free again: it holds the biased branch before a residual add. */
  mm_bias(hb, hid, n, hid, packed + lm_packed_off(L, l, P_W2), dim, y, mode, lm_opt(buf, L, l, Y_BOUT), xb);
}

/* Phase B: attention, wo (added to the residual, or stored as the branch), then the MLP when asked. */
static void phase_b(void *c, int r0, int r1) {
  BlockCtx *k = c;
  const Pass *s = k->s;
  const int32_t *L = s->L;
  const int dim = L[L_DIM], l = k->layer;
  float *xb, *qkv, *att, *hb, *S;
  if (!chunk_scratch(s, L, &xb, &qkv, &att, &hb, &S)) { k->ok = 0; return; }
  for (int c0 = r0; c0 < r1; c0 += CHUNK) {
    const int n = r1 - c0 < CHUNK ? r1 - c0 : CHUNK;
    lm_attend_rows(s, l, k->q, dim, c0, c0 + n, att, dim, S);
    const float *bo = lm_opt(k->buf, L, l, Y_BO);
    if (k->xio && k->mlp && (L[L_FLAGS] & LF_PARALLEL)) {
      /* Both branches read the block's input; the sum of the branches is added to the residual in
         double and rounded once, as the TypeScript path (JavaScript numbers) adds them, so hooked and
         fused passes give the same bits. qkv is free in phase B (the queries are in k->q), and att
         once the output product has read it. */
      float *xr = k->xio + (size_t)c0 * dim;
      mm_bias(att, dim, n, dim, k->packed + lm_packed_off(L, l, P_WO), dim, qkv, MM_STORE, bo, NULL);
      mlp_rows(L, l, k->buf, k->packed, xr, n, att, MM_STORE, xb, hb);
      for (size_t i = 0; i < (size_t)n * dim; i++) xr[i] = (float)((double)xr[i] + ((double)att[i] + (double)qkv[i]));
    } else if (k->xio) {
      float *xr = k->xio + (size_t)c0 * dim;
      mm_bias(att, dim, n, dim, k->packed + lm_packed_off(L, l, P_WO), dim, xr, MM_ADD, bo, xb);
      if (k->mlp) mlp_rows(L, l, k->buf, k->packed, xr, n, xr, MM_ADD, xb, hb);
    } else {
      mm_bias(att, dim, n, dim, k->packed + lm_packed_off(L, l, P_WO), dim, k->out + (size_t)c0 * dim, MM_STORE, bo, xb);
    }
  }
}

static void mlp_only(void *c, int r0, int r1) {
  BlockCtx *k = c;
  const int32_t *L = k->s->L;
  const int dim = L[L_DIM];
  float *xb, *qkv, *att, *hb, *S;
  if (!chunk_scratch(NULL, L, &xb, &qkv, &att, &hb, &S)) { k->ok = 0; return; }
  for (int c0 = r0; c0 < r1; c0 += CHUNK) {
    const int n = r1 - c0 < CHUNK ? r1 - c0 : CHUNK;
    mlp_rows(L, k->layer, k->buf, k->packed, k->x + (size_t)c0 * dim, n, k->out + (size_t)c0 * dim, MM_STORE, xb, hb);
  }
}

/* Floating-point work of phase A per row. */
static double phase_a_flops(const int32_t *L) { return 2.0 * L[L_DIM] * (L[L_DIM] + 2 * L[L_KV_DIM]); }

/* Runs one layer's attention (and MLP when ctx->mlp) for every row. */
static int run_layer(BlockCtx *ctx) {
  const Pass *s = ctx->s;
  ctx->q = saelab_scratch(LM_SCRATCH_QALL, sizeof(float) * ((size_t)s->rows * s->L[L_DIM] + 8));
  if (!ctx->q) return 0;
  double flops_b;
  int64_t *prefix = lm_attention_prefix(s, &flops_b, ctx->mlp);
  if (!prefix) return 0;
  lm_run_rows(phase_a, ctx, s->rows, NULL, lm_threads_for(phase_a_flops(s->L) * s->rows, s->rows));
  if (!ctx->ok) return 0;
  lm_run_rows(phase_b, ctx, s->rows, prefix, lm_threads_for(flops_b, s->rows));
  return ctx->ok;
}

/* ---- whole sequences per thread: with enough independent sequences in a pass, each thread takes
   one sequence at a time (a shared counter hands them out, so a thread slowed by other work on the
   machine takes fewer) and runs all its layers with no barrier in between. */

/* The pass's runs (rows of one slot at consecutive positions) as boundaries runs[0..n], or NULL
   (free()d by the caller) when a slot appears in two runs, whose rows would depend on each other. */
static int *find_runs(const Pass *s, int *n) {
  int *runs = malloc(sizeof(int) * ((size_t)s->rows + 1));
  unsigned char *seen = calloc((size_t)s->slots, 1);
  if (!runs || !seen) { free(runs); free(seen); return NULL; }
  int k = 0;
  for (int r = 0; r < s->rows; r++) {
    if (r > 0 && s->slot[r] == s->slot[r - 1] && s->pos[r] == s->pos[r - 1] + 1) continue;
    if (seen[s->slot[r]]) { free(runs); free(seen); return NULL; }
    seen[s->slot[r]] = 1;
    runs[k++] = r;
  }
  runs[k] = s->rows;
  free(seen);
  *n = k;
  return runs;
}

typedef struct {
  BlockCtx base;
  int from, to;
  const int *runs;
  int nruns;
  atomic_int next, ok;
} SeqCtx;

static void seq_task(void *c, int tid, int nt) {
  SeqCtx *k = c;
  const int dim = k->base.s->L[L_DIM];
  for (;;) {
    const int i = atomic_fetch_add_explicit(&k->next, 1, memory_order_relaxed);
    if (i >= k->nruns) return;
    const int r0 = k->runs[i], n = k->runs[i + 1] - r0;
    Pass sub = *k->base.s;
    sub.rows = n;
    sub.slot += r0;
    sub.pos += r0;
    BlockCtx b = k->base;
    b.s = &sub;
    b.q = saelab_scratch(LM_SCRATCH_QRUN, sizeof(float) * ((size_t)n * dim + 8));
    if (!b.q) { atomic_store(&k->ok, 0); return; }
    if (b.x) b.x += (size_t)r0 * dim;
    if (b.xio) b.xio += (size_t)r0 * dim;
    if (b.out) b.out += (size_t)r0 * dim;
    for (int l = k->from; l < k->to && b.ok; l++) {
      b.layer = l;
      phase_a(&b, 0, n);
      if (b.ok) phase_b(&b, 0, n);
    }
    if (!b.ok) { atomic_store(&k->ok, 0); return; }
  }
}

/* Runs layers from..to-1 (ctx->mlp: whole blocks on ctx->xio; else the attention block into ctx->out)
   a sequence per thread when the pass has enough of them; returns -1 when it does not (the caller
   then goes layer by layer), else 1 or 0 (out of memory). */
static int by_sequence(BlockCtx *ctx, int from, int to) {
  const Pass *s = ctx->s;
  const int32_t *L = s->L;
  const double per_row = phase_a_flops(L) + 2.0 * L[L_DIM] * (L[L_DIM] + 3 * L[L_HIDDEN]);
  if (lm_threads_for(per_row * s->rows * (to - from), s->rows) == 1) return -1;
  int n = 0;
  int *runs = find_runs(s, &n);
  if (!runs) return -1;
  if (n < 2 * saelab_pool_threads()) { free(runs); return -1; }
  SeqCtx k = { .base = *ctx, .from = from, .to = to, .runs = runs, .nruns = n };
  atomic_init(&k.next, 0);
  atomic_init(&k.ok, 1);
  saelab_pool_run(seq_task, &k, 0);
  free(runs);
  return atomic_load(&k.ok);
}

int lm_attn_block(const Pass *s, int layer, const float *buf, const float *packed, const float *x, float *out) {
  BlockCtx ctx = { .s = s, .layer = layer, .buf = buf, .packed = packed, .x = x, .out = out, .ok = 1 };
  const int done = by_sequence(&ctx, layer, layer + 1);
  return done >= 0 ? done : run_layer(&ctx);
}

int lm_layers(const Pass *s, int from, int to, const float *buf, const float *packed, float *x) {
  BlockCtx base = { .s = s, .buf = buf, .packed = packed, .xio = x, .mlp = 1, .ok = 1 };
  const int done = by_sequence(&base, from, to);
  if (done >= 0) return done;
  for (int l = from; l < to; l++) {
    BlockCtx ctx = base;
    ctx.layer = l;
    if (!run_layer(&ctx)) return 0;
  }
  return 1;
}

int lm_mlp_block(const int32_t *L, int layer, const float *buf, const float *packed, const float *x, int rows, float *out) {
  Pass p = { .L = L, .rows = rows };
  BlockCtx ctx = { .s = &p, .layer = layer, .buf = buf, .packed = packed, .x = x, .out = out, .ok = 1 };
  lm_run_rows(mlp_only, &ctx, rows, NULL, lm_threads_for(6.0 * L[L_DIM] * L[L_HIDDEN] * rows, rows));
  return ctx.ok;
}

typedef struct { const int32_t *L; const float *P; const float *x; float *out; } ClsCtx;
static void cls_range(void *c, int r0, int r1) {
  ClsCtx *k = c;
  const int dim = k->L[L_DIM], V = k->L[L_VOCAB];
  lm_mm_cols(k->x + (size_t)r0 * dim, dim, r1 - r0, dim, k->P, V, k->out + (size_t)r0 * V, V, MM_STORE);
}
void lm_classify(const int32_t *L, const float *packed, const float *x, int rows, float *out) {
  ClsCtx ctx = { L, packed + lm_packed_off(L, L[L_N_LAYERS], 0), x, out };
  lm_run_rows(cls_range, &ctx, rows, NULL, lm_threads_for(2.0 * L[L_DIM] * L[L_VOCAB] * rows, rows));
}
