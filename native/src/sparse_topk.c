/* Per-row top-k. Rows of SAE pre-activations look alike, so each row first tries a cut taken from
   the previous row (its (3k/2)-th largest value): one vectorised, branch-free pass collects the
   entries above it, and when at least k are found the top k lie among them (the k-th largest exceeds
   the cut, and so does every entry tied with it). Otherwise all positive entries are collected. The
   k-th largest candidate T is then found by quickselect, and the entries above T, plus the first
   ties at T in column order, are kept. Either way the answer is the exact top k, ties to the lower
   column, so it does not depend on the thread split. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "pack.h"
#include "pool.h"
#include "select_row.h"
#include "sparse.h"

int32_t saelab_pack[256][8];
static pthread_once_t pack_once = PTHREAD_ONCE_INIT;

static void pack_init(void) {
  for (int m = 0; m < 256; m++) {
    int q = 0;
    for (int l = 0; l < 8; l++) if (m >> l & 1) saelab_pack[m][q++] = l;
    for (int l = 0; l < 8; l++) if (!(m >> l & 1)) saelab_pack[m][q++] = l;
  }
}

void saelab_pack_ready(void) { pthread_once(&pack_once, pack_init); }

/* Entries of row with row[j] > g and mask[j] != 0 (mask NULL: all): values and columns, in column
   order; returns their number. vals and idx need room for cols + SAELAB_SELECT_SLACK (whole lanes are stored). */
static int64_t collect(const float *row, int64_t cols, float g, const uint8_t *mask, float *vals, int32_t *idx) {
  int64_t c = 0, j = 0;
#if defined(SAELAB_AVX512)
  const __m512 gv = _mm512_set1_ps(g);
  const __m512i iota = saelab_iota16();
  for (; j + 16 <= cols; j += 16) {
    __m512 x = _mm512_loadu_ps(row + j);
    __mmask16 m = _mm512_cmp_ps_mask(x, gv, _CMP_GT_OQ);
    if (mask) {
      __m128i mk = _mm_loadu_si128((const __m128i *)(mask + j));
      m &= _mm_test_epi8_mask(mk, mk);
      if (!m) continue; /* a mask (dead latents) mostly leaves nothing: skipping is then predictable */
    }
    saelab_compress_epi32(m, _mm512_add_epi32(_mm512_set1_epi32((int)j), iota), idx + c);
    c += saelab_compress_ps(m, x, vals + c);
  }
#elif defined(SAELAB_AVX2)
  const __m256 gv = _mm256_set1_ps(g);
  for (; j + 8 <= cols; j += 8) {
    __m256 x = _mm256_loadu_ps(row + j);
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, gv, _CMP_GT_OQ));
    if (mask) {
      __m256i mk = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(mask + j)));
      m &= ~(unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(mk, _mm256_setzero_si256())));
    }
    if (mask && !m) continue; /* a mask (dead latents) mostly leaves nothing: skipping is then predictable */
    __m256i perm = _mm256_loadu_si256((const __m256i *)saelab_pack[m]);
    _mm256_storeu_ps(vals + c, _mm256_permutevar8x32_ps(x, perm));
    _mm256_storeu_si256((__m256i *)(idx + c), _mm256_add_epi32(_mm256_set1_epi32((int)j), perm));
    c += __builtin_popcount(m);
  }
#endif
  for (; j < cols; j++)
    if (row[j] > g && (!mask || mask[j])) { vals[c] = row[j]; idx[c++] = (int32_t)j; }
  return c;
}

/* The element of rank r (0-based, descending) of src[0..n): quickselect whose partitions are
   branch-free vector passes (each element goes to the "above the pivot" or the "below" region by
   left-packing), so a row costs a few passes over its candidates and no mispredictions. buf holds
   three regions of n + SAELAB_SELECT_SLACK floats: each pass reads one and writes the other two. */
static float select_desc(const float *src, int64_t n, int64_t r, float *buf) {
  const int64_t stride = n + SAELAB_SELECT_SLACK;
  float *reg[3] = {buf, buf + stride, buf + 2 * stride};
  const float *a = src;
  int cur = -1; /* region holding a (-1: src) */
  while (n > 16) {
    float x = a[0], y = a[n >> 1], z = a[n - 1];
    float p = x > y ? (y > z ? y : (x > z ? z : x)) : (x > z ? x : (y > z ? z : y)); /* median of three */
    int h = cur == 0 ? 1 : 0, l = cur == 2 ? 1 : 2;
    float *hi = reg[h], *lo = reg[l];
    int64_t ng = 0, nl = 0, i = 0;
#if defined(SAELAB_AVX512)
    const __m512 pv = _mm512_set1_ps(p);
    for (; i < n; i += 16) { /* the last lanes masked: nothing read past a[n - 1] */
      const __mmask16 lanes = saelab_lanes16(n - i);
      __m512 v = _mm512_maskz_loadu_ps(lanes, a + i);
      ng += saelab_compress_ps(_mm512_mask_cmp_ps_mask(lanes, v, pv, _CMP_GT_OQ), v, hi + ng);
      nl += saelab_compress_ps(_mm512_mask_cmp_ps_mask(lanes, v, pv, _CMP_LT_OQ), v, lo + nl);
    }
    i = n;
#elif defined(SAELAB_AVX2)
    const __m256 pv = _mm256_set1_ps(p);
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_loadu_ps(a + i);
      unsigned mg = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, pv, _CMP_GT_OQ));
      unsigned ml = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, pv, _CMP_LT_OQ));
      _mm256_storeu_ps(hi + ng, _mm256_permutevar8x32_ps(v, _mm256_loadu_si256((const __m256i *)saelab_pack[mg])));
      _mm256_storeu_ps(lo + nl, _mm256_permutevar8x32_ps(v, _mm256_loadu_si256((const __m256i *)saelab_pack[ml])));
      ng += __builtin_popcount(mg);
      nl += __builtin_popcount(ml);
    }
    if (i < n) { /* the last lanes, masked (no branch per element; nothing read past a[n - 1]) */
      __m256 v = _mm256_maskload_ps(a + i, saelab_lane_mask(n - i));
      unsigned keep = (1u << (n - i)) - 1;
      unsigned mg = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, pv, _CMP_GT_OQ)) & keep;
      unsigned ml = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, pv, _CMP_LT_OQ)) & keep;
      _mm256_storeu_ps(hi + ng, _mm256_permutevar8x32_ps(v, _mm256_loadu_si256((const __m256i *)saelab_pack[mg])));
      _mm256_storeu_ps(lo + nl, _mm256_permutevar8x32_ps(v, _mm256_loadu_si256((const __m256i *)saelab_pack[ml])));
      ng += __builtin_popcount(mg);
      nl += __builtin_popcount(ml);
      i = n;
    }
#endif
    for (; i < n; i++) {
      if (a[i] > p) hi[ng++] = a[i];
      else if (a[i] < p) lo[nl++] = a[i];
    }
    if (r < ng) {
      a = hi, n = ng, cur = h;
    } else if (r < n - nl) {
      return p; /* ranks [ng, n - nl) hold the pivot's value */
    } else {
      r -= n - nl;
      a = lo, n = nl, cur = l;
    }
  }
  /* A few left: each candidate's rank by counting. */
#if defined(SAELAB_AVX512)
  if (n > 0) {
    const __mmask16 keep = saelab_lanes16(n);
    const __m512 v = _mm512_maskz_loadu_ps(keep, a);
    for (int64_t i = 0; i < n; i++) {
      __m512 x = _mm512_set1_ps(a[i]);
      int64_t above = __builtin_popcount(_mm512_mask_cmp_ps_mask(keep, v, x, _CMP_GT_OQ)), same = __builtin_popcount(_mm512_mask_cmp_ps_mask(keep, v, x, _CMP_EQ_OQ));
      if (r >= above && r < above + same) return a[i];
    }
    return a[0];
  }
#elif defined(SAELAB_AVX2)
  if (n > 0) {
    const __m256 v0 = _mm256_maskload_ps(a, saelab_lane_mask(n < 8 ? n : 8));
    const __m256 v1 = _mm256_maskload_ps(a + 8, saelab_lane_mask(n > 8 ? n - 8 : 0));
    const unsigned keep = (1u << n) - 1;
    for (int64_t i = 0; i < n; i++) {
      __m256 x = _mm256_set1_ps(a[i]);
      unsigned gt = ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v0, x, _CMP_GT_OQ)) | (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v1, x, _CMP_GT_OQ)) << 8) & keep;
      unsigned eq = ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v0, x, _CMP_EQ_OQ)) | (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v1, x, _CMP_EQ_OQ)) << 8) & keep;
      int64_t above = __builtin_popcount(gt), same = __builtin_popcount(eq);
      if (r >= above && r < above + same) return a[i];
    }
    return a[0];
  }
#endif
  for (int64_t i = 0; i < n; i++) {
    int64_t above = 0, same = 0;
    for (int64_t q = 0; q < n; q++) { above += a[q] > a[i]; same += a[q] == a[i]; }
    if (r >= above && r < above + same) return a[i];
  }
  return a[0];
}

float saelab_select_desc(const float *src, int64_t n, int64_t r, float *buf) {
  saelab_pack_ready();
  return select_desc(src, n, r, buf);
}

size_t saelab_topk_row_scratch(int64_t k, int64_t cols) { return (size_t)(cols + SAELAB_SELECT_SLACK) * 20 + 64; }

int64_t saelab_topk_row(const float *row, int64_t cols, int64_t k, const uint8_t *mask, void *scratch, float *guess, int32_t *colIdx, float *values) {
  saelab_pack_ready();
  if (k > cols) k = cols;
  if (k <= 0 || cols <= 0) return 0;
  int64_t k2 = k + k / 2 + 8;
  float *vals = scratch, *tmp = vals + cols + SAELAB_SELECT_SLACK; /* tmp: 3 (cols + SLACK) floats */
  int32_t *idx = (int32_t *)(tmp + 3 * (cols + SAELAB_SELECT_SLACK));
  float g = *guess;
  int64_t c = g > 0 ? collect(row, cols, g, mask, vals, idx) : 0;
  if (c < k) {
    g = 0.0f;
    c = collect(row, cols, 0.0f, mask, vals, idx);
  }
  if (c <= k) {
    /* Every positive entry is kept (or exactly k lie above a cut that worked). */
    memcpy(colIdx, idx, (size_t)c * sizeof(int32_t));
    memcpy(values, vals, (size_t)c * sizeof(float));
    *guess = g;
    return c;
  }
  float T = select_desc(vals, c, k - 1, tmp);
  /* The next row's cut: a cut that passed between k and 3k entries stays; otherwise this row's
     k2-th largest (so about k2 entries pass it), or none. */
  if (!(g > 0 && c <= 3 * k)) *guess = c >= k2 ? select_desc(vals, c, k2 - 1, tmp) : g;
  int64_t above = 0, same = 0, n = 0, i = 0;
  for (int64_t q = 0; q < c; q++) { above += vals[q] > T; same += vals[q] == T; }
  int64_t ties = k - above;
  if (ties == same) {
    /* Every entry at T is kept (the usual case: T is one value): keep v >= T, packed in place
       (each store lands on lanes already read). */
#if defined(SAELAB_AVX512)
    const __m512 tv = _mm512_set1_ps(T);
    for (; i < c; i += 16) {
      const __mmask16 lanes = saelab_lanes16(c - i);
      __m512 v = _mm512_maskz_loadu_ps(lanes, vals + i);
      __mmask16 m = _mm512_mask_cmp_ps_mask(lanes, v, tv, _CMP_GE_OQ);
      saelab_compress_epi32(m, _mm512_maskz_loadu_epi32(lanes, idx + i), idx + n);
      n += saelab_compress_ps(m, v, vals + n);
    }
    i = c;
#elif defined(SAELAB_AVX2)
    const __m256 tv = _mm256_set1_ps(T);
    for (; i + 8 <= c; i += 8) {
      __m256 v = _mm256_loadu_ps(vals + i);
      __m256i j = _mm256_loadu_si256((const __m256i *)(idx + i));
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, tv, _CMP_GE_OQ));
      __m256i perm = _mm256_loadu_si256((const __m256i *)saelab_pack[m]);
      _mm256_storeu_ps(vals + n, _mm256_permutevar8x32_ps(v, perm));
      _mm256_storeu_si256((__m256i *)(idx + n), _mm256_permutevar8x32_epi32(j, perm));
      n += __builtin_popcount(m);
    }
    if (i < c) { /* the last lanes, masked */
      __m256i lanes = saelab_lane_mask(c - i);
      __m256 v = _mm256_maskload_ps(vals + i, lanes);
      __m256i j = _mm256_maskload_epi32(idx + i, lanes);
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, tv, _CMP_GE_OQ)) & ((1u << (c - i)) - 1);
      __m256i perm = _mm256_loadu_si256((const __m256i *)saelab_pack[m]);
      _mm256_storeu_ps(vals + n, _mm256_permutevar8x32_ps(v, perm));
      _mm256_storeu_si256((__m256i *)(idx + n), _mm256_permutevar8x32_epi32(j, perm));
      n += __builtin_popcount(m);
      i = c;
    }
#endif
    for (; i < c; i++)
      if (vals[i] >= T) { vals[n] = vals[i]; idx[n++] = idx[i]; }
  } else {
    for (; i < c; i++) {
      float v = vals[i];
      if (v > T || (v == T && ties-- > 0)) { vals[n] = v; idx[n++] = idx[i]; }
    }
  }
  memcpy(colIdx, idx, (size_t)n * sizeof(int32_t));
  memcpy(values, vals, (size_t)n * sizeof(float));
  return n;
}

typedef struct {
  const float *pre;
  const uint8_t *mask;
  int64_t k;
  int32_t *slotIdx; /* [rows, k] selections, in column order */
  float *slotVal;
  saelab_csr_out *o;
  int fill, failed;
} topk_job;

#define TOPK_CHUNK 64 /* rows per chunk (claimed dynamically) */

static void topk_chunk(void *ctx, int64_t c, int tid) {
  topk_job *J = ctx;
  saelab_csr_out *o = J->o;
  int64_t r0 = c * TOPK_CHUNK, r1 = r0 + TOPK_CHUNK < o->rows ? r0 + TOPK_CHUNK : o->rows;
  (void)tid;
  if (J->fill) {
    for (int64_t r = r0; r < r1; r++) {
      int64_t e = o->rowPtr[r], n = o->rowPtr[r + 1] - e;
      memcpy(o->colIdx + e, J->slotIdx + r * J->k, (size_t)n * sizeof(int32_t));
      memcpy(o->values + e, J->slotVal + r * J->k, (size_t)n * sizeof(float));
    }
    return;
  }
  if (r0 >= r1) return;
  void *scratch = saelab_scratch(SAELAB_SCRATCH_SPARSE_ROW, saelab_topk_row_scratch(J->k, o->cols));
  if (!scratch) { J->failed = 1; return; }
  float guess = 0.0f;
  for (int64_t r = r0; r < r1; r++)
    o->rowPtr[r + 1] = (int32_t)saelab_topk_row(J->pre + r * o->cols, o->cols, J->k, J->mask, scratch, &guess, J->slotIdx + r * J->k, J->slotVal + r * J->k);
}

int64_t saelab_topk_rows(const float *pre, int64_t k, const uint8_t *mask, saelab_csr_out *o) {
  if (k >= o->cols && !mask) return saelab_sparsify_above(pre, NULL, o, 0); /* every positive entry */
  if (k > o->cols) k = o->cols;
  if (k <= 0) {
    memset(o->rowPtr, 0, (size_t)(o->rows + 1) * sizeof(int32_t));
    return 0;
  }
  saelab_pack_ready();
  char *slots = saelab_scratch(SAELAB_SCRATCH_TOPK_SLOTS, (size_t)(o->rows * k) * 8);
  if (!slots) return -1;
  topk_job J = {pre, mask, k, (int32_t *)slots, (float *)(slots + (size_t)(o->rows * k) * 4), o, 0, 0};
  int nt = (double)o->rows * o->cols < 65536 ? 1 : 0;
  saelab_pool_chunks(topk_chunk, &J, (o->rows + TOPK_CHUNK - 1) / TOPK_CHUNK, nt);
  if (J.failed) return -1;
  int64_t nnz = saelab_row_offsets(o->rowPtr, o->rows);
  if (nnz < 0 || nnz > o->cap) return nnz;
  J.fill = 1;
  saelab_pool_chunks(topk_chunk, &J, (o->rows + TOPK_CHUNK - 1) / TOPK_CHUNK, nt);
  return nnz;
}
