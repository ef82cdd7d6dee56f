/* LM kernels for saelab's Llama-architecture transformer: RMSNorm, rotary embedding with the KV-cache
   write, causal attention over the cache, SwiGLU, small matrix products and the fused attention and
   MLP blocks used for generation. Each has a TypeScript twin in src/lm/kernels.ts; the conformance
   test compares them.

   Determinism: every output element is computed by one thread in a fixed order, so results do not
   depend on thread timing. AVX2/FMA paths are used when the compiler targets them (-march=native);
   otherwise plain loops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>
#include "lm.h"
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define LM_AVX2 1
#endif

/* ---------------------------------------------------------------- vector helpers */

#ifdef LM_AVX2
/* exp(x) for 8 floats (Cephes-style range reduction and polynomial, about 1 ulp on [-87, 88]). */
static inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447505531f));
  __m256 fx = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f));
  fx = _mm256_floor_ps(fx);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, z, x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static inline float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

/* The eight horizontal sums of a0..a7, in order. */
static inline __m256 hsum8x8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
  __m256 t0 = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
  __m256 t1 = _mm256_hadd_ps(_mm256_hadd_ps(a4, a5), _mm256_hadd_ps(a6, a7));
  return _mm256_add_ps(_mm256_permute2f128_ps(t0, t1, 0x20), _mm256_permute2f128_ps(t0, t1, 0x31));
}

static inline __m256i tail_mask(int rem) {
  static const int32_t m[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
  return _mm256_loadu_si256((const __m256i *)(m + 8 - rem));
}
#endif

static float dot(const float *a, const float *b, int n) {
  int i = 0;
  float s = 0.0f;
#ifdef LM_AVX2
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  for (; i + 16 <= n; i += 16) {
    acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
  }
  for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
  s = hsum8(_mm256_add_ps(acc0, acc1));
#endif
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

/* y[i] += a * x[i] */
static inline void axpy(float *y, float a, const float *x, int n) {
  int i = 0;
#ifdef LM_AVX2
  __m256 va = _mm256_set1_ps(a);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
#endif
  for (; i < n; i++) y[i] += a * x[i];
}

/* x[i] = exp(x[i] - m); returns the sum. */
static float exp_shift_sum(float *x, int n, float m) {
  int i = 0;
  float s = 0.0f;
#ifdef LM_AVX2
  __m256 vm = _mm256_set1_ps(m), acc = _mm256_setzero_ps();
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), vm));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (i < n) {
    /* The tail through masked loads: scalar expf calls would cost more than the whole vector. */
    const __m256i mask = tail_mask(n - i);
    __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, mask), vm)), _mm256_castsi256_ps(mask));
    _mm256_maskstore_ps(x + i, mask, e);
    acc = _mm256_add_ps(acc, e);
    i = n;
  }
  s = hsum8(acc);
#endif
  for (; i < n; i++) { x[i] = expf(x[i] - m); s += x[i]; }
  return s;
}

static float vmax(const float *x, int n) {
  float m = -INFINITY;
  int i = 0;
#ifdef LM_AVX2
  if (n >= 8) {
    __m256 vm = _mm256_loadu_ps(x);
    for (i = 8; i + 8 <= n; i += 8) vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    /* Overlapping last vector instead of a scalar tail (max is idempotent). */
    if (i < n) { vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + n - 8)); i = n; }
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    m = _mm_cvtss_f32(s);
  }
#endif
  for (; i < n; i++) if (x[i] > m) m = x[i];
  return m;
}

/* ---------------------------------------------------------------- kernels */

static void rmsnorm_rows(const float *x, int rows, int dim, const float *w, float *out, float eps) {
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * dim;
    float ss = dot(xr, xr, dim);
    float inv = 1.0f / sqrtf(ss / dim + eps);
    float *o = out + (size_t)r * dim;
    for (int j = 0; j < dim; j++) o[j] = w[j] * (inv * xr[j]);
  }
}

/* y [rows, out] = x [rows, in] @ W^T, W [out, in]. Eight outputs at a time share one pass over x. */
static void linear_rows(const float *x, int rows, int in, const float *W, int out, float *y) {
  int o = 0;
#ifdef LM_AVX2
  const int full = in & ~7, rem = in - full;
  const __m256i mask = tail_mask(rem > 0 ? rem : 8);
  for (; o + 8 <= out; o += 8) {
    const float *w0 = W + (size_t)o * in;
    for (int r = 0; r < rows; r++) {
      const float *xr = x + (size_t)r * in;
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
      int i = 0;
      for (; i < full; i += 8) {
        __m256 xv = _mm256_loadu_ps(xr + i);
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + i), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + in + i), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + 2 * in + i), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + 3 * in + i), xv, a3);
        a4 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + 4 * in + i), xv, a4);
        a5 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + 5 * in + i), xv, a5);
        a6 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + 6 * in + i), xv, a6);
        a7 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + 7 * in + i), xv, a7);
      }
      if (rem) {
        __m256 xv = _mm256_maskload_ps(xr + i, mask);
        a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + i, mask), xv, a0);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + in + i, mask), xv, a1);
        a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + 2 * in + i, mask), xv, a2);
        a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + 3 * in + i, mask), xv, a3);
        a4 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + 4 * in + i, mask), xv, a4);
        a5 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + 5 * in + i, mask), xv, a5);
        a6 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + 6 * in + i, mask), xv, a6);
        a7 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + 7 * in + i, mask), xv, a7);
      }
      _mm256_storeu_ps(y + (size_t)r * out + o, hsum8x8(a0, a1, a2, a3, a4, a5, a6, a7));
    }
  }
#endif
  for (; o < out; o++)
    for (int r = 0; r < rows; r++) y[(size_t)r * out + o] = dot(x + (size_t)r * in, W + (size_t)o * in, in);
}

static void swiglu_rows(const float *h13, int rows, int hidden, float *out) {
  for (int r = 0; r < rows; r++) {
    const float *a = h13 + (size_t)r * 2 * hidden, *b = a + hidden;
    float *o = out + (size_t)r * hidden;
    int j = 0;
#ifdef LM_AVX2
    for (; j + 8 <= hidden; j += 8) {
      __m256 va = _mm256_loadu_ps(a + j);
      __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), va)));
      _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_div_ps(va, den), _mm256_loadu_ps(b + j)));
    }
#endif
    for (; j < hidden; j++) o[j] = (a[j] / (1.0f + expf(-a[j]))) * b[j];
  }
}


static inline size_t cache_off(const Step *s, int slot, int channel) {
  return (((size_t)s->layer * s->slots + slot) * s->L[L_KV_DIM] + channel) * (size_t)s->cap;
}

static void rope_store(const Step *s, float *qkv) {
  const int dim = s->L[L_DIM], kv = s->L[L_KV_DIM], hs = s->L[L_HEAD_SIZE], half = hs / 2;
  const int stride = dim + 2 * kv;
  for (int r = 0; r < s->rows; r++) {
    const int p = s->pos[r];
    float *q = qkv + (size_t)r * stride, *kk = q + dim, *vv = kk + kv;
    const float *cs = s->rope + (size_t)p * half * 2;
    float *kc = s->k + cache_off(s, s->slot[r], 0), *vc = s->v + cache_off(s, s->slot[r], 0);
    for (int j = 0; j < dim; j += 2) {
      const int i = (j % hs) / 2;
      const float c = cs[2 * i], sn = cs[2 * i + 1];
      const float q0 = q[j], q1 = q[j + 1];
      q[j] = q0 * c - q1 * sn;
      q[j + 1] = q0 * sn + q1 * c;
      if (j < kv) {
        const float k0 = kk[j], k1 = kk[j + 1];
        kc[(size_t)j * s->cap + p] = k0 * c - k1 * sn;
        kc[(size_t)(j + 1) * s->cap + p] = k0 * sn + k1 * c;
      }
    }
    for (int j = 0; j < kv; j++) vc[(size_t)j * s->cap + p] = vv[j];
  }
}

/* One query head over positions 0..n-1 of its key/value head: kc, vc are [hs][cap] (position
   fastest); sc is scratch of at least n + 8 floats; writes the head's hs outputs to o. */
static void attend_head(const float *q, const float *kc, const float *vc, int n, int cap, int hs, float scale, float *sc, float *o) {
  int t = 0;
#ifdef LM_AVX2
  const int nb = n & ~7, rem = n - nb;
  const __m256i mask = tail_mask(rem > 0 ? rem : 8);
  if (hs <= 64) {
    float qs[64];
    for (int d = 0; d < hs; d++) qs[d] = q[d] * scale;
    /* Four independent accumulators (32 positions) keep the FMA pipes busy despite each one's latency. */
    for (; t + 32 <= nb; t += 32) {
      __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
      for (int d = 0; d < hs; d++) {
        const __m256 qd = _mm256_broadcast_ss(qs + d);
        const float *kd = kc + (size_t)d * cap + t;
        a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd), a0);
        a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd + 8), a1);
        a2 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd + 16), a2);
        a3 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd + 24), a3);
      }
      _mm256_storeu_ps(sc + t, a0);
      _mm256_storeu_ps(sc + t + 8, a1);
      _mm256_storeu_ps(sc + t + 16, a2);
      _mm256_storeu_ps(sc + t + 24, a3);
    }
    for (; t < nb; t += 8) {
      __m256 acc = _mm256_setzero_ps();
      for (int d = 0; d < hs; d++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(qs + d), _mm256_loadu_ps(kc + (size_t)d * cap + t), acc);
      _mm256_storeu_ps(sc + t, acc);
    }
    if (rem) {
      __m256 acc = _mm256_setzero_ps();
      for (int d = 0; d < hs; d++) acc = _mm256_fmadd_ps(_mm256_broadcast_ss(qs + d), _mm256_maskload_ps(kc + (size_t)d * cap + t, mask), acc);
      _mm256_maskstore_ps(sc + t, mask, acc);
      t = n;
    }
  }
#endif
  for (; t < n; t++) {
    float acc = 0.0f;
    for (int d = 0; d < hs; d++) acc += q[d] * kc[(size_t)d * cap + t];
    sc[t] = acc * scale;
  }
  const float inv = 1.0f / exp_shift_sum(sc, n, vmax(sc, n));
  int d0 = 0;
#ifdef LM_AVX2
  for (; d0 + 8 <= hs; d0 += 8) {
    const float *v0 = vc + (size_t)d0 * cap;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    int u = 0;
    for (; u < nb; u += 8) {
      __m256 p = _mm256_loadu_ps(sc + u);
      a0 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + u), a0);
      a1 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + cap + u), a1);
      a2 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + 2 * (size_t)cap + u), a2);
      a3 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + 3 * (size_t)cap + u), a3);
      a4 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + 4 * (size_t)cap + u), a4);
      a5 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + 5 * (size_t)cap + u), a5);
      a6 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + 6 * (size_t)cap + u), a6);
      a7 = _mm256_fmadd_ps(p, _mm256_loadu_ps(v0 + 7 * (size_t)cap + u), a7);
    }
    if (rem) {
      __m256 p = _mm256_maskload_ps(sc + u, mask);
      a0 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + u, mask), a0);
      a1 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + cap + u, mask), a1);
      a2 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + 2 * (size_t)cap + u, mask), a2);
      a3 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + 3 * (size_t)cap + u, mask), a3);
      a4 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + 4 * (size_t)cap + u, mask), a4);
      a5 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + 5 * (size_t)cap + u, mask), a5);
      a6 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + 6 * (size_t)cap + u, mask), a6);
      a7 = _mm256_fmadd_ps(p, _mm256_maskload_ps(v0 + 7 * (size_t)cap + u, mask), a7);
    }
    _mm256_storeu_ps(o + d0, _mm256_mul_ps(hsum8x8(a0, a1, a2, a3, a4, a5, a6, a7), _mm256_set1_ps(inv)));
  }
#endif
  for (; d0 < hs; d0++) o[d0] = dot(sc, vc + (size_t)d0 * cap, n) * inv;
}

/* Attention for rows [r0, r1); scratch holds cap + 8 floats. */
static void attend_rows(const Step *s, const float *qkv, float *out, int r0, int r1, float *scratch) {
  const int dim = s->L[L_DIM], kv = s->L[L_KV_DIM], hs = s->L[L_HEAD_SIZE];
  const int nh = s->L[L_N_HEADS], mul = nh / s->L[L_N_KV_HEADS];
  const int stride = dim + 2 * kv, cap = s->cap;
  const float scale = 1.0f / sqrtf((float)hs);
  for (int r = r0; r < r1; r++) {
    const float *q = qkv + (size_t)r * stride;
    const float *kbase = s->k + cache_off(s, s->slot[r], 0), *vbase = s->v + cache_off(s, s->slot[r], 0);
    for (int h = 0; h < nh; h++) {
      const size_t kvo = (size_t)(h / mul) * hs * cap;
      attend_head(q + h * hs, kbase + kvo, vbase + kvo, s->pos[r] + 1, cap, hs, scale, scratch, out + (size_t)r * dim + h * hs);
    }
  }
}

typedef struct { const Step *s; const float *qkv; float *out; int r0, r1; float *scratch; } AttJob;
static void *attend_job(void *p) {
  AttJob *j = p;
  attend_rows(j->s, j->qkv, j->out, j->r0, j->r1, j->scratch);
  return NULL;
}

static int thread_count(void) {
  const char *e = getenv("SAELAB_THREADS");
  long n = e ? atol(e) : sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > 16) n = 16;
  return (int)n;
}

/* Runs fn over rows [0, rows) in contiguous chunks on up to thread_count() threads when the work
   (rows * cost_per_row) is large enough to pay for starting threads. */
typedef void (*rows_fn)(void *ctx, int r0, int r1);
typedef struct { rows_fn fn; void *ctx; int r0, r1; } RowsJob;
static void *rows_job(void *p) {
  RowsJob *j = p;
  if (j->r1 > j->r0) j->fn(j->ctx, j->r0, j->r1);
  return NULL;
}
static void parallel_rows(rows_fn fn, void *ctx, int rows, double cost_per_row) {
  int nt = (rows * cost_per_row < 262144.0 || rows < 2) ? 1 : thread_count();
  if (nt > rows) nt = rows;
  if (nt <= 1) { if (rows > 0) fn(ctx, 0, rows); return; }
  RowsJob jobs[16];
  pthread_t th[16];
  int started[16] = {0};
  for (int t = 0; t < nt; t++) jobs[t] = (RowsJob){ fn, ctx, (int)((long)rows * t / nt), (int)((long)rows * (t + 1) / nt) };
  for (int t = 1; t < nt; t++) started[t] = pthread_create(&th[t], NULL, rows_job, &jobs[t]) == 0;
  rows_job(&jobs[0]);
  for (int t = 1; t < nt; t++) {
    if (started[t]) pthread_join(th[t], NULL);
    else rows_job(&jobs[t]);
  }
}

typedef struct { const float *x; int dim; const float *w; float *out; float eps; } RmsCtx;
static void rms_range(void *c, int r0, int r1) {
  RmsCtx *k = c;
  rmsnorm_rows(k->x + (size_t)r0 * k->dim, r1 - r0, k->dim, k->w, k->out + (size_t)r0 * k->dim, k->eps);
}
typedef struct { const float *h; int hid; float *out; } SwiCtx;
static void swi_range(void *c, int r0, int r1) {
  SwiCtx *k = c;
  swiglu_rows(k->h + (size_t)r0 * 2 * k->hid, r1 - r0, k->hid, k->out + (size_t)r0 * k->hid);
}
typedef struct { const Step *s; float *qkv; } RopeCtx;
static void rope_range(void *c, int r0, int r1) {
  RopeCtx *k = c;
  Step sub = *k->s;
  sub.rows = r1 - r0;
  sub.slot += r0;
  sub.pos += r0;
  rope_store(&sub, k->qkv + (size_t)r0 * (sub.L[L_DIM] + 2 * sub.L[L_KV_DIM]));
}

/* Splits rows into contiguous chunks of about equal work (attention cost grows with position). */
static int attention(const Step *s, const float *qkv, float *out) {
  double work = 0;
  for (int r = 0; r < s->rows; r++) work += s->pos[r] + 1;
  work *= s->L[L_N_HEADS] * s->L[L_HEAD_SIZE];
  /* thread_count() costs a sysfs read, so small steps (generation) do not ask. */
  int nt = (work < 262144.0 || s->rows < 2) ? 1 : thread_count();
  if (nt > s->rows) nt = s->rows;
  float *scratch = malloc(sizeof(float) * (size_t)(s->cap + 8) * nt);
  if (!scratch) return 0;
  if (nt == 1) {
    attend_rows(s, qkv, out, 0, s->rows, scratch);
    free(scratch);
    return 1;
  }
  AttJob jobs[16];
  pthread_t th[16];
  double per = 0, target = 0, acc = 0;
  for (int r = 0; r < s->rows; r++) per += s->pos[r] + 1;
  per /= nt;
  int r = 0;
  for (int t = 0; t < nt; t++) {
    int r0 = r;
    target += per;
    while (r < s->rows && (t == nt - 1 || acc + s->pos[r] + 1 <= target + 0.5)) { acc += s->pos[r] + 1; r++; }
    jobs[t] = (AttJob){ s, qkv, out, r0, r, scratch + (size_t)t * (s->cap + 8) };
  }
  int started[16] = {0};
  for (int t = 1; t < nt; t++) started[t] = pthread_create(&th[t], NULL, attend_job, &jobs[t]) == 0;
  attend_job(&jobs[0]);
  for (int t = 1; t < nt; t++) {
    if (started[t]) pthread_join(th[t], NULL);
    else attend_job(&jobs[t]);
  }
  free(scratch);
  return 1;
}

static inline const float *P(const float *buf, const int32_t *L, int layer, int which) {
  return buf + L[L_LAYER0 + Y_PER_LAYER * layer + which];
}

static int attn_block(const Step *s, const float *buf, const float *x, float *out) {
  const int dim = s->L[L_DIM], kv = s->L[L_KV_DIM], rows = s->rows, l = s->layer;
  float *xb = malloc(sizeof(float) * (size_t)rows * (2 * dim + 2 * kv + dim));
  if (!xb) return 0;
  float *qkv = xb + (size_t)rows * dim, *att = qkv + (size_t)rows * (dim + 2 * kv);
  rmsnorm_rows(x, rows, dim, P(buf, s->L, l, Y_RMS_ATT), xb, RMS_EPS);
  linear_rows(xb, rows, dim, P(buf, s->L, l, Y_WQKV), dim + 2 * kv, qkv);
  rope_store(s, qkv);
  int ok = attention(s, qkv, att);
  if (ok) linear_rows(att, rows, dim, P(buf, s->L, l, Y_WO), dim, out);
  free(xb);
  return ok;
}

static int mlp_block(const int32_t *L, const float *buf, const float *x, int rows, int l, float *out) {
  const int dim = L[L_DIM], hid = L[L_HIDDEN];
  float *xb = malloc(sizeof(float) * (size_t)rows * (dim + 3 * hid));
  if (!xb) return 0;
  float *h13 = xb + (size_t)rows * dim, *hb = h13 + (size_t)rows * 2 * hid;
  rmsnorm_rows(x, rows, dim, P(buf, L, l, Y_RMS_FFN), xb, RMS_EPS);
  linear_rows(xb, rows, dim, P(buf, L, l, Y_W13), 2 * hid, h13);
  swiglu_rows(h13, rows, hid, hb);
  linear_rows(hb, rows, hid, P(buf, L, l, Y_W2), dim, out);
  free(xb);
  return 1;
}

/* ---------------------------------------------------------------- entry points */

void lm_rmsnorm(const float *x, int rows, int dim, const float *w, float *out, float eps) {
  RmsCtx ctx = { x, dim, w, out, eps };
  parallel_rows(rms_range, &ctx, rows, 2.0 * dim);
}

void lm_swiglu(const float *h13, int rows, int hidden, float *out) {
  SwiCtx ctx = { h13, hidden, out };
  parallel_rows(swi_range, &ctx, rows, 12.0 * hidden);
}

void lm_linear(const float *x, int rows, int in, const float *W, int out, float *y) { linear_rows(x, rows, in, W, out, y); }

void lm_rope_store(const Step *s, float *qkv) {
  RopeCtx ctx = { s, qkv };
  parallel_rows(rope_range, &ctx, s->rows, 2.0 * (s->L[L_DIM] + 2 * s->L[L_KV_DIM]));
}

int lm_attention(const Step *s, const float *qkv, float *out) { return attention(s, qkv, out); }
int lm_attn_block(const Step *s, const float *buf, const float *x, float *out) { return attn_block(s, buf, x, out); }
int lm_mlp_block(const int32_t *L, const float *buf, const float *x, int rows, int layer, float *out) { return mlp_block(L, buf, x, rows, layer, out); }
