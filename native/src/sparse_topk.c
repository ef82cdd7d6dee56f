/* Per-row top-k. Rows of SAE pre-activations look alike, so each row first tries the previous
   row's (3k/2)-th largest value as a cut: one vectorised pass collects the few entries above it,
   and when at least k are found the top k lie among them (the k-th largest exceeds the cut, and so
   does every entry tied with it). Otherwise the row is scanned with a heap. Either way the answer is
   the exact top k, ties to the lower column, so it does not depend on the thread split. */
#include <stdlib.h>
#include <string.h>
#include "pool.h"
#include "simd.h"
#include "sparse.h"

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

/* Offers candidates in ascending column order to a heap of the cap best (its root is the worst
   kept); an equal value arriving later never displaces, so only x > thr needs a look. */
static inline void offer(cand_t *h, int64_t *n, int64_t cap, float x, int32_t j, float *thr) {
  cand_t c = {x, j};
  if (*n < cap) {
    h[*n] = c;
    sift_up(h, (*n)++);
    if (*n == cap) *thr = h[0].v;
  } else {
    h[0] = c;
    sift_down(h, cap, 0);
    *thr = h[0].v;
  }
}


typedef struct {
  const float *pre;
  const uint8_t *mask;
  int64_t k, k2, capC;
  cand_t *slots; /* [rows, k] selections, sorted by column */
  saelab_csr_out *o;
  int fill, failed;
} topk_job;

/* Selects row r into sel (up to k entries, by column); *guess is the cut to try, updated for the next row. */
static int64_t topk_row(const topk_job *J, int64_t r, cand_t *sel, cand_t *heap, cand_t *cand, float *guess) {
  const float *row = J->pre + r * J->o->cols;
  const int64_t cols = J->o->cols, k = J->k, k2 = J->k2;
  const uint8_t *mask = J->mask;
  int64_t n = 0, j = 0;
  float thr = 0.0f;
  int done = 0;
  int64_t nc = 0; /* candidates collected above the cut, when it worked */
  if (*guess > 0) {
    int64_t c = 0, capC = J->capC;
    float g = *guess;
#ifdef SAELAB_AVX2
    __m256 gv = _mm256_set1_ps(g);
    for (; j + 16 <= cols; j += 16) {
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + j), gv, _CMP_GT_OQ)) |
                   ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + j + 8), gv, _CMP_GT_OQ)) << 8);
      while (m) {
        int q = __builtin_ctz(m);
        m &= m - 1;
        if ((!mask || mask[j + q]) && c < capC) { cand[c].v = row[j + q]; cand[c++].j = (int32_t)(j + q); }
      }
    }
#endif
    for (; j < cols; j++)
      if (row[j] > g && (!mask || mask[j]) && c < capC) { cand[c].v = row[j]; cand[c++].j = (int32_t)j; }
    if (c >= k && c < capC) {
      for (int64_t i = 0; i < c; i++) if (cand[i].v > thr) offer(heap, &n, k2, cand[i].v, cand[i].j, &thr);
      nc = c;
      done = 1;
    }
  }
  if (!done) {
    n = 0;
    thr = 0.0f;
    j = 0;
#ifdef SAELAB_AVX2
    for (; j + 8 <= cols; j += 8) {
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + j), _mm256_set1_ps(thr), _CMP_GT_OQ));
      while (m) {
        int q = __builtin_ctz(m);
        m &= m - 1;
        float x = row[j + q];
        if (x > thr && (!mask || mask[j + q])) offer(heap, &n, k2, x, (int32_t)(j + q), &thr);
      }
    }
#endif
    for (; j < cols; j++) {
      float x = row[j];
      if (x > thr && (!mask || mask[j])) offer(heap, &n, k2, x, (int32_t)j, &thr);
    }
  }
  /* The heap holds the min(k2, available) best, its root the worst of them: the next row's cut. */
  if (n == k2) *guess = heap[0].v;
  else if (!done) *guess = 0.0f; /* fewer than k2 candidates: a cut that worked stays, else none */
  while (n > k) { heap[0] = heap[--n]; sift_down(heap, n, 0); }
  if (n == 0) return 0;
  /* Keep, in column order, the entries at least as good as the k-th best (the root). */
  cand_t kth = heap[0];
  int64_t take = 0;
  if (done) {
    for (int64_t i = 0; i < nc && take < n; i++) if (!worse(cand[i], kth)) sel[take++] = cand[i];
  } else {
    for (j = 0; j < cols && take < n; j++) {
      float x = row[j];
      if (x >= kth.v && (!mask || mask[j])) {
        cand_t c = {x, (int32_t)j};
        if (!worse(c, kth)) sel[take++] = c;
      }
    }
  }
  return take;
}

static void topk_task(void *ctx, int tid, int nt) {
  topk_job *J = ctx;
  saelab_csr_out *o = J->o;
  int64_t r0, r1;
  saelab_split(o->rows, tid, nt, 1, &r0, &r1);
  if (J->fill) {
    for (int64_t r = r0; r < r1; r++) {
      const cand_t *sel = J->slots + r * J->k;
      int64_t e = o->rowPtr[r], n = o->rowPtr[r + 1] - e;
      for (int64_t i = 0; i < n; i++) { o->colIdx[e + i] = sel[i].j; o->values[e + i] = sel[i].v; }
    }
    return;
  }
  if (r0 >= r1) return;
  cand_t *heap = saelab_scratch(7, (size_t)(J->k2 + J->capC) * sizeof(cand_t));
  if (!heap) { J->failed = 1; return; }
  float guess = 0.0f;
  for (int64_t r = r0; r < r1; r++) o->rowPtr[r + 1] = (int32_t)topk_row(J, r, J->slots + r * J->k, heap, heap + J->k2, &guess);
}

int64_t saelab_topk_rows(const float *pre, int64_t k, const uint8_t *mask, saelab_csr_out *o) {
  if (k >= o->cols && !mask) return saelab_sparsify_above(pre, NULL, o, 0); /* every positive entry */
  if (k > o->cols) k = o->cols;
  if (k <= 0) {
    memset(o->rowPtr, 0, (size_t)(o->rows + 1) * sizeof(int32_t));
    return 0;
  }
  cand_t *slots = saelab_scratch(4, (size_t)(o->rows * k) * sizeof(cand_t));
  if (!slots) return -1;
  int64_t k2 = k + k / 2 + 8;
  if (k2 > o->cols) k2 = o->cols;
  topk_job J = {pre, mask, k, k2, 8 * k2 + 256, slots, o, 0, 0};
  int nt = (double)o->rows * o->cols < 65536 ? 1 : 0;
  saelab_pool_run(topk_task, &J, nt);
  if (J.failed) return -1;
  int64_t nnz = saelab_row_offsets(o->rowPtr, o->rows);
  if (nnz < 0 || nnz > o->cap) return nnz;
  J.fill = 1;
  saelab_pool_run(topk_task, &J, nt);
  return nnz;
}

/* ---- one row at a time, for kernels that produce rows themselves (sae_step.c) ---- */

size_t saelab_topk_row_scratch(int64_t k, int64_t cols) {
  if (k > cols) k = cols;
  int64_t k2 = k + k / 2 + 8;
  if (k2 > cols) k2 = cols;
  return (size_t)(k + k2 + 8 * k2 + 256) * sizeof(cand_t);
}

int64_t saelab_topk_row(const float *row, int64_t cols, int64_t k, const uint8_t *mask, void *scratch, float *guess, int32_t *colIdx, float *values) {
  if (k > cols) k = cols;
  if (k <= 0 || cols <= 0) return 0;
  int64_t k2 = k + k / 2 + 8;
  if (k2 > cols) k2 = cols;
  saelab_csr_out o = {1, cols, NULL, NULL, NULL, 0};
  topk_job J = {row, mask, k, k2, 8 * k2 + 256, NULL, &o, 0, 0};
  cand_t *sel = scratch, *heap = sel + k;
  int64_t n = topk_row(&J, 0, sel, heap, heap + k2, guess);
  for (int64_t i = 0; i < n; i++) { colIdx[i] = sel[i].j; values[i] = sel[i].v; }
  return n;
}
