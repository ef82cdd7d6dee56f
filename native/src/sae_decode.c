/* The decoder side of the SAE step in one call: reconstruction bias + S w, error against x, the
   summed squared error, the output gradient scale * error, its column sums (the bias gradient) and
   the gradient of every latent value (grad[r, :] . w[j, :]).
   A small decoder (w in cache) is walked row by row: a row is decoded, finished and dotted with its
   latents' weight rows while it is in L1. A big one goes through the latent-major spmm and sddmm,
   which read w once. Either way each reconstruction element is one FMA chain from the bias over the
   row's latents in ascending order, and each value gradient the eight-lane dot of saelab_sddmm; the
   sums over rows are taken per fixed block of DB rows and then over blocks in order, so nothing
   depends on the thread count or timing. */
#include <math.h>
#include <string.h>
#include "pool.h"
#include "simd.h"
#include "sae_step.h"

#define DB 256                   /* rows per block of the sums over rows */
#define ROWWISE_BYTES (1u << 20) /* decoders up to 1 MiB are walked row by row */

typedef struct {
  const saelab_decode_args *a;
  int rowwise, failed, phase;
  int64_t nb;
  double *sq;    /* [nb] */
  float *bsum;   /* [nb, n] */
  float *csum;   /* [nb, cols] */
} dec_job;

/* Turns rows [r0, r1) of grad (holding the reconstruction) into the error and the gradient; returns
   the summed squared error: per row, eight double lanes (column c in lane c mod 8, whole blocks of
   eight) added by saelab_reduce_lanes' tree, then the row's last n mod 8 columns in order, then the
   rows in order. The SIMD libraries run the lanes as vectors with the same operations (an FMA per
   square), so they give the same bits; the gradient is (float)((double)v * scale) on every path. */
static double finish_rows(const saelab_decode_args *a, int64_t r0, int64_t r1, float *bsum) {
  const int64_t n = a->n, whole = n & ~(int64_t)7;
  double sq = 0;
  for (int64_t r = r0; r < r1; r++) {
    float *g = a->grad + r * n, *er = a->err ? a->err + r * n : NULL;
    const float *x = a->x + r * n;
    double lanes[8] = {0};
    int64_t c = 0;
#ifdef SAELAB_AVX2
    const __m256d sc = _mm256_set1_pd(a->scale);
    __m256d lo = _mm256_setzero_pd(), hi = lo;
    for (; c < whole; c += 8) {
      const __m256 v = _mm256_sub_ps(_mm256_loadu_ps(g + c), _mm256_loadu_ps(x + c));
      if (er) _mm256_storeu_ps(er + c, v);
      const __m256d vl = _mm256_cvtps_pd(_mm256_castps256_ps128(v)), vh = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
      lo = _mm256_fmadd_pd(vl, vl, lo);
      hi = _mm256_fmadd_pd(vh, vh, hi);
      const __m256 gv = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_mul_pd(vh, sc)), _mm256_cvtpd_ps(_mm256_mul_pd(vl, sc)));
      _mm256_storeu_ps(g + c, gv);
      if (bsum) _mm256_storeu_ps(bsum + c, _mm256_add_ps(_mm256_loadu_ps(bsum + c), gv));
    }
    _mm256_storeu_pd(lanes, lo);
    _mm256_storeu_pd(lanes + 4, hi);
#else
    for (; c < whole; c++) {
      float v = g[c] - x[c];
      lanes[c & 7] = fma((double)v, (double)v, lanes[c & 7]);
      if (er) er[c] = v;
      float gv = (float)((double)v * a->scale);
      g[c] = gv;
      if (bsum) bsum[c] += gv;
    }
#endif
    double row = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
    for (; c < n; c++) {
      float v = g[c] - x[c];
      row = fma((double)v, (double)v, row);
      if (er) er[c] = v;
      float gv = (float)((double)v * a->scale);
      g[c] = gv;
      if (bsum) bsum[c] += gv;
    }
    sq += row;
  }
  return sq;
}

/* Decodes rows [r0, r1) into grad (bias + S w), eight columns at a time across the row's latents. */
static void decode_rows(const saelab_decode_args *a, int64_t r0, int64_t r1) {
  const saelab_csr *s = a->s;
  const int64_t n = a->n;
  for (int64_t r = r0; r < r1; r++) {
    int64_t e0 = s->rowPtr[r], e1 = s->rowPtr[r + 1];
    float *o = a->grad + r * n;
    int64_t c = 0;
#ifdef SAELAB_AVX512
    /* The same chain per element as below, sixteen elements per instruction; a masked tail. */
    for (; c + 64 <= n; c += 64) {
      __m512 acc[4];
      for (int h = 0; h < 4; h++) acc[h] = a->bias ? _mm512_loadu_ps(a->bias + c + 16 * h) : _mm512_setzero_ps();
      for (int64_t e = e0; e < e1; e++) {
        const float *w = a->w + (int64_t)s->colIdx[e] * n + c;
        __m512 v = _mm512_set1_ps(s->values[e]);
        for (int h = 0; h < 4; h++) acc[h] = _mm512_fmadd_ps(v, _mm512_loadu_ps(w + 16 * h), acc[h]);
      }
      for (int h = 0; h < 4; h++) _mm512_storeu_ps(o + c + 16 * h, acc[h]);
    }
    for (; c < n; c += 16) {
      const __mmask16 m = (__mmask16)(n - c >= 16 ? 0xFFFFu : (1u << (n - c)) - 1);
      __m512 acc = a->bias ? _mm512_maskz_loadu_ps(m, a->bias + c) : _mm512_setzero_ps();
      for (int64_t e = e0; e < e1; e++) acc = _mm512_fmadd_ps(_mm512_set1_ps(s->values[e]), _mm512_maskz_loadu_ps(m, a->w + (int64_t)s->colIdx[e] * n + c), acc);
      _mm512_mask_storeu_ps(o + c, m, acc);
    }
#endif
#ifdef SAELAB_AVX2
    /* Eight chains in flight: one entry's eight FMAs issue while the previous entry's complete. */
    for (; c + 64 <= n; c += 64) {
      __m256 acc[8];
      for (int h = 0; h < 8; h++) acc[h] = a->bias ? _mm256_loadu_ps(a->bias + c + 8 * h) : _mm256_setzero_ps();
      for (int64_t e = e0; e < e1; e++) {
        const float *w = a->w + (int64_t)s->colIdx[e] * n + c;
        __m256 v = _mm256_broadcast_ss(s->values + e);
        for (int h = 0; h < 8; h++) acc[h] = _mm256_fmadd_ps(v, _mm256_loadu_ps(w + 8 * h), acc[h]);
      }
      for (int h = 0; h < 8; h++) _mm256_storeu_ps(o + c + 8 * h, acc[h]);
    }
    for (; c + 32 <= n; c += 32) {
      __m256 z = _mm256_setzero_ps();
      __m256 a0 = a->bias ? _mm256_loadu_ps(a->bias + c) : z, a1 = a->bias ? _mm256_loadu_ps(a->bias + c + 8) : z;
      __m256 a2 = a->bias ? _mm256_loadu_ps(a->bias + c + 16) : z, a3 = a->bias ? _mm256_loadu_ps(a->bias + c + 24) : z;
      for (int64_t e = e0; e < e1; e++) {
        const float *w = a->w + (int64_t)s->colIdx[e] * n + c;
        __m256 v = _mm256_broadcast_ss(s->values + e);
        a0 = _mm256_fmadd_ps(v, _mm256_loadu_ps(w), a0);
        a1 = _mm256_fmadd_ps(v, _mm256_loadu_ps(w + 8), a1);
        a2 = _mm256_fmadd_ps(v, _mm256_loadu_ps(w + 16), a2);
        a3 = _mm256_fmadd_ps(v, _mm256_loadu_ps(w + 24), a3);
      }
      _mm256_storeu_ps(o + c, a0);
      _mm256_storeu_ps(o + c + 8, a1);
      _mm256_storeu_ps(o + c + 16, a2);
      _mm256_storeu_ps(o + c + 24, a3);
    }
    for (; c + 8 <= n; c += 8) {
      __m256 a0 = a->bias ? _mm256_loadu_ps(a->bias + c) : _mm256_setzero_ps();
      for (int64_t e = e0; e < e1; e++) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s->values + e), _mm256_loadu_ps(a->w + (int64_t)s->colIdx[e] * n + c), a0);
      _mm256_storeu_ps(o + c, a0);
    }
#endif
    for (; c < n; c++) {
      float acc = a->bias ? a->bias[c] : 0.0f;
      for (int64_t e = e0; e < e1; e++) acc = fmaf(s->values[e], a->w[(int64_t)s->colIdx[e] * n + c], acc);
      o[c] = acc;
    }
  }
}

/* valueGrad[e] = grad[r, :] . w[j, :] (+ valueGradBias[j] when addBias) for the entries of rows
   [r0, r1), each dot as saelab_sddmm computes it. */
static void value_grads(const saelab_decode_args *a, int64_t r0, int64_t r1, int addBias) {
  const saelab_csr *s = a->s;
  const int64_t n = a->n;
#ifdef SAELAB_AVX2
  __m256i tail = saelab_lane_mask(n & 7);
#endif
  for (int64_t r = r0; r < r1; r++) {
    const float *g = a->grad + r * n;
    int64_t e = s->rowPtr[r], e1 = s->rowPtr[r + 1];
#ifdef SAELAB_AVX2
    /* Eight entries at once: eight independent chains (the same lane sums as one at a time). */
    for (; e + 8 <= e1; e += 8) {
      const float *w[8];
      for (int q = 0; q < 8; q++) w[q] = a->w + (int64_t)s->colIdx[e + q] * n;
      __m256 dots = saelab_dots8(w, g, n, tail);
      if (addBias && a->valueGradBias)
        dots = _mm256_add_ps(dots, _mm256_i32gather_ps(a->valueGradBias, _mm256_loadu_si256((const __m256i *)(s->colIdx + e)), 4));
      _mm256_storeu_ps(a->valueGrad + e, dots);
    }
#endif
    for (; e < e1; e++) {
      const float *w = a->w + (int64_t)s->colIdx[e] * n;
#ifdef SAELAB_AVX2
      float dot = saelab_reduce1(saelab_dot_lanes(g, w, n, tail));
#else
      float lanes[8] = {0};
      for (int64_t p = 0; p < n; p++) lanes[p & 7] = fmaf(g[p], w[p], lanes[p & 7]);
      float dot = saelab_reduce_lanes(lanes);
#endif
      a->valueGrad[e] = addBias && a->valueGradBias ? dot + a->valueGradBias[s->colIdx[e]] : dot;
    }
  }
}

/* Adds the values of rows [r0, r1) to their latents' sums; adds valueGradBias when the value
   gradients came from saelab_sddmm. */
static void column_pass(const saelab_decode_args *a, int64_t r0, int64_t r1, float *csum, int addBias) {
  const saelab_csr *s = a->s;
  for (int64_t e = s->rowPtr[r0]; e < s->rowPtr[r1]; e++) {
    if (csum) csum[s->colIdx[e]] += s->values[e];
    if (addBias) a->valueGrad[e] += a->valueGradBias[s->colIdx[e]];
  }
}

/* Phase 0: everything a block of rows needs (row by row), or (big decoders, after the latent-major
   spmm) the error, loss and gradient. Phase 1 (big decoders, after the latent-major sddmm): the
   latents' value sums and the value-gradient bias. */
static void dec_chunk(void *ctx, int64_t b, int tid) {
  dec_job *J = ctx;
  const saelab_decode_args *a = J->a;
  const int64_t rows = a->s->rows, n = a->n, cols = a->s->cols;
  (void)tid;
  {
    int64_t r0 = b * DB, r1 = r0 + DB < rows ? r0 + DB : rows;
    float *csum = a->valueColSum ? J->csum + b * cols : NULL;
    if (csum) memset(csum, 0, (size_t)cols * sizeof(float));
    if (J->phase == 1) {
      column_pass(a, r0, r1, csum, a->valueGradBias && a->valueGrad);
      return;
    }
    float *bsum = a->biasGrad ? J->bsum + b * n : NULL;
    if (bsum) memset(bsum, 0, (size_t)n * sizeof(float));
    if (J->rowwise) {
      /* Row by row, so the row is still in L1 for its value gradients. */
      double sq = 0;
      for (int64_t r = r0; r < r1; r++) {
        if (csum) column_pass(a, r, r + 1, csum, 0);
        decode_rows(a, r, r + 1);
        sq += finish_rows(a, r, r + 1, bsum);
        if (a->valueGrad) value_grads(a, r, r + 1, 1);
      }
      J->sq[b] = sq;
    } else {
      J->sq[b] = finish_rows(a, r0, r1, bsum);
    }
  }
}

typedef struct { const saelab_decode_args *a; } fill_job;

static void bias_fill_task(void *ctx, int tid, int nt) {
  const saelab_decode_args *a = ((fill_job *)ctx)->a;
  int64_t r0, r1, n = a->n;
  saelab_split(a->s->rows, tid, nt, 1, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    if (a->bias) memcpy(a->grad + r * n, a->bias, (size_t)n * sizeof(float));
    else memset(a->grad + r * n, 0, (size_t)n * sizeof(float));
  }
}

int saelab_decode_loss(const saelab_decode_args *a, double *sq) {
  const saelab_csr *s = a->s;
  const int64_t rows = s->rows, n = a->n;
  *sq = 0;
  if (rows == 0 || n == 0) return 0;
  dec_job J;
  memset(&J, 0, sizeof J);
  J.a = a;
  J.nb = (rows + DB - 1) / DB;
  J.rowwise = (double)s->cols * (double)n * sizeof(float) <= ROWWISE_BYTES;
  size_t csumFloats = a->valueColSum ? (size_t)(J.nb * s->cols) : 0;
  char *mem = saelab_scratch(SAELAB_SCRATCH_STEP_DECODE, (size_t)J.nb * (sizeof(double) + (size_t)n * sizeof(float)) + csumFloats * sizeof(float) + 64);
  if (!mem) return -1;
  J.sq = (double *)mem;
  J.bsum = (float *)(J.sq + J.nb);
  J.csum = J.bsum + J.nb * n;
  double work = (double)(s->rowPtr[rows] - s->rowPtr[0]) * n + (double)rows * n;
  int nt = work < 65536 ? 1 : 0;
  if (!J.rowwise) {
    fill_job F = {a};
    saelab_pool_run(bias_fill_task, &F, nt);
    if (saelab_spmm(s, a->w, n, a->grad, 1) != 0) return -1;
  }
  saelab_pool_chunks(dec_chunk, &J, J.nb, nt);
  if (J.failed) return -1;
  if (!J.rowwise) {
    if (a->valueGrad && saelab_sddmm(s, a->grad, a->w, n, a->valueGrad) != 0) return -1;
    if (a->valueColSum || (a->valueGrad && a->valueGradBias)) {
      J.phase = 1;
      saelab_pool_chunks(dec_chunk, &J, J.nb, nt);
    }
  }
  if (a->valueColSum)
    for (int64_t j = 0; j < s->cols; j++) {
      float t = 0;
      for (int64_t b = 0; b < J.nb; b++) t += J.csum[b * s->cols + j];
      a->valueColSum[j] += t;
    }
  double total = 0;
  for (int64_t b = 0; b < J.nb; b++) total += J.sq[b];
  *sq = total;
  if (a->biasGrad)
    for (int64_t c = 0; c < n; c++) {
      float t = 0;
      for (int64_t b = 0; b < J.nb; b++) t += J.bsum[b * n + c];
      a->biasGrad[c] += t;
    }
  return 0;
}
