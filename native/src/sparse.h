/* Sparse kernels (CSR with int32 indices) and Adam, as plain C for every kernel file. The selection
   kernels return the number of entries nnz of their result and fill it only when nnz <= cap (the
   caller grows its arrays and calls again); they return -1 when scratch memory ran out and -2 when
   the result would have more than 2^31 - 1 entries. */
#ifndef SAELAB_SPARSE_H
#define SAELAB_SPARSE_H
#include <stdint.h>

typedef struct {
  int64_t rows, cols;
  const int32_t *rowPtr; /* [rows + 1], validated: nondecreasing, rowPtr[0] >= 0 */
  const int32_t *colIdx; /* entries in [0, cols) */
  const float *values;
} saelab_csr;

typedef struct {
  int64_t rows, cols;
  int32_t *rowPtr; /* [rows + 1] */
  int32_t *colIdx; /* [cap] */
  float *values;   /* [cap] */
  int64_t cap;
} saelab_csr_out;

/* Returns NULL when s is a valid CSR for the given array lengths, else a message naming the problem. */
const char *saelab_csr_check(const saelab_csr *s, int64_t colIdxLen, int64_t valuesLen, char *buf, size_t bufLen);

/* Turns per-row counts in rowPtr[1..rows] into offsets; returns nnz, or -2 past 2^31 - 1. */
int64_t saelab_row_offsets(int32_t *rowPtr, int64_t rows);

/* Entries with pre > threshold[col] (threshold NULL: 0). countsReady: rowPtr already holds this
   call's row offsets from a previous call that returned nnz > cap. */
int64_t saelab_sparsify_above(const float *pre, const float *threshold, saelab_csr_out *o, int countsReady);
/* Entries with |pre - center[col]| < halfWidth, compared in double precision. */
int64_t saelab_window(const float *pre, const float *center, double halfWidth, saelab_csr_out *o, int countsReady);
/* Per-row top-k among columns with mask[col] != 0 (mask NULL: all), positive values only; ties to the lower column. */
int64_t saelab_topk_rows(const float *pre, int64_t k, const uint8_t *mask, saelab_csr_out *o);
/* saelab_topk_rows for one row (as each row of the matrix): writes at most k entries in column
   order and returns their number. scratch: saelab_topk_row_scratch(k, cols) bytes; *guess carries a
   cut from row to row (start at 0; it only saves time). */
size_t saelab_topk_row_scratch(int64_t k, int64_t cols);
int64_t saelab_topk_row(const float *row, int64_t cols, int64_t k, const uint8_t *mask, void *scratch, float *guess, int32_t *colIdx, float *values);
/* The `total` largest positive entries of the whole matrix; ties to the lower flat index. */
int64_t saelab_topk_batch(const float *pre, int64_t total, saelab_csr_out *o);
/* The same, also suggesting a cut for a similar matrix (*nextGuess: a value with about 5/4 of total
   entries above it; 0 when unknown). */
int64_t saelab_topk_batch_guess(const float *pre, int64_t total, saelab_csr_out *o, float *nextGuess);
/* Room past the data that the vectorised selection stores may write (whole 16-lane vectors). */
#define SAELAB_SELECT_SLACK 16
/* The element of rank r (0-based, descending) of src[0..n); buf: 3 (n + SAELAB_SELECT_SLACK) floats. */
float saelab_select_desc(const float *src, int64_t n, int64_t r, float *buf);

/* out[r, :] (+)= sum over entries (r, j) of v * w[j, :]. Returns -1 when out of memory. */
int saelab_spmm(const saelab_csr *s, const float *w, int64_t n, float *out, int accumulate);
/* outValues[e] = a[r, :] . w[j, :]. Returns -1 when out of memory. */
int saelab_sddmm(const saelab_csr *s, const float *a, const float *w, int64_t n, float *outValues);
/* outValues[e] = a[r, :] . w[:, j] for w [n, cols] (feature-major). Returns -1 when out of memory. */
int saelab_sddmm_cols(const saelab_csr *s, const float *a, const float *w, int64_t n, float *outValues);
/* out[j, :] += sum over entries (r, j) of v * a[r, :] (out [cols, n]); only rows j with entries are touched. Returns -1 when out of memory. */
int saelab_spmmT(const saelab_csr *s, const float *a, int64_t n, float *out);
/* out[:, j] += sum over entries (r, j) of v * a[r, :] (out [n, cols]). Returns -1 when out of memory. */
int saelab_spmmT_cols(const saelab_csr *s, const float *a, int64_t n, float *out);

/* Adam's per-step constants, and its update of elements [i0, i1) (the same operations for any split). */
typedef struct { float *p, *m, *v; const float *g; int64_t len; float b1, c1, b2, c2, step, invBc2, eps; } saelab_adam_step;
void saelab_adam_setup(saelab_adam_step *s, float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps,
                       double step);
void saelab_adam_span(const saelab_adam_step *s, int64_t i0, int64_t i1);
/* One bias-corrected Adam step over len elements. */
void saelab_adam(float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps, double step);
#endif
