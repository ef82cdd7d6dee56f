/* Node-API bindings of the compute kernels. Arguments are positional (see src/tensor/native.ts, which
   validates them with clear messages first); lengths are re-checked here because a wrong length
   would otherwise read or write out of bounds. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "bind.h"
#include "common.h"
#include "gemm.h"
#include "pool.h"
#include "simd.h"
#include "sparse.h"

/* An optional row stride at argv[i] (undefined: 0, the dense one). */
static int opt_ld(napi_env env, napi_value v, int64_t *ld) {
  *ld = 0;
  return bind_nullish(env, v) || saelab_int(env, v, ld, "gemm leading dimension");
}

/* Elements spanned by a [rows, cols] matrix with row stride ld (0: cols). */
static int64_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : (rows - 1) * (ld ? ld : cols) + cols; }

static napi_value js_gemm(napi_env env, napi_callback_info info) {
  ARGS(11);
  F32(0, a, la, "gemm a"); F32(1, b, lb, "gemm b"); F32(2, c, lc, "gemm out");
  INT(3, m, "gemm m"); INT(4, n, "gemm n"); INT(5, k, "gemm k"); INT(6, flags, "gemm flags");
  DBL(7, alpha, "gemm alpha"); DBL(8, beta, "gemm beta");
  int64_t lda, ldb, ldc; /* optional strides (argv 11-13), for the C API's callers and its tests */
  if (!opt_ld(env, argv[11], &lda) || !opt_ld(env, argv[12], &ldb) || !opt_ld(env, argv[13], &ldc)) return NULL;
  int ta = (int)(flags & 1), tb = (int)((flags >> 1) & 1); /* flags & 4: the mixed-precision (bf16) product, & 8: on AMX where there is AMX */
  NEED(m >= 0 && n >= 0 && k >= 0, "saelab native: gemm sizes must be >= 0");
  NEED((!lda || lda >= (ta ? m : k)) && (!ldb || ldb >= (tb ? k : n)) && (!ldc || ldc >= n), "saelab native: gemm leading dimension too small");
  NEED((int64_t)la >= (ta ? span(k, m, lda) : span(m, k, lda)) && (int64_t)lb >= (tb ? span(n, k, ldb) : span(k, n, ldb)) &&
       (int64_t)lc >= span(m, n, ldc), "saelab native: gemm operand too short");
  float *cs, *bias;
  if (!bind_opt_f32(env, argv[9], &cs, n, "gemm colScale") || !bind_opt_f32(env, argv[10], &bias, n, "gemm bias")) return NULL;
  saelab_gemm_args g = {a, b, c, m, n, k, lda, ldb, ldc, ta, tb, (float)alpha, (float)beta, cs, bias, 0, (flags & 4) ? saelab_bf16_mode((flags & 8) != 0) : 0, NULL};
  if (saelab_sgemm(&g) != 0) SAELAB_THROW(env, "saelab native: gemm ran out of memory");
  return NULL;
}

/* Unpacks (rows, cols, rowPtr, colIdx, values) at argv[i..i+4] as an output CSR. */
#define CSR_OUT(i, o, what)                                                                        \
  INT(i, rows_, what " rows"); INT(i + 1, cols_, what " cols");                                     \
  I32(i + 2, rp_, lrp_, what " rowPtr"); I32(i + 3, ci_, lci_, what " colIdx"); F32(i + 4, va_, lva_, what " values"); \
  NEED(rows_ >= 0 && cols_ >= 0 && (int64_t)lrp_ >= rows_ + 1, "saelab native: %s rowPtr too short", what); \
  saelab_csr_out o = {rows_, cols_, rp_, ci_, va_, (int64_t)(lci_ < lva_ ? lci_ : lva_)}

static napi_value selected(napi_env env, int64_t nnz) {
  if (nnz == -1) SAELAB_THROW(env, "saelab native: out of memory in a selection kernel");
  if (nnz == -2) SAELAB_THROW(env, "saelab native: the selection has more than 2^31 - 1 entries");
  return bind_num(env, (double)nnz);
}

static napi_value js_sparsify_above(napi_env env, napi_callback_info info) {
  ARGS(8);
  F32(0, pre, lp, "sparsifyAbove pre");
  CSR_OUT(1, o, "sparsifyAbove out");
  INT(7, ready, "countsReady");
  NEED((int64_t)lp >= o.rows * o.cols, "saelab native: sparsifyAbove pre too short");
  float *thr;
  if (!bind_opt_f32(env, argv[6], &thr, o.cols, "sparsifyAbove threshold")) return NULL;
  return selected(env, saelab_sparsify_above(pre, thr, &o, (int)ready));
}

static napi_value js_window(napi_env env, napi_callback_info info) {
  ARGS(9);
  F32(0, pre, lp, "window pre");
  CSR_OUT(1, o, "window out");
  F32(6, center, lcen, "window center");
  DBL(7, hw, "window halfWidth");
  INT(8, ready, "countsReady");
  NEED((int64_t)lp >= o.rows * o.cols && (int64_t)lcen >= o.cols, "saelab native: window pre or center too short");
  return selected(env, saelab_window(pre, center, hw, &o, (int)ready));
}

static napi_value js_topk_rows(napi_env env, napi_callback_info info) {
  ARGS(8);
  F32(0, pre, lp, "topkRows pre");
  CSR_OUT(1, o, "topkRows out");
  INT(6, k, "topkRows k");
  NEED((int64_t)lp >= o.rows * o.cols, "saelab native: topkRows pre too short");
  uint8_t *mask = NULL;
  if (!bind_nullish(env, argv[7])) {
    size_t lm;
    if (!saelab_u8(env, argv[7], &mask, &lm, "topkRows mask")) return NULL;
    NEED((int64_t)lm >= o.cols, "saelab native: topkRows mask too short");
  }
  return selected(env, saelab_topk_rows(pre, k, mask, &o));
}

static napi_value js_topk_batch(napi_env env, napi_callback_info info) {
  ARGS(7);
  F32(0, pre, lp, "topkBatch pre");
  CSR_OUT(1, o, "topkBatch out");
  INT(6, total, "topkBatch total");
  NEED((int64_t)lp >= o.rows * o.cols, "saelab native: topkBatch pre too short");
  return selected(env, saelab_topk_batch(pre, total, &o));
}

/* Unpacks and validates an input CSR at argv[i..i+4]. */
#define CSR_IN(i, s, what)                                                                         \
  INT(i, rows_, what " rows"); INT(i + 1, cols_, what " cols");                                     \
  I32(i + 2, rp_, lrp_, what " rowPtr"); I32(i + 3, ci_, lci_, what " colIdx"); F32(i + 4, va_, lva_, what " values"); \
  NEED(rows_ >= 0 && cols_ >= 0 && (int64_t)lrp_ >= rows_ + 1, "saelab native: %s rowPtr too short", what); \
  saelab_csr s = {rows_, cols_, rp_, ci_, va_};                                                     \
  do {                                                                                             \
    char b_[200];                                                                                  \
    const char *bad_ = saelab_csr_check(&s, (int64_t)lci_, (int64_t)lva_, b_, sizeof b_);          \
    if (bad_) { char m_[300]; snprintf(m_, sizeof m_, "saelab native: %s: %s", what, bad_); napi_throw_range_error(env, NULL, m_); return NULL; } \
  } while (0)

static napi_value js_spmm(napi_env env, napi_callback_info info) {
  ARGS(9);
  CSR_IN(0, s, "spmm");
  F32(5, w, lw, "spmm w"); INT(6, n, "spmm n"); F32(7, out, lo, "spmm out");
  bool acc; SAELAB_CHECK(env, napi_get_value_bool(env, argv[8], &acc));
  NEED(n >= 0 && (int64_t)lw >= s.cols * n && (int64_t)lo >= s.rows * n, "saelab native: spmm w or out too short");
  if (saelab_spmm(&s, w, n, out, acc) != 0) SAELAB_THROW(env, "saelab native: spmm ran out of memory");
  return NULL;
}

static napi_value js_sddmm(napi_env env, napi_callback_info info) {
  ARGS(9);
  CSR_IN(0, s, "sddmm");
  F32(5, a, la, "sddmm a"); F32(6, w, lw, "sddmm w"); INT(7, n, "sddmm n"); F32(8, out, lo, "sddmm outValues");
  NEED(n >= 0 && (int64_t)la >= s.rows * n && (int64_t)lw >= s.cols * n && (int64_t)lo >= s.rowPtr[s.rows],
       "saelab native: sddmm a, w or outValues too short");
  /* outValues is indexed by entry position e, which starts at rowPtr[0]. */
  if (saelab_sddmm(&s, a, w, n, out) != 0) SAELAB_THROW(env, "saelab native: sddmm ran out of memory");
  return NULL;
}

static napi_value js_sddmm_cols(napi_env env, napi_callback_info info) {
  ARGS(9);
  CSR_IN(0, s, "sddmmCols");
  F32(5, a, la, "sddmmCols a"); F32(6, w, lw, "sddmmCols w"); INT(7, n, "sddmmCols n"); F32(8, out, lo, "sddmmCols outValues");
  NEED(n >= 0 && (int64_t)la >= s.rows * n && (int64_t)lw >= s.cols * n && (int64_t)lo >= s.rowPtr[s.rows],
       "saelab native: sddmmCols a, w or outValues too short");
  if (saelab_sddmm_cols(&s, a, w, n, out) != 0) SAELAB_THROW(env, "saelab native: sddmmCols ran out of memory");
  return NULL;
}

static napi_value transposed(napi_env env, napi_callback_info info, int colsLayout) {
  ARGS(8);
  CSR_IN(0, s, "spmmT");
  F32(5, a, la, "spmmT a"); INT(6, n, "spmmT n"); F32(7, out, lo, "spmmT out");
  NEED(n >= 0 && (int64_t)la >= s.rows * n && (int64_t)lo >= s.cols * n, "saelab native: spmmT a or out too short");
  int rc = colsLayout ? saelab_spmmT_cols(&s, a, n, out) : saelab_spmmT(&s, a, n, out);
  if (rc != 0) SAELAB_THROW(env, "saelab native: spmmT ran out of memory");
  return NULL;
}
static napi_value js_spmmT(napi_env env, napi_callback_info info) { return transposed(env, info, 0); }
static napi_value js_spmmT_cols(napi_env env, napi_callback_info info) { return transposed(env, info, 1); }

static napi_value js_adam(napi_env env, napi_callback_info info) {
  ARGS(9);
  F32(0, p, lp, "adam params"); F32(1, g, lg, "adam grads"); F32(2, m, lm, "adam m"); F32(3, v, lv, "adam v");
  DBL(4, lr, "adam lr"); DBL(5, b1, "adam beta1"); DBL(6, b2, "adam beta2"); DBL(7, eps, "adam eps"); DBL(8, step, "adam step");
  NEED(lg >= lp && lm >= lp && lv >= lp, "saelab native: adam grads, m or v shorter than params");
  if (bind_nullish(env, argv[9])) {
    saelab_adam(p, g, m, v, (int64_t)lp, lr, b1, b2, eps, step);
    return NULL;
  }
  /* Optional bf16 copy (argv[9..13]: offset, k, n, transB, dst): returns whether it was written. */
  INT(9, off, "adam copy offset"); INT(10, k, "adam copy k"); INT(11, n, "adam copy n"); INT(12, tb, "adam copy transB");
  F32(13, dst, ld, "adam copy dst");
  NEED(off >= 0 && k >= 0 && n >= 0 && off + k * n <= (int64_t)lp && (int64_t)ld >= (int64_t)saelab_gemm_plan_floats(n, k),
       "saelab native: adam copy outside params or dst too short");
  saelab_bf16_copy cp = {off, k, n, (int)tb, dst};
  return bind_num(env, saelab_adam_bf16(p, g, m, v, (int64_t)lp, lr, b1, b2, eps, step, &cp));
}

/* bf16CopyFloats(k, n) -> floats of a packed bf16 copy of a [k, n] operand (saelab_bf16_copy), or 0 where
   this library's bf16 products are emulated (they pack fp32 panels of their own). */
static napi_value js_bf16_copy_floats(napi_env env, napi_callback_info info) {
  ARGS(2);
  INT(0, k, "bf16CopyFloats k"); INT(1, n, "bf16CopyFloats n");
  NEED(k >= 0 && n >= 0, "saelab native: bf16CopyFloats k and n must be >= 0");
  return bind_num(env, saelab_bf16_mode(0) >= 2 ? (double)saelab_gemm_plan_floats(n, k) : 0);
}

static napi_value js_threads(napi_env env, napi_callback_info info) { return bind_num(env, saelab_pool_threads()); }

/* bf16Mode(amx) -> how this library's mixed-precision product runs (amx: AMX allowed): 3 on AMX tiles,
   2 on AVX512-BF16, 1 emulated. */
static napi_value js_bf16_mode(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  SAELAB_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); /* absent: undefined */
  int64_t amx = 0;
  if (!bind_nullish(env, argv[0]) && !saelab_int(env, argv[0], &amx, "bf16Mode amx")) return NULL;
  return bind_num(env, saelab_bf16_mode(amx != 0));
}

/* ---- a machine-peak probe for bench/: independent FMA chains on every pool thread ---- */
typedef struct { double seconds; int bf16; double flops[64]; double elapsed[64]; } peak_job;

static double now_s(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }

static void peak_task(void *ctx, int tid, int nt) {
  peak_job *J = ctx;
  double t0 = now_s(), t = t0, flops = 0;
  float sink = 0;
  while (t - t0 < J->seconds) {
    if (J->bf16) {
      double f = J->bf16 == 2 ? saelab_amx_peak(&sink) : saelab_bf16_peak(&sink);
      if (f == 0) break;
      flops += f;
      t = now_s();
      continue;
    }
#if defined(SAELAB_AVX512)
    /* Twelve distinct 512-bit chains (latency 4 x 2 FMA pipes needs 8). */
    __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f), c[12];
    for (int q = 0; q < 12; q++) c[q] = _mm512_set1_ps(0.10f + 0.01f * (float)q);
    for (int i = 0; i < 100000; i++) {
      c[0] = _mm512_fmadd_ps(c[0], x, y); c[1] = _mm512_fmadd_ps(c[1], x, y); c[2] = _mm512_fmadd_ps(c[2], x, y); c[3] = _mm512_fmadd_ps(c[3], x, y);
      c[4] = _mm512_fmadd_ps(c[4], x, y); c[5] = _mm512_fmadd_ps(c[5], x, y); c[6] = _mm512_fmadd_ps(c[6], x, y); c[7] = _mm512_fmadd_ps(c[7], x, y);
      c[8] = _mm512_fmadd_ps(c[8], x, y); c[9] = _mm512_fmadd_ps(c[9], x, y); c[10] = _mm512_fmadd_ps(c[10], x, y); c[11] = _mm512_fmadd_ps(c[11], x, y);
      __asm__ volatile("" : "+v"(c[0]), "+v"(c[1]), "+v"(c[2]), "+v"(c[3]), "+v"(c[4]), "+v"(c[5]), "+v"(c[6]), "+v"(c[7]), "+v"(c[8]), "+v"(c[9]), "+v"(c[10]), "+v"(c[11]));
    }
    __m512 s = c[0];
    for (int q = 1; q < 12; q++) s = _mm512_add_ps(s, c[q]);
    sink += _mm512_reduce_add_ps(s);
    flops += 100000.0 * 12 * 16 * 2;
#elif defined(SAELAB_AVX2)
    /* Twelve distinct chains (latency 4 x 2 FMA pipes needs 8); the empty asm keeps the compiler
       from merging or shortening them. */
    __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    __m256 c0 = _mm256_set1_ps(0.10f), c1 = _mm256_set1_ps(0.11f), c2 = _mm256_set1_ps(0.12f), c3 = _mm256_set1_ps(0.13f);
    __m256 c4 = _mm256_set1_ps(0.14f), c5 = _mm256_set1_ps(0.15f), c6 = _mm256_set1_ps(0.16f), c7 = _mm256_set1_ps(0.17f);
    __m256 c8 = _mm256_set1_ps(0.18f), c9 = _mm256_set1_ps(0.19f), c10 = _mm256_set1_ps(0.20f), c11 = _mm256_set1_ps(0.21f);
    for (int i = 0; i < 100000; i++) {
      c0 = _mm256_fmadd_ps(c0, x, y); c1 = _mm256_fmadd_ps(c1, x, y); c2 = _mm256_fmadd_ps(c2, x, y); c3 = _mm256_fmadd_ps(c3, x, y);
      c4 = _mm256_fmadd_ps(c4, x, y); c5 = _mm256_fmadd_ps(c5, x, y); c6 = _mm256_fmadd_ps(c6, x, y); c7 = _mm256_fmadd_ps(c7, x, y);
      c8 = _mm256_fmadd_ps(c8, x, y); c9 = _mm256_fmadd_ps(c9, x, y); c10 = _mm256_fmadd_ps(c10, x, y); c11 = _mm256_fmadd_ps(c11, x, y);
      __asm__ volatile("" : "+x"(c0), "+x"(c1), "+x"(c2), "+x"(c3), "+x"(c4), "+x"(c5), "+x"(c6), "+x"(c7), "+x"(c8), "+x"(c9), "+x"(c10), "+x"(c11));
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(c0, c1), _mm256_add_ps(c2, c3)), _mm256_add_ps(_mm256_add_ps(c4, c5), _mm256_add_ps(c6, c7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(c8, c9), _mm256_add_ps(c10, c11)));
    sink += saelab_reduce1(s);
    flops += 100000.0 * 12 * 8 * 2;
#else
    float c[12];
    for (int q = 0; q < 12; q++) c[q] = 0.1f + 0.01f * q;
    for (int i = 0; i < 100000; i++) for (int q = 0; q < 12; q++) c[q] = c[q] * 0.999999f + 1e-7f;
    for (int q = 0; q < 12; q++) sink += c[q];
    flops += 100000.0 * 12 * 2;
#endif
    t = now_s();
  }
  J->flops[tid] = flops + (sink == 12345.0f ? 1 : 0);
  J->elapsed[tid] = t - t0;
}

/* fmaPeak(seconds, threads[, bf16]) -> FLOP/s of independent FMA chains of this library's widest
   vectors (bf16 1: vdpbf16ps chains, 0 without AVX512-BF16; 2: AMX tdpbf16ps, 0 without AMX). */
static napi_value js_fma_peak(napi_env env, napi_callback_info info) {
  ARGS(2);
  DBL(0, seconds, "seconds"); INT(1, nthreads, "threads");
  peak_job J;
  memset(&J, 0, sizeof J);
  J.seconds = seconds;
  int64_t bf16 = 0;
  if (!bind_nullish(env, argv[2]) && !saelab_int(env, argv[2], &bf16, "fmaPeak bf16")) return NULL;
  J.bf16 = (int)bf16;
  saelab_pool_run(peak_task, &J, (int)nthreads);
  double f = 0, e = 0;
  for (int t = 0; t < 64; t++) { f += J.flops[t]; if (J.elapsed[t] > e) e = J.elapsed[t]; }
  return bind_num(env, e > 0 ? f / e : 0);
}

void saelab_register_kernels(napi_env env, napi_value exports) {
  saelab_export(env, exports, "gemm", js_gemm);
  saelab_export(env, exports, "sparsifyAbove", js_sparsify_above);
  saelab_export(env, exports, "window", js_window);
  saelab_export(env, exports, "topkRows", js_topk_rows);
  saelab_export(env, exports, "topkBatch", js_topk_batch);
  saelab_export(env, exports, "spmm", js_spmm);
  saelab_export(env, exports, "sddmm", js_sddmm);
  saelab_export(env, exports, "sddmmCols", js_sddmm_cols);
  saelab_export(env, exports, "spmmT", js_spmmT);
  saelab_export(env, exports, "spmmTCols", js_spmmT_cols);
  saelab_export(env, exports, "adam", js_adam);
  saelab_export(env, exports, "bf16CopyFloats", js_bf16_copy_floats);
  saelab_export(env, exports, "threads", js_threads);
  saelab_export(env, exports, "fmaPeak", js_fma_peak);
  saelab_export(env, exports, "bf16Mode", js_bf16_mode);
}
