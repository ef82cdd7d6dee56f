/* Small AVX2 helpers shared by the kernel files (SAELAB_AVX2 / SAELAB_AVX512 say which ISA this
   library is compiled for). Reductions use one fixed tree so that a value
   computed alone (reduce1) equals the same value computed in a group of eight (reduce8). */
#ifndef SAELAB_SIMD_H
#define SAELAB_SIMD_H
#include <stdint.h>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SAELAB_AVX2 1
/* The AVX-512 library (binding.gyp) also has 512-bit kernels; the AVX2 ones serve its narrow parts. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define SAELAB_AVX512 1
#endif

/* Mask of the first `rem` lanes (rem in 0..8). */
static inline __m256i saelab_lane_mask(int64_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Lane-wise partial dot of x and y over k (lane l sums p = l mod 8; the tail is masked to zero). */
static inline __m256 saelab_dot_lanes(const float *x, const float *y, int64_t k, __m256i tail) {
  __m256 acc = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(y + p), acc);
  if (p < k) acc = _mm256_fmadd_ps(_mm256_maskload_ps(x + p, tail), _mm256_maskload_ps(y + p, tail), acc);
  return acc;
}

/* ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)). */
static inline float saelab_reduce1(__m256 v) {
  __m256 h = _mm256_hadd_ps(v, v);
  h = _mm256_hadd_ps(h, h);
  return _mm_cvtss_f32(_mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
}

/* Lane q of the result is saelab_reduce1(v[q]). */
static inline __m256 saelab_reduce8(const __m256 *v) {
  __m256 h01 = _mm256_hadd_ps(v[0], v[1]), h23 = _mm256_hadd_ps(v[2], v[3]);
  __m256 h45 = _mm256_hadd_ps(v[4], v[5]), h67 = _mm256_hadd_ps(v[6], v[7]);
  __m256 a = _mm256_hadd_ps(h01, h23), b = _mm256_hadd_ps(h45, h67);
  return _mm256_add_ps(_mm256_permute2f128_ps(a, b, 0x20), _mm256_permute2f128_ps(a, b, 0x31));
}

/* Lane q of the result is saelab_reduce1(saelab_dot_lanes(x[q], y, n, tail)): eight dots against one
   shared vector, eight independent chains. The AVX-512 library runs two of them per 512-bit register
   (entry 2h in the low half of register h, 2h + 1 in the high half), the same operations per lane. */
static inline __m256 saelab_dots8(const float *const *x, const float *y, int64_t n, __m256i tail) {
  __m256 v[8];
  int64_t p = 0;
#ifdef SAELAB_AVX512
  __m512 w[4];
  for (int h = 0; h < 4; h++) w[h] = _mm512_setzero_ps();
  for (; p + 8 <= n; p += 8) {
    const __m512 yv = _mm512_broadcast_f32x8(_mm256_loadu_ps(y + p));
    for (int h = 0; h < 4; h++)
      w[h] = _mm512_fmadd_ps(_mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(x[2 * h] + p)), _mm256_loadu_ps(x[2 * h + 1] + p), 1), yv, w[h]);
  }
  if (p < n) {
    const __m512 yv = _mm512_broadcast_f32x8(_mm256_maskload_ps(y + p, tail));
    for (int h = 0; h < 4; h++)
      w[h] = _mm512_fmadd_ps(_mm512_insertf32x8(_mm512_castps256_ps512(_mm256_maskload_ps(x[2 * h] + p, tail)), _mm256_maskload_ps(x[2 * h + 1] + p, tail), 1), yv, w[h]);
  }
  for (int h = 0; h < 4; h++) { v[2 * h] = _mm512_castps512_ps256(w[h]); v[2 * h + 1] = _mm512_extractf32x8_ps(w[h], 1); }
#else
  for (int q = 0; q < 8; q++) v[q] = _mm256_setzero_ps();
  for (; p + 8 <= n; p += 8) {
    const __m256 yv = _mm256_loadu_ps(y + p);
    for (int q = 0; q < 8; q++) v[q] = _mm256_fmadd_ps(_mm256_loadu_ps(x[q] + p), yv, v[q]);
  }
  if (p < n) {
    const __m256 yv = _mm256_maskload_ps(y + p, tail);
    for (int q = 0; q < 8; q++) v[q] = _mm256_fmadd_ps(_mm256_maskload_ps(x[q] + p, tail), yv, v[q]);
  }
#endif
  return saelab_reduce8(v);
}

/* exp(x) for 8 floats (Cephes-style range reduction and polynomial, about 1 ulp on [-87, 88]). */
static inline __m256 saelab_exp8(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(88.3762626647949f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.3365447505531f));
  __m256 fx = _mm256_floor_ps(_mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_add_ps(_mm256_fmadd_ps(y, z, x), _mm256_set1_ps(1.0f));
  __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

#ifdef SAELAB_AVX512
/* saelab_exp8's operations on 16 lanes, so each lane gets the bits saelab_exp8 gives it. */
static inline __m512 saelab_exp16(__m512 x) {
  x = _mm512_min_ps(x, _mm512_set1_ps(88.3762626647949f));
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.3365447505531f));
  __m512 fx = _mm512_roundscale_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(0.5f)), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(0.693359375f), x);
  x = _mm512_fnmadd_ps(fx, _mm512_set1_ps(-2.12194440e-4f), x);
  __m512 z = _mm512_mul_ps(x, x);
  __m512 y = _mm512_set1_ps(1.9875691500e-4f);
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.3981999507e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(8.3334519073e-3f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(4.1665795894e-2f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(1.6666665459e-1f));
  y = _mm512_fmadd_ps(y, x, _mm512_set1_ps(5.0000001201e-1f));
  y = _mm512_add_ps(_mm512_fmadd_ps(y, z, x), _mm512_set1_ps(1.0f));
  __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(fx), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}
#endif

/* In-place transpose of the 8x8 block held in r[0..7]. */
static inline void saelab_transpose8(__m256 *r) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20); r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20); r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31); r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31); r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}
#endif

/* Portable twin of saelab_reduce1's tree over eight lane sums. */
static inline float saelab_reduce_lanes(const float *l) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}
#endif
