/* Mixed-precision products (saelab_gemm_args.bf16): op(A) and op(B) rounded to bfloat16, products
   summed in fp32. With AVX512-BF16 (the AVX-512 library on a CPU that has it) the packed panels hold
   bf16 pairs and a 12x32 micro-kernel of vdpbf16ps does two shared-dimension steps per instruction;
   elsewhere gemm.c rounds its fp32 panels while packing (the emulation, same rounding, fp32 FMAs).
   Rounding is vcvtneps2bf16's (nearest even, subnormals to zero) in both, so the values multiplied
   are the same; the sums differ only in order (vdpbf16ps adds each pair's odd product first). */
#include <string.h>
#include "gemm.h"
#include "gemm_internal.h"
#include "isa.h"
#include "simd.h"

#ifdef SAELAB_AVX512
#pragma GCC push_options
#pragma GCC target("avx512bf16")

int saelab_bf16_mode(int amx) {
  const int f = saelab_cpu_features();
  return amx && (f & SAELAB_CPU_AMXBF16) ? 3 : (f & SAELAB_CPU_AVX512BF16) ? 2 : 1;
}

static inline uint32_t pair_bits(float lo, float hi) { return (uint32_t)saelab_bf16_bits(lo) | ((uint32_t)saelab_bf16_bits(hi) << 16); }

/* 16 floats as 8 words of bf16 pairs (element 2q low, 2q + 1 high). */
static inline __m256 cvt16(const float *x) {
  __m256bh h = _mm512_cvtneps_pbh(_mm512_loadu_ps(x));
  __m256 r;
  memcpy(&r, &h, sizeof r);
  return r;
}

static inline float a_at(const saelab_gemm_args *g, int64_t row, int64_t p) { return g->transA ? g->a[p * g->lda + row] : g->a[row * g->lda + p]; }
static inline float b_at(const saelab_gemm_args *g, int64_t p, int64_t col) { return g->transB ? g->b[col * g->ldb + p] : g->b[p * g->ldb + col]; }

/* Packs rows [i, i+mc) x shared [pc, pc+kc) of op(A) into MR-row panels of bf16 pairs: word q * MR + r
   of a panel holds rows' elements pc + 2q and pc + 2q + 1 (zero past kc and mc). */
static void pack_a_bf16(const saelab_gemm_args *g, int64_t i, int64_t mc, int64_t pc, int64_t kc, uint32_t *dst) {
  const int64_t kp = (kc + 1) / 2;
  for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kp) {
    const int mr = mc - ir < MR ? (int)(mc - ir) : MR;
    int64_t q = 0;
    if (!g->transA && mr == MR) {
      /* Groups of up to 8 rows x 16 elements -> 8 words each, through an 8x8 word transpose, stored
         with a lane mask. */
      for (; 2 * q + 16 <= kc; q += 8) {
        for (int r0 = 0; r0 < MR; r0 += 8) {
          const int h = MR - r0 < 8 ? MR - r0 : 8;
          const __m256i m = saelab_lane_mask(h);
          __m256 r[8];
          for (int t = 0; t < 8; t++) r[t] = t < h ? cvt16(g->a + (i + ir + r0 + t) * g->lda + pc + 2 * q) : _mm256_setzero_ps();
          saelab_transpose8(r);
          for (int t = 0; t < 8; t++) _mm256_maskstore_ps((float *)(dst + (q + t) * MR + r0), m, r[t]);
        }
      }
    }
    for (; q < kp; q++)
      for (int r = 0; r < MR; r++) {
        const int64_t p = pc + 2 * q, row = i + ir + r;
        const float lo = r < mr ? a_at(g, row, p) : 0.0f, hi = r < mr && 2 * q + 1 < kc ? a_at(g, row, p + 1) : 0.0f;
        dst[q * MR + r] = pair_bits(lo, hi);
      }
  }
}

void saelab_pack_b_bf16(const saelab_gemm_args *g, int64_t j, int64_t nc, int64_t pc, int64_t kc, float *dstf) {
  const int64_t kp = (kc + 1) / 2;
  uint32_t *dst = (uint32_t *)dstf;
  /* Output element 2c takes lo's c, 2c + 1 hi's c (lo in the low 256 bits, hi in the high). */
  const __m512i inter = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int64_t jr = 0; jr < nc; jr += NR, dst += NR * kc) {
    const int nr = nc - jr < NR ? (int)(nc - jr) : NR;
    int64_t q = 0;
    if (nr == NR && !g->transB) {
      for (; 2 * q + 2 <= kc; q++) {
        const float *r0 = g->b + (pc + 2 * q) * g->ldb + j + jr, *r1 = r0 + g->ldb;
        for (int h = 0; h < NR / 16; h++) {
          __m256 lo = cvt16(r0 + 16 * h), hi = cvt16(r1 + 16 * h);
          __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_castps_si256(lo)), _mm256_castps_si256(hi), 1);
          _mm512_storeu_si512(dst + q * NR + 16 * h, _mm512_permutexvar_epi16(inter, v));
        }
      }
    } else if (nr == NR) {
      /* Each column's 16 consecutive elements are 8 pair words; 8 columns at a time through a transpose. */
      for (; 2 * q + 16 <= kc; q += 8) {
        for (int h = 0; h < NR / 8; h++) {
          __m256 r[8];
          for (int t = 0; t < 8; t++) r[t] = cvt16(g->b + (j + jr + 8 * h + t) * g->ldb + pc + 2 * q);
          saelab_transpose8(r);
          for (int t = 0; t < 8; t++) _mm256_storeu_ps((float *)(dst + (q + t) * NR + 8 * h), r[t]);
        }
      }
    }
    for (; q < kp; q++)
      for (int c = 0; c < NR; c++) {
        const int64_t p = pc + 2 * q, col = j + jr + c;
        const float lo = c < nr ? b_at(g, p, col) : 0.0f, hi = c < nr && 2 * q + 1 < kc ? b_at(g, p + 1, col) : 0.0f;
        dst[q * NR + c] = pair_bits(lo, hi);
      }
  }
}

/* C tile += A panel (kp pair words per row) x B panel through vdpbf16ps; the fp32 kernel's epilogue. */
static void micro_bf16(int64_t kp, const uint32_t *restrict A, const uint32_t *restrict B, float *c, int64_t ldc, int mr, int nr, const saelab_gemm_epi *e, int64_t j0,
                       int first, int last) {
  __m512 acc[2 * MR];
  for (int t = 0; t < 2 * MR; t++) acc[t] = _mm512_setzero_ps();
  for (int r = 0; r < mr; r++) {
    _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
    _mm_prefetch((const char *)(c + r * ldc + 16), _MM_HINT_T0);
  }
#pragma GCC unroll 4
  for (int64_t q = 0; q < kp; q++) {
    __m512bh b0, b1;
    __m512i l0 = _mm512_loadu_si512(B), l1 = _mm512_loadu_si512(B + 16);
    memcpy(&b0, &l0, sizeof b0);
    memcpy(&b1, &l1, sizeof b1);
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++) {
      __m512i ai = _mm512_set1_epi32((int)A[r]);
      __m512bh a;
      memcpy(&a, &ai, sizeof a);
      acc[2 * r] = _mm512_dpbf16_ps(acc[2 * r], a, b0);
      acc[2 * r + 1] = _mm512_dpbf16_ps(acc[2 * r + 1], a, b1);
    }
    A += MR;
    B += NR;
  }
  saelab_tile_store16(c, ldc, mr, nr, acc, e, j0, first, last);
}

void saelab_gemm_block_bf16(const saelab_gemm_args *g, const saelab_gemm_epi *e, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t kcb, float *Ap, float *Bp,
                            const float *BpAll, int64_t cRow0) {
  uint32_t *Aw = (uint32_t *)Ap;
  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = j1 - jc < NC ? j1 - jc : NC;
    for (int64_t pc = 0; pc < g->k; pc += kcb) {
      const int64_t kc = g->k - pc < kcb ? g->k - pc : kcb, kp = (kc + 1) / 2;
      const int first = pc == 0, last = pc + kc >= g->k;
      const float *bpk = Bp;
      if (BpAll) bpk = BpAll + pc * ((g->n + NR - 1) / NR * NR) + jc * kc;
      else saelab_pack_b_bf16(g, jc, nc, pc, kc, Bp);
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = i1 - ic < MC ? i1 - ic : MC;
        pack_a_bf16(g, ic, mc, pc, kc, Aw);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = nc - jr < NR ? (int)(nc - jr) : NR;
          const uint32_t *bp = (const uint32_t *)(bpk + jr * kc);
          float *cc = g->c + (ic - cRow0) * g->ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int mr = mc - ir < MR ? (int)(mc - ir) : MR;
            micro_bf16(kp, Aw + ir * kp, bp, cc + ir * g->ldc, g->ldc, mr, nr, e, jc + jr, first, last);
          }
        }
      }
    }
  }
}

double saelab_bf16_peak(float *sink) {
  if (!(saelab_cpu_features() & SAELAB_CPU_AVX512BF16)) return 0;
  /* Twelve independent chains, as the fp32 probe; each vdpbf16ps is 16 lanes x 2 products x 2 FLOPs. */
  __m512 c[12];
  for (int q = 0; q < 12; q++) c[q] = _mm512_set1_ps(0.01f * (float)q);
  __m512i xi = _mm512_set1_epi32(0x3f803f80); /* pairs of bf16 1.0 */
  __m512bh x;
  memcpy(&x, &xi, sizeof x);
  for (int i = 0; i < 100000; i++) {
    c[0] = _mm512_dpbf16_ps(c[0], x, x); c[1] = _mm512_dpbf16_ps(c[1], x, x); c[2] = _mm512_dpbf16_ps(c[2], x, x); c[3] = _mm512_dpbf16_ps(c[3], x, x);
    c[4] = _mm512_dpbf16_ps(c[4], x, x); c[5] = _mm512_dpbf16_ps(c[5], x, x); c[6] = _mm512_dpbf16_ps(c[6], x, x); c[7] = _mm512_dpbf16_ps(c[7], x, x);
    c[8] = _mm512_dpbf16_ps(c[8], x, x); c[9] = _mm512_dpbf16_ps(c[9], x, x); c[10] = _mm512_dpbf16_ps(c[10], x, x); c[11] = _mm512_dpbf16_ps(c[11], x, x);
    __asm__ volatile("" : "+v"(c[0]), "+v"(c[1]), "+v"(c[2]), "+v"(c[3]), "+v"(c[4]), "+v"(c[5]), "+v"(c[6]), "+v"(c[7]), "+v"(c[8]), "+v"(c[9]), "+v"(c[10]), "+v"(c[11]));
  }
  __m512 s = c[0];
  for (int q = 1; q < 12; q++) s = _mm512_add_ps(s, c[q]);
  *sink += _mm512_reduce_add_ps(s);
  return 100000.0 * 12 * 64;
}
#pragma GCC pop_options

#else
int saelab_bf16_mode(int amx) { (void)amx; return 1; }
double saelab_bf16_peak(float *sink) { (void)sink; return 0; }
#endif
