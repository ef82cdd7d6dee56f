/* The fused encoder of a wide SAE (op(w) too big to keep packed whole, e.g. 768 x 16384) with the
   above-threshold selection (also the batch top-k's trial cut): the product in column panels, each
   packed once by the thread that claims it and computed in blocks of rows into a buffer that stays
   in L2 (or into pre when pre is kept), where the block's entries are selected at once; so the
   pre-activations are never written to memory and read back. Each (panel, row)'s entries are staged
   in the thread's area; when every panel is done, each row is assembled panel after panel (column
   order). Every pre-activation is the FMA chain saelab_sgemm computes and each (panel, row)'s entries
   depend on nothing else, so the result does not depend on the thread count or timing. */
#include <string.h>
#include "gemm.h"
#include "pool.h"
#include "select_row.h"
#include "sae_step.h"

#define MAXT 64
#define BLOCK_ROWS 96 /* rows per block: the GEMM's MC, one packed block of xc each */

typedef struct {
  const saelab_encode_args *a;
  float scalar;  /* the threshold for every column when a->threshold is NULL */
  int64_t W, nq; /* panel width and count */
  int32_t *stIdx; /* [threads, stCap]: each thread's staged entries */
  float *stVal;
  int64_t stCap;
  int64_t used[MAXT];
  int32_t *cnt; /* [nq, rows]: entries per (panel, row) */
  int64_t *src; /* [nq, rows]: where they are staged */
  int failed, over;
} wide_job;

static int32_t clip32(int64_t v) { return (int32_t)(v < INT32_MAX ? v : INT32_MAX); }

/* Panel q: its packed weights, then blocks of rows computed and selected while in cache. */
static void wide_chunk(void *ctx, int64_t q, int tid) {
  wide_job *J = ctx;
  const saelab_encode_args *a = J->a;
  const int64_t rows = a->rows, cols = a->cols, n = a->n, j0 = q * J->W, nc = cols - j0 < J->W ? cols - j0 : J->W;
  saelab_gemm_args g = {.a = a->xc, .b = a->transW ? a->w + j0 * n : a->w + j0, .m = rows, .n = nc, .k = n, .lda = n, .ldb = a->transW ? n : cols,
                        .transB = a->transW, .alpha = 1.0f, .colScale = a->colScale ? a->colScale + j0 : NULL, .bias = a->bias ? a->bias + j0 : NULL, .nthreads = 1};
  const int64_t ldbuf = nc + 16; /* the buffer's row stride: not a power of two */
  float *Bp = saelab_scratch(SAELAB_SCRATCH_STEP_PACKED_B, saelab_gemm_plan_floats(nc, n) * sizeof(float));
  float *scale = saelab_scratch(SAELAB_SCRATCH_STEP_SCALE, (size_t)nc * sizeof(float));
  float *buf = a->keepPre ? NULL : saelab_scratch(SAELAB_SCRATCH_STEP_BLOCK, (size_t)(BLOCK_ROWS * ldbuf) * sizeof(float));
  if (!Bp || !scale || (!a->keepPre && !buf)) { J->failed = 1; return; }
  saelab_gemm_plan plan;
  saelab_gemm_plan_init(&plan, &g, Bp, scale);
  int32_t *ci = J->stIdx + tid * J->stCap;
  float *va = J->stVal + tid * J->stCap;
  const float *thr = a->threshold ? a->threshold + j0 : NULL;
  int64_t e = J->used[tid];
  for (int64_t r0 = 0; r0 < rows; r0 += BLOCK_ROWS) {
    const int64_t r1 = r0 + BLOCK_ROWS < rows ? r0 + BLOCK_ROWS : rows, ld = a->keepPre ? cols : ldbuf;
    float *c = a->keepPre ? a->pre + r0 * cols + j0 : buf;
    if (saelab_gemm_plan_rows(&plan, r0, r1, c, ld) != 0) { J->failed = 1; return; }
    for (int64_t r = r0; r < r1; r++) {
      int64_t k = saelab_above_row(c + (r - r0) * ld, nc, thr, J->scalar, j0, ci, va, e, J->stCap);
      J->cnt[q * rows + r] = clip32(k);
      J->src[q * rows + r] = tid * J->stCap + e;
      e += k;
    }
  }
  J->used[tid] = e;
  if (e > J->stCap) J->over = 1; /* a benign race: every writer stores 1 */
}

/* Rows' entries from their panels' staging to their place in o. */
static void wide_place(void *ctx, int tid, int nt) {
  wide_job *J = ctx;
  saelab_csr_out *o = J->a->o;
  const int64_t rows = J->a->rows;
  int64_t r0, r1;
  saelab_split(rows, tid, nt, 1, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    int64_t e = o->rowPtr[r];
    for (int64_t q = 0; q < J->nq; q++) {
      const int64_t c = J->cnt[q * rows + r], s = J->src[q * rows + r];
      for (int64_t i = 0; i < c; i++) { o->colIdx[e + i] = J->stIdx[s + i]; o->values[e + i] = J->stVal[s + i]; }
      e += c;
    }
  }
}

int64_t saelab_encode_wide(const saelab_encode_args *a, float scalar, int *placed) {
  saelab_csr_out *o = a->o;
  const int64_t rows = a->rows, cols = a->cols;
  *placed = 0;
  int nth = saelab_pool_threads();
  if (nth > MAXT) nth = MAXT;
  wide_job J;
  memset(&J, 0, sizeof J);
  J.a = a;
  J.scalar = scalar;
  /* About four panels per thread (claimed as threads come free), 128 to 1024 columns each. */
  int64_t W = (cols + 4 * nth - 1) / (4 * nth);
  W = (W + 31) / 32 * 32;
  J.W = W < 128 ? 128 : W > 1024 ? 1024 : W;
  J.nq = (cols + J.W - 1) / J.W;
  /* Staging room per thread: most of the output's capacity (one thread may claim most panels); an
     overflow only costs the plain path. */
  J.stCap = (nth == 1 ? o->cap : o->cap - o->cap / 4) + 1024;
  char *st = saelab_scratch(SAELAB_SCRATCH_ENCODE_STAGE, (size_t)(nth * J.stCap) * 8 + (size_t)(J.nq * rows) * 12 + 64);
  if (!st) return -1;
  J.stIdx = (int32_t *)st;
  J.stVal = (float *)(J.stIdx + nth * J.stCap);
  J.src = (int64_t *)(J.stVal + nth * J.stCap);
  J.cnt = (int32_t *)(J.src + J.nq * rows);
  saelab_pool_chunks(wide_chunk, &J, J.nq, nth);
  if (J.failed) return -1;
  int64_t e = 0;
  for (int64_t r = 0; r < rows; r++) {
    o->rowPtr[r] = clip32(e);
    for (int64_t q = 0; q < J.nq; q++) e += J.cnt[q * rows + r];
  }
  o->rowPtr[rows] = clip32(e);
  if (e > INT32_MAX) return -2;
  if (J.over || e > o->cap) return e;
  saelab_pool_run(wide_place, &J, nth);
  *placed = 1;
  return e;
}
