/* The persistent thread pool behind pool.h. Workers spin briefly after each task (kernels often come
   in quick succession) and then sleep on a condition variable, so an idle pool costs nothing. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "pool.h"

#define MAX_THREADS 64
#define SPIN_NS 200000L /* how long a worker or the caller spins before sleeping */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif

static struct {
  int n;                     /* threads including the caller */
  pthread_mutex_t busy;      /* held by the caller for the length of one run */
  pthread_mutex_t lock;      /* guards sleeping on wake/done */
  pthread_cond_t wake, done;
  atomic_ulong gen;          /* bumped once per run */
  atomic_int pending;        /* workers still running the current task */
  saelab_task_fn fn;
  void *ctx;
  int active;                /* threads taking part in the current run */
} P;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int wanted; /* the thread count asked for before the pool starts (0: the CPUs available) */
static atomic_int started;

static long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void *worker(void *arg) {
  int tid = (int)(intptr_t)arg;
  unsigned long seen = 0;
  for (;;) {
    unsigned long g = atomic_load_explicit(&P.gen, memory_order_acquire);
    if (g == seen) {
      long t0 = now_ns();
      for (int i = 0; (g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen; i++) {
        CPU_RELAX();
        if ((i & 255) == 255 && now_ns() - t0 > SPIN_NS) {
          pthread_mutex_lock(&P.lock);
          while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen) pthread_cond_wait(&P.wake, &P.lock);
          pthread_mutex_unlock(&P.lock);
          break;
        }
      }
    }
    seen = g;
    /* Every worker checks in for every run, even when not taking part, so that none can lag a
       generation behind and read the next run's task. */
    if (tid < P.active) P.fn(P.ctx, tid, P.active);
    if (atomic_fetch_sub_explicit(&P.pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&P.lock);
      pthread_cond_broadcast(&P.done);
      pthread_mutex_unlock(&P.lock);
    }
  }
  return NULL;
}

static int detect_threads(void) {
  const int v = atomic_load(&wanted);
  if (v >= 1) return v < MAX_THREADS ? v : MAX_THREADS;
  int n = 0;
#ifdef CPU_COUNT
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
#endif
  if (n <= 0) n = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  return n < MAX_THREADS ? n : MAX_THREADS;
}

/* Pool threads and per-thread scratch destructors run this library's code after the JS thread that
   loaded it may be gone (an addon loaded only by worker threads is unloaded when the last one exits),
   so the library pins itself in memory the first time either is set up. */
static void pin_library(void) {
  Dl_info info;
  if (dladdr((void *)pin_library, &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

static void init_pool(void) {
  pin_library();
  atomic_store(&started, 1);
  P.n = detect_threads();
  pthread_mutex_init(&P.busy, NULL);
  pthread_mutex_init(&P.lock, NULL);
  pthread_cond_init(&P.wake, NULL);
  pthread_cond_init(&P.done, NULL);
  atomic_init(&P.gen, 0);
  atomic_init(&P.pending, 0);
  for (int t = 1; t < P.n; t++) {
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 1 << 20);
    if (pthread_create(&th, &attr, worker, (void *)(intptr_t)t) != 0) { P.n = t; pthread_attr_destroy(&attr); break; }
    pthread_attr_destroy(&attr);
  }
}

int saelab_pool_set_threads(int n) {
  if (!atomic_load(&started)) atomic_store(&wanted, n > 0 ? n : 0);
  return saelab_pool_threads();
}

int saelab_pool_threads(void) {
  pthread_once(&once, init_pool);
  return P.n;
}

void saelab_pool_run(saelab_task_fn fn, void *ctx, int nthreads) {
  pthread_once(&once, init_pool);
  int n = nthreads <= 0 || nthreads > P.n ? P.n : nthreads;
  if (n == 1 || pthread_mutex_trylock(&P.busy) != 0) {
    for (int t = 0; t < n; t++) fn(ctx, t, n);
    return;
  }
  P.fn = fn;
  P.ctx = ctx;
  P.active = n;
  atomic_store_explicit(&P.pending, P.n - 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&P.gen, 1, memory_order_acq_rel);
  pthread_mutex_lock(&P.lock);
  pthread_cond_broadcast(&P.wake);
  pthread_mutex_unlock(&P.lock);
  fn(ctx, 0, n);
  if (atomic_load_explicit(&P.pending, memory_order_acquire) != 0) {
    long t0 = now_ns();
    for (int i = 0; atomic_load_explicit(&P.pending, memory_order_acquire) != 0; i++) {
      CPU_RELAX();
      if ((i & 255) == 255 && now_ns() - t0 > SPIN_NS) {
        pthread_mutex_lock(&P.lock);
        while (atomic_load_explicit(&P.pending, memory_order_acquire) != 0) pthread_cond_wait(&P.done, &P.lock);
        pthread_mutex_unlock(&P.lock);
        break;
      }
    }
  }
  pthread_mutex_unlock(&P.busy);
}

typedef struct {
  saelab_chunk_fn fn;
  void *ctx;
  int64_t nchunks;
  atomic_llong next;
} chunk_job;

static void chunk_task(void *ctx, int tid, int nt) {
  chunk_job *J = ctx;
  (void)nt;
  for (;;) {
    int64_t c = atomic_fetch_add_explicit(&J->next, 1, memory_order_relaxed);
    if (c >= J->nchunks) return;
    J->fn(J->ctx, c, tid);
  }
}

void saelab_pool_chunks(saelab_chunk_fn fn, void *ctx, int64_t nchunks, int nthreads) {
  if (nchunks <= 0) return;
  chunk_job J = {fn, ctx, nchunks, 0};
  atomic_init(&J.next, 0);
  if (nchunks < nthreads || nthreads <= 0) {
    int pool = saelab_pool_threads();
    int want = nthreads <= 0 ? pool : nthreads;
    nthreads = nchunks < want ? (int)nchunks : want;
  }
  saelab_pool_run(chunk_task, &J, nthreads);
}

/* Scratch buffers live per calling thread, freed when that thread exits. */
typedef struct { void *p[SAELAB_SCRATCH_SLOTS]; size_t n[SAELAB_SCRATCH_SLOTS]; } scratch_t;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *v) {
  scratch_t *s = v;
  for (int i = 0; i < SAELAB_SCRATCH_SLOTS; i++) free(s->p[i]);
  free(s);
}
static void scratch_init(void) {
  pin_library();
  pthread_key_create(&scratch_key, scratch_free);
}

void *saelab_scratch(int slot, size_t bytes) {
  pthread_once(&scratch_once, scratch_init);
  scratch_t *s = pthread_getspecific(scratch_key);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_setspecific(scratch_key, s);
  }
  if (slot < 0 || slot >= SAELAB_SCRATCH_SLOTS) return NULL;
  if (s->n[slot] < bytes || !s->p[slot]) {
    size_t want = bytes + bytes / 4 + 64;
    void *p = NULL;
    if (posix_memalign(&p, 64, want) != 0) return NULL;
    free(s->p[slot]);
    s->p[slot] = p;
    s->n[slot] = want;
  }
  return s->p[slot];
}
