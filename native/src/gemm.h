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
} saelab_gemm_args;

/* Computes the product described by g; returns 0, or -1 when scratch memory could not be allocated.
   Each output element's value does not depend on the thread count or timing. */
int saelab_sgemm(const saelab_gemm_args *g);

/* The m < SAELAB_GEMM_SMALL_M path (no packing), exposed for callers with many tiny products. */
#define SAELAB_GEMM_SMALL_M 5
void saelab_sgemm_small(const saelab_gemm_args *g, int64_t j0, int64_t j1);
#endif
