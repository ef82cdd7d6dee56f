/* The blocked GEMM's pieces shared by gemm.c (micro-kernels, packing, blocks) and gemm_plan.c
   (threading, row-block plans). Not for other kernel files: they use gemm.h. */
#ifndef SAELAB_GEMM_INTERNAL_H
#define SAELAB_GEMM_INTERNAL_H
#include <stdint.h>
#include "gemm.h"
#include "simd.h"

#ifndef SAELAB_MC
#define SAELAB_MC 96
#endif
#ifndef SAELAB_KC
#define SAELAB_KC 768
#endif
#ifndef SAELAB_NC
#define SAELAB_NC 1024
#endif
/* Packed panels of MR rows x NR columns: 6x16 (12 ymm accumulators of 16 registers) for AVX2 and
   portable C; 12x32 for AVX-512, whose 24 zmm accumulators (of 32) load a B row per 24 FMAs instead
   of 12 when the shared dimension is long (on this Xeon, a standalone loop streaming 768-deep panels
   from L2 on one thread: 94-99% of the FMA probe against 71-94% as 6x32; the whole GEMM gains 1-3%);
   short ones run each panel as two 6x32 tiles (gemm.c, SAELAB_GEMM_LONG_K). MR is gemm.h's SAELAB_GEMM_MR. Every library packs op(A) and op(B)
   in its own MR and NR, so plans never cross libraries. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define SAELAB_GEMM_NR 32
#else
#define SAELAB_GEMM_NR 16
#endif
enum { MR = SAELAB_GEMM_MR, NR = SAELAB_GEMM_NR, MC = SAELAB_MC, KC = SAELAB_KC, NC = SAELAB_NC };
_Static_assert(SAELAB_MC % SAELAB_GEMM_MR == 0, "a block of MC rows is whole micro-panels (the packed-A buffer holds MC x KC)");
#define SMALL_MT 65536 /* multiply-adds above which the few-row path uses the pool */

/* The epilogue of a product: C = acc * scale (or alpha) + bias (+ beta * C). */
typedef struct {
  const float *scale; /* [n]: alpha * colScale, or NULL for alpha */
  float alpha, beta;
  const float *bias;
} saelab_gemm_epi;

#ifdef SAELAB_AVX512
/* One 16-wide piece of a tile row (lanes outside m untouched): first K block C = acc * s (+ beta * C),
   later ones C += acc * s; the last adds the bias. */
static inline void row_store16(float *cr, __m512 v, __m512 s, const saelab_gemm_epi *e, const float *bias, int first, int last, __mmask16 m) {
  __m512 t;
  if (first) t = e->beta != 0 ? _mm512_fmadd_ps(v, s, _mm512_mul_ps(_mm512_set1_ps(e->beta), _mm512_maskz_loadu_ps(m, cr))) : _mm512_mul_ps(v, s);
  else t = _mm512_fmadd_ps(v, s, _mm512_maskz_loadu_ps(m, cr));
  if (last && bias) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, bias));
  _mm512_mask_storeu_ps(cr, m, t);
}

/* A tile of 32 columns (mr x nr of it stored: the fp32 kernel's MR rows, or the AMX kernel's 32) from
   its accumulators acc[2 r + h] (row r, columns 16 h..). */
static inline void saelab_tile_store16(float *c, int64_t ldc, int mr, int nr, const __m512 *acc, const saelab_gemm_epi *e, int64_t j0, int first, int last) {
  const __mmask16 m0 = nr >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? (__mmask16)0xFFFF : nr > 16 ? (__mmask16)((1u << (nr - 16)) - 1) : 0;
  __m512 s0, s1;
  if (e->scale) { s0 = _mm512_maskz_loadu_ps(m0, e->scale + j0); s1 = _mm512_maskz_loadu_ps(m1, e->scale + j0 + 16); }
  else s0 = s1 = _mm512_set1_ps(e->alpha);
  const float *bias = e->bias ? e->bias + j0 : NULL;
  for (int r = 0; r < mr; r++) {
    row_store16(c + r * ldc, acc[2 * r], s0, e, bias, first, last, m0);
    if (m1) row_store16(c + r * ldc + 16, acc[2 * r + 1], s1, e, bias ? bias + 16 : NULL, first, last, m1);
  }
}

#endif

/* The bfloat16 bits of x: round to nearest even, subnormals to signed zero, NaN kept quiet (exactly
   what vcvtneps2bf16 does, so scalar and vector packing agree). */
static inline uint16_t saelab_bf16_bits(float x) {
  union { float f; uint32_t u; } v = {x};
  uint32_t u = v.u;
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  if ((u & 0x7f800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/* x rounded to bfloat16, as a float. */
static inline float saelab_bf16_round(float x) {
  union { uint32_t u; float f; } v = {(uint32_t)saelab_bf16_bits(x) << 16};
  return v.f;
}

/* Rounds n floats to bfloat16 in place (the emulated mixed-precision product rounds packed panels). */
static inline void saelab_bf16_round_n(float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++) x[i] = saelab_bf16_round(x[i]);
}

/* Packs shared [pc, pc+kc) x columns [j, j+nc) of op(B) into NR-column micro-panels (zero-padded). */
void saelab_pack_b(const saelab_gemm_args *g, int64_t j, int64_t nc, int64_t pc, int64_t kc, float *dst);
/* The blocked product for C rows [i0, i1) x columns [j0, j1), shared dimension in blocks of kcb.
   BpAll: op(B) packed whole (pc blocks of all columns one after another; then Bp is unused), or NULL
   to pack here into Bp. Row i of C is at g->c + (i - cRow0) * ldc. */
void saelab_gemm_block(const saelab_gemm_args *g, const saelab_gemm_epi *e, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t kcb, float *Ap, float *Bp,
                       const float *BpAll, int64_t cRow0);
/* The hardware bf16 product (g->bf16 == 2, AVX-512 library only; gemm_bf16.c): pack_b's panels hold
   bf16 pairs (word q * NR + c = rows 2q, 2q+1 of column c) at the same offsets as the fp32 ones. */
void saelab_pack_b_bf16(const saelab_gemm_args *g, int64_t j, int64_t nc, int64_t pc, int64_t kc, float *dst);
void saelab_gemm_block_bf16(const saelab_gemm_args *g, const saelab_gemm_epi *e, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t kcb, float *Ap, float *Bp,
                            const float *BpAll, int64_t cRow0);
/* The AMX product (g->bf16 == 3 and k >= SAELAB_AMX_MIN_K, gemm_amx.c): the same arguments and
   packed B, whose panels must have their pair rows past each block's end zeroed (saelab_amx_pad_b). */
#define SAELAB_AMX_MIN_K 32
void saelab_gemm_block_amx(const saelab_gemm_args *g, const saelab_gemm_epi *e, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t kcb, float *Ap, float *Bp,
                           const float *BpAll, int64_t cRow0, const uint16_t *ApAll);
/* op(A) packed whole for the AMX product (ApAll above; then Ap is unused and i0 is a multiple of MC):
   saelab_amx_pack_a(g, ic, mc, pc, kc, ApAll + saelab_amx_a_offset(m, kcb, pc, ic)) for every block
   of MC rows ic and every shared block pc, in any order or on any thread; saelab_amx_a_words(m, k, kcb)
   bf16 values in all. */
void saelab_amx_pack_a(const saelab_gemm_args *g, int64_t i, int64_t mc, int64_t pc, int64_t kc, uint16_t *dst);
static inline int64_t saelab_amx_a_block(int64_t m, int64_t kcb) { return (m + 31) / 32 * 32 * ((kcb + 31) / 32 * 32); }
static inline int64_t saelab_amx_a_offset(int64_t m, int64_t kcb, int64_t pc, int64_t ic) {
  return pc / kcb * saelab_amx_a_block(m, kcb) + ic / 16 * ((kcb + 31) / 32) * 512;
}
static inline int64_t saelab_amx_a_words(int64_t m, int64_t k, int64_t kcb) { return (k + kcb - 1) / kcb * saelab_amx_a_block(m, kcb); }
/* Zeroes pair rows [(kc + 1) / 2, whole tiles) of each NR-column bf16 panel of a kc block of nc columns. */
void saelab_amx_pad_b(float *panels, int64_t nc, int64_t kc);
/* Whether g's bf16 product runs on AMX tiles. */
static inline int saelab_gemm_uses_amx(const saelab_gemm_args *g) { return g->bf16 == 3 && g->k >= SAELAB_AMX_MIN_K; }
#endif
