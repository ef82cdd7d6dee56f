/* GEMM for a handful of rows (single-stream generation's matrix-vector products): reads B in place,
   no packing. Every output element is one fixed FMA chain (NN: over p in order; NT: eight lanes over
   p then a fixed reduction tree), whatever column block or thread computes it. */
#include <math.h>
#include <string.h>
#include "gemm.h"
#include "pool.h"
#include "simd.h"

static inline float finish(const saelab_gemm_args *g, float v, float *cp, int64_t j) {
  float s = g->colScale ? g->alpha * g->colScale[j] : g->alpha;
  float t = g->beta != 0 ? fmaf(v, s, g->beta * *cp) : v * s;
  return g->bias ? t + g->bias[j] : t;
}

#ifdef SAELAB_AVX2
static inline __m256 finish8(const saelab_gemm_args *g, __m256 v, float *cp, int64_t j) {
  __m256 s = g->colScale ? _mm256_mul_ps(_mm256_set1_ps(g->alpha), _mm256_loadu_ps(g->colScale + j)) : _mm256_set1_ps(g->alpha);
  __m256 t = g->beta != 0 ? _mm256_fmadd_ps(v, s, _mm256_mul_ps(_mm256_set1_ps(g->beta), _mm256_loadu_ps(cp))) : _mm256_mul_ps(v, s);
  return g->bias ? _mm256_add_ps(t, _mm256_loadu_ps(g->bias + j)) : t;
}

#endif

static void row_nn(const saelab_gemm_args *g, const float *x, float *c, int64_t j0, int64_t j1) {
  int64_t j = j0;
  const int64_t k = g->k, ldb = g->ldb;
#ifdef SAELAB_AVX2
  for (; j + 64 <= j1; j += 64) {
    __m256 acc[8];
    for (int q = 0; q < 8; q++) acc[q] = _mm256_setzero_ps();
    const float *bp = g->b + j;
    for (int64_t p = 0; p < k; p++, bp += ldb) {
      __m256 xv = _mm256_broadcast_ss(x + p);
      for (int q = 0; q < 8; q++) acc[q] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 8 * q), acc[q]);
    }
    for (int q = 0; q < 8; q++) _mm256_storeu_ps(c + j + 8 * q, finish8(g, acc[q], c + j + 8 * q, j + 8 * q));
  }
  for (; j + 32 <= j1; j += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    const float *bp = g->b + j;
    for (int64_t p = 0; p < k; p++, bp += ldb) {
      __m256 xv = _mm256_broadcast_ss(x + p);
      a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp), a0);
      a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 8), a1);
      a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 16), a2);
      a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 24), a3);
    }
    _mm256_storeu_ps(c + j, finish8(g, a0, c + j, j));
    _mm256_storeu_ps(c + j + 8, finish8(g, a1, c + j + 8, j + 8));
    _mm256_storeu_ps(c + j + 16, finish8(g, a2, c + j + 16, j + 16));
    _mm256_storeu_ps(c + j + 24, finish8(g, a3, c + j + 24, j + 24));
  }
  for (; j + 8 <= j1; j += 8) {
    __m256 a0 = _mm256_setzero_ps();
    const float *bp = g->b + j;
    for (int64_t p = 0; p < k; p++, bp += ldb) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x + p), _mm256_loadu_ps(bp), a0);
    _mm256_storeu_ps(c + j, finish8(g, a0, c + j, j));
  }
#endif
  for (; j < j1; j++) {
    float acc = 0;
    for (int64_t p = 0; p < k; p++) acc = fmaf(x[p], g->b[p * ldb + j], acc);
    c[j] = finish(g, acc, c + j, j);
  }
}

static void row_nt(const saelab_gemm_args *g, const float *x, float *c, int64_t j0, int64_t j1) {
  int64_t j = j0;
  const int64_t k = g->k, ldb = g->ldb;
#ifdef SAELAB_AVX2
  __m256i tail = saelab_lane_mask(k & 7);
  for (; j + 8 <= j1; j += 8) {
    /* Eight rows of B at once: one load of x feeds eight independent chains. Lane sums are the
       same as saelab_dot_lanes computes for one row. */
    const float *y = g->b + j * ldb;
    __m256 v[8];
    for (int q = 0; q < 8; q++) v[q] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
      __m256 xv = _mm256_loadu_ps(x + p);
      for (int q = 0; q < 8; q++) v[q] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(y + q * ldb + p), v[q]);
    }
    if (p < k) {
      __m256 xv = _mm256_maskload_ps(x + p, tail);
      for (int q = 0; q < 8; q++) v[q] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(y + q * ldb + p, tail), v[q]);
    }
    _mm256_storeu_ps(c + j, finish8(g, saelab_reduce8(v), c + j, j));
  }
  for (; j < j1; j++) c[j] = finish(g, saelab_reduce1(saelab_dot_lanes(x, g->b + j * ldb, k, tail)), c + j, j);
#else
  for (; j < j1; j++) {
    float lanes[8] = {0};
    const float *y = g->b + j * ldb;
    for (int64_t p = 0; p < k; p++) lanes[p & 7] = fmaf(x[p], y[p], lanes[p & 7]);
    c[j] = finish(g, saelab_reduce_lanes(lanes), c + j, j);
  }
#endif
}

/* All rows at once while B streams through row by row (a strided column-block walk over a big B
   touches a new page per row, and reads B once per row of A). Each element is the same chain over p
   as row_nn's. Returns -1 when out of scratch memory. */
static int rows_nn_stream(const saelab_gemm_args *g, int64_t j0, int64_t j1) {
  const int64_t w = j1 - j0, m = g->m, k = g->k;
  float *acc = saelab_scratch(SAELAB_SCRATCH_GEMM_ROW, (size_t)(m * w) * sizeof(float) + 64);
  if (!acc) return -1;
  memset(acc, 0, (size_t)(m * w) * sizeof(float));
  for (int64_t p = 0; p < k; p++) {
    const float *bp = g->b + p * g->ldb + j0;
    float xs[SAELAB_GEMM_SMALL_M];
    for (int64_t i = 0; i < m; i++) xs[i] = g->transA ? g->a[p * g->lda + i] : g->a[i * g->lda + p];
    int64_t j = 0;
#ifdef SAELAB_AVX2
    for (; j + 8 <= w; j += 8) {
      __m256 b = _mm256_loadu_ps(bp + j);
      for (int64_t i = 0; i < m; i++) _mm256_storeu_ps(acc + i * w + j, _mm256_fmadd_ps(_mm256_set1_ps(xs[i]), b, _mm256_loadu_ps(acc + i * w + j)));
    }
#endif
    for (; j < w; j++)
      for (int64_t i = 0; i < m; i++) acc[i * w + j] = fmaf(xs[i], bp[j], acc[i * w + j]);
  }
  for (int64_t i = 0; i < m; i++) {
    float *c = g->c + i * g->ldc, *ar = acc + i * w;
    int64_t j = 0;
#ifdef SAELAB_AVX2
    for (; j + 8 <= w; j += 8) _mm256_storeu_ps(c + j0 + j, finish8(g, _mm256_loadu_ps(ar + j), c + j0 + j, j0 + j));
#endif
    for (; j < w; j++) c[j0 + j] = finish(g, ar[j], c + j0 + j, j0 + j);
  }
  return 0;
}

void saelab_sgemm_small(const saelab_gemm_args *g, int64_t j0, int64_t j1) {
  /* Streaming pays when B (this slice of it) is read once for several rows, or is far beyond L2. */
  double slice = (double)g->k * (double)(j1 - j0);
  if (!g->transB && (slice > 4194304.0 / 4 || (g->m > 1 && slice > 131072.0)) && rows_nn_stream(g, j0, j1) == 0) return;
  float *col = NULL;
  if (g->transA) col = saelab_scratch(SAELAB_SCRATCH_GEMM_COL, (size_t)g->k * sizeof(float) + 64);
  for (int64_t i = 0; i < g->m; i++) {
    const float *x = g->a + i * g->lda;
    if (g->transA) {
      if (col) {
        for (int64_t p = 0; p < g->k; p++) col[p] = g->a[p * g->lda + i];
        x = col;
      } else {
        /* Out of scratch memory: a slow path that needs none. */
        for (int64_t j = j0; j < j1; j++) {
          float acc = 0;
          for (int64_t p = 0; p < g->k; p++) acc = fmaf(g->a[p * g->lda + i], g->transB ? g->b[j * g->ldb + p] : g->b[p * g->ldb + j], acc);
          float *cp = g->c + i * g->ldc + j;
          *cp = finish(g, acc, cp, j);
        }
        continue;
      }
    }
    if (g->transB) row_nt(g, x, g->c + i * g->ldc, j0, j1);
    else row_nn(g, x, g->c + i * g->ldc, j0, j1);
  }
}
