/* The blocked GEMM's pieces shared by gemm.c (micro-kernels, packing, blocks) and gemm_plan.c
   (threading, row-block plans). Not for other kernel files: they use gemm.h. */
#ifndef SAELAB_GEMM_INTERNAL_H
#define SAELAB_GEMM_INTERNAL_H
#include <stdint.h>
#include "gemm.h"

#ifndef SAELAB_MC
#define SAELAB_MC 96
#endif
#ifndef SAELAB_KC
#define SAELAB_KC 768
#endif
#ifndef SAELAB_NC
#define SAELAB_NC 1024
#endif
/* Micro-tiles of MR rows x NR columns: 6x16 (12 ymm accumulators) for AVX2 and portable C, 6x32 (12
   zmm) for AVX-512. Every library packs op(B) in its own NR, so plans never cross libraries. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define SAELAB_GEMM_NR 32
#else
#define SAELAB_GEMM_NR 16
#endif
enum { MR = 6, NR = SAELAB_GEMM_NR, MC = SAELAB_MC, KC = SAELAB_KC, NC = SAELAB_NC };
#define SMALL_MT 65536 /* multiply-adds above which the few-row path uses the pool */

/* The epilogue of a product: C = acc * scale (or alpha) + bias (+ beta * C). */
typedef struct {
  const float *scale; /* [n]: alpha * colScale, or NULL for alpha */
  float alpha, beta;
  const float *bias;
} saelab_gemm_epi;

/* Packs shared [pc, pc+kc) x columns [j, j+nc) of op(B) into NR-column micro-panels (zero-padded). */
void saelab_pack_b(const saelab_gemm_args *g, int64_t j, int64_t nc, int64_t pc, int64_t kc, float *dst);
/* The blocked product for C rows [i0, i1) x columns [j0, j1), shared dimension in blocks of kcb.
   BpAll: op(B) packed whole (pc blocks of all columns one after another; then Bp is unused), or NULL
   to pack here into Bp. Row i of C is at g->c + (i - cRow0) * ldc. */
void saelab_gemm_block(const saelab_gemm_args *g, const saelab_gemm_epi *e, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t kcb, float *Ap, float *Bp,
                       const float *BpAll, int64_t cRow0);
#endif
