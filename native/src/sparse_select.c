/* Selection kernels: dense pre-activations -> CSR. Rows are split statically between threads; row
   offsets come from a serial prefix sum between a counting and a filling pass, so the output is the
   same whatever the thread count. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pool.h"
#include "sparse.h"
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SAELAB_AVX2 1
#endif

const char *saelab_csr_check(const saelab_csr *s, int64_t colIdxLen, int64_t valuesLen, char *buf, size_t bufLen) {
  if (s->rowPtr[0] < 0) { snprintf(buf, bufLen, "rowPtr[0] is %d, must be >= 0", s->rowPtr[0]); return buf; }
  for (int64_t r = 0; r < s->rows; r++)
    if (s->rowPtr[r + 1] < s->rowPtr[r]) { snprintf(buf, bufLen, "rowPtr decreases at row %lld", (long long)r); return buf; }
  int64_t end = s->rowPtr[s->rows];
  if (end > colIdxLen || end > valuesLen) {
    snprintf(buf, bufLen, "rowPtr[rows] = %lld exceeds the colIdx/values length %lld", (long long)end, (long long)(colIdxLen < valuesLen ? colIdxLen : valuesLen));
    return buf;
  }
  uint32_t cols = (uint32_t)s->cols;
  for (int64_t e = s->rowPtr[0]; e < end; e++)
    if ((uint32_t)s->colIdx[e] >= cols) {
      snprintf(buf, bufLen, "colIdx[%lld] = %d is outside [0, %lld)", (long long)e, s->colIdx[e], (long long)s->cols);
      return buf;
    }
  return NULL;
}

/* Turns per-row counts in rowPtr[1..rows] into offsets; returns nnz or -2 on int32 overflow. */
static int64_t prefix(int32_t *rowPtr, int64_t rows) {
  int64_t acc = 0;
  rowPtr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    acc += rowPtr[r + 1];
    if (acc > INT32_MAX) return -2;
    rowPtr[r + 1] = (int32_t)acc;
  }
  return acc;
}

/* ---- predicate selection (sparsifyAbove, window) ---- */
typedef struct {
  const float *pre, *ref;
  double halfWidth;
  int isWindow, fill;
  saelab_csr_out *o;
} pred_job;

#ifdef SAELAB_AVX2
/* Bit q set when column j + q is selected (j + 8 <= cols). */
static inline unsigned pred8(const pred_job *J, const float *row, int64_t j) {
  __m256 x = _mm256_loadu_ps(row + j);
  if (!J->isWindow) {
    __m256 t = J->ref ? _mm256_loadu_ps(J->ref + j) : _mm256_setzero_ps();
    return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, t, _CMP_GT_OQ));
  }
  __m256 c = _mm256_loadu_ps(J->ref + j);
  __m256d hw = _mm256_set1_pd(J->halfWidth), sign = _mm256_set1_pd(-0.0);
  __m256d lo = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), _mm256_cvtps_pd(_mm256_castps256_ps128(c)));
  __m256d hi = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(c, 1)));
  unsigned ml = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(_mm256_andnot_pd(sign, lo), hw, _CMP_LT_OQ));
  unsigned mh = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(_mm256_andnot_pd(sign, hi), hw, _CMP_LT_OQ));
  return ml | (mh << 4);
}
#endif

static inline int pred1(const pred_job *J, const float *row, int64_t j) {
  if (!J->isWindow) return row[j] > (J->ref ? J->ref[j] : 0.0f);
  double d = (double)row[j] - (double)J->ref[j];
  return (d < 0 ? -d : d) < J->halfWidth;
}

static void pred_task(void *ctx, int tid, int nt) {
  pred_job *J = ctx;
  saelab_csr_out *o = J->o;
  int64_t r0, r1, cols = o->cols;
  saelab_split(o->rows, tid, nt, 1, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const float *row = J->pre + r * cols;
    int64_t j = 0;
    if (!J->fill) {
      int64_t cnt = 0;
#ifdef SAELAB_AVX2
      for (; j + 8 <= cols; j += 8) cnt += __builtin_popcount(pred8(J, row, j));
#endif
      for (; j < cols; j++) cnt += pred1(J, row, j);
      o->rowPtr[r + 1] = (int32_t)cnt;
    } else {
      int64_t e = o->rowPtr[r];
#ifdef SAELAB_AVX2
      for (; j + 8 <= cols; j += 8) {
        unsigned m = pred8(J, row, j);
        while (m) {
          int q = __builtin_ctz(m);
          m &= m - 1;
          o->colIdx[e] = (int32_t)(j + q);
          o->values[e++] = row[j + q];
        }
      }
#endif
      for (; j < cols; j++)
        if (pred1(J, row, j)) { o->colIdx[e] = (int32_t)j; o->values[e++] = row[j]; }
    }
  }
}

static int64_t select_pred(pred_job *J, int countsReady) {
  saelab_csr_out *o = J->o;
  int64_t nnz;
  if (!countsReady) {
    J->fill = 0;
    saelab_pool_run(pred_task, J, (double)o->rows * o->cols < 65536 ? 1 : 0);
    nnz = prefix(o->rowPtr, o->rows);
    if (nnz < 0) return nnz;
  } else {
    nnz = o->rowPtr[o->rows];
  }
  if (nnz > o->cap) return nnz;
  J->fill = 1;
  saelab_pool_run(pred_task, J, (double)o->rows * o->cols < 65536 ? 1 : 0);
  return nnz;
}

int64_t saelab_sparsify_above(const float *pre, const float *threshold, saelab_csr_out *o, int countsReady) {
  pred_job J = {pre, threshold, 0, 0, 0, o};
  return select_pred(&J, countsReady);
}

int64_t saelab_window(const float *pre, const float *center, double halfWidth, saelab_csr_out *o, int countsReady) {
  pred_job J = {pre, center, halfWidth, 1, 0, o};
  return select_pred(&J, countsReady);
}

/* ---- per-row top-k: a k-entry min-heap with a vectorised skip of entries that cannot enter ---- */
typedef struct { float v; int32_t j; } cand_t;

/* a is a worse pick than b: smaller value, or the same value at a higher column. */
static inline int worse(cand_t a, cand_t b) { return a.v < b.v || (a.v == b.v && a.j > b.j); }

static void sift_down(cand_t *h, int64_t n, int64_t i) {
  cand_t x = h[i];
  for (;;) {
    int64_t c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && worse(h[c + 1], h[c])) c++;
    if (!worse(h[c], x)) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = x;
}

static void sift_up(cand_t *h, int64_t i) {
  cand_t x = h[i];
  while (i > 0) {
    int64_t p = (i - 1) / 2;
    if (!worse(x, h[p])) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

static int cmp_col(const void *a, const void *b) {
  int32_t x = ((const cand_t *)a)->j, y = ((const cand_t *)b)->j;
  return (x > y) - (x < y);
}

typedef struct {
  const float *pre;
  const uint8_t *mask;
  int64_t k;
  cand_t *slots; /* [rows, k] selections, sorted by column */
  saelab_csr_out *o;
  int fill;
} topk_job;

/* Heap-selects row r into sel (k slots); returns how many were picked. */
static int64_t topk_row(const topk_job *J, int64_t r, cand_t *sel) {
  const float *row = J->pre + r * J->o->cols;
  const int64_t cols = J->o->cols, k = J->k;
  int64_t n = 0, j = 0;
  float thr = 0.0f; /* an entry must beat this to enter: 0 until the heap is full, then its worst value */
#define CONSIDER(col)                                                              \
  do {                                                                             \
    float x_ = row[col];                                                           \
    if (x_ > thr && (!J->mask || J->mask[col])) {                                  \
      cand_t c_ = {x_, (int32_t)(col)};                                            \
      if (n < k) { sel[n] = c_; sift_up(sel, n++); if (n == k) thr = sel[0].v; }   \
      else { sel[0] = c_; sift_down(sel, k, 0); thr = sel[0].v; }                  \
    }                                                                              \
  } while (0)
#ifdef SAELAB_AVX2
  for (; j + 8 <= cols; j += 8) {
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + j), _mm256_set1_ps(thr), _CMP_GT_OQ));
    while (m) {
      int q = __builtin_ctz(m);
      m &= m - 1;
      CONSIDER(j + q);
    }
  }
#endif
  for (; j < cols; j++) CONSIDER(j);
#undef CONSIDER
  /* Columns arrive in ascending order, so a later equal value never displaces an earlier one. */
  if (n <= 32) {
    for (int64_t i = 1; i < n; i++) {
      cand_t x = sel[i];
      int64_t p = i;
      while (p > 0 && sel[p - 1].j > x.j) { sel[p] = sel[p - 1]; p--; }
      sel[p] = x;
    }
  } else {
    qsort(sel, (size_t)n, sizeof *sel, cmp_col);
  }
  return n;
}

static void topk_task(void *ctx, int tid, int nt) {
  topk_job *J = ctx;
  saelab_csr_out *o = J->o;
  int64_t r0, r1;
  saelab_split(o->rows, tid, nt, 1, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    cand_t *sel = J->slots + r * J->k;
    if (!J->fill) {
      o->rowPtr[r + 1] = (int32_t)topk_row(J, r, sel);
    } else {
      int64_t e = o->rowPtr[r], n = o->rowPtr[r + 1] - e;
      for (int64_t i = 0; i < n; i++) { o->colIdx[e + i] = sel[i].j; o->values[e + i] = sel[i].v; }
    }
  }
}

int64_t saelab_topk_rows(const float *pre, int64_t k, const uint8_t *mask, saelab_csr_out *o) {
  if (k > o->cols) k = o->cols;
  if (k <= 0) {
    memset(o->rowPtr, 0, (size_t)(o->rows + 1) * sizeof(int32_t));
    return 0;
  }
  cand_t *slots = saelab_scratch(4, (size_t)(o->rows * k) * sizeof(cand_t));
  if (!slots) return -1;
  topk_job J = {pre, mask, k, slots, o, 0};
  int nt = (double)o->rows * o->cols < 65536 ? 1 : 0;
  saelab_pool_run(topk_task, &J, nt);
  int64_t nnz = prefix(o->rowPtr, o->rows);
  if (nnz < 0 || nnz > o->cap) return nnz;
  J.fill = 1;
  saelab_pool_run(topk_task, &J, nt);
  return nnz;
}
