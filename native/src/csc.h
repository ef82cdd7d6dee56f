/* Column-ordered (latent-major) copies of a CSR and the register-blocked gather they feed, shared by
   the sparse product files. Walking latents instead of rows reads each weight row once per call
   instead of once per entry: at the SAE shape that is 48 MB instead of 800 MB from memory. */
#ifndef SAELAB_CSC_H
#define SAELAB_CSC_H
#include <math.h>
#include <string.h>
#include "pool.h"
#include "simd.h"
#include "sparse.h"

#define CB 64 /* columns per register block (8 AVX accumulators) */

typedef struct {
  int32_t *colPtr; /* [cols + 2]; entries of latent j at [colPtr[j], colPtr[j+1]) */
  int32_t *rowIdx; /* row of each entry, ascending within a latent */
  float *vals;
  int32_t *pos;    /* position of each entry in the CSR (when asked for) */
} saelab_csc;

/* Builds the CSC of rows [r0, r1) of s in scratch `slot` of the calling thread (a stable counting
   sort); returns 0, or -1 when out of memory. */
static inline int saelab_build_csc(const saelab_csr *s, int64_t r0, int64_t r1, int withPos, int slot, saelab_csc *c) {
  int64_t cols = s->cols, e0 = s->rowPtr[r0], e1 = s->rowPtr[r1], nnz = e1 - e0;
  size_t bytes = (size_t)(cols + 2) * 4 + (size_t)(nnz + 1) * (withPos ? 12 : 8) + 64;
  char *m = saelab_scratch(slot, bytes);
  if (!m) return -1;
  c->colPtr = (int32_t *)m;
  c->rowIdx = c->colPtr + cols + 2;
  c->vals = (float *)(c->rowIdx + nnz + 1);
  c->pos = withPos ? (int32_t *)(c->vals + nnz + 1) : NULL;
  int32_t *cp = c->colPtr;
  memset(cp, 0, (size_t)(cols + 2) * 4);
  for (int64_t e = e0; e < e1; e++) cp[s->colIdx[e] + 2]++;
  for (int64_t j = 0; j < cols; j++) cp[j + 2] += cp[j + 1];
  /* cp[j + 1] is now the start of latent j: use it as the cursor, leaving it at the start of j + 1. */
  for (int64_t r = r0; r < r1; r++)
    for (int64_t e = s->rowPtr[r]; e < s->rowPtr[r + 1]; e++) {
      int32_t q = cp[s->colIdx[e] + 1]++;
      c->rowIdx[q] = (int32_t)r;
      c->vals[q] = s->values[e];
      if (withPos) c->pos[q] = (int32_t)e;
    }
  return 0;
}

/* acc[0..w) = sum over the listed entries of val * src[idx * n + c0 ..], one FMA chain per column in
   entry order; w <= CB. */
static inline void saelab_gather_block(const int32_t *idx, const float *val, int64_t cnt, const float *src, int64_t n, int64_t c0, int64_t w, float *acc) {
  int64_t c = 0;
#ifdef SAELAB_AVX512
  if (w == CB && CB == 64) { /* the same FMA chain per column as below, 16 columns per instruction */
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t e = 0; e < cnt; e++) {
      const float *p = src + (int64_t)idx[e] * n + c0;
      if (c0 + 2 * CB <= n) {
        _mm_prefetch((const char *)(p + CB), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + CB + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + CB + 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + CB + 48), _MM_HINT_T0);
      }
      __m512 v = _mm512_set1_ps(val[e]);
      a0 = _mm512_fmadd_ps(v, _mm512_loadu_ps(p), a0);
      a1 = _mm512_fmadd_ps(v, _mm512_loadu_ps(p + 16), a1);
      a2 = _mm512_fmadd_ps(v, _mm512_loadu_ps(p + 32), a2);
      a3 = _mm512_fmadd_ps(v, _mm512_loadu_ps(p + 48), a3);
    }
    _mm512_storeu_ps(acc, a0); _mm512_storeu_ps(acc + 16, a1); _mm512_storeu_ps(acc + 32, a2); _mm512_storeu_ps(acc + 48, a3);
    return;
  }
#endif
#ifdef SAELAB_AVX2
  if (w == CB) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t e = 0; e < cnt; e++) {
      const float *p = src + (int64_t)idx[e] * n + c0;
      if (c0 + 2 * CB <= n) { /* the next block of the same rows comes next: fetch it now */
        _mm_prefetch((const char *)(p + CB), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + CB + 16), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + CB + 32), _MM_HINT_T0);
        _mm_prefetch((const char *)(p + CB + 48), _MM_HINT_T0);
      }
      __m256 v = _mm256_broadcast_ss(val + e);
      a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p), a0);
      a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 8), a1);
      a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 16), a2);
      a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 24), a3);
      a4 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 32), a4);
      a5 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 40), a5);
      a6 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 48), a6);
      a7 = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 56), a7);
    }
    _mm256_storeu_ps(acc, a0); _mm256_storeu_ps(acc + 8, a1); _mm256_storeu_ps(acc + 16, a2); _mm256_storeu_ps(acc + 24, a3);
    _mm256_storeu_ps(acc + 32, a4); _mm256_storeu_ps(acc + 40, a5); _mm256_storeu_ps(acc + 48, a6); _mm256_storeu_ps(acc + 56, a7);
    return;
  }
  for (; c + 8 <= w; c += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t e = 0; e < cnt; e++) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(val + e), _mm256_loadu_ps(src + (int64_t)idx[e] * n + c0 + c), a0);
    _mm256_storeu_ps(acc + c, a0);
  }
#endif
  for (; c < w; c++) {
    float a = 0;
    for (int64_t e = 0; e < cnt; e++) a = fmaf(val[e], src[(int64_t)idx[e] * n + c0 + c], a);
    acc[c] = a;
  }
}

/* Splits latents [0, cols) between threads by entry count. */
static inline void saelab_split_latents(const saelab_csc *c, int64_t cols, int tid, int nt, int64_t *j0, int64_t *j1) {
  saelab_split_weighted(c->colPtr, cols, tid, nt, j0, j1);
}

static inline int saelab_threads_for(double work) { return work < 65536 ? 1 : 0; }
#endif
