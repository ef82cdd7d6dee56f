/* Causal attention over the KV cache (lm_rope.c writes it).

   Keys are cached [kv_dim][position] so that eight consecutive positions of one channel are one
   vector; values are cached [position][kv_dim] so that one position of a head is hs/8 vectors.
   Each query (a row's head) is computed by a fixed sequence of operations:
     scores s[t] = sum over d of q[d] * k[d][t], one FMA chain per block of 8 positions;
     m = max s; p[t] = exp(x) for x = s[t] * c - m * c (one fused multiply-subtract) with
     c = 1/sqrt(hs), and p[t] = 0 where x < LOGIT_FLOOR (lm_attn.h: no subnormal weights);
     sum = the blocks of p added in order, then a fixed lane tree; o = sum over t of p[t] * v[t]
     in order; out = o * (1 / sum).
   With logit soft-capping (Gemma 2) the scores become s'[t] = cap * tanh(s[t] * c / cap) and the
   softmax runs on s' with c = 1. With a sliding window a query's keys before pos - window + 1 get
   weight exactly 0: blocks of 8 positions stay aligned to absolute positions and the skipped
   leading blocks would only have added zeros, so a row's numbers do not depend on where the tile
   holding it starts.
   Queries are processed in tiles (consecutive positions of one sequence and the query heads sharing
   a key/value head, up to 12 at once) so that each key and value vector loaded serves the whole
   tile, or one row at a time with every head interleaved when decoding; the values are the same. */
#include <math.h>
#include <string.h>
#include "lm.h"
#include "lm_attn.h"
#include "simd.h"

/* QMAX score rows of cap + 16 floats, the transposed queries, and with AVX-512 RMAX interleaved
   weight rows of 2 (cap + 16) floats (lm_attn512_pv_pair). */
size_t lm_attn_scratch(const Pass *s) {
  size_t n = (size_t)QMAX * (s->cap + 16 + s->L[L_HEAD_SIZE]) + 64;
#ifdef SAELAB_AVX512
  n += (size_t)RMAX * 2 * (s->cap + 16);
#endif
  return n;
}

/* ------------------------------------------------------------------------------ portable path */

/* The key a query at position n - 1 sees first: n - window with a window, else 0. */
static inline int first_key(int n, int window) { return window > 0 && n > window ? n - window : 0; }

/* One query over keys lo..n-1: kb [hs][cap], vb rows of stride kv; sc holds n floats. */
static void attend_scalar(const float *q, const float *kb, const float *vb, int lo, int n, int hs, int cap, int kv, float c, float softcap, float *sc, float *out) {
  float m = -INFINITY;
  for (int t = lo; t < n; t++) {
    float acc = 0.0f;
    for (int d = 0; d < hs; d++) acc += q[d] * kb[(size_t)d * cap + t];
    if (softcap > 0.0f) acc = softcap * tanhf(acc * c / softcap);
    sc[t] = acc;
    if (acc > m) m = acc;
  }
  if (softcap > 0.0f) c = 1.0f;
  const float mc = m * c;
  float sum = 0.0f;
  for (int t = lo; t < n; t++) {
    sc[t] = expf(sc[t] * c - mc);
    sum += sc[t];
  }
  const float inv = 1.0f / sum;
  for (int d = 0; d < hs; d++) {
    float o = 0.0f;
    for (int t = lo; t < n; t++) o += sc[t] * vb[(size_t)t * kv + d];
    out[d] = o * inv;
  }
}

/* Soft-caps the scores of nq queries (row i at S + i * ls, keys 0..n[i]-1) when softcap > 0, and
   sets the keys before lo[i] to -inf; returns the scale the softmax then applies (1 after capping). */
static inline float prep_scores(float *S, size_t ls, const int *n, const int *lo, int nq, float c, float softcap) {
  for (int i = 0; i < nq; i++) {
    float *sc = S + (size_t)i * ls;
    if (softcap > 0.0f)
      for (int t = lo[i]; t < n[i]; t++) sc[t] = softcap * tanhf(sc[t] * c / softcap);
    for (int t = 0; t < lo[i]; t++) sc[t] = -INFINITY;
  }
  return softcap > 0.0f ? 1.0f : c;
}

#ifdef SAELAB_AVX2
#ifdef SAELAB_AVX512
#define softmax_rows lm_attn512_softmax /* the same numbers, 16 lanes at a time */
#else
/* saelab_exp8 (simd.h) of x[0..3] computed in lockstep: the same operations on each, interleaved
   so that four independent chains fill the pipelines (one chain alone is latency-bound). */
static inline void exp8x4(__m256 *x) {
  __m256 fx[4], y[4], z[4];
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    x[i] = _mm256_min_ps(x[i], _mm256_set1_ps(88.3762626647949f));
    x[i] = _mm256_max_ps(x[i], _mm256_set1_ps(-87.3365447505531f));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) fx[i] = _mm256_floor_ps(_mm256_fmadd_ps(x[i], _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) x[i] = _mm256_fnmadd_ps(fx[i], _mm256_set1_ps(0.693359375f), x[i]);
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) x[i] = _mm256_fnmadd_ps(fx[i], _mm256_set1_ps(-2.12194440e-4f), x[i]);
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    z[i] = _mm256_mul_ps(x[i], x[i]);
    y[i] = _mm256_fmadd_ps(_mm256_set1_ps(1.9875691500e-4f), x[i], _mm256_set1_ps(1.3981999507e-3f));
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) y[i] = _mm256_fmadd_ps(y[i], x[i], _mm256_set1_ps(8.3334519073e-3f));
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) y[i] = _mm256_fmadd_ps(y[i], x[i], _mm256_set1_ps(4.1665795894e-2f));
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) y[i] = _mm256_fmadd_ps(y[i], x[i], _mm256_set1_ps(1.6666665459e-1f));
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) y[i] = _mm256_fmadd_ps(y[i], x[i], _mm256_set1_ps(5.0000001201e-1f));
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) y[i] = _mm256_add_ps(_mm256_fmadd_ps(y[i], z[i], x[i]), _mm256_set1_ps(1.0f));
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx[i]), _mm256_set1_epi32(127)), 23);
    x[i] = _mm256_mul_ps(y[i], _mm256_castsi256_ps(e));
  }
}

/* The weights exp(x) of x[0..3] (x = s c - m c), exactly 0 where x < LOGIT_FLOOR. */
static inline void weight8x4(__m256 *x) {
  const __m256 fl = _mm256_set1_ps(LOGIT_FLOOR);
  __m256 keep[4];
#pragma GCC unroll 4
  for (int b = 0; b < 4; b++) {
    keep[b] = _mm256_cmp_ps(x[b], fl, _CMP_GE_OQ);
    x[b] = _mm256_max_ps(x[b], fl);
  }
  exp8x4(x);
#pragma GCC unroll 4
  for (int b = 0; b < 4; b++) x[b] = _mm256_and_ps(x[b], keep[b]);
}

/* The weights exp(x) of x, exactly 0 where x < LOGIT_FLOOR. */
static inline __m256 weight8(__m256 x) {
  const __m256 fl = _mm256_set1_ps(LOGIT_FLOOR);
  return _mm256_and_ps(saelab_exp8(_mm256_max_ps(x, fl)), _mm256_cmp_ps(x, fl, _CMP_GE_OQ));
}

/* Eight positions t0.. of channel row kd (cap floats): masked when the block runs past the row. */
static inline __m256 kload(const float *kd, int t0, int cap) {
  return t0 + 8 <= cap ? _mm256_loadu_ps(kd + t0) : _mm256_maskload_ps(kd + t0, saelab_lane_mask(cap - t0));
}

/* The largest of each of v[0..7], in lane order (max is exact, so any tree gives the same value). */
static inline __m256 hmax8(const __m256 *v) {
  __m256 a[4];
  for (int i = 0; i < 4; i++) {
    const __m256 lo = _mm256_unpacklo_ps(v[2 * i], v[2 * i + 1]), hi = _mm256_unpackhi_ps(v[2 * i], v[2 * i + 1]);
    a[i] = _mm256_max_ps(lo, hi); /* v0 v1 pairs interleaved: (x0,y0,x1,y1 | x4,y4,x5,y5) */
  }
  const __m256 b0 = _mm256_max_ps(_mm256_shuffle_ps(a[0], a[1], 0x44), _mm256_shuffle_ps(a[0], a[1], 0xEE));
  const __m256 b1 = _mm256_max_ps(_mm256_shuffle_ps(a[2], a[3], 0x44), _mm256_shuffle_ps(a[2], a[3], 0xEE));
  /* b0 = (v0 v1 v2 v3 | v0 v1 v2 v3) partial maxima of each half; same for b1 with v4..v7. */
  return _mm256_max_ps(_mm256_permute2f128_ps(b0, b1, 0x20), _mm256_permute2f128_ps(b0, b1, 0x31));
}

/* e with the lanes of positions t.. before lo zeroed. */
static inline __m256 keep_from(__m256 e, int t, int lo) {
  if (lo <= t) return e;
  if (lo >= t + 8) return _mm256_setzero_ps();
  return _mm256_andnot_ps(_mm256_castsi256_ps(saelab_lane_mask(lo - t)), e);
}

/* Turns the scores of nq queries (row i at S + i * ls, keys 0..n[i]-1 in blocks of 8, the last
   block's tail undefined, the keys before lo[i] -inf) into weights in place (exactly 0 before
   lo[i]), and sets inv[i] = 1 / their sum. Each query's numbers are the same whichever queries
   share the call. */
static void softmax_rows(float *S, size_t ls, const int *n, const int *lo, int nq, float c, float *inv) {
  const __m256 vc = _mm256_set1_ps(c), ninf = _mm256_set1_ps(-INFINITY);
  for (int i0 = 0; i0 < nq; i0 += 8) {
    const int m = nq - i0 < 8 ? nq - i0 : 8;
    __m256 v[8];
    for (int i = 0; i < 8; i++) {
      if (i >= m) { v[i] = _mm256_setzero_ps(); continue; }
      const float *sc = S + (size_t)(i0 + i) * ls;
      const int last = 8 * ((n[i0 + i] - 1) / 8);
      __m256 mv = _mm256_blendv_ps(ninf, _mm256_loadu_ps(sc + last), _mm256_castsi256_ps(saelab_lane_mask(n[i0 + i] - last)));
      for (int t = 0; t < last; t += 8) mv = _mm256_max_ps(mv, _mm256_loadu_ps(sc + t));
      v[i] = mv;
    }
    float mc[8], sums[8];
    _mm256_storeu_ps(mc, _mm256_mul_ps(hmax8(v), vc));
    for (int i = 0; i < 8; i++) {
      if (i >= m) { v[i] = _mm256_setzero_ps(); continue; }
      float *sc = S + (size_t)(i0 + i) * ls;
      const int last = 8 * ((n[i0 + i] - 1) / 8);
      const __m256 mci = _mm256_set1_ps(mc[i]);
      const int lo_i = lo[i0 + i];
      __m256 sum = _mm256_setzero_ps();
      int t = 0;
      for (; t + 32 <= last; t += 32) {
        __m256 e[4];
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) e[b] = _mm256_fmsub_ps(_mm256_loadu_ps(sc + t + 8 * b), vc, mci);
        weight8x4(e);
        if (t < lo_i)
          for (int b = 0; b < 4; b++) e[b] = keep_from(e[b], t + 8 * b, lo_i);
#pragma GCC unroll 4
        for (int b = 0; b < 4; b++) {
          _mm256_storeu_ps(sc + t + 8 * b, e[b]);
          sum = _mm256_add_ps(sum, e[b]);
        }
      }
      for (; t < last; t += 8) {
        const __m256 e = keep_from(weight8(_mm256_fmsub_ps(_mm256_loadu_ps(sc + t), vc, mci)), t, lo_i);
        _mm256_storeu_ps(sc + t, e);
        sum = _mm256_add_ps(sum, e);
      }
      const __m256 e = keep_from(_mm256_and_ps(weight8(_mm256_fmsub_ps(_mm256_loadu_ps(sc + last), vc, mci)), _mm256_castsi256_ps(saelab_lane_mask(n[i0 + i] - last))), last, lo_i);
      _mm256_storeu_ps(sc + last, e);
      v[i] = _mm256_add_ps(sum, e);
    }
    _mm256_storeu_ps(sums, saelab_reduce8(v));
    for (int i = 0; i < m; i++) inv[i0 + i] = 1.0f / sums[i];
  }
}

#endif

/* A tile: rows of one slot at consecutive positions (row j over keys 0..n0 + j - 1) and the mul
   query heads sharing key/value head g, nr * mul <= QMAX. */
typedef struct {
  const float *q;  /* row r0's queries; row j at q + j * ldq */
  int ldq;
  float *out;      /* row r0's output; row j at out + j * ldo */
  int ldo;
  int n0, nr;
  int window;      /* sliding window (0: none) */
  float softcap;   /* 0: none */
} Tile;

/* Scores of the QMAX transposed queries qt [hs][QMAX] over keys 0..nmax-1 of kb (keys from capb on
   read as 0), one FMA chain per block of 8 positions, into the rows of S. */
static void scores_tile(const float *qt, const float *kb, int hs, int cap, int capb, int nmax, float *S, size_t ls) {
#ifdef SAELAB_AVX512
  lm_attn512_scores(qt, kb, hs, cap, capb, nmax, S, ls);
#else
  for (int t0 = 0; t0 < nmax; t0 += 8) {
    __m256 acc[QMAX];
#pragma GCC unroll 12
    for (int i = 0; i < QMAX; i++) acc[i] = _mm256_setzero_ps();
    const float *kd = kb + t0, *qd = qt;
    if (t0 + 8 <= capb) {
      for (int d = 0; d < hs; d++, kd += cap, qd += QMAX) {
        const __m256 kv8 = _mm256_loadu_ps(kd);
#pragma GCC unroll 12
        for (int i = 0; i < QMAX; i++) acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(qd + i), kv8, acc[i]);
      }
    } else {
      const __m256i m = saelab_lane_mask(capb - t0);
      for (int d = 0; d < hs; d++, kd += cap, qd += QMAX) {
        const __m256 kv8 = _mm256_maskload_ps(kd, m);
#pragma GCC unroll 12
        for (int i = 0; i < QMAX; i++) acc[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(qd + i), kv8, acc[i]);
      }
    }
#pragma GCC unroll 12
    for (int i = 0; i < QMAX; i++) _mm256_storeu_ps(S + i * ls + t0, acc[i]);
  }
#endif
}

/* Channels d0..d0+7 of a chunk (values vb, rows of stride kv): every row over keys 0..n0-1, then row
   j over its last j keys. */
static void pv8(const PvChunk *ch, const float *vb, int kv, int d0) {
  const int rows = ch->rows, n0 = ch->n0;
  const float *const *p = ch->p;
  __m256 o[RMAX];
#pragma GCC unroll 6
  for (int j = 0; j < RMAX; j++) o[j] = _mm256_setzero_ps();
  const float *vr = vb + d0;
  for (int t = 0; t < n0; t++, vr += kv) {
    const __m256 v = _mm256_loadu_ps(vr);
#pragma GCC unroll 6
    for (int j = 0; j < RMAX; j++) o[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(p[j] + t), v, o[j]);
  }
#pragma GCC unroll 5
  for (int s = 0; s < RMAX - 1; s++) {
    if (s >= rows - 1) break;
    const __m256 v = _mm256_loadu_ps(vb + (size_t)(n0 + s) * kv + d0);
#pragma GCC unroll 6
    for (int j = s + 1; j < RMAX; j++)
      if (j < rows) o[j] = _mm256_fmadd_ps(_mm256_broadcast_ss(p[j] + n0 + s), v, o[j]);
  }
  for (int j = 0; j < rows; j++) _mm256_storeu_ps(ch->out[j] + d0, _mm256_mul_ps(o[j], _mm256_set1_ps(ch->inv[j])));
}

/* The chunk of rows jc..jc+rows-1 of query head h (of the mul sharing key/value head g). */
static PvChunk chunk(const Tile *tl, const float *S, size_t ls, const float *inv, int g, int mul, int h, int hs, int jc, int rows, int n0) {
  PvChunk ch = { .rows = rows, .n0 = n0 };
  for (int j = 0; j < RMAX; j++) {
    const int i = (j < rows ? jc + j : jc) * mul + h;
    ch.p[j] = S + (size_t)i * ls;
    ch.inv[j] = inv[i];
    ch.out[j] = tl->out + (size_t)(j < rows ? jc + j : jc) * tl->ldo + (size_t)(g * mul + h) * hs;
  }
  return ch;
}

/* kb: head g's keys [hs][cap]; vb: its values, rows of stride kv. S: lm_attn_scratch's layout (QMAX
   rows of cap + 16 floats, QMAX * hs floats for the transposed queries, ...). Keys are read from b,
   the first key of row 0 rounded down to a multiple of 8; S, the counts and the first keys are
   relative to b. */
static void attend_tile(const Tile *tl, int g, int mul, const float *kb, const float *vb, int hs, int cap, int kv, float c, float *S) {
  const size_t ls = (size_t)cap + 16;
  const int b = first_key(tl->n0, tl->window) & ~7;
  kb += b;
  vb += (size_t)b * kv;
  const int nr = tl->nr, nq = nr * mul, nmin = tl->n0 - b, nmax = tl->n0 - b + nr - 1;
  /* Queries transposed, qt[d][i] (query i = row i / mul, head g * mul + i % mul; zeros past nq), so
     that every broadcast is at a fixed offset. */
  float *qt = S + QMAX * ls;
  memset(qt, 0, sizeof(float) * QMAX * hs);
  for (int j = 0, i = 0; j < nr; j++)
    for (int h = 0; h < mul; h++, i++) {
      const float *qi = tl->q + (size_t)j * tl->ldq + (size_t)(g * mul + h) * hs;
      for (int d = 0; d < hs; d++) qt[d * QMAX + i] = qi[d];
    }
  scores_tile(qt, kb, hs, cap, cap - b, nmax, S, ls);
  float inv[QMAX];
  int ns[QMAX], los[QMAX];
  for (int i = 0; i < nq; i++) {
    ns[i] = nmin + i / mul;
    los[i] = first_key(ns[i] + b, tl->window) - b;
  }
  softmax_rows(S, ls, ns, los, nq, prep_scores(S, ls, ns, los, nq, c, tl->softcap), inv);
  /* Per head (with AVX-512 and head size 8, per pair of heads) and chunk of up to RMAX rows. */
  for (int h = 0; h < mul; h++) {
    int pair = 0;
#ifdef SAELAB_AVX512
    pair = hs == 8 && h + 1 < mul;
#endif
    for (int jc = 0; jc < nr; jc += RMAX) {
      const int rows = nr - jc < RMAX ? nr - jc : RMAX;
      const PvChunk ch = chunk(tl, S, ls, inv, g, mul, h, hs, jc, rows, nmin + jc);
      int d0 = 0;
#ifdef SAELAB_AVX512
      if (pair) {
        const PvChunk ch1 = chunk(tl, S, ls, inv, g, mul, h + 1, hs, jc, rows, nmin + jc);
        lm_attn512_pv_pair(&ch, &ch1, vb, kv, qt + QMAX * hs, ls);
        continue;
      }
      for (; d0 + 16 <= hs; d0 += 16) lm_attn512_pv16(&ch, vb, kv, d0);
#endif
      for (; d0 < hs; d0 += 8) pv8(&ch, vb, kv, d0);
    }
    h += pair;
  }
}

/* One query q [hs] over keys 0..n-1 of kb [hs][cap] (keys from capb on read as 0), into sc: one
   FMA chain per position, 32 positions per pass over the channels. */
static void scores_one(const float *q, const float *kb, int hs, int cap, int capb, int n, float *sc) {
#ifdef SAELAB_AVX512
  lm_attn512_scores_one(q, kb, hs, cap, capb, n, sc);
#else
  int t0 = 0;
  for (; t0 + 32 <= n; t0 += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int d = 0; d < hs; d++) {
      const __m256 qd = _mm256_broadcast_ss(q + d);
      const float *kd = kb + (size_t)d * cap + t0;
      a0 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd), a0);
      a1 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd + 8), a1);
      a2 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd + 16), a2);
      a3 = _mm256_fmadd_ps(qd, _mm256_loadu_ps(kd + 24), a3);
    }
    _mm256_storeu_ps(sc + t0, a0);
    _mm256_storeu_ps(sc + t0 + 8, a1);
    _mm256_storeu_ps(sc + t0 + 16, a2);
    _mm256_storeu_ps(sc + t0 + 24, a3);
  }
  for (; t0 < n; t0 += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int d = 0; d < hs; d++) a = _mm256_fmadd_ps(_mm256_broadcast_ss(q + d), kload(kb + (size_t)d * cap, t0, capb), a);
    _mm256_storeu_ps(sc + t0, a);
  }
#endif
}

/* Decoding: channels d0..d0+7 of nq heads (head i's weights at S + i * ls over keys 0..n-1, its
   values at vb + voff[i]), times inv[i], into out + i * hs. */
static void pv_one8(const float *S, size_t ls, int n, int nq, const float *vb, int kv, const size_t *voff, const float *inv, float *out, int hs, int d0) {
  __m256 o[QMAX];
  for (int i = 0; i < QMAX; i++) o[i] = _mm256_setzero_ps();
  for (int t = 0; t < n; t++) {
    const float *vr = vb + (size_t)t * kv + d0;
    for (int i = 0; i < nq; i++) o[i] = _mm256_fmadd_ps(_mm256_broadcast_ss(S + i * ls + t), _mm256_loadu_ps(vr + voff[i]), o[i]);
  }
  for (int i = 0; i < nq; i++) _mm256_storeu_ps(out + (size_t)i * hs + d0, _mm256_mul_ps(o[i], _mm256_set1_ps(inv[i])));
}

/* One row (decoding): all nh heads, each over keys lo..n-1 of its key/value head; heads interleave.
   Keys are read from b = lo rounded down to a multiple of 8, as attend_tile does. */
static void attend_one(const float *q, const float *kbase, const float *vbase, int lo, int n, int nh, int mul, int hs, int cap, int kv, float c, float softcap, float *S, float *out) {
  const size_t ls = (size_t)cap + 16;
  const int b = lo & ~7, capb = cap - b;
  kbase += b;
  vbase += (size_t)b * kv;
  n -= b;
  lo -= b;
  for (int h0 = 0; h0 < nh; h0 += QMAX) {
    const int nq = nh - h0 < QMAX ? nh - h0 : QMAX;
    for (int i = 0; i < nq; i++) scores_one(q + (size_t)(h0 + i) * hs, kbase + (size_t)((h0 + i) / mul) * hs * cap, hs, cap, capb, n, S + i * ls);
    float inv[QMAX];
    size_t voff[QMAX];
    int ns[QMAX], los[QMAX];
    for (int i = 0; i < nq; i++) {
      ns[i] = n;
      los[i] = lo;
      voff[i] = (size_t)((h0 + i) / mul) * hs;
    }
    softmax_rows(S, ls, ns, los, nq, prep_scores(S, ls, ns, los, nq, c, softcap), inv);
    int d0 = 0;
#ifdef SAELAB_AVX512
    for (; d0 + 16 <= hs; d0 += 16) lm_attn512_pv_one(S, ls, n, nq, vbase, kv, voff, inv, out + (size_t)h0 * hs, hs, d0);
#endif
    for (; d0 < hs; d0 += 8) pv_one8(S, ls, n, nq, vbase, kv, voff, inv, out + (size_t)h0 * hs, hs, d0);
  }
}
#endif

void lm_attend_rows(const Pass *s, int layer, const float *q, int ldq, int r0, int r1, float *out, int ldo, float *S) {
  const int kv = s->L[L_KV_DIM], hs = s->L[L_HEAD_SIZE], nh = s->L[L_N_HEADS], mul = nh / s->L[L_N_KV_HEADS], cap = s->cap;
  const float c = s->scale > 0.0f ? s->scale : 1.0f / sqrtf((float)hs), softcap = s->softcap;
  const int window = s->window ? s->window[layer] : 0;
#ifdef SAELAB_AVX2
  if (hs % 8 == 0) {
    const int rt = mul > QMAX / 2 ? 1 : QMAX / mul; /* rows per tile */
    int r = r0;
    while (r < r1) {
      /* A run of rows of one slot at consecutive positions (a prefill) shares every key it reads. */
      int e = r + 1;
      while (e < r1 && e - r < rt && s->slot[e] == s->slot[r] && s->pos[e] == s->pos[e - 1] + 1) e++;
      const float *kbase = s->k + lm_k_off(s, layer, s->slot[r]), *vbase = s->v + lm_v_off(s, layer, s->slot[r]);
      if (e - r == 1) {
        attend_one(q + (size_t)r * ldq, kbase, vbase, first_key(s->pos[r] + 1, window), s->pos[r] + 1, nh, mul, hs, cap, kv, c, softcap, S, out + (size_t)(r - r0) * ldo);
      } else {
        const Tile tl = { q + (size_t)r * ldq, ldq, out + (size_t)(r - r0) * ldo, ldo, s->pos[r] + 1, e - r, window, softcap };
        for (int g = 0; g < s->L[L_N_KV_HEADS]; g++) attend_tile(&tl, g, mul, kbase + (size_t)g * hs * cap, vbase + (size_t)g * hs, hs, cap, kv, c, S);
      }
      r = e;
    }
    return;
  }
#endif
  for (int r = r0; r < r1; r++) {
    const float *kbase = s->k + lm_k_off(s, layer, s->slot[r]), *vbase = s->v + lm_v_off(s, layer, s->slot[r]);
    for (int h = 0; h < nh; h++)
      attend_scalar(q + (size_t)r * ldq + (size_t)h * hs, kbase + (size_t)(h / mul) * hs * cap, vbase + (size_t)(h / mul) * hs, first_key(s->pos[r] + 1, window), s->pos[r] + 1, hs, cap, kv, c, softcap, S,
                    out + (size_t)(r - r0) * ldo + (size_t)h * hs);
  }
}
