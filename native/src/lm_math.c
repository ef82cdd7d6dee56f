/* The LM's row kernels and the steps the TypeScript-driven path calls one at a time (RMSNorm,
   SwiGLU, small products, RoPE with the cache write, attention), threaded on the persistent pool
   (pool.h) when a step is large enough; plus the pool helpers lm_blocks.c shares. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "lm.h"
#include "pool.h"
#include "simd.h"

#define PAR_MIN_FLOPS 200000.0 /* smaller steps run on the calling thread */

/* ---------------------------------------------------------------- row kernels */

static float dot(const float *a, const float *b, int n) {
  int i = 0;
  float s = 0.0f;
#ifdef SAELAB_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  s = saelab_reduce1(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

void lm_rmsnorm_rows(const float *x, int ldx, int rows, int dim, const float *w, float *out, int ldo, float eps) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * ldx;
    const float inv = 1.0f / sqrtf(dot(xr, xr, dim) / dim + eps);
    float *o = out + (size_t)r * ldo;
    for (int j = 0; j < dim; j++) o[j] = w[j] * (inv * xr[j]);
  }
}

void lm_norm_rows(const int32_t *L, const float *x, int ldx, int rows, const float *w, const float *b, float *out, int ldo) {
  const int dim = L[L_DIM];
  const float eps = lm_eps(L);
  if (!(L[L_FLAGS] & LF_LAYERNORM)) {
    lm_rmsnorm_rows(x, ldx, rows, dim, w, out, ldo, eps);
    return;
  }
  /* LayerNorm: sums in double (as the TypeScript twin), then each value rounded once before w and b. */
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * ldx;
    float *o = out + (size_t)r * ldo;
    double mean = 0.0, ss = 0.0;
    for (int j = 0; j < dim; j++) mean += xr[j];
    mean /= dim;
    for (int j = 0; j < dim; j++) ss += (xr[j] - mean) * (xr[j] - mean);
    const double inv = 1.0 / sqrt(ss / dim + eps);
    for (int j = 0; j < dim; j++) {
      const float n = (float)((xr[j] - mean) * inv);
      o[j] = b ? w[j] * n + b[j] : w[j] * n;
    }
  }
}

void lm_add_bias(float *y, int ldy, int rows, int n, const float *b) {
  if (!b) return;
  for (int r = 0; r < rows; r++) {
    float *yr = y + (size_t)r * ldy;
    for (int j = 0; j < n; j++) yr[j] += b[j];
  }
}

#ifdef SAELAB_AVX2
/* act(a) for eight lanes (every lane the same operations, so a value does not depend on its column):
   silu a / (1 + exp(-a)); the tanh GELU as a / (1 + exp(-2u)), u = sqrt(2/pi) (a + 0.044715 a^3),
   which is 0.5 a (1 + tanh u); the erf GELU as 0.5 a (1 + erf(a / sqrt 2)) with 1 + erf(z) =
   erfc(-z) from Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7), erfc(|z|) for z < 0, 2 - erfc(z)
   otherwise, so the small values of large negative a keep their relative accuracy. */
static inline __m256 act8(__m256 a, int act) {
  const __m256 one = _mm256_set1_ps(1.0f);
  if (act == ACT_SILU) return _mm256_div_ps(a, _mm256_add_ps(one, saelab_exp8(_mm256_sub_ps(_mm256_setzero_ps(), a))));
  if (act == ACT_GELU_TANH) {
    const __m256 a3 = _mm256_mul_ps(_mm256_mul_ps(a, a), a);
    const __m256 u2 = _mm256_mul_ps(_mm256_set1_ps(-1.5957691216057308f), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), a3, a));
    return _mm256_div_ps(a, _mm256_add_ps(one, saelab_exp8(u2)));
  }
  const __m256 z = _mm256_mul_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), a), _mm256_set1_ps(0.70710678118654752f));
  const __m256 t = _mm256_div_ps(one, _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), z, one));
  __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.061405429f), t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  const __m256 erfc = _mm256_mul_ps(_mm256_mul_ps(p, t), saelab_exp8(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), z), z)));
  const __m256 neg = _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_LT_OQ);
  const __m256 onep = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(2.0f), erfc), erfc, neg);
  return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), a), onep);
}
#endif

void lm_bias_act(const int32_t *L, float *y, int ldy, int rows, int n, const float *b) {
  const int act = LM_ACT(L);
#ifdef SAELAB_AVX2
  const __m256i tail = saelab_lane_mask(n % 8);
  for (int r = 0; r < rows; r++) {
    float *yr = y + (size_t)r * ldy;
    int j = 0;
    for (; j + 8 <= n; j += 8) {
      __m256 a = _mm256_loadu_ps(yr + j);
      if (b) a = _mm256_add_ps(a, _mm256_loadu_ps(b + j));
      _mm256_storeu_ps(yr + j, act8(a, act));
    }
    if (j < n) {
      __m256 a = _mm256_maskload_ps(yr + j, tail);
      if (b) a = _mm256_add_ps(a, _mm256_maskload_ps(b + j, tail));
      _mm256_maskstore_ps(yr + j, tail, act8(a, act));
    }
  }
#else
  for (int r = 0; r < rows; r++) {
    float *yr = y + (size_t)r * ldy;
    for (int j = 0; j < n; j++) {
      const float a = b ? yr[j] + b[j] : yr[j];
      if (act == ACT_GELU_ERF) yr[j] = 0.5f * a * (1.0f + erff(a * 0.70710678118654752f));
      else if (act == ACT_GELU_TANH) yr[j] = 0.5f * a * (1.0f + tanhf(0.7978845608028654f * (a + 0.044715f * a * a * a)));
      else yr[j] = a / (1.0f + expf(-a));
    }
  }
#endif
}

static void swiglu_rows(const float *h13, int rows, int hidden, float *out) {
  for (int r = 0; r < rows; r++) {
    const float *a = h13 + (size_t)r * 2 * hidden, *b = a + hidden;
    float *o = out + (size_t)r * hidden;
    for (int j = 0; j < hidden; j++) o[j] = (a[j] / (1.0f + expf(-a[j]))) * b[j];
  }
}

/* y [rows, out] = x [rows, in] @ W^T, W [out, in] unpacked: eight outputs share a pass over x. */
static void linear_rows(const float *x, int rows, int in, const float *W, int out, float *y) {
  int o = 0;
#ifdef SAELAB_AVX2
  const int full = in & ~7, rem = in - full;
  const __m256i mask = saelab_lane_mask(rem);
  for (; o + 8 <= out; o += 8) {
    const float *w0 = W + (size_t)o * in;
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * in;
      __m256 a[8];
      for (int q = 0; q < 8; q++) a[q] = _mm256_setzero_ps();
      int i = 0;
      for (; i < full; i += 8) {
        const __m256 xv = _mm256_loadu_ps(xr + i);
        for (int q = 0; q < 8; q++) a[q] = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + (size_t)q * in + i), xv, a[q]);
      }
      if (rem) {
        const __m256 xv = _mm256_maskload_ps(xr + i, mask);
        for (int q = 0; q < 8; q++) a[q] = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + (size_t)q * in + i, mask), xv, a[q]);
      }
      _mm256_storeu_ps(y + (size_t)r * out + o, saelab_reduce8(a));
    }
  }
#endif
  for (; o < out; o++)
    for (int r = 0; r < rows; r++) y[(size_t)r * out + o] = dot(x + (size_t)r * in, W + (size_t)o * in, in);
}

/* ---------------------------------------------------------------- pool helpers */

/* Threads for a step of `flops`: the calling thread alone when small. */
int lm_threads_for(double flops, int rows) { return flops < PAR_MIN_FLOPS || rows < 2 ? 1 : 0; }

typedef struct { lm_range_fn fn; void *ctx; int rows; const int64_t *prefix; } RangeJob;

/* The tid-th of n contiguous row ranges: equal rows, or equal weight when prefix (rows + 1 sums) is given. */
static void range_of(const RangeJob *j, int tid, int n, int *r0, int *r1) {
  if (!j->prefix) {
    int64_t lo, hi;
    saelab_split(j->rows, tid, n, 1, &lo, &hi);
    *r0 = (int)lo;
    *r1 = (int)hi;
    return;
  }
  int b[2];
  for (int s = 0; s < 2; s++) {
    const int64_t target = j->prefix[j->rows] * (tid + s) / n;
    int lo = 0, hi = j->rows; /* first i with prefix[i] >= target */
    while (lo < hi) { int m = (lo + hi) / 2; if (j->prefix[m] < target) lo = m + 1; else hi = m; }
    b[s] = tid + s == n ? j->rows : lo;
  }
  *r0 = b[0];
  *r1 = b[1];
}

static void range_task(void *ctx, int tid, int n) {
  const RangeJob *j = ctx;
  int r0, r1;
  range_of(j, tid, n, &r0, &r1);
  if (r1 > r0) j->fn(j->ctx, r0, r1);
}

void lm_run_rows(lm_range_fn fn, void *ctx, int rows, const int64_t *prefix, int nthreads) {
  if (rows <= 0) return;
  RangeJob j = { fn, ctx, rows, prefix };
  if (nthreads == 1) fn(ctx, 0, rows);
  else saelab_pool_run(range_task, &j, nthreads);
}

/* ---------------------------------------------------------------- standalone steps */

typedef struct { const float *x; int dim; const float *w; float *out; float eps; } RmsCtx;
static void rms_range(void *c, int r0, int r1) {
  RmsCtx *k = c;
  lm_rmsnorm_rows(k->x + (size_t)r0 * k->dim, k->dim, r1 - r0, k->dim, k->w, k->out + (size_t)r0 * k->dim, k->dim, k->eps);
}
void lm_rmsnorm(const float *x, int rows, int dim, const float *w, float *out, float eps) {
  RmsCtx ctx = { x, dim, w, out, eps };
  lm_run_rows(rms_range, &ctx, rows, NULL, lm_threads_for(8.0 * rows * dim, rows));
}

typedef struct { const float *h; int hid; float *out; } SwiCtx;
static void swi_range(void *c, int r0, int r1) {
  SwiCtx *k = c;
  swiglu_rows(k->h + (size_t)r0 * 2 * k->hid, r1 - r0, k->hid, k->out + (size_t)r0 * k->hid);
}
void lm_swiglu(const float *h13, int rows, int hidden, float *out) {
  SwiCtx ctx = { h13, hidden, out };
  lm_run_rows(swi_range, &ctx, rows, NULL, lm_threads_for(30.0 * rows * hidden, rows));
}

void lm_linear(const float *x, int rows, int in, const float *W, int out, float *y) { linear_rows(x, rows, in, W, out, y); }

typedef struct { const Pass *s; int layer; float *qkv; int stride; } RopeCtx;
static void rope_range(void *c, int r0, int r1) {
  RopeCtx *k = c;
  lm_rope_rows(k->s, k->layer, k->qkv + (size_t)r0 * k->stride, k->stride, r0, r1);
}
void lm_rope_store(const Pass *s, int layer, float *qkv) {
  RopeCtx ctx = { s, layer, qkv, lm_q_dim(s->L) + 2 * s->L[L_KV_DIM] };
  lm_run_rows(rope_range, &ctx, s->rows, NULL, lm_threads_for(4.0 * s->rows * ctx.stride, s->rows));
}

/* Per-row cost of attention and the matrix products after it, for splitting phase B. */
int64_t *lm_attention_prefix(const Pass *s, double *flops, int with_mlp) {
  const int32_t *L = s->L;
  const int64_t per_key = (int64_t)L[L_N_HEADS] * (4 * L[L_HEAD_SIZE] + 24);
  const int64_t base = 2 * (int64_t)L[L_DIM] * (L[L_DIM] + (with_mlp ? 3 * L[L_HIDDEN] : 0));
  int64_t *prefix = saelab_scratch(LM_SCRATCH_SHARED, sizeof(int64_t) * ((size_t)s->rows + 1));
  if (!prefix) return NULL;
  prefix[0] = 0;
  for (int r = 0; r < s->rows; r++) prefix[r + 1] = prefix[r] + base + per_key * (s->pos[r] + 1);
  *flops = (double)prefix[s->rows];
  return prefix;
}

typedef struct { const Pass *s; int layer; const float *qkv; float *out; int stride; int ok; } AttCtx;
static void att_range(void *c, int r0, int r1) {
  AttCtx *k = c;
  float *S = saelab_scratch(LM_SCRATCH_THREAD, sizeof(float) * lm_attn_scratch(k->s));
  if (!S) { k->ok = 0; return; }
  const int qd = lm_q_dim(k->s->L);
  lm_attend_rows(k->s, k->layer, k->qkv, k->stride, r0, r1, k->out + (size_t)r0 * qd, qd, S);
}
int lm_attention(const Pass *s, int layer, const float *qkv, float *out) {
  double flops;
  int64_t *prefix = lm_attention_prefix(s, &flops, 0);
  if (!prefix) return 0;
  AttCtx ctx = { s, layer, qkv, out, lm_q_dim(s->L) + 2 * s->L[L_KV_DIM], 1 };
  lm_run_rows(att_range, &ctx, s->rows, prefix, lm_threads_for(flops, s->rows));
  return ctx.ok;
}
