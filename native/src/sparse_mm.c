/* Sparse-dense products that touch only the stored entries: spmm (decoding), sddmm (the gradient of
   the latent values), spmmT and spmmTCols (decoder and encoder weight gradients, through a
   column-ordered copy of the CSR so that each latent's rows are summed by one thread). Every output
   element is one FMA chain over its entries in ascending order, whatever thread computes it. */
#include <math.h>
#include <string.h>
#include "pool.h"
#include "simd.h"
#include "sparse.h"

#define CB 64 /* columns per register block (8 AVX accumulators) */

/* acc[0..w) = sum over the listed entries of val * src[idx * n + c0 ..]; w <= CB. */
static inline void gather_block(const int32_t *idx, const float *val, int64_t cnt, const float *src, int64_t n, int64_t c0, int64_t w, float *acc) {
  int64_t c = 0;
#ifdef SAELAB_AVX2
  if (w == CB) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t e = 0; e < cnt; e++) {
      const float *p = src + (int64_t)idx[e] * n + c0;
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
    _mm256_store_ps(acc, a0); _mm256_store_ps(acc + 8, a1); _mm256_store_ps(acc + 16, a2); _mm256_store_ps(acc + 24, a3);
    _mm256_store_ps(acc + 32, a4); _mm256_store_ps(acc + 40, a5); _mm256_store_ps(acc + 48, a6); _mm256_store_ps(acc + 56, a7);
    return;
  }
  for (; c + 8 <= w; c += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t e = 0; e < cnt; e++) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(val + e), _mm256_loadu_ps(src + (int64_t)idx[e] * n + c0 + c), a0);
    _mm256_store_ps(acc + c, a0);
  }
#endif
  for (; c < w; c++) {
    float a = 0;
    for (int64_t e = 0; e < cnt; e++) a = fmaf(val[e], src[(int64_t)idx[e] * n + c0 + c], a);
    acc[c] = a;
  }
}

/* ---- spmm ---- */
typedef struct { const saelab_csr *s; const float *w, *a; int64_t n; float *out; int accumulate; } mm_job;

static void spmm_task(void *ctx, int tid, int nt) {
  mm_job *J = ctx;
  const saelab_csr *s = J->s;
  int64_t r0, r1, n = J->n;
  saelab_split_weighted(s->rowPtr, s->rows, tid, nt, &r0, &r1);
  float acc[CB] __attribute__((aligned(32)));
  for (int64_t r = r0; r < r1; r++) {
    int64_t e0 = s->rowPtr[r], cnt = s->rowPtr[r + 1] - e0;
    float *o = J->out + r * n;
    for (int64_t c0 = 0; c0 < n; c0 += CB) {
      int64_t w = n - c0 < CB ? n - c0 : CB;
      gather_block(s->colIdx + e0, s->values + e0, cnt, J->w, n, c0, w, acc);
      if (J->accumulate) for (int64_t c = 0; c < w; c++) o[c0 + c] += acc[c];
      else memcpy(o + c0, acc, (size_t)w * sizeof(float));
    }
  }
}

static int threads_for(double work) { return work < 65536 ? 1 : 0; }

void saelab_spmm(const saelab_csr *s, const float *w, int64_t n, float *out, int accumulate) {
  mm_job J = {s, w, NULL, n, out, accumulate};
  saelab_pool_run(spmm_task, &J, threads_for((double)(s->rowPtr[s->rows] - s->rowPtr[0]) * n + (double)s->rows * n));
}

/* ---- sddmm ---- */
static void sddmm_task(void *ctx, int tid, int nt) {
  mm_job *J = ctx;
  const saelab_csr *s = J->s;
  int64_t r0, r1, n = J->n;
  saelab_split_weighted(s->rowPtr, s->rows, tid, nt, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const float *x = J->a + r * n;
    int64_t e = s->rowPtr[r], e1 = s->rowPtr[r + 1];
#ifdef SAELAB_AVX2
    __m256i tail = saelab_lane_mask(n & 7);
    for (; e + 8 <= e1; e += 8) {
      __m256 v[8];
      for (int q = 0; q < 8; q++) v[q] = saelab_dot_lanes(x, J->w + (int64_t)s->colIdx[e + q] * n, n, tail);
      _mm256_storeu_ps(J->out + e, saelab_reduce8(v));
    }
    for (; e < e1; e++) J->out[e] = saelab_reduce1(saelab_dot_lanes(x, J->w + (int64_t)s->colIdx[e] * n, n, tail));
#else
    for (; e < e1; e++) {
      float lanes[8] = {0};
      const float *y = J->w + (int64_t)s->colIdx[e] * n;
      for (int64_t p = 0; p < n; p++) lanes[p & 7] = fmaf(x[p], y[p], lanes[p & 7]);
      J->out[e] = saelab_reduce_lanes(lanes);
    }
#endif
  }
}

void saelab_sddmm(const saelab_csr *s, const float *a, const float *w, int64_t n, float *outValues) {
  mm_job J = {s, w, a, n, outValues, 0};
  saelab_pool_run(sddmm_task, &J, threads_for((double)(s->rowPtr[s->rows] - s->rowPtr[0]) * n));
}

/* ---- transposed products through a column-ordered copy ---- */
typedef struct {
  const saelab_csr *s;
  const float *a;
  int64_t n;
  float *out;
  const int32_t *colPtr; /* [cols + 1] */
  const int32_t *rowIdx; /* [nnz] rows of each latent's entries, ascending */
  const float *vals;
  int cols_layout;
  int failed;
} t_job;

/* Builds the column-ordered copy (a stable counting sort); returns 0 or -1 when out of memory. */
static int transpose_csr(const saelab_csr *s, t_job *J) {
  int64_t cols = s->cols, e0 = s->rowPtr[0], nnz = s->rowPtr[s->rows] - e0;
  int32_t *colPtr = saelab_scratch(4, (size_t)(cols + 1) * sizeof(int32_t));
  int32_t *pos = saelab_scratch(5, (size_t)(cols + 1) * sizeof(int32_t));
  int32_t *rowIdx = saelab_scratch(6, (size_t)(nnz + 1) * sizeof(int32_t));
  float *vals = saelab_scratch(7, (size_t)(nnz + 1) * sizeof(float));
  if (!colPtr || !pos || !rowIdx || !vals) return -1;
  memset(colPtr, 0, (size_t)(cols + 1) * sizeof(int32_t));
  for (int64_t e = e0; e < e0 + nnz; e++) colPtr[s->colIdx[e] + 1]++;
  for (int64_t j = 0; j < cols; j++) colPtr[j + 1] += colPtr[j];
  memcpy(pos, colPtr, (size_t)cols * sizeof(int32_t));
  for (int64_t r = 0; r < s->rows; r++)
    for (int64_t e = s->rowPtr[r]; e < s->rowPtr[r + 1]; e++) {
      int32_t q = pos[s->colIdx[e]]++;
      rowIdx[q] = (int32_t)r;
      vals[q] = s->values[e];
    }
  J->colPtr = colPtr;
  J->rowIdx = rowIdx;
  J->vals = vals;
  return 0;
}

static void spmmT_task(void *ctx, int tid, int nt) {
  t_job *J = ctx;
  int64_t j0, j1, n = J->n;
  saelab_split_weighted(J->colPtr, J->s->cols, tid, nt, &j0, &j1);
  float acc[CB] __attribute__((aligned(32)));
  for (int64_t j = j0; j < j1; j++) {
    int64_t e0 = J->colPtr[j], cnt = J->colPtr[j + 1] - e0;
    if (cnt == 0) continue;
    float *o = J->out + j * n;
    for (int64_t c0 = 0; c0 < n; c0 += CB) {
      int64_t w = n - c0 < CB ? n - c0 : CB;
      gather_block(J->rowIdx + e0, J->vals + e0, cnt, J->a, n, c0, w, acc);
      for (int64_t c = 0; c < w; c++) o[c0 + c] += acc[c];
    }
  }
}

#define JB 16 /* latents per block in spmmTCols: each output row gets 16 contiguous floats */

static void spmmT_cols_task(void *ctx, int tid, int nt) {
  t_job *J = ctx;
  int64_t n = J->n, cols = J->s->cols, nblk = (cols + JB - 1) / JB, b0, b1;
  /* Weighted split over blocks: the prefix of block b is colPtr[b * JB]. */
  int64_t total = J->colPtr[cols], lo = total * tid / nt, hi = total * (tid + 1) / nt;
  b0 = 0;
  while (b0 < nblk && J->colPtr[b0 * JB] < lo) b0++;
  b1 = b0;
  while (b1 < nblk && J->colPtr[b1 * JB] < hi) b1++;
  if (tid == 0) b0 = 0;
  if (tid == nt - 1) b1 = nblk;
  float *tt = saelab_scratch(8, (size_t)(JB * n + CB) * sizeof(float)); /* [JB, n] block sums */
  if (!tt) { J->failed = 1; return; }
  float acc[CB] __attribute__((aligned(32)));
  for (int64_t b = b0; b < b1; b++) {
    int64_t jb = b * JB, jn = cols - jb < JB ? cols - jb : JB;
    if (J->colPtr[jb] == J->colPtr[jb + jn]) continue;
    for (int64_t q = 0; q < jn; q++) {
      int64_t e0 = J->colPtr[jb + q], cnt = J->colPtr[jb + q + 1] - e0;
      float *row = tt + q * n;
      if (cnt == 0) { memset(row, 0, (size_t)n * sizeof(float)); continue; }
      for (int64_t c0 = 0; c0 < n; c0 += CB) {
        int64_t w = n - c0 < CB ? n - c0 : CB;
        gather_block(J->rowIdx + e0, J->vals + e0, cnt, J->a, n, c0, w, acc);
        memcpy(row + c0, acc, (size_t)w * sizeof(float));
      }
    }
    int64_t c = 0;
#ifdef SAELAB_AVX2
    if (jn == JB) {
      for (; c + 8 <= n; c += 8) {
        for (int h = 0; h < 2; h++) {
          __m256 r[8];
          for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(tt + (8 * h + q) * n + c);
          saelab_transpose8(r);
          for (int q = 0; q < 8; q++) {
            float *o = J->out + (c + q) * cols + jb + 8 * h;
            _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), r[q]));
          }
        }
      }
    }
#endif
    for (; c < n; c++) {
      float *o = J->out + c * cols + jb;
      for (int64_t q = 0; q < jn; q++) o[q] += tt[q * n + c];
    }
  }
}

static int run_transposed(const saelab_csr *s, const float *a, int64_t n, float *out, int cols_layout) {
  t_job J = {s, a, n, out, NULL, NULL, NULL, cols_layout, 0};
  if (transpose_csr(s, &J) != 0) return -1;
  int nt = threads_for((double)J.colPtr[s->cols] * n);
  saelab_pool_run(cols_layout ? spmmT_cols_task : spmmT_task, &J, nt);
  return J.failed ? -1 : 0;
}

int saelab_spmmT(const saelab_csr *s, const float *a, int64_t n, float *out) { return run_transposed(s, a, n, out, 0); }
int saelab_spmmT_cols(const saelab_csr *s, const float *a, int64_t n, float *out) { return run_transposed(s, a, n, out, 1); }

/* ---- Adam ---- */
typedef struct { float *p, *m, *v; const float *g; int64_t len; float b1, c1, b2, c2, step, invBc2, eps; } adam_job;

static void adam_task(void *ctx, int tid, int nt) {
  adam_job *J = ctx;
  int64_t i0, i1, i;
  saelab_split(J->len, tid, nt, 16, &i0, &i1);
  i = i0;
#ifdef SAELAB_AVX2
  __m256 b1 = _mm256_set1_ps(J->b1), c1 = _mm256_set1_ps(J->c1), b2 = _mm256_set1_ps(J->b2), c2 = _mm256_set1_ps(J->c2);
  __m256 st = _mm256_set1_ps(J->step), ib = _mm256_set1_ps(J->invBc2), ep = _mm256_set1_ps(J->eps);
  for (; i + 8 <= i1; i += 8) {
    __m256 g = _mm256_loadu_ps(J->g + i);
    __m256 m = _mm256_fmadd_ps(b1, _mm256_loadu_ps(J->m + i), _mm256_mul_ps(c1, g));
    __m256 v = _mm256_fmadd_ps(b2, _mm256_loadu_ps(J->v + i), _mm256_mul_ps(c2, _mm256_mul_ps(g, g)));
    _mm256_storeu_ps(J->m + i, m);
    _mm256_storeu_ps(J->v + i, v);
    __m256 d = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(v, ib)), ep);
    _mm256_storeu_ps(J->p + i, _mm256_sub_ps(_mm256_loadu_ps(J->p + i), _mm256_div_ps(_mm256_mul_ps(st, m), d)));
  }
#endif
  for (; i < i1; i++) {
    float g = J->g[i];
    float m = fmaf(J->b1, J->m[i], J->c1 * g), v = fmaf(J->b2, J->v[i], J->c2 * (g * g));
    J->m[i] = m;
    J->v[i] = v;
    J->p[i] -= (J->step * m) / (sqrtf(v * J->invBc2) + J->eps);
  }
}

void saelab_adam(float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps, double step) {
  double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
  adam_job J = {params, m, v, grads, len, (float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2),
                (float)(lr / bc1), (float)(1 / bc2), (float)eps};
  saelab_pool_run(adam_task, &J, len < 32768 ? 1 : 0);
}
