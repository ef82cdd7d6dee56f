/* Both weight gradients of a sparse layer from one pattern (the SAE step's decoder gradient S_a^T G
   and encoder gradient S_g^T xc), with the column sums of the second values (the encoder-bias
   gradient) and the latents that fired.
   For a small layer each thread owns a range of latents (balanced by entry counts) and walks the
   rows in fixed blocks small enough for L1: it sorts a block's entries by latent, sums each latent's
   rows of a and b in registers, and adds that to the latent's running sum, which is added to the
   outputs at the end. A big layer goes through the latent-major saelab_spmmT and saelab_spmmT_cols
   (which read each output row once) and the walk only sums the columns. The blocks do not depend on
   the thread count, so neither do the results. */
#include <string.h>
#include "csc.h"
#include "sae_step.h"

#define WALK_BYTES (1u << 20) /* outputs up to 1 MiB each: the row walk */
#define MAXT 64
#define WALK_CHUNKS 4 /* latent ranges, balanced by entries; each reads every row's entries once */

typedef struct {
  const saelab_pair_args *p;
  int products, failed;
  int32_t *cnt;    /* [nt, cols] per-thread counts, then [cols + 1] prefix in prefix */
  int32_t *prefix;
  int64_t jb[WALK_CHUNKS + 1]; /* the chunks' latent ranges */
  int32_t *bounds; /* [rows, WALK_CHUNKS + 1]: each row's first entry in each chunk's range */
} pair_job;

/* Each row's entry boundaries between the chunks' latent ranges (one pass over its sorted entries). */
static void bounds_task(void *ctx, int tid, int nt) {
  pair_job *J = ctx;
  const saelab_csr *s = J->p->s;
  int64_t r0, r1;
  saelab_split(s->rows, tid, nt, 1, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    int64_t e = s->rowPtr[r], end = s->rowPtr[r + 1];
    int32_t *b = J->bounds + r * (WALK_CHUNKS + 1);
    for (int c = 0; c <= WALK_CHUNKS; c++) {
      while (e < end && s->colIdx[e] < J->jb[c]) e++;
      b[c] = (int32_t)e;
    }
  }
}

static void count_task(void *ctx, int tid, int nt) {
  pair_job *J = ctx;
  const saelab_csr *s = J->p->s;
  int64_t r0, r1;
  saelab_split(s->rows, tid, nt, 1, &r0, &r1);
  int32_t *c = J->cnt + (size_t)tid * s->cols;
  memset(c, 0, (size_t)s->cols * sizeof(int32_t));
  for (int64_t e = s->rowPtr[r0]; e < s->rowPtr[r1]; e++) c[s->colIdx[e]]++;
}

/* acc[0..n) += sum over the listed entries of val * src[row * n ..]: summed in registers (one FMA
   chain per column in entry order), then added. */
static inline __attribute__((always_inline)) void gather_add(float *acc, const int32_t *rows, const float *vals, int64_t cnt, const float *src, int64_t n) {
  int64_t c0 = 0;
#if defined(SAELAB_AVX512)
  for (; c0 + 64 <= n; c0 += 64) {
    __m512 t[4];
    for (int h = 0; h < 4; h++) t[h] = _mm512_setzero_ps();
    for (int64_t q = 0; q < cnt; q++) {
      const float *x = src + (int64_t)rows[q] * n + c0;
      __m512 v = _mm512_set1_ps(vals[q]);
      for (int h = 0; h < 4; h++) t[h] = _mm512_fmadd_ps(v, _mm512_loadu_ps(x + 16 * h), t[h]);
    }
    for (int h = 0; h < 4; h++) _mm512_storeu_ps(acc + c0 + 16 * h, _mm512_add_ps(_mm512_loadu_ps(acc + c0 + 16 * h), t[h]));
  }
  for (; c0 < n; c0 += 16) { /* the last columns masked */
    const __mmask16 m = (__mmask16)(n - c0 >= 16 ? 0xFFFFu : (1u << (n - c0)) - 1);
    __m512 t = _mm512_setzero_ps();
    for (int64_t q = 0; q < cnt; q++) t = _mm512_fmadd_ps(_mm512_set1_ps(vals[q]), _mm512_maskz_loadu_ps(m, src + (int64_t)rows[q] * n + c0), t);
    _mm512_mask_storeu_ps(acc + c0, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, acc + c0), t));
  }
#elif defined(SAELAB_AVX2)
  for (; c0 + 64 <= n; c0 += 64) {
    __m256 t[8];
    for (int h = 0; h < 8; h++) t[h] = _mm256_setzero_ps();
    for (int64_t q = 0; q < cnt; q++) {
      const float *x = src + (int64_t)rows[q] * n + c0;
      __m256 v = _mm256_broadcast_ss(vals + q);
      for (int h = 0; h < 8; h++) t[h] = _mm256_fmadd_ps(v, _mm256_loadu_ps(x + 8 * h), t[h]);
    }
    for (int h = 0; h < 8; h++) _mm256_storeu_ps(acc + c0 + 8 * h, _mm256_add_ps(_mm256_loadu_ps(acc + c0 + 8 * h), t[h]));
  }
  for (; c0 + 8 <= n; c0 += 8) {
    __m256 t = _mm256_setzero_ps();
    for (int64_t q = 0; q < cnt; q++) t = _mm256_fmadd_ps(_mm256_broadcast_ss(vals + q), _mm256_loadu_ps(src + (int64_t)rows[q] * n + c0), t);
    _mm256_storeu_ps(acc + c0, _mm256_add_ps(_mm256_loadu_ps(acc + c0), t));
  }
#endif
  for (; c0 < n; c0++) {
    float t = 0;
    for (int64_t q = 0; q < cnt; q++) t = fmaf(vals[q], src[(int64_t)rows[q] * n + c0], t);
    acc[c0] += t;
  }
}

/* Rows per block: the block's rows of a and b (read once per latent that fired in it) stay in L1. */
static int64_t block_rows(int64_t n) {
  int64_t rb = 8192 / (n > 0 ? n : 1);
  return rb < 8 ? 8 : rb > 128 ? 128 : rb;
}

static void walk_chunk(void *ctx, int64_t chunk, int tid) {
  pair_job *J = ctx;
  const saelab_pair_args *p = J->p;
  const saelab_csr *s = p->s;
  const int64_t n = p->n, cols = s->cols, rows = s->rows;
  int64_t j0, j1;
  (void)tid;
  j0 = J->jb[chunk];
  j1 = J->jb[chunk + 1];
  if (j0 >= j1) return;
  const int64_t w = j1 - j0, rb = block_rows(n);
  const int doA = J->products && p->valuesA, doB = J->products;
  int64_t maxBlock = 0;
  for (int64_t b0 = 0; b0 < rows; b0 += rb) {
    int64_t b1 = b0 + rb < rows ? b0 + rb : rows, c = s->rowPtr[b1] - s->rowPtr[b0];
    if (c > maxBlock) maxBlock = c;
  }
  size_t accFloats = (size_t)(w * n) * ((doA ? 1 : 0) + (doB ? 1 : 0));
  size_t bytes = (accFloats + (size_t)w + CB) * sizeof(float) + (size_t)(w + 2) * sizeof(int32_t) + (size_t)maxBlock * 12 + (size_t)rb * 8 + 256;
  char *mem = saelab_scratch(SAELAB_SCRATCH_STEP_PAIR, bytes);
  if (!mem) { J->failed = 1; return; }
  float *accA = (float *)mem, *accB = accA + (doA ? w * n : 0), *csum = accA + accFloats;
  int32_t *cur = (int32_t *)(csum + w + CB);          /* [w + 2]: the block's latent-major offsets */
  int32_t *restrict lrow = cur + w + 2;          /* [maxBlock]: row of each entry, latent-major */
  float *restrict lvA = (float *)(lrow + maxBlock), *restrict lvB = lvA + maxBlock;
  int32_t *restrict first = (int32_t *)(lvB + maxBlock); /* [rb, 2]: each row's entries in [j0, j1) */
  memset(accA, 0, (accFloats + (size_t)w) * sizeof(float));
  const int32_t *restrict colIdx = s->colIdx;
  const float *restrict vA = p->valuesA, *restrict vB = p->valuesB;
  for (int64_t b0 = 0; b0 < rows; b0 += rb) {
    int64_t b1 = b0 + rb < rows ? b0 + rb : rows;
    /* This block's entries of latents [j0, j1), sorted by latent (stable: ascending rows). */
    memset(cur, 0, (size_t)(w + 2) * sizeof(int32_t));
    for (int64_t r = b0; r < b1; r++) {
      first[2 * (r - b0)] = J->bounds[r * (WALK_CHUNKS + 1) + chunk];
      first[2 * (r - b0) + 1] = J->bounds[r * (WALK_CHUNKS + 1) + chunk + 1];
    }
    int32_t *restrict cp = cur + 2 - j0;
    for (int64_t r = b0; r < b1; r++)
      for (int64_t e = first[2 * (r - b0)], e1 = first[2 * (r - b0) + 1]; e < e1; e++) cp[colIdx[e]]++;
    for (int64_t jj = 0; jj < w; jj++) cur[jj + 2] += cur[jj + 1];
    cp = cur + 1 - j0;
    for (int64_t r = b0; r < b1; r++)
      for (int64_t e = first[2 * (r - b0)], e1 = first[2 * (r - b0) + 1]; e < e1; e++) {
        int32_t q = cp[colIdx[e]]++;
        lrow[q] = (int32_t)r;
        if (doA) lvA[q] = vA[e];
        lvB[q] = vB[e];
      }
    /* cur[jj] is now the start of latent jj, cur[jj + 1] its end. */
    for (int64_t jj = 0; jj < w; jj++) {
      int64_t q0 = cur[jj], cnt = cur[jj + 1] - q0;
      if (cnt == 0) continue;
      float t = csum[jj];
      for (int64_t q = q0; q < q0 + cnt; q++) t += lvB[q];
      csum[jj] = t;
      if (!J->products) continue;
      if (doA) gather_add(accA + jj * n, lrow + q0, lvA + q0, cnt, p->a, n);
      gather_add(accB + jj * n, lrow + q0, lvB + q0, cnt, p->b, n);
    }
  }
  for (int64_t jj = 0; jj < w; jj++) {
    int64_t j = j0 + jj;
    if (J->prefix[j + 1] == J->prefix[j]) continue;
    if (p->colSumB) p->colSumB[j] += csum[jj];
    if (p->fired) p->fired[j] = 1;
    if (doA) {
      float *o = p->outA + j * n;
      for (int64_t c = 0; c < n; c++) o[c] += accA[jj * n + c];
    }
    if (doB && !p->bCols) {
      float *o = p->outB + j * n;
      for (int64_t c = 0; c < n; c++) o[c] += accB[jj * n + c];
    }
  }
  if (doB && p->bCols)
    for (int64_t c = 0; c < n; c++) {
      float *o = p->outB + c * cols;
      for (int64_t jj = 0; jj < w; jj++)
        if (J->prefix[j0 + jj + 1] != J->prefix[j0 + jj]) o[j0 + jj] += accB[jj * n + c];
    }
}

int saelab_spmmT_pair(const saelab_pair_args *p) {
  const saelab_csr *s = p->s;
  const int64_t rows = s->rows, cols = s->cols, n = p->n;
  if (rows == 0 || cols == 0) return 0;
  int64_t nnz = s->rowPtr[rows] - s->rowPtr[0];
  int nt = (double)nnz * (n > 0 ? n : 1) < 65536 ? 1 : saelab_pool_threads();
  if (nt > MAXT) nt = MAXT;
  pair_job J;
  memset(&J, 0, sizeof J);
  J.p = p;
  J.products = (double)cols * (double)n * sizeof(float) <= WALK_BYTES;
  if (!J.products) {
    saelab_csr sB = *s;
    sB.values = p->valuesB;
    if (p->valuesA) {
      saelab_csr sA = *s;
      sA.values = p->valuesA;
      if (saelab_spmmT(&sA, p->a, n, p->outA) != 0) return -1;
    }
    if ((p->bCols ? saelab_spmmT_cols(&sB, p->b, n, p->outB) : saelab_spmmT(&sB, p->b, n, p->outB)) != 0) return -1;
    if (!p->colSumB && !p->fired) return 0;
  }
  int32_t *mem = saelab_scratch(SAELAB_SCRATCH_PAIR_STAGE, ((size_t)(nt + 1) * cols + 1 + (size_t)rows * (WALK_CHUNKS + 1)) * sizeof(int32_t) + 64);
  if (!mem) return -1;
  J.cnt = mem;
  J.prefix = mem + (size_t)nt * cols;
  J.bounds = J.prefix + cols + 1;
  saelab_pool_run(count_task, &J, nt);
  J.prefix[0] = 0;
  for (int64_t j = 0; j < cols; j++) {
    int32_t c = 0;
    for (int t = 0; t < nt; t++) c += J.cnt[(size_t)t * cols + j];
    J.prefix[j + 1] = J.prefix[j] + c;
  }
  for (int c = 0; c < WALK_CHUNKS; c++) {
    int64_t lo, hi;
    saelab_split_weighted(J.prefix, cols, c, WALK_CHUNKS, &lo, &hi);
    J.jb[c] = lo;
  }
  J.jb[WALK_CHUNKS] = cols;
  saelab_pool_run(bounds_task, &J, nt);
  saelab_pool_chunks(walk_chunk, &J, WALK_CHUNKS, nt);
  return J.failed ? -1 : 0;
}
