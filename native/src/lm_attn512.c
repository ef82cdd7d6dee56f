/* The AVX-512 attention tiles (the AVX-512 library only; lm_attn.c calls them there). Every output
   lane gets the operations lm_attn.c's AVX2 path gives it, in the same order, so the AVX-512 and
   AVX2 libraries agree bit for bit:
     scores: 16 consecutive positions of one key channel are one zmm; lane t is the FMA chain over d;
     softmax: saelab_exp16 is saelab_exp8 lane for lane, with the same LOGIT_FLOOR; the sum keeps its blocks of 8 positions (the
       two halves of each 16-position block are added to the 8-lane sum in order), then
       saelab_reduce1's lane tree (the tree saelab_reduce8 gives each lane); all-zero blocks past a
       row's end add exact zeros;
     P.V: 16 channels per zmm (head sizes that are multiples of 16), or with head size 8 two query
       heads sharing a key/value head in one zmm, lanes interleaved (channel c of the first at lane
       2c, of the second at 2c + 1), each lane still one head's FMA chain over the positions in order. */
#include <math.h>
#include <string.h>
#include "lm_attn.h"
#include "simd.h"
#ifdef SAELAB_AVX512

/* The first `rem` of 16 lanes (none when rem <= 0). */
static inline __mmask16 lanes16(int rem) { return rem >= 16 ? (__mmask16)0xFFFF : rem <= 0 ? (__mmask16)0 : (__mmask16)((1u << rem) - 1); }

void lm_attn512_scores(const float *qt, const float *kb, int hs, int cap, int capb, int nmax, float *S, size_t ls) {
  for (int t0 = 0; t0 < nmax; t0 += 16) {
    __m512 acc[QMAX];
#pragma GCC unroll 12
    for (int i = 0; i < QMAX; i++) acc[i] = _mm512_setzero_ps();
    const __mmask16 m = lanes16(capb - t0);
    const float *kd = kb + t0, *qd = qt;
    for (int d = 0; d < hs; d++, kd += cap, qd += QMAX) {
      const __m512 k16 = _mm512_maskz_loadu_ps(m, kd);
#pragma GCC unroll 12
      for (int i = 0; i < QMAX; i++) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(qd[i]), k16, acc[i]);
    }
#pragma GCC unroll 12
    for (int i = 0; i < QMAX; i++) _mm512_storeu_ps(S + i * ls + t0, acc[i]);
  }
}

void lm_attn512_scores_one(const float *q, const float *kb, int hs, int cap, int capb, int n, float *sc) {
  int t0 = 0;
  for (; t0 + 64 <= n; t0 += 64) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int d = 0; d < hs; d++) {
      const __m512 qd = _mm512_set1_ps(q[d]);
      const float *kd = kb + (size_t)d * cap + t0;
      a0 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd), a0);
      a1 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 16), a1);
      a2 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 32), a2);
      a3 = _mm512_fmadd_ps(qd, _mm512_loadu_ps(kd + 48), a3);
    }
    _mm512_storeu_ps(sc + t0, a0);
    _mm512_storeu_ps(sc + t0 + 16, a1);
    _mm512_storeu_ps(sc + t0 + 32, a2);
    _mm512_storeu_ps(sc + t0 + 48, a3);
  }
  for (; t0 < n; t0 += 16) {
    const __mmask16 m = lanes16(capb - t0);
    __m512 a = _mm512_setzero_ps();
    for (int d = 0; d < hs; d++) a = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_maskz_loadu_ps(m, kb + (size_t)d * cap + t0), a);
    _mm512_storeu_ps(sc + t0, a);
  }
}

/* Weights of one row (keys 0..n-1, those before lo exactly 0) in place; returns their sum. */
static float softmax_row(float *sc, int n, int lo, __m512 vc, float c) {
  __m512 mv = _mm512_set1_ps(-INFINITY);
  int t = 0;
  for (; t + 16 <= n; t += 16) mv = _mm512_max_ps(mv, _mm512_loadu_ps(sc + t));
  if (t < n) mv = _mm512_mask_max_ps(mv, lanes16(n - t), mv, _mm512_loadu_ps(sc + t));
  const __m512 mc = _mm512_set1_ps(_mm512_reduce_max_ps(mv) * c), fl = _mm512_set1_ps(LOGIT_FLOOR);
  __m256 sum = _mm256_setzero_ps();
  for (t = 0; t < n; t += 16) {
    const __m512 x = _mm512_fmsub_ps(_mm512_loadu_ps(sc + t), vc, mc);
    const __mmask16 keep = lanes16(n - t) & (__mmask16)~lanes16(lo - t) & _mm512_cmp_ps_mask(x, fl, _CMP_GE_OQ);
    const __m512 e = _mm512_maskz_mov_ps(keep, saelab_exp16(_mm512_max_ps(x, fl)));
    _mm512_storeu_ps(sc + t, e);
    sum = _mm256_add_ps(sum, _mm512_castps512_ps256(e));
    sum = _mm256_add_ps(sum, _mm512_extractf32x8_ps(e, 1));
  }
  return saelab_reduce1(sum);
}

void lm_attn512_softmax(float *S, size_t ls, const int *n, const int *lo, int nq, float c, float *inv) {
  const __m512 vc = _mm512_set1_ps(c);
  for (int i = 0; i < nq; i++) inv[i] = 1.0f / softmax_row(S + (size_t)i * ls, n[i], lo[i], vc, c);
}

void lm_attn512_pv16(const PvChunk *ch, const float *vb, int kv, int d0) {
  const int rows = ch->rows, n0 = ch->n0;
  const float *const *p = ch->p;
  __m512 o[RMAX];
#pragma GCC unroll 6
  for (int j = 0; j < RMAX; j++) o[j] = _mm512_setzero_ps();
  const float *vr = vb + d0;
  for (int t = 0; t < n0; t++, vr += kv) {
    const __m512 v = _mm512_loadu_ps(vr);
#pragma GCC unroll 6
    for (int j = 0; j < RMAX; j++) o[j] = _mm512_fmadd_ps(_mm512_set1_ps(p[j][t]), v, o[j]);
  }
  /* Row j's last j keys. */
#pragma GCC unroll 5
  for (int s = 0; s < RMAX - 1; s++) {
    if (s >= rows - 1) break;
    const __m512 v = _mm512_loadu_ps(vb + (size_t)(n0 + s) * kv + d0);
#pragma GCC unroll 6
    for (int j = s + 1; j < RMAX; j++)
      if (j < rows) o[j] = _mm512_fmadd_ps(_mm512_set1_ps(p[j][n0 + s]), v, o[j]);
  }
  for (int j = 0; j < rows; j++) _mm512_storeu_ps(ch->out[j] + d0, _mm512_mul_ps(o[j], _mm512_set1_ps(ch->inv[j])));
}

/* (x, y) as one 64-bit lane pair broadcast to all eight pairs. */
static inline __m512 pair16(float x, float y) {
  const float xy[2] = { x, y };
  double d;
  memcpy(&d, xy, sizeof d);
  return _mm512_castpd_ps(_mm512_set1_pd(d));
}

/* The weights pair at position t of an interleaved row. */
static inline __m512 pp16(const float *pp, int t) {
  double d;
  memcpy(&d, pp + 2 * t, sizeof d);
  return _mm512_castpd_ps(_mm512_set1_pd(d));
}

void lm_attn512_pv_pair(const PvChunk *a, const PvChunk *b, const float *vb, int kv, float *pp, size_t lp) {
  const int rows = a->rows, n0 = a->n0, nt = n0 + rows - 1;
  /* Row j's weights interleaved: pp_j[2t] = a's, pp_j[2t + 1] = b's, for t < n0 + rows - 1. */
  const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  const float *w[RMAX];
  for (int j = 0; j < RMAX; j++) {
    float *row = pp + (size_t)j * 2 * lp;
    w[j] = j < rows ? row : pp;
    if (j >= rows) continue;
    for (int t = 0; t < nt; t += 16) {
      const __m512 x = _mm512_loadu_ps(a->p[j] + t), y = _mm512_loadu_ps(b->p[j] + t);
      _mm512_storeu_ps(row + 2 * t, _mm512_permutex2var_ps(x, lo, y));
      _mm512_storeu_ps(row + 2 * t + 16, _mm512_permutex2var_ps(x, hi, y));
    }
  }
  const __m512i dup = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
  __m512 o[RMAX];
#pragma GCC unroll 6
  for (int j = 0; j < RMAX; j++) o[j] = _mm512_setzero_ps();
  const float *vr = vb;
  for (int t = 0; t < n0; t++, vr += kv) {
    const __m512 v = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(vr)));
#pragma GCC unroll 6
    for (int j = 0; j < RMAX; j++) o[j] = _mm512_fmadd_ps(pp16(w[j], t), v, o[j]);
  }
#pragma GCC unroll 5
  for (int s = 0; s < RMAX - 1; s++) {
    if (s >= rows - 1) break;
    const __m512 v = _mm512_permutexvar_ps(dup, _mm512_castps256_ps512(_mm256_loadu_ps(vb + (size_t)(n0 + s) * kv)));
#pragma GCC unroll 6
    for (int j = s + 1; j < RMAX; j++)
      if (j < rows) o[j] = _mm512_fmadd_ps(pp16(w[j], n0 + s), v, o[j]);
  }
  /* Lanes back to head order: a's eight channels, then b's. */
  const __m512i split = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
  for (int j = 0; j < rows; j++) {
    const __m512 r = _mm512_permutexvar_ps(split, _mm512_mul_ps(o[j], pair16(a->inv[j], b->inv[j])));
    _mm256_storeu_ps(a->out[j], _mm512_castps512_ps256(r));
    _mm256_storeu_ps(b->out[j], _mm512_extractf32x8_ps(r, 1));
  }
}

void lm_attn512_pv_one(const float *S, size_t ls, int n, int nq, const float *vb, int kv, const size_t *voff, const float *inv, float *out, int hs, int d0) {
  __m512 o[QMAX];
  for (int i = 0; i < QMAX; i++) o[i] = _mm512_setzero_ps();
  for (int t = 0; t < n; t++) {
    const float *vr = vb + (size_t)t * kv + d0;
    for (int i = 0; i < nq; i++) o[i] = _mm512_fmadd_ps(_mm512_set1_ps(S[i * ls + t]), _mm512_loadu_ps(vr + voff[i]), o[i]);
  }
  for (int i = 0; i < nq; i++) _mm512_storeu_ps(out + (size_t)i * hs + d0, _mm512_mul_ps(o[i], _mm512_set1_ps(inv[i])));
}
#endif
