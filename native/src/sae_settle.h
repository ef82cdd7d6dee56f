/* Mixed precision's settle kernel (sae_settle.c): the candidates' exact values, then the rule's choice. */
#ifndef SAELAB_SAE_SETTLE_H
#define SAELAB_SAE_SETTLE_H
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
#endif
