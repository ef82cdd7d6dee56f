/* sddmmCols: the sampled product with a feature-major weight, outValues[e] = a[r, :] . w[:, j] for
   w [n, cols] (an untied SAE's W_enc, whose columns are strided). Latents are walked in blocks of
   JB adjacent ones: the block's columns are copied into a latent-major [JB, n] tile (n runs of JB
   contiguous floats from w), then each entry is the dot saelab_sddmm computes (eight lanes, then a
   fixed tree), so a value does not depend on the thread that computes it. Mixed precision recomputes
   the fired latents' pre-activations in fp32 with it. */
#include "csc.h"

#define SDC_JB 64     /* latents per block */
#define SDC_CHUNKS 16 /* fixed work ranges (balanced by entries), claimed dynamically */

typedef struct {
  const saelab_csr *s;
  const float *a, *w;
  int64_t n;
  float *out;
  saelab_csc c;
  int failed;
} sdc_job;

/* The dot of x and y over n, as saelab_sddmm sums it. */
static inline float sdc_dot(const float *x, const float *y, int64_t n) {
#ifdef SAELAB_AVX2
  return saelab_reduce1(saelab_dot_lanes(x, y, n, saelab_lane_mask(n & 7)));
#else
  float lanes[8] = {0};
  for (int64_t p = 0; p < n; p++) lanes[p & 7] = fmaf(x[p], y[p], lanes[p & 7]);
  return saelab_reduce_lanes(lanes);
#endif
}

static void sdc_task(void *ctx, int64_t chunk, int tid) {
  sdc_job *J = ctx;
  const int64_t n = J->n, cols = J->s->cols, nblk = (cols + SDC_JB - 1) / SDC_JB;
  const int32_t *cp = J->c.colPtr;
  (void)tid;
  /* Blocks [b0, b1): those whose first entry falls in this chunk's share of the entries. */
  const int64_t total = cp[cols], lo = total * chunk / SDC_CHUNKS, hi = total * (chunk + 1) / SDC_CHUNKS;
  int64_t b0 = 0, b1;
  while (b0 < nblk && cp[b0 * SDC_JB] < lo) b0++;
  b1 = b0;
  while (b1 < nblk && cp[b1 * SDC_JB] < hi) b1++;
  if (chunk == 0) b0 = 0;
  if (chunk == SDC_CHUNKS - 1) b1 = nblk;
  if (b0 >= b1) return;
  float *tile = saelab_scratch(SAELAB_SCRATCH_SPARSE_TILE, (size_t)(SDC_JB * n + 8) * sizeof(float));
  if (!tile) { J->failed = 1; return; }
  for (int64_t b = b0; b < b1; b++) {
    const int64_t jb = b * SDC_JB, jn = cols - jb < SDC_JB ? cols - jb : SDC_JB;
    if (cp[jb] == cp[jb + jn]) continue;
    /* tile[q, p] = w[p, jb + q]: 8 x 8 transposes where whole, single floats at the edges. */
    int64_t p0 = 0;
#ifdef SAELAB_AVX2
    if (jn == SDC_JB) {
      for (; p0 + 8 <= n; p0 += 8)
        for (int64_t q0 = 0; q0 < SDC_JB; q0 += 8) {
          __m256 r[8];
          for (int t = 0; t < 8; t++) r[t] = _mm256_loadu_ps(J->w + (p0 + t) * cols + jb + q0);
          saelab_transpose8(r);
          for (int t = 0; t < 8; t++) _mm256_storeu_ps(tile + (q0 + t) * n + p0, r[t]);
        }
    }
#endif
    for (int64_t p = p0; p < n; p++) {
      const float *src = J->w + p * cols + jb;
      for (int64_t q = 0; q < jn; q++) tile[q * n + p] = src[q];
    }
    for (int64_t q = 0; q < jn; q++) {
      const float *y = tile + q * n;
      for (int64_t e = cp[jb + q]; e < cp[jb + q + 1]; e++) J->out[J->c.pos[e]] = sdc_dot(J->a + (int64_t)J->c.rowIdx[e] * n, y, n);
    }
  }
}

int saelab_sddmm_cols(const saelab_csr *s, const float *a, const float *w, int64_t n, float *outValues) {
  sdc_job J = {s, a, w, n, outValues, {0}, 0};
  if (saelab_build_csc(s, 0, s->rows, 1, 4, &J.c) != 0) return -1;
  saelab_pool_chunks(sdc_task, &J, SDC_CHUNKS, saelab_threads_for((double)J.c.colPtr[s->cols] * n + (double)s->cols * n / 4));
  return J.failed ? -1 : 0;
}
