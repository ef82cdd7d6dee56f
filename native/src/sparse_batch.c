/* Batch top-k by radix selection on the float bits (positive floats order like their bit patterns).
   A histogram of a sample of rows suggests a cut a little below the answer; one pass collects the
   entries above it in flat order, and the exact cut and its ties are settled on those few. When the
   sample misleads (too few or too many entries pass), a histogram of the whole matrix gives a safe
   cut instead. The answer is exact either way. */
#include <string.h>
#include "pack.h"
#include "pool.h"
#include "select_row.h"
#include "sparse.h"

#define HI_SHIFT 15
#define HI_BINS (1 << 16)
#define LO_BINS (1 << HI_SHIFT)
#define MAXT 64

typedef struct {
  const float *pre;
  int64_t rows, cols, step; /* rows visited: r0, r0 + step, ... */
  uint32_t *hist;           /* [nthreads][HI_BINS] */
  int collect;
  float floor;              /* collect entries >= floor (> 0) */
  int64_t cap;              /* per-thread candidate room */
  int64_t *candIdx;         /* [nthreads][cap] */
  float *candVal;
  int64_t count[MAXT];
  int over[MAXT];
} batch_job;

static inline uint32_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float float_of(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static void batch_task(void *ctx, int tid, int nt) {
  batch_job *J = ctx;
  int64_t nvis = (J->rows + J->step - 1) / J->step, v0, v1;
  saelab_split(nvis, tid, nt, 1, &v0, &v1);
  if (!J->collect) {
    uint32_t *h = J->hist + (size_t)tid * HI_BINS;
    memset(h, 0, HI_BINS * sizeof *h);
    for (int64_t v = v0; v < v1; v++) {
      const float *p = J->pre + v * J->step * J->cols;
      int64_t i = 0, n = J->cols;
#if defined(SAELAB_AVX512)
      for (; i + 16 <= n; i += 16) {
        unsigned m = _mm512_cmp_ps_mask(_mm512_loadu_ps(p + i), _mm512_setzero_ps(), _CMP_GT_OQ);
        while (m) { int q = __builtin_ctz(m); m &= m - 1; h[bits_of(p[i + q]) >> HI_SHIFT]++; }
      }
#elif defined(SAELAB_AVX2)
      for (; i + 8 <= n; i += 8) {
        unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + i), _mm256_setzero_ps(), _CMP_GT_OQ));
        while (m) { int q = __builtin_ctz(m); m &= m - 1; h[bits_of(p[i + q]) >> HI_SHIFT]++; }
      }
#endif
      for (; i < n; i++) if (p[i] > 0) h[bits_of(p[i]) >> HI_SHIFT]++;
    }
    return;
  }
  /* step is 1 here: this thread's rows are contiguous, so its candidates come in flat order. */
  int64_t c = 0, cap = J->cap, base = v0 * J->cols, n = (v1 - v0) * J->cols, i = 0;
  int64_t *idx = J->candIdx + (size_t)tid * cap;
  float *val = J->candVal + (size_t)tid * cap, fl = J->floor;
  const float *p = J->pre + base;
#if defined(SAELAB_AVX512)
  const __m512 f = _mm512_set1_ps(fl);
  const __m512i iota = saelab_iota16();
  const __m512i base64 = _mm512_set1_epi64(base);
  /* Branch-free while there is room for whole lanes: positions compressed as 32-bit offsets from
     base, then widened (a mispredicted branch per candidate costs more than this). */
  for (; i + 16 <= n && c + 16 <= cap && i + 16 <= INT32_MAX; i += 16) {
    __m512 x = _mm512_loadu_ps(p + i);
    __mmask16 m = _mm512_cmp_ps_mask(x, f, _CMP_GE_OQ);
    if (!m) continue;
    __m512i off = _mm512_maskz_compress_epi32(m, _mm512_add_epi32(_mm512_set1_epi32((int)i), iota));
    _mm512_storeu_si512((void *)(idx + c), _mm512_add_epi64(base64, _mm512_cvtepi32_epi64(_mm512_castsi512_si256(off))));
    _mm512_storeu_si512((void *)(idx + c + 8), _mm512_add_epi64(base64, _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(off, 1))));
    c += saelab_compress_ps(m, x, val + c);
  }
  for (; i + 16 <= n; i += 16) {
    unsigned m = _mm512_cmp_ps_mask(_mm512_loadu_ps(p + i), f, _CMP_GE_OQ);
    while (m) {
      int q = __builtin_ctz(m);
      m &= m - 1;
      if (c < cap) { idx[c] = base + i + q; val[c] = p[i + q]; }
      c++;
    }
  }
#elif defined(SAELAB_AVX2)
  __m256 f = _mm256_set1_ps(fl);
  /* Branch-free while there is room for whole lanes: positions packed as 32-bit offsets from base
     into a small buffer, then widened (a mispredicted branch per candidate costs more than this). */
  int32_t off[8];
  for (; i + 8 <= n && c + 8 <= cap && i + 8 <= INT32_MAX; i += 8) {
    __m256 x = _mm256_loadu_ps(p + i);
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, f, _CMP_GE_OQ));
    if (!m) continue;
    __m256i perm = _mm256_loadu_si256((const __m256i *)saelab_pack[m]);
    _mm256_storeu_ps(val + c, _mm256_permutevar8x32_ps(x, perm));
    _mm256_storeu_si256((__m256i *)off, _mm256_add_epi32(_mm256_set1_epi32((int)i), perm));
    int q = __builtin_popcount(m);
    for (int t = 0; t < 8; t++) idx[c + t] = base + off[t];
    c += q;
  }
  for (; i + 16 <= n; i += 16) {
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + i), f, _CMP_GE_OQ)) |
                 ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + i + 8), f, _CMP_GE_OQ)) << 8);
    while (m) {
      int q = __builtin_ctz(m);
      m &= m - 1;
      if (c < cap) { idx[c] = base + i + q; val[c] = p[i + q]; }
      c++;
    }
  }
#endif
  for (; i < n; i++)
    if (p[i] >= fl) {
      if (c < cap) { idx[c] = base + i; val[c] = p[i]; }
      c++;
    }
  J->count[tid] = c;
  J->over[tid] = c > cap;
}

/* The lowest bin b such that the histogram holds at least `want` entries in bins >= b; -1 if none. */
static int cut_bin(const uint32_t *hist, int nt, int64_t want, int64_t *above) {
  int64_t cum = 0;
  for (int b = HI_BINS - 1; b >= 0; b--) {
    int64_t hb = 0;
    for (int t = 0; t < nt; t++) hb += hist[(size_t)t * HI_BINS + b];
    if (cum + hb >= want) { if (above) *above = cum; return b; }
    cum += hb;
  }
  return -1;
}

/* Collects entries >= floor with `cap` room per thread; returns the candidate count, or -1 on overflow. */
static int64_t collect(batch_job *J, int nt, float floor, int64_t cap) {
  J->collect = 1;
  J->step = 1;
  J->floor = floor;
  J->cap = cap;
  saelab_pool_run(batch_task, J, nt);
  int64_t total = 0;
  for (int t = 0; t < nt; t++) {
    if (J->over[t]) return -1;
    total += J->count[t];
  }
  return total;
}

int64_t saelab_topk_batch(const float *pre, int64_t total, saelab_csr_out *o) { return saelab_topk_batch_guess(pre, total, o, NULL); }

int64_t saelab_topk_batch_guess(const float *pre, int64_t total, saelab_csr_out *o, float *nextGuess) {
  saelab_pack_ready();
  int64_t rows = o->rows, cols = o->cols;
  memset(o->rowPtr, 0, (size_t)(rows + 1) * sizeof(int32_t));
  if (total <= 0 || rows * cols == 0) return 0;
  int nt = (double)rows * cols < 65536 ? 1 : saelab_pool_threads();
  if (nt > MAXT) nt = MAXT;
  uint32_t *hist = saelab_scratch(SAELAB_SCRATCH_BATCH_HIST, (size_t)nt * HI_BINS * sizeof(uint32_t));
  uint32_t *lo = saelab_scratch(SAELAB_SCRATCH_SPARSE_ROW, LO_BINS * sizeof(uint32_t));
  if (!hist || !lo) return -1;
  batch_job J;
  memset(&J, 0, sizeof J);
  J.pre = pre;
  J.rows = rows;
  J.cols = cols;
  J.hist = hist;

  /* A cut from every step-th row, aiming at 5/4 of the share of `total` the sample should hold. */
  int64_t ncand = -1;
  J.step = rows / 64 > 1 ? rows / 64 : 1;
  if (J.step > 1) {
    int64_t sampled = (rows + J.step - 1) / J.step;
    saelab_pool_run(batch_task, &J, nt);
    int64_t want = (int64_t)((double)total * sampled / rows * 1.25) + 16;
    int b = cut_bin(hist, nt, want, NULL);
    if (nextGuess) *nextGuess = b > 0 ? float_of((uint32_t)b << HI_SHIFT) : 0.0f; /* about 5/4 of total above it */
    if (b > 0) {
      int64_t cap = (int64_t)(2.0 * total / nt) + 4096;
      char *mem = saelab_scratch(SAELAB_SCRATCH_SPARSE_TILE, (size_t)(nt * cap) * (sizeof(int64_t) + sizeof(float)) + 64);
      if (!mem) return -1;
      J.candIdx = (int64_t *)mem;
      J.candVal = (float *)(mem + (size_t)(nt * cap) * sizeof(int64_t));
      ncand = collect(&J, nt, float_of((uint32_t)b << HI_SHIFT), cap);
      if (ncand < total) ncand = -1; /* the cut was too high (or too low: overflow) */
    }
  }
  if (ncand < 0) {
    /* The safe way: the whole matrix's histogram, then exactly the entries at or above the cut's bin. */
    J.step = 1;
    J.collect = 0;
    saelab_pool_run(batch_task, &J, nt);
    int b = cut_bin(hist, nt, total, NULL);
    if (nextGuess) {
      int b2 = cut_bin(hist, nt, total + total / 4, NULL);
      *nextGuess = b2 > 0 ? float_of((uint32_t)b2 << HI_SHIFT) : 0.0f;
    }
    if (b < 0) return saelab_sparsify_above(pre, NULL, o, 0); /* total >= positives: keep them all */
    int64_t cap = 0;
    for (int t = 0; t < nt; t++) {
      int64_t c = 0;
      for (int bb = b; bb < HI_BINS; bb++) c += hist[(size_t)t * HI_BINS + bb];
      if (c > cap) cap = c;
    }
    char *mem = saelab_scratch(SAELAB_SCRATCH_SPARSE_TILE, (size_t)(nt * cap + 1) * (sizeof(int64_t) + sizeof(float)) + 64);
    if (!mem) return -1;
    J.candIdx = (int64_t *)mem;
    J.candVal = (float *)(mem + (size_t)(nt * cap + 1) * sizeof(int64_t));
    ncand = collect(&J, nt, float_of(b > 0 ? (uint32_t)b << HI_SHIFT : 1u), cap);
    if (ncand < 0) return -1; /* cannot happen: cap counts exactly these entries */
  }
  if (total > INT32_MAX) return -2;
  if (total > o->cap) return total;

  /* Exact cut among the candidates: high bits, then low bits inside the cut's bin. */
  memset(hist, 0, HI_BINS * sizeof *hist);
  for (int t = 0; t < nt; t++)
    for (int64_t c = 0; c < J.count[t]; c++) hist[bits_of(J.candVal[(size_t)t * J.cap + c]) >> HI_SHIFT]++;
  int64_t above = 0;
  int B = cut_bin(hist, 1, total, &above);
  memset(lo, 0, LO_BINS * sizeof *lo);
  for (int t = 0; t < nt; t++)
    for (int64_t c = 0; c < J.count[t]; c++) {
      uint32_t u = bits_of(J.candVal[(size_t)t * J.cap + c]);
      if ((int)(u >> HI_SHIFT) == B) lo[u & (LO_BINS - 1)]++;
    }
  int64_t need = total - above, cum = 0;
  int L = LO_BINS - 1;
  for (; L > 0; L--) {
    if (cum + lo[L] >= need) break;
    cum += lo[L];
  }
  uint32_t T = ((uint32_t)B << HI_SHIFT) | (uint32_t)L;
  int64_t ties = need - cum, e = 0, r = 0, rowEnd = cols;
  /* Candidates come in flat order, so the row advances monotonically (no division per entry); the
     common case, a single candidate at the cut, is kept without a branch. */
  for (int t = 0; t < nt; t++) {
    const float *cv = J.candVal + (size_t)t * J.cap;
    const int64_t *ci = J.candIdx + (size_t)t * J.cap;
    for (int64_t c = 0; c < J.count[t] && e < total; c++) { /* e < total <= cap: every store is in bounds */
      uint32_t u = bits_of(cv[c]);
      int keep = u > T;
      if (u == T) keep = ties-- > 0;
      int64_t idx = ci[c];
      while (idx >= rowEnd) { r++; rowEnd += cols; }
      o->rowPtr[r + 1] += keep;
      o->colIdx[e] = (int32_t)(idx - (rowEnd - cols));
      o->values[e] = cv[c];
      e += keep;
    }
  }
  for (int64_t q = 0; q < rows; q++) o->rowPtr[q + 1] += o->rowPtr[q];
  return e;
}
