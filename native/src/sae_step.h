/* Fused kernels of the SAE training step (src/sae/step.ts), each the composition of simpler kernels
   (src/tensor/kernels.ts documents them; the reference backend composes them literally). */
#ifndef SAELAB_SAE_STEP_H
#define SAELAB_SAE_STEP_H
#include <stdint.h>
#include "sparse.h"

enum { SAELAB_SELECT_NONE = 0, SAELAB_SELECT_ABOVE = 1, SAELAB_SELECT_TOPK = 2, SAELAB_SELECT_TOPK_BATCH = 3 };

typedef struct {
  const float *x;        /* [rows, n] */
  int64_t rows, n, cols;
  const float *center;   /* [n], subtracted from each row of x, or NULL */
  float *xc;             /* [rows, n]: x - center */
  const float *w;        /* [n, cols], or [cols, n] when transW */
  int transW;
  const float *colScale; /* [cols] or NULL */
  const float *bias;     /* [cols] or NULL */
  float *pre;            /* [rows, cols]: pre-activations (written unless keepPre is 0 and they fit in cache blocks) */
  int keepPre;
  int select;            /* SAELAB_SELECT_* */
  const float *threshold;/* ABOVE: [cols] or NULL (0) */
  int64_t k;             /* TOPK */
  int64_t total;         /* TOPK_BATCH: entries kept over the whole matrix */
  float *guess;          /* TOPK_BATCH: [1], a cut >= 0 to try first (negative: none), replaced by one for the next call; or NULL */
  saelab_csr_out *o;
  int bf16;              /* the product's saelab_gemm_args.bf16: 0 fp32, 1 emulated bf16, 2 AVX512-BF16 */
  const float *packedW;  /* bf16 >= 2: op(w) packed beforehand (saelab_gemm_args.packedB), or NULL */
} saelab_encode_args;

/* xc = x - center; pre = xc @ op(w) * colScale + bias; then the selection into o (as
   saelab_sparsify_above / saelab_topk_rows / saelab_topk_batch on pre). Returns nnz, filling o only when nnz <= cap
   (-1: out of memory, -2: over 2^31 - 1 entries). countsReady: o->rowPtr holds this call's row
   offsets from a previous call that returned nnz > cap (xc and a kept pre are then not rewritten). */
int64_t saelab_encode(const saelab_encode_args *a, int countsReady);
/* saelab_encode's way for a wide op(w) (sae_encode_wide.c): the above-threshold selection (threshold
   NULL: scalar) of the product of the already centred xc, selected panel by panel while in cache.
   Returns the number of entries with o->rowPtr set (-1: out of memory, -2: over 2^31 - 1 entries);
   *placed says whether the entries are in o (not when over cap, or when staging overflowed: pre is
   then written only if a->keepPre). */
int64_t saelab_encode_wide(const saelab_encode_args *a, float scalar, int *placed);

typedef struct {
  const saelab_csr *s;   /* latents [rows, cols] */
  const float *w;        /* [cols, n] */
  int64_t n;
  const float *bias;     /* [n] or NULL */
  const float *x;        /* [rows, n] */
  double scale;
  float *grad;           /* [rows, n]: scale * (bias + S w - x) */
  float *err;            /* [rows, n]: bias + S w - x, or NULL */
  float *biasGrad;       /* [n]: += column sums of grad, or NULL */
  float *valueGrad;      /* [nnz]: grad[r, :] . w[j, :] (+ valueGradBias[j]) per entry, or NULL */
  const float *valueGradBias; /* [cols] or NULL */
  float *valueColSum;    /* [cols]: += each latent's sum of s->values, or NULL */
} saelab_decode_args;

/* The decoder side of a step; *sq receives the sum of squared errors. Returns -1 when out of memory. */
int saelab_decode_loss(const saelab_decode_args *a, double *sq);

typedef struct {
  const saelab_csr *s;   /* pattern [rows, cols]; s->values unused */
  int64_t n;
  const float *valuesA;  /* [nnz] or NULL (no A product) */
  const float *a;        /* [rows, n] */
  float *outA;           /* [cols, n] */
  const float *valuesB;  /* [nnz] */
  const float *b;        /* [rows, n] */
  float *outB;           /* [cols, n], or [n, cols] when bCols; may be outA when neither is bCols */
  int bCols;
  float *colSumB;        /* [cols]: += sum of each latent's valuesB, or NULL */
  uint8_t *fired;        /* [cols]: 1 where a latent has entries (others untouched), or NULL */
} saelab_pair_args;

/* outA += spmmT(values A, a); outB += spmmT or spmmTCols(values B, b). Returns -1 when out of memory. */
int saelab_spmmT_pair(const saelab_pair_args *p);
#endif
