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

/* Number of threads the pool runs (>= 1): SAELAB_THREADS, else the CPUs this process may use. */
int saelab_pool_threads(void);

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
/* Slots 0-3: GEMM, 4-9: sparse kernels (8, 9: spmmTPair's and encode's staging), 10-13: the LM
   kernels (lm.h), 16: GEMM's shared packed B, 17-22: the fused SAE-step kernels, 14, 15, 23: free. */
#define SAELAB_SCRATCH_SLOTS 24
void *saelab_scratch(int slot, size_t bytes);
#endif
