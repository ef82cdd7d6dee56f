/* Single-precision GEMM for every kernel file (the LM's kernels included):
   C = alpha * op(A) @ op(B) (column j scaled by colScale[j]) + bias + beta * C, row-major. */
#ifndef SAELAB_GEMM_H
#define SAELAB_GEMM_H
#include <stdint.h>

typedef struct {
  const float *a;        /* [m, k] (row stride lda), or [k, m] when transA */
  const float *b;        /* [k, n] (row stride ldb), or [n, k] when transB */
  float *c;              /* [m, n] (row stride ldc); must not overlap a or b */
  int64_t m, n, k;
  int64_t lda, ldb, ldc; /* 0: the dense row length */
  int transA, transB;
  float alpha, beta;     /* beta == 0: c is not read */
  const float *colScale; /* [n] or NULL */
  const float *bias;     /* [n] or NULL */
  int nthreads;          /* 0: as many as the pool has and the size warrants; 1: the calling thread only */
  int bf16;              /* 0: fp32; else op(A) and op(B) rounded to bfloat16 (nearest even, subnormals to
                            zero, as vcvtneps2bf16) with fp32 sums: 3 on AMX tiles (k >= 32; smaller as 2),
                            2 with vdpbf16ps, 1 emulated (rounded while packing, fp32 FMAs); see saelab_bf16_mode */
  const float *packedB;  /* bf16 >= 2 only: op(B) already packed whole as this library packs it (saelab_adam_bf16
                            writes it), saelab_gemm_plan_floats(n, k) floats; NULL: packed here */
} saelab_gemm_args;

/* The bf16 mode this library and CPU give a mixed-precision product: 3 AMX tiles (when amx is set and
   the CPU and OS allow them), 2 AVX512-BF16, 1 emulated. */
int saelab_bf16_mode(int amx);
/* FLOPs of one probe block of independent vdpbf16ps chains (bench/: the BF16 peak); 0 without AVX512-BF16. */
double saelab_bf16_peak(float *sink);
/* FLOPs of one probe block of tdpbf16ps on four accumulator tiles (bench/: the AMX peak); 0 without AMX. */
double saelab_amx_peak(float *sink);

/* Where saelab_adam_bf16 writes the bf16 copy of a weight matrix inside the parameters: op(B) of a
   product with k shared rows and n columns, B at params + offset ([k, n], or [n, k] when transB),
   packed whole into dst (saelab_gemm_plan_floats(n, k) floats, zeroed before the first use). */
typedef struct { int64_t offset, k, n; int transB; float *dst; } saelab_bf16_copy;
/* saelab_adam (bitwise the same parameters and moments), also writing cp's packed bf16 copy of the
   updated weights while they are in cache, so a later product with packedB = cp->dst needs no packing.
   Returns 1, or 0 when this library has no bf16 packing (then only the Adam step was done). */
int saelab_adam_bf16(float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps, double step,
                     const saelab_bf16_copy *cp);

/* Computes the product described by g; returns 0, or -1 when scratch memory could not be allocated.
   Each output element's value does not depend on the thread count or timing. */
int saelab_sgemm(const saelab_gemm_args *g);

/* Rows of the micro-kernel (12 in the AVX-512 library, 6 elsewhere; gemm_internal.h says why): row
   blocks that are multiples of it need no edge tiles. */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512DQ__)
#define SAELAB_GEMM_MR 12
#else
#define SAELAB_GEMM_MR 6
#endif

/* A product computed in blocks of rows (e.g. so that each block of C can be used while it is in
   cache) over one packed copy of op(B): init packs op(B) into Bp (saelab_gemm_plan_floats(n, k)
   floats, 64-byte aligned) and alpha * colScale into scaleBuf ([n], when colScale and scaleBuf are set); rows then
   computes C rows [i0, i1) into c (row i at c + (i - i0) * ldc; alpha, beta, colScale and bias as in
   saelab_sgemm) on the calling thread, and may run on several threads at once. Every element is the
   same FMA chain as saelab_sgemm computes, whatever the blocks. rows returns -1 when out of memory. */
typedef struct {
  saelab_gemm_args g;  /* normalised: lda/ldb set; c and m unused */
  float *Bp;
  const float *scale;
} saelab_gemm_plan;
size_t saelab_gemm_plan_floats(int64_t n, int64_t k);
int saelab_gemm_plan_init(saelab_gemm_plan *p, const saelab_gemm_args *g, float *Bp, float *scaleBuf);
int saelab_gemm_plan_rows(const saelab_gemm_plan *p, int64_t i0, int64_t i1, float *c, int64_t ldc);

/* The m < SAELAB_GEMM_SMALL_M path (no packing), exposed for callers with many tiny products. */
#define SAELAB_GEMM_SMALL_M 5
void saelab_sgemm_small(const saelab_gemm_args *g, int64_t j0, int64_t j1);
#endif
