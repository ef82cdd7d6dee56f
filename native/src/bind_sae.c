/* Node-API bindings of the fused SAE-step kernels (sae_step.h). Arguments are positional (see
   src/tensor/native.ts, which validates them with clear messages first); lengths and sparse indices
   are re-checked here because a wrong one would read or write out of bounds. */
#include <stdio.h>
#include <string.h>
#include "bind.h"
#include "gemm.h"
#include "common.h"
#include "sae_step.h"
#include "sae_bf16.h"

/* Checks an input CSR (rows, cols, rowPtr, colIdx) with values of valuesLen elements; 0 after throwing. */
static int csr_ok(napi_env env, saelab_csr *s, size_t lrp, size_t lci, size_t valuesLen, const char *what) {
  char b[200], m[300];
  if (s->rows < 0 || s->cols < 0 || (int64_t)lrp < s->rows + 1) {
    snprintf(m, sizeof m, "saelab native: %s: rowPtr too short", what);
    napi_throw_range_error(env, NULL, m);
    return 0;
  }
  const char *bad = saelab_csr_check(s, (int64_t)lci, (int64_t)valuesLen, b, sizeof b);
  if (bad) {
    snprintf(m, sizeof m, "saelab native: %s: %s", what, bad);
    napi_throw_range_error(env, NULL, m);
    return 0;
  }
  return 1;
}

/* encode(x, rows, n, cols, center, xc, w, transW, colScale, bias, pre, keepPre, select, threshold, k,
          rowPtr, colIdx, values, countsReady, total, guess) -> nnz */
static napi_value js_encode(napi_env env, napi_callback_info info) {
  ARGS(21);
  F32(0, x, lx, "encode x"); INT(1, rows, "encode rows"); INT(2, n, "encode n"); INT(3, cols, "encode cols");
  NEED(rows >= 0 && n >= 0 && cols >= 0, "saelab native: encode sizes must be >= 0");
  float *center, *colScale, *bias, *thr;
  if (!bind_opt_f32(env, argv[4], &center, n, "encode center")) return NULL;
  F32(5, xc, lxc, "encode xc"); F32(6, w, lw, "encode w");
  INT(7, transW, "encode transW");
  if (!bind_opt_f32(env, argv[8], &colScale, cols, "encode colScale") || !bind_opt_f32(env, argv[9], &bias, cols, "encode bias")) return NULL;
  F32(10, pre, lpre, "encode pre"); INT(11, keepPre, "encode keepPre"); INT(12, select, "encode select");
  if (!bind_opt_f32(env, argv[13], &thr, cols, "encode threshold")) return NULL;
  INT(14, k, "encode k");
  I32(15, rp, lrp, "encode rowPtr"); I32(16, ci, lci, "encode colIdx"); F32(17, va, lva, "encode values");
  INT(18, ready, "encode countsReady");
  NEED((int64_t)lx >= rows * n && (int64_t)lxc >= rows * n && (int64_t)lw >= n * cols && (int64_t)lpre >= rows * cols,
       "saelab native: encode x, xc, w or pre too short");
  INT(19, total, "encode total");
  float *guess;
  if (!bind_opt_f32(env, argv[20], &guess, 1, "encode guess")) return NULL;
  NEED(select >= 0 && select <= 3 && (int64_t)lrp >= rows + 1, "saelab native: encode select or rowPtr invalid");
  saelab_csr_out o = {rows, cols, rp, ci, va, (int64_t)(lci < lva ? lci : lva)};
  int64_t bf16 = 0; /* argv[21], optional: 1 for the mixed-precision product, 2 for it on AMX where there is AMX */
  if (!bind_nullish(env, argv[21]) && !saelab_int(env, argv[21], &bf16, "encode bf16")) return NULL;
  float *packedW = NULL; /* argv[22], optional: op(w) packed beforehand by adam's bf16 copy (saelab_gemm_plan_floats(cols, n) floats) */
  if (!bind_opt_f32(env, argv[22], &packedW, (int64_t)saelab_gemm_plan_floats(cols, n), "encode packedW")) return NULL;
  saelab_encode_args a = {x, rows, n, cols, center, xc, w, (int)transW, colScale, bias, pre, (int)keepPre, (int)select, thr, k, total, guess, &o,
                          bf16 ? saelab_bf16_mode(bf16 == 2) : 0, bf16 ? packedW : NULL};
  int64_t nnz = saelab_encode(&a, (int)ready);
  if (nnz == -1) SAELAB_THROW(env, "saelab native: encode ran out of memory");
  if (nnz == -2) SAELAB_THROW(env, "saelab native: the selection has more than 2^31 - 1 entries");
  return bind_num(env, (double)nnz);
}

/* decodeLoss(rows, cols, rowPtr, colIdx, values, w, n, bias, x, scale, grad, err, biasGrad, valueGrad,
              valueGradBias, valueColSum) -> sum of squares */
static napi_value js_decode_loss(napi_env env, napi_callback_info info) {
  ARGS(16);
  INT(0, rows, "decodeLoss rows"); INT(1, cols, "decodeLoss cols");
  I32(2, rp, lrp, "decodeLoss rowPtr"); I32(3, ci, lci, "decodeLoss colIdx"); F32(4, va, lva, "decodeLoss values");
  saelab_csr s = {rows, cols, rp, ci, va};
  if (!csr_ok(env, &s, lrp, lci, lva, "decodeLoss")) return NULL;
  F32(5, w, lw, "decodeLoss w"); INT(6, n, "decodeLoss n");
  NEED(n >= 0 && (int64_t)lw >= cols * n, "saelab native: decodeLoss w too short");
  float *bias, *err, *bg, *vg;
  if (!bind_opt_f32(env, argv[7], &bias, n, "decodeLoss bias")) return NULL;
  F32(8, x, lx, "decodeLoss x"); DBL(9, scale, "decodeLoss scale"); F32(10, grad, lg, "decodeLoss grad");
  NEED((int64_t)lx >= rows * n && (int64_t)lg >= rows * n, "saelab native: decodeLoss x or grad too short");
  if (!bind_opt_f32(env, argv[11], &err, rows * n, "decodeLoss err") || !bind_opt_f32(env, argv[12], &bg, n, "decodeLoss biasGrad") ||
      !bind_opt_f32(env, argv[13], &vg, rp[rows], "decodeLoss valueGrad")) return NULL;
  float *vgb, *vcs;
  if (!bind_opt_f32(env, argv[14], &vgb, cols, "decodeLoss valueGradBias") || !bind_opt_f32(env, argv[15], &vcs, cols, "decodeLoss valueColSum")) return NULL;
  saelab_decode_args a = {&s, w, n, bias, x, scale, grad, err, bg, vg, vgb, vcs};
  double sq;
  if (saelab_decode_loss(&a, &sq) != 0) SAELAB_THROW(env, "saelab native: decodeLoss ran out of memory");
  return bind_num(env, sq);
}

/* spmmTPair(rows, cols, rowPtr, colIdx, n, valuesA, a, outA, valuesB, b, outB, bCols, colSumB, fired) */
static napi_value js_spmmT_pair(napi_env env, napi_callback_info info) {
  ARGS(14);
  INT(0, rows, "spmmTPair rows"); INT(1, cols, "spmmTPair cols");
  I32(2, rp, lrp, "spmmTPair rowPtr"); I32(3, ci, lci, "spmmTPair colIdx"); INT(4, n, "spmmTPair n");
  F32(8, vb, lvb, "spmmTPair valuesB");
  saelab_csr s = {rows, cols, rp, ci, vb};
  if (!csr_ok(env, &s, lrp, lci, lvb, "spmmTPair")) return NULL;
  NEED(n >= 0, "saelab native: spmmTPair n must be >= 0");
  int64_t nnz = rp[rows];
  float *va, *a, *outA;
  if (!bind_opt_f32(env, argv[5], &va, nnz, "spmmTPair valuesA")) return NULL;
  if (va && (!bind_opt_f32(env, argv[6], &a, rows * n, "spmmTPair a") || !bind_opt_f32(env, argv[7], &outA, cols * n, "spmmTPair outA"))) return NULL;
  if (!va) { a = NULL; outA = NULL; }
  NEED(!va || (a && outA), "saelab native: spmmTPair needs a and outA with valuesA");
  F32(9, b, lb, "spmmTPair b"); F32(10, outB, lob, "spmmTPair outB"); INT(11, bCols, "spmmTPair bCols");
  NEED((int64_t)lb >= rows * n && (int64_t)lob >= cols * n, "saelab native: spmmTPair b or outB too short");
  float *cs;
  if (!bind_opt_f32(env, argv[12], &cs, cols, "spmmTPair colSumB")) return NULL;
  uint8_t *fired = NULL;
  if (!bind_nullish(env, argv[13])) {
    size_t lf;
    if (!saelab_u8(env, argv[13], &fired, &lf, "spmmTPair fired")) return NULL;
    NEED((int64_t)lf >= cols, "saelab native: spmmTPair fired too short");
  }
  saelab_pair_args p = {&s, n, va, a, outA, vb, b, outB, (int)bCols, cs, fired};
  if (saelab_spmmT_pair(&p) != 0) SAELAB_THROW(env, "saelab native: spmmTPair ran out of memory");
  return NULL;
}

/* alignedF32(n) -> a zeroed Float32Array of n elements whose data starts on a 64-byte boundary (a
   view into a slightly larger ArrayBuffer, whose memory never moves): rows of 16 floats then fill
   whole cache lines, and vector loads do not straddle two. */
static napi_value js_aligned_f32(napi_env env, napi_callback_info info) {
  ARGS(1);
  INT(0, n, "alignedF32 n");
  NEED(n >= 0 && n <= ((int64_t)1 << 40), "saelab native: alignedF32 n must be a non-negative integer");
  void *data;
  napi_value ab, view;
  SAELAB_CHECK(env, napi_create_arraybuffer(env, (size_t)n * sizeof(float) + 64, &data, &ab));
  size_t off = (64 - (size_t)((uintptr_t)data & 63)) & 63;
  SAELAB_CHECK(env, napi_create_typedarray(env, napi_float32_array, (size_t)n, ab, off, &view));
  return view;
}

/* settle(rows, cols, rowPtr, colIdx, values, bias, gain, rule, k, threshold, center, halfWidth) -> nnz */
static napi_value js_settle(napi_env env, napi_callback_info info) {
  ARGS(12);
  INT(0, rows, "settle rows"); INT(1, cols, "settle cols");
  I32(2, rp, lrp, "settle rowPtr"); I32(3, ci, lci, "settle colIdx"); F32(4, va, lva, "settle values");
  saelab_csr s = {rows, cols, rp, ci, va};
  if (!csr_ok(env, &s, lrp, lci, lva, "settle")) return NULL;
  INT(7, rule, "settle rule"); INT(8, k, "settle k");
  NEED(rule >= SAELAB_SETTLE_ALL && rule <= SAELAB_SETTLE_WINDOW && k >= 0, "saelab native: settle rule or k out of range");
  saelab_settle_args a = {rows, cols, rp, ci, va, NULL, NULL, (int)rule, k, NULL, NULL, 0};
  float *bias, *gain, *thr, *center;
  if (!bind_opt_f32(env, argv[5], &bias, cols, "settle bias") || !bind_opt_f32(env, argv[6], &gain, cols, "settle gain") ||
      !bind_opt_f32(env, argv[9], &thr, cols, "settle threshold") || !bind_opt_f32(env, argv[10], &center, cols, "settle center"))
    return NULL;
  NEED(bias && (rule != SAELAB_SETTLE_WINDOW || center), "saelab native: settle needs bias (and center for the window)");
  DBL(11, halfWidth, "settle halfWidth");
  a.bias = bias; a.gain = gain; a.threshold = thr; a.center = center; a.halfWidth = halfWidth;
  int64_t nnz = saelab_settle(&a);
  if (nnz < 0) SAELAB_THROW(env, "saelab native: settle ran out of memory");
  return bind_num(env, (double)nnz);
}

/* proposalNorms(x, rows, n, center, w, cols, transW, normSq) -> the largest squared row norm of x - center */
static napi_value js_proposal_norms(napi_env env, napi_callback_info info) {
  ARGS(8);
  F32(0, x, lx, "proposalNorms x"); INT(1, rows, "proposalNorms rows"); INT(2, n, "proposalNorms n");
  F32(4, w, lw, "proposalNorms w"); INT(5, cols, "proposalNorms cols"); INT(6, transW, "proposalNorms transW");
  F32(7, normSq, ln, "proposalNorms normSq");
  NEED(rows >= 0 && n >= 0 && cols >= 0 && (int64_t)lx >= rows * n && (int64_t)lw >= cols * n && (int64_t)ln >= cols,
       "saelab native: proposalNorms x, w or normSq too short");
  float *center;
  if (!bind_opt_f32(env, argv[3], &center, n, "proposalNorms center")) return NULL;
  return bind_num(env, saelab_proposal_norms(x, rows, n, center, w, cols, transW != 0, normSq));
}

void saelab_register_sae(napi_env env, napi_value exports) {
  saelab_export(env, exports, "alignedF32", js_aligned_f32);
  saelab_export(env, exports, "encode", js_encode);
  saelab_export(env, exports, "decodeLoss", js_decode_loss);
  saelab_export(env, exports, "spmmTPair", js_spmmT_pair);
  saelab_export(env, exports, "settle", js_settle);
  saelab_export(env, exports, "proposalNorms", js_proposal_norms);
}
