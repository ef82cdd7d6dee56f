/* sddmmCols: the sampled product with a feature-major weight, outValues[e] = a[r, :] . w[:, j] for
   w [n, cols] (an untied SAE's W_enc, whose columns are strided). Mixed precision recomputes the fired
   latents' pre-activations in fp32 with it. Every entry is the dot saelab_sddmm computes (eight lanes,
   then a fixed tree), so a value depends neither on the path nor on the thread that computes it.
   Two walks:
   - a small w (at most SDC_SMALL floats, so it stays in L2) is transposed once per call into a
     latent-major [cols, n] copy, then rows are walked in order: a's row stays in L1 and is dotted
     with the copied rows of the latents it fired, eight entries at a time;
   - a large w is walked in blocks of JB adjacent latents over a CSC of the entries: the block's
     columns are copied into a latent-major [JB, n] tile (n runs of JB contiguous floats from w), so w
     is read once per call, and each entry of those latents is dotted with the tile's row. */
#include "csc.h"

#define SDC_JB 64     /* latents per block */
#define SDC_CHUNKS 16 /* fixed work ranges (balanced by entries), claimed dynamically */
#define SDC_SMALL (256 * 1024) /* floats of w (1 MiB) up to which it is transposed whole and rows are walked */

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

/* ---- small w: rows walked against the latent-major copy wt [cols, n] ---- */
typedef struct {
  const saelab_csr *s;
  const float *a, *wt;
  int64_t n;
  float *out;
} sdr_job;

static void sdr_task(void *ctx, int64_t chunk, int tid) {
  sdr_job *J = ctx;
  const saelab_csr *s = J->s;
  const int64_t n = J->n;
  int64_t r0, r1;
  (void)tid;
  saelab_split_weighted(s->rowPtr, s->rows, (int)chunk, SDC_CHUNKS, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const float *x = J->a + r * n;
    int64_t e = s->rowPtr[r];
    const int64_t e1 = s->rowPtr[r + 1];
#ifdef SAELAB_AVX2
    const __m256i tail = saelab_lane_mask(n & 7);
    for (; e + 8 <= e1; e += 8) {
      const float *y[8];
      for (int q = 0; q < 8; q++) y[q] = J->wt + (int64_t)s->colIdx[e + q] * n;
      _mm256_storeu_ps(J->out + e, saelab_dots8(y, x, n, tail));
    }
#endif
    for (; e < e1; e++) J->out[e] = sdc_dot(x, J->wt + (int64_t)s->colIdx[e] * n, n);
  }
}

/* The rows walk: w transposed into scratch taken by the caller (shared by every thread). */
static int sddmm_cols_small(const saelab_csr *s, const float *a, const float *w, int64_t n, float *outValues) {
  const int64_t cols = s->cols, nnz = (int64_t)s->rowPtr[s->rows] - s->rowPtr[0];
  float *wt = saelab_scratch(SAELAB_SCRATCH_SDDMM_COLS_WT, (size_t)(cols * n + 8) * sizeof(float));
  if (!wt) return -1;
  int64_t p0 = 0;
#ifdef SAELAB_AVX2
  for (; p0 + 8 <= n; p0 += 8) {
    int64_t j0 = 0;
    for (; j0 + 8 <= cols; j0 += 8) {
      __m256 r[8];
      for (int t = 0; t < 8; t++) r[t] = _mm256_loadu_ps(w + (p0 + t) * cols + j0);
      saelab_transpose8(r);
      for (int t = 0; t < 8; t++) _mm256_storeu_ps(wt + (j0 + t) * n + p0, r[t]);
    }
    for (int64_t j = j0; j < cols; j++)
      for (int64_t p = p0; p < p0 + 8; p++) wt[j * n + p] = w[p * cols + j];
  }
#endif
  for (int64_t p = p0; p < n; p++)
    for (int64_t j = 0; j < cols; j++) wt[j * n + p] = w[p * cols + j];
  sdr_job J = {s, a, wt, n, outValues};
  saelab_pool_chunks(sdr_task, &J, SDC_CHUNKS, saelab_threads_for((double)nnz * n));
  return 0;
}

int saelab_sddmm_cols(const saelab_csr *s, const float *a, const float *w, int64_t n, float *outValues) {
  if (s->cols * n <= SDC_SMALL) return sddmm_cols_small(s, a, w, n, outValues);
  sdc_job J = {s, a, w, n, outValues, {0}, 0};
  if (saelab_build_csc(s, 0, s->rows, 1, 4, &J.c) != 0) return -1;
  saelab_pool_chunks(sdc_task, &J, SDC_CHUNKS, saelab_threads_for((double)J.c.colPtr[s->cols] * n + (double)s->cols * n / 4));
  return J.failed ? -1 : 0;
}
