/* A persistent thread pool shared by every kernel file. The calling thread is thread 0; the pool's
   workers are threads 1..n-1. Work is split statically (saelab_split), so which thread computes an
   output never changes its value: kernels are written so each output is produced by one thread with
   a fixed operation order, making results independent of thread timing and of the thread count. */
#ifndef SAELAB_POOL_H
#define SAELAB_POOL_H
#include <stddef.h>
#include <stdint.h>

/* A parallel task: called once for each tid in [0, nthreads). */
typedef void (*saelab_task_fn)(void *ctx, int tid, int nthreads);

/* Number of threads the pool runs (>= 1): as set by saelab_pool_set_threads, else the CPUs this process may use. */
int saelab_pool_threads(void);
/* Starts the pool with n threads (n <= 0: the CPUs this process may use; at most 64) unless it has
   started already; returns the pool's thread count either way. The edge (src/tensor/native.ts's
   setNativeThreads, from SAELAB_THREADS) calls it before any kernel runs. */
int saelab_pool_set_threads(int n);

/* Runs fn(ctx, t, n) for every t < n with n = min(nthreads, pool size) (nthreads <= 0: pool size)
   and returns when all are done. When the pool is busy (another JS thread, or a nested call) the
   tids run one after another on the caller, which gives the same results. */
void saelab_pool_run(saelab_task_fn fn, void *ctx, int nthreads);

/* A task split into chunks: fn(ctx, chunk, tid) runs once for every chunk in [0, nchunks), each
   chunk claimed by whichever thread is free next, so a thread whose core is busy with another
   process does fewer (a static split would make every call wait for it). Kernels using it compute
   each chunk's outputs the same way whatever thread runs it, so results still do not depend on the
   thread count or timing; tid only picks per-thread scratch. */
typedef void (*saelab_chunk_fn)(void *ctx, int64_t chunk, int tid);
void saelab_pool_chunks(saelab_chunk_fn fn, void *ctx, int64_t nchunks, int nthreads);

/* The [lo, hi) share of tid among n threads of [0, total), boundaries rounded to multiples of align. */
static inline void saelab_split(int64_t total, int tid, int n, int64_t align, int64_t *lo, int64_t *hi) {
  int64_t units = (total + align - 1) / align;
  int64_t a = units * tid / n, b = units * (tid + 1) / n;
  *lo = a * align < total ? a * align : total;
  *hi = b * align < total ? b * align : total;
}

/* Splits [0, count) so that each thread gets about the same share of weight, where prefix[i] is the
   total weight of items before i (prefix has count + 1 entries, nondecreasing). */
static inline void saelab_split_weighted(const int32_t *prefix, int64_t count, int tid, int n, int64_t *lo, int64_t *hi) {
  int64_t total = (int64_t)prefix[count] - prefix[0];
  int64_t bounds[2];
  for (int s = 0; s < 2; s++) {
    int64_t target = prefix[0] + total * (tid + s) / n;
    if (tid + s == n) { bounds[s] = count; continue; }
    if (tid + s == 0) { bounds[s] = 0; continue; }
    int64_t l = 0, h = count; /* first i with prefix[i] >= target */
    while (l < h) { int64_t m = (l + h) / 2; if (prefix[m] < target) l = m + 1; else h = m; }
    bounds[s] = l;
  }
  *lo = bounds[0];
  *hi = bounds[1];
}

/* A per-calling-thread scratch buffer of at least `bytes` bytes, 64-byte aligned, kept between calls
   (slot < SAELAB_SCRATCH_SLOTS picks one of several independent buffers; under a pool run each thread
   has its own, but the serial fallback runs every tid on the caller, so share a buffer across tids
   only when it is taken by the caller before the run). Returns NULL when out of memory. */
/* Every scratch slot, by owner. A kernel takes its slot by name; two kernels share a slot only when
   one never runs while the other holds its buffer (the names say which). Slot 14 is free. */
enum saelab_scratch_slot {
  SAELAB_SCRATCH_GEMM_PACKED_B = 0,  /* gemm_plan.c: a thread's packed panel of B */
  SAELAB_SCRATCH_GEMM_PACKED_A = 1,  /* gemm_plan.c: a thread's packed panel of A */
  SAELAB_SCRATCH_GEMM_ROW = 2,       /* gemm_plan.c column scales / gemm_small.c accumulator */
  SAELAB_SCRATCH_GEMM_COL = 3,       /* gemm_small.c: a gathered column of a transposed A */
  SAELAB_SCRATCH_TOPK_SLOTS = 4,     /* sparse_topk.c: per-row kept entries */
  SAELAB_SCRATCH_BATCH_HIST = 5,     /* sparse_batch.c: per-thread histograms of the batch top-k */
  SAELAB_SCRATCH_SPARSE_TILE = 6,    /* sparse_batch.c candidates / sparse_mm.c output and transpose tiles */
  SAELAB_SCRATCH_SPARSE_ROW = 7,     /* sparse_batch.c low-bin histogram / sparse_topk.c row scratch / sae_settle.c row cut */
  SAELAB_SCRATCH_PAIR_STAGE = 8,     /* sae_pair.c: spmmTPair's column walk */
  SAELAB_SCRATCH_ENCODE_STAGE = 9,   /* sae_encode.c: encode's per-thread staging of kept entries */
  SAELAB_SCRATCH_LM_FIRST = 10,      /* 10-13: the LM kernels' slots (LM_SCRATCH_* in lm.h) */
  SAELAB_SCRATCH_LM_END = 14,
  SAELAB_SCRATCH_GEMM_SHARED_A = 15, /* gemm_plan.c: op(A) packed for AMX tiles, shared by every thread (taken by the caller) */
  SAELAB_SCRATCH_GEMM_SHARED_B = 16, /* gemm_plan.c: the packed B shared by every thread (taken by the caller) */
  SAELAB_SCRATCH_STEP_PACKED_B = 17, /* sae_encode.c: the fused encoder's packed weights */
  SAELAB_SCRATCH_STEP_SCALE = 18,    /* sae_encode.c: the fused encoder's column scales */
  SAELAB_SCRATCH_STEP_BLOCK = 19,    /* sae_encode.c: a row block of pre-activations, or the kept-entry buffer */
  SAELAB_SCRATCH_STEP_TOPK = 20,     /* sae_encode.c: the fused per-row top-k scratch */
  SAELAB_SCRATCH_STEP_DECODE = 21,   /* sae_decode.c: decodeLoss's per-block sums and rows */
  SAELAB_SCRATCH_STEP_PAIR = 22,     /* sae_pair.c: spmmTPair's per-thread accumulators */
  SAELAB_SCRATCH_SDDMM_COLS_WT = 23, /* sparse_sddmm_cols.c's transposed small weight / sae_settle.c's row counts or batch values (each taken by the caller) */
  SAELAB_SCRATCH_SLOTS = 24          /* the number of slots (one past the last) */
};
void *saelab_scratch(int slot, size_t bytes);
#endif
