/* The norms behind mixed precision's proposal bound (src/sae/bf16.ts proposalBias), with the
   operations of its TypeScript twin (proposalNorms in src/tensor/reference_bf16.ts), so the bound keeps its bits:
   - the largest squared norm over the rows of x - center: each row summed in double precision in
     column order (v = x - center in double, then v * v rounded, then added: no fused multiply-add);
   - each latent's squared weight norm, summed in column order in double precision with the sum
     rounded to fp32 after every term (the twin keeps it in a Float32Array).
   Rows and latents are split between threads; each sum is one thread's fixed sequence. */
#include <string.h>
#include "pool.h"
#include "simd.h"
#include "sae_bf16.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define BD_CHUNKS 16
#define BD_LANES 8 /* rows or latents summed side by side (independent chains) */

typedef struct {
  const float *x, *center, *w;
  int64_t rows, n, cols;
  int transW;
  float *normSq;
  double rowMax[BD_CHUNKS];
} bd_job;

/* Squared norms of x - center (center NULL: 0) over n for `cnt` <= BD_LANES rows at stride n, each
   summed in column order in double precision; with roundEach the sum is rounded to fp32 after every
   term (and center is NULL). Eight whole rows go side by side in vectors: 8 x 8 blocks transposed so
   that lane i carries row i, the same operations per lane as the scalar loop. */
static void bd_rows(const float *x, const float *center, int64_t n, int cnt, int roundEach, double *out) {
  double acc[BD_LANES] = {0};
  int64_t c0 = 0;
#ifdef SAELAB_AVX2
  if (cnt == BD_LANES) {
    __m256d lo = _mm256_setzero_pd(), hi = lo; /* rows 0-3, 4-7 */
    for (; c0 + 8 <= n; c0 += 8) {
      __m256 r[8];
      for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(x + i * n + c0);
      saelab_transpose8(r); /* r[q]: column c0 + q of the eight rows */
      for (int q = 0; q < 8; q++) {
        __m256d vl = _mm256_cvtps_pd(_mm256_castps256_ps128(r[q])), vh = _mm256_cvtps_pd(_mm256_extractf128_ps(r[q], 1));
        if (center) {
          const __m256d m = _mm256_set1_pd((double)center[c0 + q]);
          vl = _mm256_sub_pd(vl, m);
          vh = _mm256_sub_pd(vh, m);
        }
        lo = _mm256_add_pd(lo, _mm256_mul_pd(vl, vl));
        hi = _mm256_add_pd(hi, _mm256_mul_pd(vh, vh));
        if (roundEach) {
          lo = _mm256_cvtps_pd(_mm256_cvtpd_ps(lo));
          hi = _mm256_cvtps_pd(_mm256_cvtpd_ps(hi));
        }
      }
    }
    _mm256_storeu_pd(acc, lo);
    _mm256_storeu_pd(acc + 4, hi);
  }
#endif
  for (int i = 0; i < cnt; i++) {
    double a = acc[i];
    for (int64_t c = c0; c < n; c++) {
      const double v = (double)x[i * n + c] - (center ? (double)center[c] : 0.0);
      const double sq = v * v;
      a = a + sq;
      if (roundEach) a = (float)a;
    }
    out[i] = a;
  }
}

static void bd_task(void *ctx, int64_t chunk, int tid) {
  bd_job *J = ctx;
  const int64_t n = J->n;
  (void)tid;
  /* The rows of x. */
  int64_t r0, r1;
  saelab_split(J->rows, (int)chunk, BD_CHUNKS, BD_LANES, &r0, &r1);
  double most = 0;
  for (int64_t r = r0; r < r1; r += BD_LANES) {
    const int cnt = r1 - r < BD_LANES ? (int)(r1 - r) : BD_LANES;
    double s[BD_LANES];
    bd_rows(J->x + r * n, J->center, n, cnt, 0, s);
    for (int i = 0; i < cnt; i++) most = s[i] > most || s[i] != s[i] ? s[i] : most; /* NaN wins, as in Math.max */
  }
  J->rowMax[chunk] = most;
  /* The latents' weights. */
  int64_t j0, j1;
  saelab_split(J->cols, (int)chunk, BD_CHUNKS, 16, &j0, &j1);
  float *out = J->normSq;
  if (J->transW) { /* w [cols, n]: latent j's row */
    for (int64_t j = j0; j < j1; j += BD_LANES) {
      const int cnt = j1 - j < BD_LANES ? (int)(j1 - j) : BD_LANES;
      double s[BD_LANES];
      bd_rows(J->w + j * n, NULL, n, cnt, 1, s);
      for (int i = 0; i < cnt; i++) out[j + i] = (float)s[i];
    }
  } else { /* w [n, cols]: latent j's column, walked row by row */
    for (int64_t j = j0; j < j1; j++) out[j] = 0;
    for (int64_t c = 0; c < n; c++) {
      const float *row = J->w + c * J->cols;
      for (int64_t j = j0; j < j1; j++) {
        const double v = row[j];
        out[j] = (float)((double)out[j] + v * v);
      }
    }
  }
}

double saelab_proposal_norms(const float *x, int64_t rows, int64_t n, const float *center, const float *w, int64_t cols, int transW, float *normSq) {
  bd_job J = {x, center, w, rows, n, cols, transW, normSq, {0}};
  saelab_pool_chunks(bd_task, &J, BD_CHUNKS, (double)(rows + cols) * n < 65536 ? 1 : 0);
  double most = 0;
  for (int c = 0; c < BD_CHUNKS; c++) most = J.rowMax[c] > most || J.rowMax[c] != J.rowMax[c] ? J.rowMax[c] : most;
  return most;
}
