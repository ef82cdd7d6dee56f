/* BLIS-style packed, cache-blocked SGEMM with a 12x32 (AVX-512) or 6x16 (AVX2/FMA, and its portable C
   twin) register-blocked micro-kernel, one per ISA library. Loops: jc (NC columns of B, packed into 3 MiB panels) > pc (up to KC of the
   shared dimension, so k <= 768 makes one pass over C) > ic (MC rows of A, ~300 KiB, stays in L2;
   packed, or read in place when B is narrow) > jr (NR-column micro-panels of B) > ir (MR-row
   micro-panels of A). Fewer than 5 rows go to gemm_small.c instead (no packing). The threading and
   the row-block plans are in gemm_plan.c; every element is the same FMA chain over p whichever
   thread or block computes it, so results do not depend on the split.
   Block sizes were tuned on the 2-core Zen 3 (32 KiB L1d, 512 KiB L2): NC 1024 beat BLIS's 4080
   by ~10% there (a VM's share of L3 is small), KC 768 avoids re-reading C for the SAE encoder. */
#include <math.h>
#include <string.h>
#include "gemm.h"
#include "gemm_internal.h"
#include "pool.h"
#include "simd.h"


typedef saelab_gemm_epi epi_t;

#if defined(SAELAB_AVX512)
/* A's element (r, p) is at A[r * ars + p * acs]: packed panels (1, MR), or A read in place. */
/* Shared dimensions from this on run a packed 12-row panel in one tile (when more than six of its
   rows are real); shorter ones, partial panels and A read in place run as two (or one) 6-row tiles,
   the former 6x32 kernel. Measured on this Xeon against the 6x32-only build, in one process, one
   thread, medians alternating: 4096x4096x768 2-3% faster; K = 64 and 512 products and a 64-row
   product with K = 4096 within 1.5% either way (a 12-row tile everywhere had made the last 4-5%
   slower, and an early build with it at every K was 3-9% slower at K = 64-512, for reasons I did not
   pin down: a 6-row build of that code was slower too). */
#ifndef SAELAB_GEMM_LONG_K
#define SAELAB_GEMM_LONG_K 512
#endif
_Static_assert(MR == 12, "the AVX-512 tiles below are one 12-row panel or two 6-row halves of it");

/* Six rows of A, element (r, p) at A[r * ars + p * acs], times a 32-column B panel; C's first mr
   rows stored through the epilogue. */
static inline __attribute__((always_inline)) void micro6(int64_t kc, const float *restrict A, int64_t ars, int64_t acs, const float *restrict B, float *c,
                                                        int64_t ldc, int mr, int nr, const epi_t *e, int64_t j0, int first, int last) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m512 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int r = 0; r < mr; r++) {
    _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16), a;
    a = _mm512_set1_ps(A[0]); c00 = _mm512_fmadd_ps(a, b0, c00); c01 = _mm512_fmadd_ps(a, b1, c01);
    a = _mm512_set1_ps(A[ars]); c10 = _mm512_fmadd_ps(a, b0, c10); c11 = _mm512_fmadd_ps(a, b1, c11);
    a = _mm512_set1_ps(A[2 * ars]); c20 = _mm512_fmadd_ps(a, b0, c20); c21 = _mm512_fmadd_ps(a, b1, c21);
    a = _mm512_set1_ps(A[3 * ars]); c30 = _mm512_fmadd_ps(a, b0, c30); c31 = _mm512_fmadd_ps(a, b1, c31);
    a = _mm512_set1_ps(A[4 * ars]); c40 = _mm512_fmadd_ps(a, b0, c40); c41 = _mm512_fmadd_ps(a, b1, c41);
    a = _mm512_set1_ps(A[5 * ars]); c50 = _mm512_fmadd_ps(a, b0, c50); c51 = _mm512_fmadd_ps(a, b1, c51);
    A += acs;
    B += NR;
  }
  __m512 acc[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  saelab_tile_store16(c, ldc, mr, nr, acc, e, j0, first, last);
}

/* Twelve rows of a packed panel (element (r, p) at A[p * 12 + r]) times a 32-column B panel. */
static inline __attribute__((always_inline)) void micro12(int64_t kc, const float *restrict A, const float *restrict B, float *c, int64_t ldc, int mr, int nr,
                                                         const epi_t *e, int64_t j0, int first, int last) {
  __m512 acc[24];
  for (int t = 0; t < 24; t++) acc[t] = _mm512_setzero_ps();
  for (int r = 0; r < mr; r++) {
    _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_loadu_ps(B), b1 = _mm512_loadu_ps(B + 16);
#pragma GCC unroll 12
    for (int r = 0; r < 12; r++) {
      const __m512 a = _mm512_set1_ps(A[r]);
      acc[2 * r] = _mm512_fmadd_ps(a, b0, acc[2 * r]);
      acc[2 * r + 1] = _mm512_fmadd_ps(a, b1, acc[2 * r + 1]);
    }
    A += 12;
    B += NR;
  }
  saelab_tile_store16(c, ldc, mr, nr, acc, e, j0, first, last);
}

/* A tile of MR (12) rows, mr of them stored, from rows r * ars + p * acs of A: one 12-row tile, or
   two 6-row ones (see SAELAB_GEMM_LONG_K). */
static inline __attribute__((always_inline)) void micro_tile(int64_t kc, const float *A, int64_t ars, int64_t acs, const float *B, float *c, int64_t ldc, int mr,
                                                            int nr, const epi_t *e, int64_t j0, int first, int last) {
  if (kc >= SAELAB_GEMM_LONG_K && mr > MR / 2 && ars == 1 && acs == MR) {
    micro12(kc, A, B, c, ldc, mr, nr, e, j0, first, last);
    return;
  }
  micro6(kc, A, ars, acs, B, c, ldc, mr < 6 ? mr : 6, nr, e, j0, first, last);
  if (mr > 6) micro6(kc, A + 6 * ars, ars, acs, B, c + 6 * ldc, ldc, mr - 6, nr, e, j0, first, last);
}

static void micro(int64_t kc, const float *A, const float *B, float *c, int64_t ldc, int mr, int nr, const epi_t *e, int64_t j0, int first, int last) {
  micro_tile(kc, A, 1, MR, B, c, ldc, mr, nr, e, j0, first, last);
}

static void micro_direct(int64_t kc, const float *A, int64_t ars, int64_t acs, const float *B, float *c, int64_t ldc, int nr, const epi_t *e, int64_t j0, int first, int last) {
  micro_tile(kc, A, ars, acs, B, c, ldc, MR, nr, e, j0, first, last);
}

#elif defined(SAELAB_AVX2)
/* One 16-wide row of a full tile: first K block C = acc * s (+ beta * C), later ones C += acc * s;
   the last adds the bias. The portable tile_store below does the same operations. */
static inline void row_store(float *cr, __m256 v0, __m256 v1, __m256 s0, __m256 s1, const epi_t *e, const float *bias, int first, int last) {
  __m256 t0, t1;
  if (first) {
    if (e->beta != 0) {
      __m256 bt = _mm256_set1_ps(e->beta);
      t0 = _mm256_fmadd_ps(v0, s0, _mm256_mul_ps(bt, _mm256_loadu_ps(cr)));
      t1 = _mm256_fmadd_ps(v1, s1, _mm256_mul_ps(bt, _mm256_loadu_ps(cr + 8)));
    } else {
      t0 = _mm256_mul_ps(v0, s0);
      t1 = _mm256_mul_ps(v1, s1);
    }
  } else {
    t0 = _mm256_fmadd_ps(v0, s0, _mm256_loadu_ps(cr));
    t1 = _mm256_fmadd_ps(v1, s1, _mm256_loadu_ps(cr + 8));
  }
  if (last && bias) {
    t0 = _mm256_add_ps(t0, _mm256_loadu_ps(bias));
    t1 = _mm256_add_ps(t1, _mm256_loadu_ps(bias + 8));
  }
  _mm256_storeu_ps(cr, t0);
  _mm256_storeu_ps(cr + 8, t1);
}

/* A's element (r, p) is at A[r * ars + p * acs]: packed panels (1, MR), or A read in place. */
/* A partial tile through masked loads and stores: the same operations as row_store per element. */
static void edge_store(float *c, int64_t ldc, int mr, int nr, const __m256 *acc, const epi_t *e, int64_t j0, int first, int last) {
  __m256i m0 = saelab_lane_mask(nr < 8 ? nr : 8), m1 = saelab_lane_mask(nr > 8 ? nr - 8 : 0);
  __m256 s0, s1, b0 = _mm256_setzero_ps(), b1 = b0, bt = _mm256_set1_ps(e->beta);
  if (e->scale) { s0 = _mm256_maskload_ps(e->scale + j0, m0); s1 = _mm256_maskload_ps(e->scale + j0 + 8, m1); }
  else s0 = s1 = _mm256_set1_ps(e->alpha);
  if (last && e->bias) { b0 = _mm256_maskload_ps(e->bias + j0, m0); b1 = _mm256_maskload_ps(e->bias + j0 + 8, m1); }
  for (int r = 0; r < mr; r++) {
    float *cr = c + r * ldc;
    __m256 t0, t1;
    if (first) {
      if (e->beta != 0) {
        t0 = _mm256_fmadd_ps(acc[2 * r], s0, _mm256_mul_ps(bt, _mm256_maskload_ps(cr, m0)));
        t1 = _mm256_fmadd_ps(acc[2 * r + 1], s1, _mm256_mul_ps(bt, _mm256_maskload_ps(cr + 8, m1)));
      } else {
        t0 = _mm256_mul_ps(acc[2 * r], s0);
        t1 = _mm256_mul_ps(acc[2 * r + 1], s1);
      }
    } else {
      t0 = _mm256_fmadd_ps(acc[2 * r], s0, _mm256_maskload_ps(cr, m0));
      t1 = _mm256_fmadd_ps(acc[2 * r + 1], s1, _mm256_maskload_ps(cr + 8, m1));
    }
    if (last && e->bias) {
      t0 = _mm256_add_ps(t0, b0);
      t1 = _mm256_add_ps(t1, b1);
    }
    _mm256_maskstore_ps(cr, m0, t0);
    _mm256_maskstore_ps(cr + 8, m1, t1);
  }
}

static inline __attribute__((always_inline)) void micro_core(int64_t kc, const float *restrict A, int64_t ars, int64_t acs, const float *restrict B,
                                                            float *c, int64_t ldc, int mr, int nr, const epi_t *e, int64_t j0, int first, int last) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int r = 0; r < mr; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
#pragma GCC unroll 4
  for (int64_t p = 0; p < kc; p++) {
    __m256 b0 = _mm256_load_ps(B), b1 = _mm256_load_ps(B + 8), a;
    a = _mm256_broadcast_ss(A + 0); c00 = _mm256_fmadd_ps(a, b0, c00); c01 = _mm256_fmadd_ps(a, b1, c01);
    a = _mm256_broadcast_ss(A + ars); c10 = _mm256_fmadd_ps(a, b0, c10); c11 = _mm256_fmadd_ps(a, b1, c11);
    a = _mm256_broadcast_ss(A + 2 * ars); c20 = _mm256_fmadd_ps(a, b0, c20); c21 = _mm256_fmadd_ps(a, b1, c21);
    a = _mm256_broadcast_ss(A + 3 * ars); c30 = _mm256_fmadd_ps(a, b0, c30); c31 = _mm256_fmadd_ps(a, b1, c31);
    a = _mm256_broadcast_ss(A + 4 * ars); c40 = _mm256_fmadd_ps(a, b0, c40); c41 = _mm256_fmadd_ps(a, b1, c41);
    a = _mm256_broadcast_ss(A + 5 * ars); c50 = _mm256_fmadd_ps(a, b0, c50); c51 = _mm256_fmadd_ps(a, b1, c51);
    A += acs;
    B += NR;
  }
  if (mr == MR && nr == NR) {
    __m256 s0, s1;
    if (e->scale) { s0 = _mm256_loadu_ps(e->scale + j0); s1 = _mm256_loadu_ps(e->scale + j0 + 8); }
    else s0 = s1 = _mm256_set1_ps(e->alpha);
    const float *bias = e->bias ? e->bias + j0 : NULL;
    row_store(c, c00, c01, s0, s1, e, bias, first, last);
    row_store(c + ldc, c10, c11, s0, s1, e, bias, first, last);
    row_store(c + 2 * ldc, c20, c21, s0, s1, e, bias, first, last);
    row_store(c + 3 * ldc, c30, c31, s0, s1, e, bias, first, last);
    row_store(c + 4 * ldc, c40, c41, s0, s1, e, bias, first, last);
    row_store(c + 5 * ldc, c50, c51, s0, s1, e, bias, first, last);
    return;
  }
  __m256 acc[2 * MR] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  edge_store(c, ldc, mr, nr, acc, e, j0, first, last);
}

static void micro(int64_t kc, const float *A, const float *B, float *c, int64_t ldc, int mr, int nr, const epi_t *e, int64_t j0, int first, int last) {
  micro_core(kc, A, 1, MR, B, c, ldc, mr, nr, e, j0, first, last);
}

static void micro_direct(int64_t kc, const float *A, int64_t ars, int64_t acs, const float *B, float *c, int64_t ldc, int nr, const epi_t *e, int64_t j0, int first, int last) {
  micro_core(kc, A, ars, acs, B, c, ldc, MR, nr, e, j0, first, last);
}

#else
/* C tile (mr x nr at column j0) from the accumulators; first: the first KC block, last: the last. */
static void tile_store(float *c, int64_t ldc, int mr, int nr, const float *acc, const epi_t *e, int64_t j0, int first, int last) {
  for (int r = 0; r < mr; r++) {
    float *cr = c + r * ldc;
    for (int q = 0; q < nr; q++) {
      float s = e->scale ? e->scale[j0 + q] : e->alpha, v = acc[r * NR + q], t;
      if (first) t = e->beta != 0 ? fmaf(v, s, e->beta * cr[q]) : v * s;
      else t = fmaf(v, s, cr[q]);
      if (last && e->bias) t += e->bias[j0 + q];
      cr[q] = t;
    }
  }
}

static void micro(int64_t kc, const float *restrict A, const float *restrict B, float *c, int64_t ldc, int mr, int nr,
                  const epi_t *e, int64_t j0, int first, int last) {
  float acc[MR * NR] = {0};
  for (int64_t p = 0; p < kc; p++, A += MR, B += NR)
    for (int r = 0; r < MR; r++)
      for (int q = 0; q < NR; q++) acc[r * NR + q] = fmaf(A[r], B[q], acc[r * NR + q]);
  tile_store(c, ldc, mr, nr, acc, e, j0, first, last);
}

static void micro_direct(int64_t kc, const float *A, int64_t ars, int64_t acs, const float *B, float *c, int64_t ldc, int nr, const epi_t *e, int64_t j0, int first, int last) {
  float acc[MR * NR] = {0};
  for (int64_t p = 0; p < kc; p++, A += acs, B += NR)
    for (int r = 0; r < MR; r++)
      for (int q = 0; q < NR; q++) acc[r * NR + q] = fmaf(A[r * ars], B[q], acc[r * NR + q]);
  tile_store(c, ldc, MR, nr, acc, e, j0, first, last);
}
#endif

/* Packs rows [i, i+mc) x shared [pc, pc+kc) of op(A) into MR-row micro-panels (zero-padded). */
static void pack_a(const saelab_gemm_args *g, int64_t i, int64_t mc, int64_t pc, int64_t kc, float *dst) {
  for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    int mr = mc - ir < MR ? (int)(mc - ir) : MR;
    if (g->transA) {
      const float *src = g->a + pc * g->lda + i + ir;
      for (int64_t p = 0; p < kc; p++, src += g->lda) {
        for (int r = 0; r < mr; r++) dst[p * MR + r] = src[r];
        for (int r = mr; r < MR; r++) dst[p * MR + r] = 0;
      }
    } else {
      const float *rows[MR];
      for (int r = 0; r < MR; r++) rows[r] = g->a + (i + ir + (r < mr ? r : 0)) * g->lda + pc;
      if (mr == MR) {
        int64_t p = 0;
#ifdef SAELAB_AVX2
        /* Groups of up to 8 rows x 8 columns through an 8x8 transpose, stored with a lane mask. */
        for (; p + 8 <= kc; p += 8) {
          for (int r0 = 0; r0 < MR; r0 += 8) {
            const int h = MR - r0 < 8 ? MR - r0 : 8;
            const __m256i m = saelab_lane_mask(h);
            __m256 r[8];
            for (int q = 0; q < 8; q++) r[q] = q < h ? _mm256_loadu_ps(rows[r0 + q] + p) : _mm256_setzero_ps();
            saelab_transpose8(r);
            for (int q = 0; q < 8; q++) _mm256_maskstore_ps(dst + (p + q) * MR + r0, m, r[q]);
          }
        }
#endif
        for (; p < kc; p++)
          for (int r = 0; r < MR; r++) dst[p * MR + r] = rows[r][p];
      } else {
        for (int64_t p = 0; p < kc; p++)
          for (int r = 0; r < MR; r++) dst[p * MR + r] = r < mr ? rows[r][p] : 0;
      }
    }
    if (g->bf16) saelab_bf16_round_n(dst, MR * kc); /* the emulated mixed-precision product */
  }
}

/* Packs shared [pc, pc+kc) x columns [j, j+nc) of op(B) into NR-column micro-panels (zero-padded). */
void saelab_pack_b(const saelab_gemm_args *g, int64_t j, int64_t nc, int64_t pc, int64_t kc, float *dst) {
  for (int64_t jr = 0; jr < nc; jr += NR, dst += NR * kc) {
    int nr = nc - jr < NR ? (int)(nc - jr) : NR;
    if (!g->transB) {
      const float *src = g->b + pc * g->ldb + j + jr;
      for (int64_t p = 0; p < kc; p++, src += g->ldb) {
#ifdef SAELAB_AVX2
        if (nr == NR) {
          for (int h = 0; h < NR / 8; h++) _mm256_store_ps(dst + p * NR + 8 * h, _mm256_loadu_ps(src + 8 * h));
          continue;
        }
#endif
        for (int q = 0; q < nr; q++) dst[p * NR + q] = src[q];
        for (int q = nr; q < NR; q++) dst[p * NR + q] = 0;
      }
    } else {
      const float *src = g->b + (j + jr) * g->ldb + pc;
      int64_t p0 = 0;
#ifdef SAELAB_AVX2
      if (nr == NR) {
        for (; p0 + 8 <= kc; p0 += 8) {
          for (int h = 0; h < NR / 8; h++) {
            __m256 r[8];
            for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(src + (8 * h + q) * g->ldb + p0);
            saelab_transpose8(r);
            for (int q = 0; q < 8; q++) _mm256_store_ps(dst + (p0 + q) * NR + 8 * h, r[q]);
          }
        }
      }
#endif
      for (int64_t p = p0; p < kc; p++) {
        for (int q = 0; q < nr; q++) dst[p * NR + q] = src[q * g->ldb + p];
        for (int q = nr; q < NR; q++) dst[p * NR + q] = 0;
      }
    }
    if (g->bf16) saelab_bf16_round_n(dst, NR * kc);
  }
}

/* The blocked product for C rows [i0, i1) x columns [j0, j1), shared dimension in blocks of kcb.
   BpAll: op(B) packed whole by pack_b_all (then Bp is unused), or NULL to pack here. Row i of C is
   at g->c + (i - cRow0) * ldc, so a caller can compute a block of rows into a buffer of its own. */
void saelab_gemm_block(const saelab_gemm_args *g, const saelab_gemm_epi *e, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t kcb, float *Ap, float *Bp,
                       const float *BpAll, int64_t cRow0) {
#ifdef SAELAB_AVX512
  if (saelab_gemm_uses_amx(g)) {
    saelab_gemm_block_amx(g, e, i0, i1, j0, j1, kcb, Ap, Bp, BpAll, cRow0, NULL);
    return;
  }
  if (g->bf16 >= 2) {
    saelab_gemm_block_bf16(g, e, i0, i1, j0, j1, kcb, Ap, Bp, BpAll, cRow0);
    return;
  }
#endif
  const int64_t ars = g->transA ? 1 : g->lda, acs = g->transA ? g->lda : 1;
  /* Reading A in place saves the packing when B is narrow (little reuse of each A block); packing
     wins otherwise, and always for A transposed or with a power-of-two row stride, whose rows
     would share cache sets. */
  const int direct = !g->transA && !g->bf16 && j1 - j0 < 256 && (g->lda * 4) % 4096 != 0;
  for (int64_t jc = j0; jc < j1; jc += NC) {
    int64_t nc = j1 - jc < NC ? j1 - jc : NC;
    for (int64_t pc = 0; pc < g->k; pc += kcb) {
      int64_t kc = g->k - pc < kcb ? g->k - pc : kcb;
      int first = pc == 0, last = pc + kc >= g->k;
      const float *bpk = Bp;
      if (BpAll) bpk = BpAll + pc * ((g->n + NR - 1) / NR * NR) + jc * kc;
      else saelab_pack_b(g, jc, nc, pc, kc, Bp);
      for (int64_t ic = i0; ic < i1; ic += MC) {
        int64_t mc = i1 - ic < MC ? i1 - ic : MC, full = direct ? mc / MR * MR : 0;
        if (full < mc) pack_a(g, ic + full, mc - full, pc, kc, Ap + full * kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int nr = nc - jr < NR ? (int)(nc - jr) : NR;
          const float *bp = bpk + jr * kc;
          float *cc = g->c + (ic - cRow0) * g->ldc + jc + jr;
          for (int64_t ir = 0; ir < full; ir += MR)
            micro_direct(kc, g->a + (ic + ir) * ars + pc * acs, ars, acs, bp, cc + ir * g->ldc, g->ldc, nr, e, jc + jr, first, last);
          for (int64_t ir = full; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? (int)(mc - ir) : MR;
            micro(kc, Ap + ir * kc, bp, cc + ir * g->ldc, g->ldc, mr, nr, e, jc + jr, first, last);
          }
        }
      }
    }
  }
}
