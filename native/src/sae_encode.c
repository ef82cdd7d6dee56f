/* The fused encoder of the SAE step: xc = x - center, pre = xc @ op(w) * colScale + bias and the
   nonlinearity (entries above a threshold, or each row's top k) in one pass over blocks of rows, so
   that a small SAE's pre-activations are selected while the block is in cache and, unless asked
   for, never written to memory. When op(w) is too big to keep packed (a wide SAE), it is the plain
   GEMM into pre followed by the selection kernels. Every pre-activation is the FMA chain
   saelab_sgemm computes, and rows are selected independently, so the result does not depend on the
   thread count or timing. Blocks are placed in order: a block whose predecessors are all counted
   when its selection starts writes its entries straight to their place; one whose offset is not yet
   known is staged, and copied there by whichever thread completes the counts before it. */
#include <pthread.h>
#include <string.h>
#include "gemm.h"
#include "pack.h"
#include "pool.h"
#include "select_row.h"
#include "sae_step.h"

#define MAXT 64
#define FUSE_BYTES (2u << 20) /* packed op(w) up to 2 MiB: row blocks over one packed copy */
#define BLOCK_FLOATS 49152    /* a block of pre-activations (192 KiB) stays in L2 */

typedef struct {
  const saelab_encode_args *a;
  saelab_gemm_plan plan;
  int64_t rb;   /* rows per block (= per chunk) */
  int64_t nchunks;
  int fill;     /* entries go to the offsets already in rowPtr */
  int fromPre;  /* select from a->pre, which holds this call's pre-activations */
  int failed, prefill;
  int32_t *stIdx;   /* [threads, stCap]: each thread's entries of chunks whose offsets were not known */
  float *stVal;
  int64_t stCap;
  int64_t used[MAXT];
  int over;
  float scalar;       /* threshold for every column when a->threshold is NULL (above, or a batch top-k cut) */
  int32_t *chunkTid; /* [chunks]: which thread staged the chunk's entries, at chunkOff */
  int64_t *chunkOff;
  /* Chunks are placed in order: off[c] is known once every chunk before c has its entries counted. */
  pthread_mutex_t mu;
  int64_t ready;      /* (mu) the first chunk whose offset is not known yet */
  int64_t *off;       /* [chunks + 1]: each chunk's first entry in o, known up to off[ready] */
  int64_t *cnt;       /* [chunks]: entries per chunk */
  uint8_t *staged;    /* [chunks] (mu): 1 staged and waiting for its offset, 2 being placed */
  int32_t *rowCnt;    /* [rows]: a staged chunk's entries per row */
} enc_job;

static void center_rows(const saelab_encode_args *a, int64_t r0, int64_t r1) {
  const int64_t n = a->n;
  if (!a->center) {
    memcpy(a->xc + r0 * n, a->x + r0 * n, (size_t)((r1 - r0) * n) * sizeof(float));
    return;
  }
  for (int64_t r = r0; r < r1; r++) {
    const float *x = a->x + r * n;
    float *o = a->xc + r * n;
    for (int64_t c = 0; c < n; c++) o[c] = x[c] - a->center[c];
  }
}

static int32_t clip32(int64_t v) { return (int32_t)(v < INT32_MAX ? v : INT32_MAX); }

/* A staged chunk whose offset is now known: its row offsets, and its entries copied to their place. */
static void place_chunk(enc_job *J, int64_t q) {
  saelab_csr_out *o = J->a->o;
  const int64_t b0 = q * J->rb, b1 = b0 + J->rb < J->a->rows ? b0 + J->rb : J->a->rows;
  int64_t e = J->off[q];
  for (int64_t r = b0; r < b1; r++) {
    o->rowPtr[r] = clip32(e);
    e += J->rowCnt[r];
  }
  /* Entries past the output's capacity are not kept (the caller grows it and fills it again), nor
     ones past the staging room (J->over: a fill pass places them all). */
  int64_t dst = J->off[q], n = J->cnt[q], room = J->stCap - J->chunkOff[q];
  if (n > o->cap - dst) n = o->cap - dst;
  if (n > room) n = room;
  if (n <= 0) return;
  int64_t src = (int64_t)J->chunkTid[q] * J->stCap + J->chunkOff[q];
  memcpy(o->colIdx + dst, J->stIdx + src, (size_t)n * sizeof(int32_t));
  memcpy(o->values + dst, J->stVal + src, (size_t)n * sizeof(float));
}

/* Records chunk's count (its entries already in place when direct, else staged) and places every
   staged chunk whose offset that makes known. */
static void publish_chunk(enc_job *J, int64_t chunk, int64_t total, int direct) {
  pthread_mutex_lock(&J->mu);
  J->cnt[chunk] = total;
  if (direct) {
    J->off[chunk + 1] = J->off[chunk] + total;
    J->ready = chunk + 1;
  } else {
    J->staged[chunk] = 1;
  }
  const int64_t q0 = J->ready;
  while (J->ready < J->nchunks && J->staged[J->ready] == 1) {
    int64_t q = J->ready++;
    J->off[q + 1] = J->off[q] + J->cnt[q];
    J->staged[q] = 2;
  }
  const int64_t q1 = J->ready;
  pthread_mutex_unlock(&J->mu);
  for (int64_t q = q0; q < q1; q++) place_chunk(J, q);
}

/* One block of rows: its pre-activations, then its entries straight to their place in o when the
   chunks before it are all counted (or, in a fill pass, to the offsets in rowPtr), else to the
   thread's staging area, from where they are placed as soon as their offset is known. */
static void enc_chunk(void *ctx, int64_t chunk, int tid) {
  enc_job *J = ctx;
  const saelab_encode_args *a = J->a;
  saelab_csr_out *o = a->o;
  const int64_t rows = a->rows, cols = a->cols, k = a->k;
  const int64_t b0 = chunk * J->rb, b1 = b0 + J->rb < rows ? b0 + J->rb : rows;
  if (J->prefill) {
    if (saelab_gemm_plan_rows(&J->plan, b0, b1, a->pre + b0 * cols, cols) != 0) J->failed = 1;
    return;
  }
  saelab_pack_ready();
  float *cbuf = a->keepPre ? NULL : saelab_scratch(SAELAB_SCRATCH_STEP_BLOCK, (size_t)(J->rb * cols) * sizeof(float));
  char *ts = NULL;
  size_t tsBytes = 0;
  if (a->select == SAELAB_SELECT_TOPK) {
    tsBytes = saelab_topk_row_scratch(k, cols);
    ts = saelab_scratch(SAELAB_SCRATCH_STEP_TOPK, tsBytes + (size_t)(k > 0 ? k : 1) * 8);
  }
  int ok = (a->keepPre || cbuf) && (a->select != SAELAB_SELECT_TOPK || ts);
  float *c = a->keepPre ? a->pre + b0 * cols : cbuf;
  if (ok && !J->fromPre) {
    center_rows(a, b0, b1);
    if (saelab_gemm_plan_rows(&J->plan, b0, b1, c, cols) != 0) ok = 0;
  }
  if (!ok) {
    J->failed = 1; /* later chunks may then stay unplaced: the call fails */
    return;
  }
  int direct = 0;
  if (!J->fill) {
    pthread_mutex_lock(&J->mu);
    direct = J->ready == chunk; /* stays so until this chunk is published */
    pthread_mutex_unlock(&J->mu);
  }
  int32_t *tmpIdx = ts ? (int32_t *)(ts + tsBytes) : NULL;
  float *tmpVal = ts ? (float *)(tmpIdx + (k > 0 ? k : 1)) : NULL;
  const int stage = !J->fill && !direct;
  int32_t *outIdx = stage ? J->stIdx + tid * J->stCap : o->colIdx;
  float *outVal = stage ? J->stVal + tid * J->stCap : o->values;
  int64_t e = stage ? J->used[tid] : direct ? J->off[chunk] : 0, e0 = e, hi = stage ? J->stCap : o->cap;
  float guess = 0.0f;
  for (int64_t r = b0; r < b1; r++) {
    const float *row = c + (r - b0) * cols;
    int64_t end = hi;
    if (J->fill) e = o->rowPtr[r], end = o->rowPtr[r + 1];
    else if (direct) o->rowPtr[r] = clip32(e);
    int64_t cnt;
    if (a->select != SAELAB_SELECT_TOPK) {
      cnt = saelab_above_row(row, cols, a->threshold, J->scalar, 0, outIdx, outVal, e, end);
    } else if (end - e >= k) {
      cnt = saelab_topk_row(row, cols, k, NULL, ts, &guess, outIdx + e, outVal + e);
    } else {
      cnt = saelab_topk_row(row, cols, k, NULL, ts, &guess, tmpIdx, tmpVal);
      for (int64_t i = 0; i < cnt && e + i < end; i++) { outIdx[e + i] = tmpIdx[i]; outVal[e + i] = tmpVal[i]; }
    }
    if (stage) J->rowCnt[r] = clip32(cnt);
    e += cnt;
  }
  if (J->fill) return;
  if (stage) {
    J->chunkTid[chunk] = tid;
    J->chunkOff[chunk] = e0;
    J->used[tid] = e;
    if (e > hi) J->over = 1; /* a benign race: every writer stores 1 */
  }
  publish_chunk(J, chunk, e - e0, direct);
}

/* Batch top-k from the candidates above the tried cut (o holds them, nnz >= total): the total-th
   largest value T, then, in flat order, the entries above T and the first ties at T; the cut for the
   next call is the (5/4 total)-th largest candidate when there are many more than needed. */
static int64_t batch_cut(const saelab_encode_args *a, int64_t nnz) {
  saelab_csr_out *o = a->o;
  const int64_t total = a->total;
  if (total <= 0) {
    memset(o->rowPtr, 0, (size_t)(a->rows + 1) * sizeof(int32_t));
    return 0;
  }
  saelab_pack_ready();
  float *buf = saelab_scratch(SAELAB_SCRATCH_STEP_BLOCK, (size_t)(3 * (nnz + SAELAB_SELECT_SLACK)) * sizeof(float));
  if (!buf) return -1;
  float T = saelab_select_desc(o->values, nnz, total - 1, buf);
  if (nnz > total + total / 2) *a->guess = saelab_select_desc(o->values, nnz, total + total / 4, buf);
  int64_t above = 0, same = 0;
  for (int64_t q = 0; q < nnz; q++) above += o->values[q] > T, same += o->values[q] == T;
  int64_t ties = total - above, e = 0, q = 0;
  const int all = ties == same; /* every entry at T is kept (the usual case: T is one value): keep v >= T */
  (void)all;
  for (int64_t r = 0; r < a->rows; r++) {
    int64_t end = o->rowPtr[r + 1];
    o->rowPtr[r] = (int32_t)e;
#if defined(SAELAB_AVX512)
    /* Packed in place, 16 at a time (each store lands on lanes already read, none past the row). */
    const __m512 tv = _mm512_set1_ps(T);
    for (; all && q + 16 <= end; q += 16) {
      __m512 v = _mm512_loadu_ps(o->values + q);
      __mmask16 m = _mm512_cmp_ps_mask(v, tv, _CMP_GE_OQ);
      saelab_compress_epi32(m, _mm512_loadu_si512((const void *)(o->colIdx + q)), o->colIdx + e);
      e += saelab_compress_ps(m, v, o->values + e);
    }
#elif defined(SAELAB_AVX2)
    /* Packed in place, eight at a time (each store lands on lanes already read, none past the row). */
    const __m256 tv = _mm256_set1_ps(T);
    for (; all && q + 8 <= end; q += 8) {
      __m256 v = _mm256_loadu_ps(o->values + q);
      __m256i j = _mm256_loadu_si256((const __m256i *)(o->colIdx + q));
      unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, tv, _CMP_GE_OQ));
      __m256i perm = _mm256_loadu_si256((const __m256i *)saelab_pack[m]);
      _mm256_storeu_ps(o->values + e, _mm256_permutevar8x32_ps(v, perm));
      _mm256_storeu_si256((__m256i *)(o->colIdx + e), _mm256_permutevar8x32_epi32(j, perm));
      e += __builtin_popcount(m);
    }
#endif
    for (; q < end; q++) {
      float v = o->values[q];
      int keep = v > T;
      if (v == T) keep = ties-- > 0;
      o->colIdx[e] = o->colIdx[q];
      o->values[e] = v;
      e += keep;
    }
  }
  o->rowPtr[a->rows] = (int32_t)e;
  return e;
}

static void center_task(void *ctx, int tid, int nt) {
  const saelab_encode_args *a = ctx;
  int64_t r0, r1;
  saelab_split(a->rows, tid, nt, 1, &r0, &r1);
  if (r0 < r1) center_rows(a, r0, r1);
}

int64_t saelab_encode(const saelab_encode_args *a, int countsReady) {
  saelab_csr_out *o = a->o;
  const int64_t rows = a->rows, cols = a->cols, n = a->n;
  double work = (double)rows * (double)cols * (double)(n > 0 ? n : 1);
  int nt = work < 262144.0 ? 1 : 0;
  saelab_gemm_args g = {a->xc, a->w, a->pre, rows, cols, n, 0, 0, 0, 0, a->transW, 1.0f, 0.0f, a->colScale, a->bias, 0, a->bf16, a->packedW};
  size_t bpf = saelab_gemm_plan_floats(cols, n);
  int fused = a->select != SAELAB_SELECT_NONE && rows > 0 && cols > 0 && bpf * sizeof(float) <= FUSE_BYTES;
  const int batch = a->select == SAELAB_SELECT_TOPK_BATCH;
  if (batch && (countsReady || !a->guess || !(*a->guess >= 0))) fused = 0; /* no cut to try: the plain selection */
  if (!fused) {
    if (!countsReady) {
      saelab_pool_run(center_task, (void *)a, nt);
      /* A wide fp32 op(w) with a threshold (or a batch cut to try): selected panel by panel in cache. */
      const int wide = !a->bf16 && rows > 0 && cols > 0 && n > 0 && nt != 1 && bpf * sizeof(float) > FUSE_BYTES &&
                       (a->select == SAELAB_SELECT_ABOVE || (batch && a->guess && *a->guess >= 0));
      if (wide) {
        int placed;
        const float scalar = batch ? *a->guess : 0.0f;
        int64_t nnz = saelab_encode_wide(a, scalar, &placed);
        if (nnz < 0) return nnz;
        if (placed && !batch) return nnz;
        if (placed && !(nnz < a->total && scalar > 0)) return nnz > a->total ? batch_cut(a, nnz) : nnz;
        /* The plain selection over pre (written now unless kept): after a staging overflow, when the
           output must grow (o->rowPtr holds the offsets the call that fills it uses), or when the
           batch cut let too few entries through. */
        if (!a->keepPre && saelab_sgemm(&g) != 0) return -1;
        if (batch) return saelab_topk_batch_guess(a->pre, a->total, o, a->guess);
        return nnz > o->cap ? nnz : saelab_sparsify_above(a->pre, a->threshold, o, 1);
      }
      if (saelab_sgemm(&g) != 0) return -1;
    }
    if (a->select == SAELAB_SELECT_ABOVE) return saelab_sparsify_above(a->pre, a->threshold, o, countsReady);
    if (a->select == SAELAB_SELECT_TOPK) return saelab_topk_rows(a->pre, a->k, NULL, o);
    if (batch) return saelab_topk_batch_guess(a->pre, a->total, o, a->guess);
    return 0;
  }
  enc_job J;
  memset(&J, 0, sizeof J);
  J.a = a;
  J.scalar = batch ? *a->guess : 0.0f;
  float *Bp = saelab_scratch(SAELAB_SCRATCH_STEP_PACKED_B, bpf * sizeof(float));
  float *scale = saelab_scratch(SAELAB_SCRATCH_STEP_SCALE, (size_t)cols * sizeof(float));
  if (!Bp || !scale) return -1;
  saelab_gemm_plan_init(&J.plan, &g, Bp, scale);
  int64_t rb = BLOCK_FLOATS / cols / SAELAB_GEMM_MR * SAELAB_GEMM_MR;
  J.rb = rb < SAELAB_GEMM_MR ? SAELAB_GEMM_MR : rb > 96 ? 96 : rb;
  const int64_t nchunks = (rows + J.rb - 1) / J.rb;
  J.nchunks = nchunks;
  if (countsReady) {
    J.fill = 1;
    J.fromPre = a->keepPre;
    saelab_pool_chunks(enc_chunk, &J, nchunks, nt);
    return J.failed ? -1 : o->rowPtr[rows];
  }
  /* Staging room per thread: most of the output's capacity (chunks are claimed dynamically, so one
     thread may take most of them); the rare overflow only costs a second pass. */
  int nth = nt == 1 ? 1 : saelab_pool_threads();
  if (nth > MAXT) nth = MAXT;
  J.stCap = (nth == 1 ? o->cap : o->cap - o->cap / 4) + 1024;
  char *st = saelab_scratch(SAELAB_SCRATCH_ENCODE_STAGE, (size_t)(nth * J.stCap) * 8 + (size_t)nchunks * 29 + (size_t)rows * 4 + 64);
  if (!st) return -1;
  J.stIdx = (int32_t *)st;
  J.stVal = (float *)(J.stIdx + nth * J.stCap);
  J.chunkOff = (int64_t *)(J.stVal + nth * J.stCap);
  J.off = J.chunkOff + nchunks;
  J.cnt = J.off + nchunks + 1;
  J.chunkTid = (int32_t *)(J.cnt + nchunks);
  J.rowCnt = J.chunkTid + nchunks;
  J.staged = (uint8_t *)(J.rowCnt + rows);
  memset(J.staged, 0, (size_t)nchunks);
  J.off[0] = 0;
  J.ready = 0;
  if (pthread_mutex_init(&J.mu, NULL) != 0) return -1;
  saelab_pool_chunks(enc_chunk, &J, nchunks, nth);
  pthread_mutex_destroy(&J.mu);
  if (J.failed) return -1;
  int64_t nnz = J.off[nchunks];
  if (nnz > INT32_MAX) return -2;
  o->rowPtr[rows] = (int32_t)nnz;
  if (batch && ((nnz < a->total && J.scalar > 0) || nnz > o->cap)) {
    /* The cut let too few entries through (or too many for the output): the plain selection over
       all pre-activations, computed again unless they were kept. With a cut of 0 and no more
       positive entries than total, the candidates are the answer. */
    if (!a->keepPre) {
      J.fill = 0, J.prefill = 1; /* the same pre-activations, into a->pre */
      saelab_pool_chunks(enc_chunk, &J, nchunks, nth);
      if (J.failed) return -1;
    }
    return saelab_topk_batch_guess(a->pre, a->total, o, a->guess);
  }
  if (nnz > o->cap) return nnz;
  /* A thread that ran out of staging room has its entries placed again (from the kept
     pre-activations, or by computing them again: the same values). */
  if (J.over) {
    J.fill = 1, J.fromPre = a->keepPre;
    saelab_pool_chunks(enc_chunk, &J, nchunks, nth);
    if (J.failed) return -1;
  }
  return batch && nnz > a->total ? batch_cut(a, nnz) : nnz;
}
