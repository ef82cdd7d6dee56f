/* Branch-free left-packing of the selected lanes of a vector, shared by the selection kernels: AVX-512
   compresses in registers (vcompressps into a register, then one whole store: no microcoded
   compress-to-memory), AVX2 permutes through the saelab_pack table (saelab_pack_ready() first). Every
   store writes whole lanes at the write position, so callers keep room for a vector past it. */
#ifndef SAELAB_SELECT_ROW_H
#define SAELAB_SELECT_ROW_H
#include <stdint.h>
#include "pack.h"
#include "simd.h"

#ifdef SAELAB_AVX512
static inline __m512i saelab_iota16(void) { return _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15); }

/* The lanes of x selected by m, in lane order, stored at v (16 floats written); returns their number. */
static inline int saelab_compress_ps(__mmask16 m, __m512 x, float *v) {
  _mm512_storeu_ps(v, _mm512_maskz_compress_ps(m, x));
  return __builtin_popcount((unsigned)m);
}

/* The same for 32-bit integers. */
static inline void saelab_compress_epi32(__mmask16 m, __m512i x, int32_t *v) { _mm512_storeu_si512((void *)v, _mm512_maskz_compress_epi32(m, x)); }

/* Mask of the first n lanes (n in 0..16). */
static inline __mmask16 saelab_lanes16(int64_t n) { return (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1); }
#endif

/* Entries of row[0..cols) with row[j] > thr[j] (scalar when thr is NULL; NaN never passes), as
   columns j0 + j in column order with their values, written at e while e < end (vector stores may
   write up to 16 lanes past the entries but never at or past end); returns their number, kept or not. */
static inline int64_t saelab_above_row(const float *row, int64_t cols, const float *thr, float scalar, int64_t j0, int32_t *ci, float *va, int64_t e, int64_t end) {
  int64_t j = 0, e0 = e;
#if defined(SAELAB_AVX512)
  const __m512 sv = _mm512_set1_ps(scalar);
  __m512i jv = _mm512_add_epi32(_mm512_set1_epi32((int)j0), saelab_iota16()); /* the columns of lanes j.. */
  for (; j + 16 <= cols && e + 16 <= end; j += 16) {
    __m512 x = _mm512_loadu_ps(row + j);
    __mmask16 m = _mm512_cmp_ps_mask(x, thr ? _mm512_loadu_ps(thr + j) : sv, _CMP_GT_OQ);
    saelab_compress_epi32(m, jv, ci + e);
    e += saelab_compress_ps(m, x, va + e);
    jv = _mm512_add_epi32(jv, _mm512_set1_epi32(16));
  }
  if (j < cols && e + 16 <= end) { /* the row's last lanes masked: nothing read past it */
    const __mmask16 lanes = saelab_lanes16(cols - j);
    __m512 x = _mm512_maskz_loadu_ps(lanes, row + j);
    __mmask16 m = _mm512_mask_cmp_ps_mask(lanes, x, thr ? _mm512_maskz_loadu_ps(lanes, thr + j) : sv, _CMP_GT_OQ);
    saelab_compress_epi32(m, jv, ci + e);
    e += saelab_compress_ps(m, x, va + e);
    j = cols;
  }
  /* No room left for whole vectors: count, and keep while below end. */
  for (; j + 16 <= cols; j += 16) {
    unsigned m = _mm512_cmp_ps_mask(_mm512_loadu_ps(row + j), thr ? _mm512_loadu_ps(thr + j) : sv, _CMP_GT_OQ);
    while (m) {
      int q = __builtin_ctz(m);
      m &= m - 1;
      if (e < end) { ci[e] = (int32_t)(j0 + j + q); va[e] = row[j + q]; }
      e++;
    }
  }
#elif defined(SAELAB_AVX2)
  const __m256 sv = _mm256_set1_ps(scalar);
  /* Eight stores at a time while there is room for them (they may write past the entries kept). */
  for (; j + 8 <= cols && e + 8 <= end; j += 8) {
    __m256 x = _mm256_loadu_ps(row + j);
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(x, thr ? _mm256_loadu_ps(thr + j) : sv, _CMP_GT_OQ));
    __m256i perm = _mm256_loadu_si256((const __m256i *)saelab_pack[m]);
    _mm256_storeu_ps(va + e, _mm256_permutevar8x32_ps(x, perm));
    _mm256_storeu_si256((__m256i *)(ci + e), _mm256_add_epi32(_mm256_set1_epi32((int)(j0 + j)), perm));
    e += __builtin_popcount(m);
  }
  for (; j + 8 <= cols; j += 8) {
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(row + j), thr ? _mm256_loadu_ps(thr + j) : sv, _CMP_GT_OQ));
    while (m) {
      int q = __builtin_ctz(m);
      m &= m - 1;
      if (e < end) { ci[e] = (int32_t)(j0 + j + q); va[e] = row[j + q]; }
      e++;
    }
  }
#endif
  for (; j < cols; j++)
    if (row[j] > (thr ? thr[j] : scalar)) {
      if (e < end) { ci[e] = (int32_t)(j0 + j); va[e] = row[j]; }
      e++;
    }
  return e - e0;
}
#endif
