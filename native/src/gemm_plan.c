/* The blocked GEMM's driver (saelab_sgemm): the few-row path, threading, and row-block plans over
   one packed copy of op(B) (gemm.h). Threads claim chunks of columns, or of rows over B packed once,
   as they come free; how C is cut never changes an element. */
#include <string.h>
#include "gemm.h"
#include "gemm_internal.h"
#include "pool.h"
#include "simd.h"

typedef struct {
  const saelab_gemm_args *g;
  saelab_gemm_epi e;
  int splitN, failed;
  int64_t chunk;        /* columns (splitN) or rows per chunk */
  const float *BpAll;   /* op(B) packed whole (row chunks), or NULL */
  const uint16_t *ApAll;/* op(A) packed whole for AMX tiles (column chunks), or NULL */
  int64_t kcb;
} job_t;

/* One chunk of C: a block of columns (each packs its own panels of B) or of rows (over B packed once
   by the caller). */
static void gemm_chunk(void *ctx, int64_t c, int tid) {
  job_t *J = ctx;
  const saelab_gemm_args *g = J->g;
  (void)tid;
  int64_t nk = (g->k + KC - 1) / KC, kcb = (g->k + nk - 1) / nk;
  float *Ap = saelab_scratch(SAELAB_SCRATCH_GEMM_PACKED_A, (size_t)(MC * kcb + 8) * sizeof(float));
  if (!Ap) { J->failed = 1; return; }
  if (J->splitN) {
    int64_t j0 = c * J->chunk, j1 = j0 + J->chunk < g->n ? j0 + J->chunk : g->n;
    int64_t ncMax = ((j1 - j0 < NC ? j1 - j0 : NC) + NR - 1) / NR * NR;
    float *Bp = saelab_scratch(SAELAB_SCRATCH_GEMM_PACKED_B, (size_t)(ncMax * kcb) * sizeof(float));
    if (!Bp) { J->failed = 1; return; }
#ifdef SAELAB_AVX512
    if (J->ApAll) {
      saelab_gemm_block_amx(g, &J->e, 0, g->m, j0, j1, kcb, Ap, Bp, J->BpAll, 0, J->ApAll);
      return;
    }
#endif
    saelab_gemm_block(g, &J->e, 0, g->m, j0, j1, kcb, Ap, Bp, J->BpAll, 0);
  } else {
    int64_t i0 = c * J->chunk, i1 = i0 + J->chunk < g->m ? i0 + J->chunk : g->m;
    saelab_gemm_block(g, &J->e, i0, i1, 0, g->n, kcb, Ap, NULL, J->BpAll, 0);
  }
}

static void gemm_task(void *ctx, int tid, int nt) {
  job_t *J = ctx;
  const saelab_gemm_args *g = J->g;
  int64_t i0 = 0, i1 = g->m, j0 = 0, j1 = g->n;
  if (J->splitN) saelab_split(g->n, tid, nt, NR, &j0, &j1);
  else saelab_split(g->m, tid, nt, MR, &i0, &i1);
  if (i0 >= i1 || j0 >= j1) return;
  int64_t ncMax = ((j1 - j0 < NC ? j1 - j0 : NC) + NR - 1) / NR * NR;
  /* Equal shared-dimension blocks, so no block is a sliver; fixed by k alone (it sets the sum order). */
  int64_t nk = (g->k + KC - 1) / KC, kcb = (g->k + nk - 1) / nk;
  float *Bp = saelab_scratch(SAELAB_SCRATCH_GEMM_PACKED_B, (size_t)(ncMax * kcb) * sizeof(float));
  float *Ap = saelab_scratch(SAELAB_SCRATCH_GEMM_PACKED_A, (size_t)(MC * kcb + 8) * sizeof(float));
  if (!Bp || !Ap) { J->failed = 1; return; }
  saelab_gemm_block(g, &J->e, i0, i1, j0, j1, kcb, Ap, Bp, J->BpAll, 0);
}

#ifdef SAELAB_AVX512
/* One (shared block, block of MC rows) of op(A) packed for AMX tiles into J->ApAll. */
static void amx_pack_chunk(void *ctx, int64_t c, int tid) {
  job_t *J = ctx;
  const saelab_gemm_args *g = J->g;
  const int64_t nrb = (g->m + MC - 1) / MC, pc = c / nrb * J->kcb, ic = c % nrb * MC;
  const int64_t kc = g->k - pc < J->kcb ? g->k - pc : J->kcb, mc = g->m - ic < MC ? g->m - ic : MC;
  (void)tid;
  saelab_amx_pack_a(g, ic, mc, pc, kc, (uint16_t *)J->ApAll + saelab_amx_a_offset(g->m, J->kcb, pc, ic));
}
#endif

typedef struct { const saelab_gemm_args *g; } small_job_t;

static void small_task(void *ctx, int tid, int nt) {
  const saelab_gemm_args *g = ((small_job_t *)ctx)->g;
  int64_t j0, j1;
  saelab_split(g->n, tid, nt, 32, &j0, &j1);
  if (j0 < j1) saelab_sgemm_small(g, j0, j1);
}

/* k == 0: the product is zero, only bias and beta remain. */
static void gemm_empty(const saelab_gemm_args *g) {
  for (int64_t i = 0; i < g->m; i++) {
    float *cr = g->c + i * g->ldc;
    for (int64_t j = 0; j < g->n; j++) {
      float t = g->beta != 0 ? g->beta * cr[j] : 0.0f;
      cr[j] = g->bias ? t + g->bias[j] : t;
    }
  }
}

int saelab_sgemm(const saelab_gemm_args *gin) {
  saelab_gemm_args g = *gin;
  if (g.m <= 0 || g.n <= 0) return 0;
  if (!g.lda) g.lda = g.transA ? g.m : g.k;
  if (!g.ldb) g.ldb = g.transB ? g.k : g.n;
  if (!g.ldc) g.ldc = g.n;
  if (g.k <= 0) { gemm_empty(&g); return 0; }
  double work = (double)g.m * (double)g.n * (double)g.k;
  if (g.m < SAELAB_GEMM_SMALL_M && !g.bf16) {
    small_job_t sj = {&g};
    saelab_pool_run(small_task, &sj, g.nthreads > 0 ? g.nthreads : (g.n >= 64 && work >= SMALL_MT ? 0 : 1));
    return 0;
  }
  int nt = g.nthreads > 0 ? g.nthreads : (work < 98304.0 ? 1 : 0);
  /* A bf16 op(B) packed beforehand (splitN chunks and row chunks alike read it in place). */
  job_t J = {&g, {NULL, g.alpha, g.beta, g.bias}, 0, 0, 0, g.bf16 >= 2 ? g.packedB : NULL, NULL, 0};
  if (g.colScale) {
    float *s = saelab_scratch(SAELAB_SCRATCH_GEMM_ROW, (size_t)g.n * sizeof(float));
    if (!s) return -1;
    for (int64_t j = 0; j < g.n; j++) s[j] = g.alpha * g.colScale[j];
    J.e.scale = s;
  }
  J.splitN = g.n >= g.m || g.m < 2 * MR * saelab_pool_threads();
  int threads = nt == 1 ? 1 : saelab_pool_threads();
  if (threads > 1) {
    /* Chunks claimed dynamically (a thread sharing its core with another process does fewer), about
       four per thread; how C is cut does not change any element. */
    if (J.splitN) {
      int64_t w = (g.n + 4 * threads - 1) / (4 * threads);
      w = (w + NR - 1) / NR * NR;
      J.chunk = w < 4 * NR ? 4 * NR : w > NC ? NC : w;
#ifdef SAELAB_AVX512
      if (saelab_gemm_uses_amx(&g) && (g.n + J.chunk - 1) / J.chunk > 1) {
        /* op(A) packed into tiles once, not once per column chunk (the same values either way). */
        int64_t nk = (g.k + KC - 1) / KC;
        J.kcb = (g.k + nk - 1) / nk;
        uint16_t *A = saelab_scratch(SAELAB_SCRATCH_GEMM_SHARED_A, (size_t)saelab_amx_a_words(g.m, g.k, J.kcb) * sizeof(uint16_t) + 64);
        if (!A) return -1;
        J.ApAll = A;
        saelab_pool_chunks(amx_pack_chunk, &J, nk * ((g.m + MC - 1) / MC), nt);
      }
#endif
      saelab_pool_chunks(gemm_chunk, &J, (g.n + J.chunk - 1) / J.chunk, nt);
      return J.failed ? -1 : 0;
    }
    size_t bpf = saelab_gemm_plan_floats(g.n, g.k);
    if (J.BpAll || bpf * sizeof(float) <= (4u << 20)) {
      if (!J.BpAll) {
        float *Bp = saelab_scratch(SAELAB_SCRATCH_GEMM_SHARED_B, bpf * sizeof(float));
        if (!Bp) return -1;
        saelab_gemm_plan plan;
        saelab_gemm_plan_init(&plan, &g, Bp, NULL);
        J.BpAll = Bp;
      }
      int64_t h = (g.m + 4 * threads - 1) / (4 * threads);
      h = (h + MR - 1) / MR * MR;
      J.chunk = h < MC ? MC : h;
      saelab_pool_chunks(gemm_chunk, &J, (g.m + J.chunk - 1) / J.chunk, nt);
      return J.failed ? -1 : 0;
    }
  }
  saelab_pool_run(gemm_task, &J, nt);
  return J.failed ? -1 : 0;
}

/* ---- row blocks over one packed copy of op(B) (gemm.h's saelab_gemm_plan) ---- */

static int64_t plan_kcb(int64_t k) {
  int64_t nk = (k + KC - 1) / KC;
  return (k + nk - 1) / nk;
}

size_t saelab_gemm_plan_floats(int64_t n, int64_t k) { return (size_t)((n + NR - 1) / NR * NR) * (size_t)k + 64; }

int saelab_gemm_plan_init(saelab_gemm_plan *p, const saelab_gemm_args *g, float *Bp, float *scaleBuf) {
  p->g = *g;
  saelab_gemm_args *q = &p->g;
  if (!q->lda) q->lda = q->transA ? q->m : q->k;
  if (!q->ldb) q->ldb = q->transB ? q->k : q->n;
  if (!q->ldc) q->ldc = q->n;
  p->Bp = Bp;
  p->scale = NULL;
  if (q->colScale && scaleBuf) {
    for (int64_t j = 0; j < q->n; j++) scaleBuf[j] = q->alpha * q->colScale[j];
    p->scale = scaleBuf;
  }
  if (q->k <= 0 || q->n <= 0) return 0;
  if (q->bf16 >= 2 && q->packedB) {
    p->Bp = (float *)q->packedB; /* packed beforehand, as below (only read) */
    return 0;
  }
  /* The same shared-dimension blocks as saelab_sgemm, packed one after another (all columns each). */
  int64_t kcb = plan_kcb(q->k), nPad = (q->n + NR - 1) / NR * NR;
  for (int64_t pc = 0; pc < q->k; pc += kcb) {
    int64_t kc = q->k - pc < kcb ? q->k - pc : kcb;
#ifdef SAELAB_AVX512
    if (q->bf16 >= 2) {
      saelab_pack_b_bf16(q, 0, q->n, pc, kc, Bp + pc * nPad);
      if (saelab_gemm_uses_amx(q)) saelab_amx_pad_b(Bp + pc * nPad, q->n, kc);
      continue;
    }
#endif
    saelab_pack_b(q, 0, q->n, pc, kc, Bp + pc * nPad);
  }
  return 0;
}

int saelab_gemm_plan_rows(const saelab_gemm_plan *p, int64_t i0, int64_t i1, float *c, int64_t ldc) {
  saelab_gemm_args g = p->g;
  g.c = c;
  g.ldc = ldc;
  if (i0 >= i1 || g.n <= 0) return 0;
  if (g.k <= 0) {
    g.m = i1 - i0;
    for (int64_t i = 0; i < g.m; i++) {
      float *cr = c + i * ldc;
      for (int64_t j = 0; j < g.n; j++) cr[j] = (g.beta != 0 ? g.beta * cr[j] : 0.0f) + (g.bias ? g.bias[j] : 0.0f);
    }
    return 0;
  }
  int64_t kcb = plan_kcb(g.k);
  float *Ap = saelab_scratch(SAELAB_SCRATCH_GEMM_PACKED_A, (size_t)(MC * kcb + 8) * sizeof(float));
  if (!Ap) return -1;
  saelab_gemm_epi e = {p->scale, g.alpha, g.beta, g.bias};
  saelab_gemm_block(&g, &e, i0, i1, 0, g.n, kcb, Ap, NULL, p->Bp, i0);
  return 0;
}
