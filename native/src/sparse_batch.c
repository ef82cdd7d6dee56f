/* Batch top-k by radix selection on the float bits (positive floats order like their bit patterns):
   a histogram of the high bits finds the bin holding the cut, one more pass collects the few
   candidates at or above that bin in flat order, and the exact cut and its ties are settled serially
   on those candidates. Two passes over the matrix, no sort. */
#include <string.h>
#include "pool.h"
#include "sparse.h"
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SAELAB_AVX2 1
#endif

#define HI_SHIFT 15
#define HI_BINS (1 << 16)
#define LO_BINS (1 << HI_SHIFT)

typedef struct {
  const float *pre;
  int64_t rows, cols;
  uint32_t *hist;   /* [nthreads][HI_BINS] */
  int collect;
  float floor;      /* collect entries >= floor (the lowest value of the cut's bin) */
  int64_t *candOff; /* [nthreads + 1] */
  int64_t *candIdx;
  float *candVal;
} batch_job;

static inline uint32_t bits_of(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static inline float float_of(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static void batch_task(void *ctx, int tid, int nt) {
  batch_job *J = ctx;
  int64_t r0, r1;
  saelab_split(J->rows, tid, nt, 1, &r0, &r1);
  const float *p = J->pre + r0 * J->cols, *end = J->pre + r1 * J->cols;
  int64_t base = r0 * J->cols, i = 0, n = end - p;
  if (!J->collect) {
    uint32_t *h = J->hist + (size_t)tid * HI_BINS;
    memset(h, 0, HI_BINS * sizeof *h);
#ifdef SAELAB_AVX2
    for (; i + 8 <= n; i += 8) {
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + i), _mm256_setzero_ps(), _CMP_GT_OQ));
      while (m) { int q = __builtin_ctz(m); m &= m - 1; h[bits_of(p[i + q]) >> HI_SHIFT]++; }
    }
#endif
    for (; i < n; i++) if (p[i] > 0) h[bits_of(p[i]) >> HI_SHIFT]++;
  } else {
    int64_t c = J->candOff[tid];
    float fl = J->floor;
#ifdef SAELAB_AVX2
    __m256 f = _mm256_set1_ps(fl);
    for (; i + 8 <= n; i += 8) {
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + i), f, _CMP_GE_OQ));
      while (m) { int q = __builtin_ctz(m); m &= m - 1; J->candIdx[c] = base + i + q; J->candVal[c++] = p[i + q]; }
    }
#endif
    for (; i < n; i++) if (p[i] >= fl) { J->candIdx[c] = base + i; J->candVal[c++] = p[i]; }
  }
}

int64_t saelab_topk_batch(const float *pre, int64_t total, saelab_csr_out *o) {
  int64_t rows = o->rows, cols = o->cols;
  if (total <= 0 || rows * cols == 0) {
    memset(o->rowPtr, 0, (size_t)(rows + 1) * sizeof(int32_t));
    return 0;
  }
  int nt = (double)rows * cols < 65536 ? 1 : saelab_pool_threads();
  uint32_t *hist = saelab_scratch(5, (size_t)nt * HI_BINS * sizeof(uint32_t));
  if (!hist) return -1;
  batch_job J = {pre, rows, cols, hist, 0, 0, NULL, NULL, NULL};
  saelab_pool_run(batch_task, &J, nt);

  /* The cut's bin B: fewer than `total` entries lie above it, at least `total` at or above it. */
  int64_t above = 0;
  int B = -1;
  for (int b = HI_BINS - 1; b >= 0; b--) {
    int64_t hb = 0;
    for (int t = 0; t < nt; t++) hb += hist[(size_t)t * HI_BINS + b];
    if (B < 0 && above + hb >= total) B = b;
    if (B < 0) above += hb;
    else break;
  }
  if (B < 0) return saelab_sparsify_above(pre, NULL, o, 0); /* total >= positives: keep them all */
  if (total > INT32_MAX) return -2;
  if (total > o->cap) return total;

  int64_t off[65];
  int64_t *candOff = nt + 1 <= 65 ? off : NULL;
  if (!candOff) return -1;
  candOff[0] = 0;
  for (int t = 0; t < nt; t++) {
    int64_t c = 0;
    for (int b = B; b < HI_BINS; b++) c += hist[(size_t)t * HI_BINS + b];
    candOff[t + 1] = candOff[t] + c;
  }
  int64_t ncand = candOff[nt];
  char *mem = saelab_scratch(6, (size_t)ncand * (sizeof(int64_t) + sizeof(float)) + 64);
  uint32_t *lo = saelab_scratch(7, LO_BINS * sizeof(uint32_t));
  if (!mem || !lo) return -1;
  J.collect = 1;
  J.floor = float_of(B > 0 ? (uint32_t)B << HI_SHIFT : 1u); /* bin 0 must not admit zeros */
  J.candOff = candOff;
  J.candIdx = (int64_t *)mem;
  J.candVal = (float *)(mem + (size_t)ncand * sizeof(int64_t));
  saelab_pool_run(batch_task, &J, nt);

  /* The exact cut T inside bin B, and how many entries equal to T are taken (lowest flat index first). */
  int64_t need = total - above, cum = 0;
  memset(lo, 0, LO_BINS * sizeof *lo);
  for (int64_t c = 0; c < ncand; c++) {
    uint32_t u = bits_of(J.candVal[c]);
    if ((int)(u >> HI_SHIFT) == B) lo[u & (LO_BINS - 1)]++;
  }
  int L = LO_BINS - 1;
  for (; L > 0; L--) {
    if (cum + lo[L] >= need) break;
    cum += lo[L];
  }
  uint32_t T = ((uint32_t)B << HI_SHIFT) | (uint32_t)L;
  int64_t ties = need - cum, e = 0;
  memset(o->rowPtr, 0, (size_t)(rows + 1) * sizeof(int32_t));
  for (int64_t c = 0; c < ncand; c++) {
    uint32_t u = bits_of(J.candVal[c]);
    if (u > T || (u == T && ties-- > 0)) {
      int64_t idx = J.candIdx[c], r = idx / cols;
      o->rowPtr[r + 1]++;
      o->colIdx[e] = (int32_t)(idx - r * cols);
      o->values[e++] = J.candVal[c];
    }
  }
  for (int64_t r = 0; r < rows; r++) o->rowPtr[r + 1] += o->rowPtr[r];
  return e;
}
