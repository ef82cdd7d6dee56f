/* Sparse-dense products that touch only the stored entries: spmm (decoding), sddmm (the gradient of
   the latent values), spmmT and spmmTCols (decoder and encoder weight gradients). All walk latents
   (csc.h). Every output element is one FMA chain over its entries in a fixed order (spmm: ascending
   latent; the transposed products: ascending row; sddmm: eight lanes then a fixed tree), whatever
   thread computes it. */
#include "csc.h"

#define OB_COLS 64 /* spmm's column block: a thread's rows x 64 floats stay in L2 */

/* ---- spmm: each thread owns a range of output rows and walks its own CSC of those rows ---- */
typedef struct { const saelab_csr *s; const float *w, *a; int64_t n; float *out; int accumulate, failed; } mm_job;

#define CHUNKS 16 /* fixed work ranges (balanced by entries), claimed dynamically by the threads */

static void spmm_task(void *ctx, int64_t chunk, int tid) {
  mm_job *J = ctx;
  const saelab_csr *s = J->s;
  int64_t r0, r1, n = J->n, cols = s->cols;
  (void)tid;
  saelab_split_weighted(s->rowPtr, s->rows, (int)chunk, CHUNKS, &r0, &r1);
  if (r0 >= r1) return;
  saelab_csc c;
  /* ob: this thread's rows of one column block of out, contiguous, so it stays in L2. */
  float *ob = saelab_scratch(SAELAB_SCRATCH_SPARSE_TILE, (size_t)((r1 - r0) * OB_COLS) * sizeof(float));
  if (!ob || saelab_build_csc(s, r0, r1, 0, 5, &c) != 0) { J->failed = 1; return; }
  for (int64_t c0 = 0; c0 < n; c0 += OB_COLS) {
    int64_t w = n - c0 < OB_COLS ? n - c0 : OB_COLS;
    for (int64_t r = r0; r < r1; r++) {
      if (J->accumulate) memcpy(ob + (r - r0) * OB_COLS, J->out + r * n + c0, (size_t)w * sizeof(float));
      else memset(ob + (r - r0) * OB_COLS, 0, (size_t)w * sizeof(float));
    }
    for (int64_t j = 0; j < cols; j++) {
      int64_t e0 = c.colPtr[j], e1 = c.colPtr[j + 1];
      if (e0 == e1) continue;
      const float *wp = J->w + j * n + c0;
      int64_t q = 0;
#ifdef SAELAB_AVX512
      if (w == OB_COLS) { /* the same FMA per element as below, 16 per instruction */
        __m512 wv[OB_COLS / 16];
        for (int h = 0; h < OB_COLS / 16; h++) wv[h] = _mm512_loadu_ps(wp + 16 * h);
        for (int64_t e = e0; e < e1; e++) {
          float *o = ob + (int64_t)(c.rowIdx[e] - r0) * OB_COLS;
          __m512 v = _mm512_set1_ps(c.vals[e]);
          for (int h = 0; h < OB_COLS / 16; h++) _mm512_store_ps(o + 16 * h, _mm512_fmadd_ps(v, wv[h], _mm512_load_ps(o + 16 * h)));
        }
        continue;
      }
#endif
#ifdef SAELAB_AVX2
      if (w == OB_COLS) {
        __m256 wv[OB_COLS / 8];
        for (int h = 0; h < OB_COLS / 8; h++) wv[h] = _mm256_loadu_ps(wp + 8 * h);
        for (int64_t e = e0; e < e1; e++) {
          float *o = ob + (int64_t)(c.rowIdx[e] - r0) * OB_COLS;
          __m256 v = _mm256_broadcast_ss(c.vals + e);
          for (int h = 0; h < OB_COLS / 8; h++) _mm256_store_ps(o + 8 * h, _mm256_fmadd_ps(v, wv[h], _mm256_load_ps(o + 8 * h)));
        }
        continue;
      }
      for (; q + 8 <= w; q += 8) {
        __m256 wv = _mm256_loadu_ps(wp + q);
        for (int64_t e = e0; e < e1; e++) {
          float *o = ob + (int64_t)(c.rowIdx[e] - r0) * OB_COLS + q;
          _mm256_store_ps(o, _mm256_fmadd_ps(_mm256_broadcast_ss(c.vals + e), wv, _mm256_load_ps(o)));
        }
      }
#endif
      for (; q < w; q++)
        for (int64_t e = e0; e < e1; e++) {
          float *o = ob + (int64_t)(c.rowIdx[e] - r0) * OB_COLS + q;
          *o = fmaf(c.vals[e], wp[q], *o);
        }
    }
    for (int64_t r = r0; r < r1; r++) memcpy(J->out + r * n + c0, ob + (r - r0) * OB_COLS, (size_t)w * sizeof(float));
  }
}

int saelab_spmm(const saelab_csr *s, const float *w, int64_t n, float *out, int accumulate) {
  mm_job J = {s, w, NULL, n, out, accumulate, 0};
  saelab_pool_chunks(spmm_task, &J, CHUNKS, saelab_threads_for((double)(s->rowPtr[s->rows] - s->rowPtr[0]) * n + (double)s->rows * n));
  return J.failed ? -1 : 0;
}

/* ---- products over one latent-major copy made by the caller ---- */
typedef struct {
  const saelab_csr *s;
  const float *a, *w;
  int64_t n;
  float *out;
  saelab_csc c;
  int failed;
} t_job;

/* sddmm: each weight row is read once and dotted with the rows of a that fired it, eight at a time. */
static void sddmm_task(void *ctx, int64_t chunk, int tid) {
  t_job *J = ctx;
  int64_t j0, j1, n = J->n;
  (void)tid;
  saelab_split_latents(&J->c, J->s->cols, (int)chunk, CHUNKS, &j0, &j1);
  const saelab_csc *c = &J->c;
  for (int64_t j = j0; j < j1; j++) {
    const float *y = J->w + j * n;
    int64_t e = c->colPtr[j], e1 = c->colPtr[j + 1];
#ifdef SAELAB_AVX2
    __m256i tail = saelab_lane_mask(n & 7);
    for (; e + 8 <= e1; e += 8) {
      const float *x[8];
      for (int q = 0; q < 8; q++) x[q] = J->a + (int64_t)c->rowIdx[e + q] * n;
      float r[8];
      _mm256_storeu_ps(r, saelab_dots8(x, y, n, tail));
      for (int q = 0; q < 8; q++) J->out[c->pos[e + q]] = r[q];
    }
    for (; e < e1; e++) J->out[c->pos[e]] = saelab_reduce1(saelab_dot_lanes(J->a + (int64_t)c->rowIdx[e] * n, y, n, tail));
#else
    for (; e < e1; e++) {
      float lanes[8] = {0};
      const float *x = J->a + (int64_t)c->rowIdx[e] * n;
      for (int64_t p = 0; p < n; p++) lanes[p & 7] = fmaf(x[p], y[p], lanes[p & 7]);
      J->out[c->pos[e]] = saelab_reduce_lanes(lanes);
    }
#endif
  }
}

/* spmmT: out[j, :] += the entries' rows of a, weighted, for each latent j that fired. */
static void spmmT_task(void *ctx, int64_t chunk, int tid) {
  t_job *J = ctx;
  int64_t j0, j1, n = J->n;
  (void)tid;
  saelab_split_latents(&J->c, J->s->cols, (int)chunk, CHUNKS, &j0, &j1);
  float acc[CB] __attribute__((aligned(32)));
  for (int64_t j = j0; j < j1; j++) {
    int64_t e0 = J->c.colPtr[j], cnt = J->c.colPtr[j + 1] - e0;
    if (cnt == 0) continue;
    float *o = J->out + j * n;
    for (int64_t c0 = 0; c0 < n; c0 += CB) {
      int64_t w = n - c0 < CB ? n - c0 : CB;
      saelab_gather_block(J->c.rowIdx + e0, J->c.vals + e0, cnt, J->a, n, c0, w, acc);
      for (int64_t q = 0; q < w; q++) o[c0 + q] += acc[q];
    }
  }
}

#ifndef JB
#define JB 64 /* latents per block in spmmTCols: each output row gets JB contiguous floats */
#endif

/* spmmTCols: sums for JB adjacent latents go to a [JB, n] tile, which is added to out [n, cols]
   transposed, so that every write is a run of JB contiguous floats. */
static void spmmT_cols_task(void *ctx, int64_t chunk, int tid) {
  t_job *J = ctx;
  int64_t n = J->n, cols = J->s->cols, nblk = (cols + JB - 1) / JB;
  const int32_t *cp = J->c.colPtr;
  const int nt = CHUNKS, c = (int)chunk;
  (void)tid;
  int64_t total = cp[cols], lo = total * c / nt, hi = total * (c + 1) / nt, b0 = 0, b1;
  while (b0 < nblk && cp[b0 * JB] < lo) b0++;
  b1 = b0;
  while (b1 < nblk && cp[b1 * JB] < hi) b1++;
  if (c == 0) b0 = 0;
  if (c == nt - 1) b1 = nblk;
  float *tt = saelab_scratch(SAELAB_SCRATCH_SPARSE_TILE, (size_t)(JB * n + CB) * sizeof(float));
  if (!tt) { J->failed = 1; return; }
  for (int64_t b = b0; b < b1; b++) {
    int64_t jb = b * JB, jn = cols - jb < JB ? cols - jb : JB;
    if (cp[jb] == cp[jb + jn]) continue;
    int64_t fired = 0;
    for (int64_t q = 0; q < jn; q++) {
      int64_t e0 = cp[jb + q], cnt = cp[jb + q + 1] - e0;
      float *row = tt + q * n;
      if (cnt == 0) { memset(row, 0, (size_t)n * sizeof(float)); continue; }
      fired++;
      for (int64_t c0 = 0; c0 < n; c0 += CB) {
        int64_t w = n - c0 < CB ? n - c0 : CB;
        saelab_gather_block(J->c.rowIdx + e0, J->c.vals + e0, cnt, J->a, n, c0, w, row + c0);
      }
    }
    if (fired * 16 < JB) {
      /* A few fired latents: one column each costs less than the block's 64-float runs. */
      for (int64_t q = 0; q < jn; q++) {
        if (cp[jb + q] == cp[jb + q + 1]) continue;
        for (int64_t c = 0; c < n; c++) J->out[c * cols + jb + q] += tt[q * n + c];
      }
      continue;
    }
    int64_t c = 0;
#ifdef SAELAB_AVX2
    if (jn == JB) {
      for (; c + 8 <= n; c += 8) {
        for (int h = 0; h < JB / 8; h++) {
          __m256 r[8];
          for (int q = 0; q < 8; q++) r[q] = _mm256_loadu_ps(tt + (8 * h + q) * n + c);
          saelab_transpose8(r);
          for (int q = 0; q < 8; q++) {
            float *o = J->out + (c + q) * cols + jb + 8 * h;
            _mm256_storeu_ps(o, _mm256_add_ps(_mm256_loadu_ps(o), r[q]));
          }
        }
      }
    }
#endif
    for (; c < n; c++) {
      float *o = J->out + c * cols + jb;
      for (int64_t q = 0; q < jn; q++) o[q] += tt[q * n + c];
    }
  }
}

static int run_latent_major(const saelab_csr *s, const float *a, const float *w, int64_t n, float *out, saelab_chunk_fn fn, int withPos) {
  t_job J = {s, a, w, n, out, {0}, 0};
  if (saelab_build_csc(s, 0, s->rows, withPos, 4, &J.c) != 0) return -1;
  saelab_pool_chunks(fn, &J, CHUNKS, saelab_threads_for((double)J.c.colPtr[s->cols] * n));
  return J.failed ? -1 : 0;
}

int saelab_sddmm(const saelab_csr *s, const float *a, const float *w, int64_t n, float *outValues) {
  return run_latent_major(s, a, w, n, outValues, sddmm_task, 1);
}
int saelab_spmmT(const saelab_csr *s, const float *a, int64_t n, float *out) { return run_latent_major(s, a, NULL, n, out, spmmT_task, 0); }
int saelab_spmmT_cols(const saelab_csr *s, const float *a, int64_t n, float *out) { return run_latent_major(s, a, NULL, n, out, spmmT_cols_task, 0); }
