/* Mixed precision's kernels: the candidates' exact values and the rule's choice (sae_settle.c), the
   norms of the proposal bound (sae_bound.c). */
#ifndef SAELAB_SAE_BF16_H
#define SAELAB_SAE_BF16_H
#include <stdint.h>
#include "sparse.h"

enum { SAELAB_SETTLE_ALL = 0, SAELAB_SETTLE_ABOVE = 1, SAELAB_SETTLE_TOPK = 2, SAELAB_SETTLE_BATCH = 3, SAELAB_SETTLE_WINDOW = 4 };

typedef struct {
  int64_t rows, cols;
  int32_t *rowPtr, *colIdx; /* a validated CSR, rewritten in place (rowPtr[0] becomes 0) */
  float *values;
  const float *bias;        /* [cols] */
  const float *gain;        /* [cols] or NULL */
  int rule;                 /* SAELAB_SETTLE_* */
  int64_t k;                /* TOPK: per row; BATCH: in all */
  const float *threshold;   /* ABOVE: [cols] or NULL (0) */
  const float *center;      /* WINDOW: [cols] */
  double halfWidth;         /* WINDOW */
} saelab_settle_args;

/* Sets every value to fp32(fp32(value * gain[j]) + bias[j]) and keeps, in order, the entries the rule
   keeps of those values; returns the new nnz, or -1 when out of memory. */
int64_t saelab_settle(const saelab_settle_args *a);

/* Returns the largest squared norm over the rows of x [rows, n] minus center [n] (NULL: 0), and writes
   normSq[j] = the squared norm of latent j's weights: column j of w [n, cols], or row j of w [cols, n]
   when transW (the summation orders in sae_bound.c). */
double saelab_proposal_norms(const float *x, int64_t rows, int64_t n, const float *center, const float *w, int64_t cols, int transW, float *normSq);
#endif
