/* settle: mixed precision's last step over the candidates the bf16 product proposed (src/sae/bf16.ts).
   Each entry's value becomes fp32(fp32(value * gain[j]) + bias[j]), then the entries are compacted in
   place, in order, to those the rule keeps of the new values:
   - SAELAB_SETTLE_ABOVE: v > threshold[j] (threshold NULL: v > 0);
   - SAELAB_SETTLE_WINDOW: |v - center[j]| < halfWidth, in double precision;
   - SAELAB_SETTLE_TOPK: per row the k largest positive values, ties to the earlier entry;
   - SAELAB_SETTLE_BATCH: the k largest positive values of all entries, ties to the earlier entry (row order);
   - SAELAB_SETTLE_ALL: every entry.
   Rows are settled in chunks balanced by entries, each row only by its own values, so the result does
   not depend on the thread count; the batch rule's cut is one selection over all positive values. */
#include <math.h>
#include <string.h>
#include "pool.h"
#include "sae_bf16.h"

/* value * gain and + bias are two roundings, as the TypeScript twin does (no fused multiply-add). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

#define ST_CHUNKS 16

typedef struct {
  const saelab_settle_args *A;
  int32_t *kept; /* [rows]: entries kept at the start of each row's range (NULL for the batch rule) */
  int failed;
} st_job;

static inline float st_value(const saelab_settle_args *A, float v, int32_t j) {
  float t = v;
  if (A->gain) t = t * A->gain[j];
  t = t + A->bias[j];
  return t;
}

/* The k largest positive of vals[0..m) with ties to the earlier: the cut t, and how many entries
   equal to t are kept; returns 0 when every positive value is kept (count <= k). */
static int st_cut(const float *vals, int64_t m, int64_t k, float *buf, float *t, int64_t *ties) {
  int64_t pos = 0;
  for (int64_t e = 0; e < m; e++) { /* branch-free: the signs are unpredictable */
    buf[pos] = vals[e];
    pos += vals[e] > 0;
  }
  if (pos <= k) return 0;
  if (k == 0) { *t = INFINITY; *ties = 0; return 1; }
  float *sel = buf + pos + SAELAB_SELECT_SLACK;
  const float c = saelab_select_desc(buf, pos, k - 1, sel);
  int64_t above = 0;
  for (int64_t q = 0; q < pos; q++) above += (int64_t)(buf[q] > c);
  *t = c;
  *ties = k - above;
  return 1;
}

/* Moves the entries [e0, e1) that a cut keeps (above t; the first *ties equal to t when cut) down to
   position o, in order; returns the new o. Branch-free: every entry is written at o, which moves on
   past the kept ones (a tie is never above). */
static int64_t st_keep_cut(int32_t *ci, float *va, int64_t e0, int64_t e1, int64_t o, float t, int cut, int64_t *ties) {
  int64_t left = *ties;
  for (int64_t e = e0; e < e1; e++) {
    const int32_t j = ci[e];
    const float v = va[e];
    ci[o] = j;
    va[o] = v;
    const int64_t gt = v > t, tie = cut & (v == t) & (left > 0);
    o += gt | tie;
    left -= tie;
  }
  *ties = left;
  return o;
}

static void st_task(void *ctx, int64_t chunk, int tid) {
  st_job *J = ctx;
  const saelab_settle_args *A = J->A;
  int32_t *rp = A->rowPtr, *ci = A->colIdx;
  float *va = A->values;
  int64_t r0, r1;
  (void)tid;
  saelab_split_weighted(rp, A->rows, (int)chunk, ST_CHUNKS, &r0, &r1);
  if (r0 >= r1) return;
  float *buf = NULL;
  if (A->rule == SAELAB_SETTLE_TOPK && A->k > 0) {
    int64_t most = 0;
    for (int64_t r = r0; r < r1; r++) most = rp[r + 1] - rp[r] > most ? rp[r + 1] - rp[r] : most;
    buf = saelab_scratch(SAELAB_SCRATCH_SPARSE_ROW, (size_t)(4 * (most + SAELAB_SELECT_SLACK) + 16) * sizeof(float));
    if (!buf) { J->failed = 1; return; }
  }
  for (int64_t r = r0; r < r1; r++) {
    const int64_t e0 = rp[r], e1 = rp[r + 1];
    for (int64_t e = e0; e < e1; e++) va[e] = st_value(A, va[e], ci[e]);
    if (!J->kept) continue;
    int64_t o = e0;
    switch (A->rule) {
      /* Branch-free compaction: every entry is written at o, which moves on past the kept ones. */
      case SAELAB_SETTLE_ABOVE:
      case SAELAB_SETTLE_WINDOW:
        for (int64_t e = e0; e < e1; e++) {
          const int32_t j = ci[e];
          const float v = va[e];
          ci[o] = j;
          va[o] = v;
          o += A->rule == SAELAB_SETTLE_ABOVE ? v > (A->threshold ? A->threshold[j] : 0.0f) : fabs((double)v - (double)A->center[j]) < A->halfWidth;
        }
        break;
      case SAELAB_SETTLE_TOPK: {
        float t = 0;
        int64_t ties = 0;
        const int cut = A->k > 0 ? st_cut(va + e0, e1 - e0, A->k, buf, &t, &ties) : (t = INFINITY, 1);
        if (!cut) t = 0; /* every positive value */
        o = st_keep_cut(ci, va, e0, e1, o, t, cut, &ties);
        break;
      }
      default:
        o = e1;
    }
    J->kept[r] = (int32_t)(o - e0);
  }
}

int64_t saelab_settle(const saelab_settle_args *A) {
  const int64_t rows = A->rows, first = A->rowPtr[0], nnz = (int64_t)A->rowPtr[rows] - first;
  int32_t *rp = A->rowPtr, *ci = A->colIdx;
  float *va = A->values;
  const int batch = A->rule == SAELAB_SETTLE_BATCH;
  st_job J = {A, NULL, 0};
  if (!batch) {
    J.kept = saelab_scratch(SAELAB_SCRATCH_SDDMM_COLS_WT, (size_t)(rows + 1) * sizeof(int32_t));
    if (!J.kept) return -1;
  }
  saelab_pool_chunks(st_task, &J, ST_CHUNKS, nnz < 32768 ? 1 : 0);
  if (J.failed) return -1;
  int64_t o = 0;
  if (!batch) { /* each row's kept entries, moved down to their place */
    for (int64_t r = 0; r < rows; r++) {
      const int64_t start = rp[r], cnt = J.kept[r];
      rp[r] = (int32_t)o;
      if (o != start && cnt > 0) {
        memmove(ci + o, ci + start, (size_t)cnt * sizeof(int32_t));
        memmove(va + o, va + start, (size_t)cnt * sizeof(float));
      }
      o += cnt;
    }
    rp[rows] = (int32_t)o;
    return o;
  }
  /* The batch rule: one cut over every entry's value. */
  float *buf = saelab_scratch(SAELAB_SCRATCH_SDDMM_COLS_WT, (size_t)(4 * (nnz + SAELAB_SELECT_SLACK) + 16) * sizeof(float));
  if (!buf) return -1;
  float t = INFINITY;
  int64_t ties = 0;
  const int cut = A->k > 0 ? st_cut(va + first, nnz, A->k, buf, &t, &ties) : 1;
  if (!cut) t = 0; /* every positive value */
  for (int64_t r = 0; r < rows; r++) {
    const int64_t e0 = rp[r], e1 = rp[r + 1];
    rp[r] = (int32_t)o;
    o = st_keep_cut(ci, va, e0, e1, o, t, cut, &ties); /* the ties are counted across rows, in order */
  }
  rp[rows] = (int32_t)o;
  return o;
}
