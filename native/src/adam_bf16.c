/* Adam with the bf16 weight copy fused into its write (mixed-precision training): the chunks that
   cover the encoder weights are cut along the packed layout of the GEMM's op(B) (a shared block's rows
   of whole NR-column panels for W_enc [k, n]; whole panels of NR latents for a tied W_dec [n, k]), so
   each writes one contiguous run of the copy; and each chunk,
   right after its Adam update, packs its weights into the bf16 panels while they are in cache, with
   saelab_pack_b_bf16 itself: so the copy is bitwise what the product would pack, and the product
   reads it instead of rounding and packing 4 bytes a weight every step. */
#include <string.h>
#include "gemm.h"
#include "gemm_internal.h"
#include "pool.h"
#include "sparse.h"

#define AB_CHUNK 65536 /* elements per chunk, as saelab_adam's */
#define AB_COLS 1024   /* W_enc: at least this many columns per chunk (a multiple of NR) */

#ifdef SAELAB_AVX512
typedef struct {
  saelab_adam_step s;
  const saelab_bf16_copy *cp;
  saelab_gemm_args g; /* B = the weights inside params */
  int64_t kcb, nPad, rows, perBlock; /* untied: columns per chunk and chunks per shared block; tied: latents per chunk */
  int64_t nPre, nW;                   /* chunks before the weights, chunks of the weights */
} ab_job;

/* Weight chunk w: its Adam update, then its part of the packed copy. */
static void weight_chunk(ab_job *J, int64_t w) {
  const saelab_bf16_copy *cp = J->cp;
  if (!cp->transB) {
    /* A shared block's rows x J->rows columns (whole panels): written to one contiguous run of the copy. */
    const int64_t pc = w / J->perBlock * J->kcb, kc = cp->k - pc < J->kcb ? cp->k - pc : J->kcb;
    const int64_t j0 = w % J->perBlock * J->rows, j1 = j0 + J->rows < cp->n ? j0 + J->rows : cp->n;
    if (j0 >= j1) return;
    for (int64_t p = pc; p < pc + kc; p++) saelab_adam_span(&J->s, cp->offset + p * cp->n + j0, cp->offset + p * cp->n + j1);
    saelab_pack_b_bf16(&J->g, j0, j1 - j0, pc, kc, cp->dst + pc * J->nPad + j0 * kc);
  } else {
    const int64_t j0 = w * J->rows, j1 = j0 + J->rows < cp->n ? j0 + J->rows : cp->n;
    saelab_adam_span(&J->s, cp->offset + j0 * cp->k, cp->offset + j1 * cp->k);
    for (int64_t pc = 0; pc < cp->k; pc += J->kcb) {
      const int64_t kc = cp->k - pc < J->kcb ? cp->k - pc : J->kcb;
      saelab_pack_b_bf16(&J->g, j0, j1 - j0, pc, kc, cp->dst + pc * J->nPad + j0 * kc);
    }
  }
}

static void ab_chunk(void *ctx, int64_t c, int tid) {
  ab_job *J = ctx;
  const int64_t wEnd = J->cp->offset + J->cp->k * J->cp->n;
  (void)tid;
  if (c < J->nPre) {
    const int64_t i0 = c * AB_CHUNK;
    saelab_adam_span(&J->s, i0, i0 + AB_CHUNK < J->cp->offset ? i0 + AB_CHUNK : J->cp->offset);
  } else if (c < J->nPre + J->nW) {
    weight_chunk(J, c - J->nPre);
  } else {
    const int64_t i0 = wEnd + (c - J->nPre - J->nW) * AB_CHUNK;
    saelab_adam_span(&J->s, i0, i0 + AB_CHUNK < J->s.len ? i0 + AB_CHUNK : J->s.len);
  }
}

int saelab_adam_bf16(float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps, double step,
                     const saelab_bf16_copy *cp) {
  ab_job J;
  memset(&J, 0, sizeof J);
  saelab_adam_setup(&J.s, params, grads, m, v, len, lr, beta1, beta2, eps, step);
  J.cp = cp;
  J.g.b = params + cp->offset;
  J.g.k = cp->k;
  J.g.n = cp->n;
  J.g.transB = cp->transB;
  J.g.ldb = cp->transB ? cp->k : cp->n;
  J.g.bf16 = 2;
  const int64_t nk = (cp->k + KC - 1) / KC;
  J.kcb = (cp->k + nk - 1) / nk; /* the GEMM's shared blocks (gemm_plan.c) */
  J.nPad = (cp->n + NR - 1) / NR * NR;
  if (!cp->transB) {
    /* Columns per chunk: whole panels, and runs of at least a page (1024 floats) in each row Adam walks. */
    int64_t r = AB_CHUNK / (J.kcb > 0 ? J.kcb : 1) / NR * NR;
    J.rows = r < AB_COLS ? AB_COLS : r;
    J.perBlock = (cp->n + J.rows - 1) / J.rows;
    J.nW = cp->k > 0 ? nk * J.perBlock : 0;
  } else {
    int64_t r = AB_CHUNK / (cp->k > 0 ? cp->k : 1) / NR * NR;
    J.rows = r < NR ? NR : r;
    J.nW = (cp->n + J.rows - 1) / J.rows;
  }
  J.nPre = (cp->offset + AB_CHUNK - 1) / AB_CHUNK;
  const int64_t post = len - (cp->offset + cp->k * cp->n);
  saelab_pool_chunks(ab_chunk, &J, J.nPre + J.nW + (post + AB_CHUNK - 1) / AB_CHUNK, len < 32768 ? 1 : 0);
  return 1;
}
#else
int saelab_adam_bf16(float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps, double step,
                     const saelab_bf16_copy *cp) {
  (void)cp;
  saelab_adam(params, grads, m, v, len, lr, beta1, beta2, eps, step);
  return 0;
}
#endif
