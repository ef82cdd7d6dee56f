/* Selection kernels: dense pre-activations -> CSR. Rows are split statically between threads and
   row offsets come from a serial prefix sum, so the output is the same whatever the thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "pool.h"
#include "select_row.h"
#include "sparse.h"

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
  /* A branch-free scan first (it vectorises): every kernel call checks its pattern. */
  uint32_t bad = 0;
  for (int64_t e = s->rowPtr[0]; e < end; e++) bad |= (uint32_t)s->colIdx[e] >= cols;
  if (!bad) return NULL;
  for (int64_t e = s->rowPtr[0]; e < end; e++)
    if ((uint32_t)s->colIdx[e] >= cols) {
      snprintf(buf, bufLen, "colIdx[%lld] = %d is outside [0, %lld)", (long long)e, s->colIdx[e], (long long)s->cols);
      return buf;
    }
  return NULL;
}

int64_t saelab_row_offsets(int32_t *rowPtr, int64_t rows) {
  int64_t acc = 0;
  rowPtr[0] = 0;
  for (int64_t r = 0; r < rows; r++) {
    acc += rowPtr[r + 1];
    if (acc > INT32_MAX) return -2;
    rowPtr[r + 1] = (int32_t)acc;
  }
  return acc;
}

/* ---- predicate selection (sparsifyAbove, window) ----
   One pass: each thread writes its rows' entries straight into its own share of the output arrays
   (shares proportional to its rows), then the shares are moved together. Only when a share
   overflows, or the arrays are too small, is the matrix read a second time. */
#define MAXT 64
typedef struct {
  const float *pre, *ref;
  double halfWidth;
  float hwUp; /* a float just above halfWidth, for the vector pre-test */
  int isWindow, fill;
  saelab_csr_out *o;
  int nt;
  int64_t r0[MAXT], r1[MAXT], lo[MAXT], used[MAXT];
  int over[MAXT];
} pred_job;

#ifdef SAELAB_AVX2
/* Window entries: bit q set when column j + q (j + 8 <= cols, or 16 with AVX-512) may be selected: a
   float pre-test that every selected entry passes (the float |x - c| is within 2^-24 relative of the
   true one), confirmed by pred1 in double precision. */
static inline unsigned pred8(const pred_job *J, const float *row, int64_t j) {
  __m256 d = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(_mm256_loadu_ps(row + j), _mm256_loadu_ps(J->ref + j)));
  return (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(d, _mm256_set1_ps(J->hwUp), _CMP_LT_OQ));
}
#endif
#ifdef SAELAB_AVX512
static inline unsigned pred16(const pred_job *J, const float *row, int64_t j) {
  __m512 d = _mm512_abs_ps(_mm512_sub_ps(_mm512_loadu_ps(row + j), _mm512_loadu_ps(J->ref + j)));
  return _mm512_cmp_ps_mask(d, _mm512_set1_ps(J->hwUp), _CMP_LT_OQ);
}
#endif

static inline int pred1(const pred_job *J, const float *row, int64_t j) {
  double d = (double)row[j] - (double)J->ref[j];
  return (d < 0 ? -d : d) < J->halfWidth;
}

/* Scans one row, writing entries at e while e < end (vector stores never reach end); returns how
   many entries the row has. */
static inline int64_t scan_row(const pred_job *J, const float *row, int64_t cols, int32_t *colIdx, float *values, int64_t e, int64_t end) {
  if (!J->isWindow) return saelab_above_row(row, cols, J->ref, 0.0f, 0, colIdx, values, e, end);
  int64_t j = 0, e0 = e;
#if defined(SAELAB_AVX512) || defined(SAELAB_AVX2)
#ifdef SAELAB_AVX512
  for (; j + 16 <= cols; j += 16) {
    unsigned m = pred16(J, row, j);
#else
  for (; j + 8 <= cols; j += 8) {
    unsigned m = pred8(J, row, j);
#endif
    while (m) {
      int q = __builtin_ctz(m);
      m &= m - 1;
      if (!pred1(J, row, j + q)) continue;
      if (e < end) { colIdx[e] = (int32_t)(j + q); values[e] = row[j + q]; }
      e++;
    }
  }
#endif
  for (; j < cols; j++)
    if (pred1(J, row, j)) {
      if (e < end) { colIdx[e] = (int32_t)j; values[e] = row[j]; }
      e++;
    }
  return e - e0;
}

static void pred_task(void *ctx, int tid, int nt) {
  pred_job *J = ctx;
  saelab_csr_out *o = J->o;
  int64_t r0, r1, cols = o->cols;
  saelab_split(o->rows, tid, nt, 1, &r0, &r1);
  if (J->fill) {
    for (int64_t r = r0; r < r1; r++) scan_row(J, J->pre + r * cols, cols, o->colIdx, o->values, o->rowPtr[r], o->rowPtr[r + 1]);
    return;
  }
  int64_t lo = o->rows ? o->cap * r0 / o->rows : 0, hi = o->rows ? o->cap * r1 / o->rows : 0, e = lo;
  for (int64_t r = r0; r < r1; r++) {
    int64_t cnt = scan_row(J, J->pre + r * cols, cols, o->colIdx, o->values, e, hi);
    o->rowPtr[r + 1] = (int32_t)(cnt < INT32_MAX ? cnt : INT32_MAX);
    e += cnt;
  }
  if (tid == 0) J->nt = nt;
  J->r0[tid] = r0; J->r1[tid] = r1; J->lo[tid] = lo; J->used[tid] = e - lo; J->over[tid] = e > hi;
}

static int64_t select_pred(pred_job *J, int countsReady) {
  saelab_csr_out *o = J->o;
  saelab_pack_ready();
  int nt = (double)o->rows * o->cols < 65536 ? 1 : 0;
  if (countsReady) {
    J->fill = 1;
    saelab_pool_run(pred_task, J, nt);
    return o->rowPtr[o->rows];
  }
  saelab_pool_run(pred_task, J, nt);
  int64_t nnz = saelab_row_offsets(o->rowPtr, o->rows);
  if (nnz < 0 || nnz > o->cap) return nnz;
  int over = 0;
  for (int t = 0; t < J->nt; t++) over |= J->over[t];
  if (over) {
    J->fill = 1;
    saelab_pool_run(pred_task, J, nt);
    return nnz;
  }
  for (int t = 1; t < J->nt; t++) {
    int64_t dst = o->rowPtr[J->r0[t]];
    if (dst == J->lo[t] || J->used[t] == 0) continue;
    memmove(o->colIdx + dst, o->colIdx + J->lo[t], (size_t)J->used[t] * sizeof(int32_t));
    memmove(o->values + dst, o->values + J->lo[t], (size_t)J->used[t] * sizeof(float));
  }
  return nnz;
}

int64_t saelab_sparsify_above(const float *pre, const float *threshold, saelab_csr_out *o, int countsReady) {
  pred_job J = {.pre = pre, .ref = threshold, .o = o};
  return select_pred(&J, countsReady);
}

int64_t saelab_window(const float *pre, const float *center, double halfWidth, saelab_csr_out *o, int countsReady) {
  float up = (float)(halfWidth * (1 + 1e-6));
  pred_job J = {.pre = pre, .ref = center, .halfWidth = halfWidth, .hwUp = nextafterf(up, INFINITY), .isWindow = 1, .o = o};
  return select_pred(&J, countsReady);
}

