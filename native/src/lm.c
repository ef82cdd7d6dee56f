/* Node-API wrappers of the LM kernels (lm_math.c): argument unpacking with size checks, so a wrong
   size is a JS error, never an out-of-bounds access. Exported as lm* functions; src/lm/native.ts
   feature-detects them. */
#include <stdio.h>
#include <stdlib.h>
#include "common.h"
#include "lm.h"


#define ARGS(n) \
  size_t argc = (n); napi_value argv[(n)]; \
  SAELAB_CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL)); \
  if (argc < (n)) SAELAB_THROW(env, "saelab native lm: too few arguments");
#define NEED(cond, msg) do { if (!(cond)) SAELAB_THROW(env, "saelab native lm: " msg); } while (0)

static int get_int(napi_env env, napi_value v, int *out, const char *what) {
  int64_t t;
  if (!saelab_int(env, v, &t, what)) return 0;
  *out = (int)t;
  return 1;
}

/* Unpacks (layout, rope?, k, v, slots, cap, rows, rowSlot, rowPos) and checks every size. */
static int get_step(napi_env env, napi_value *a, int has_rope, Step *s, size_t *layout_len) {
  int32_t *L; size_t nl, n;
  float *f;
  int i = 0;
  if (!saelab_i32(env, a[i++], &L, &nl, "layout")) return 0;
  if (nl < L_LAYER0) { napi_throw_error(env, NULL, "saelab native lm: layout too short"); return 0; }
  s->L = L;
  *layout_len = nl;
  if (has_rope) {
    if (!saelab_f32(env, a[i++], &f, &n, "rope")) return 0;
    if (n < (size_t)L[L_SEQ_LEN] * L[L_HEAD_SIZE]) { napi_throw_error(env, NULL, "saelab native lm: rope table too short"); return 0; }
    s->rope = f;
  }
  size_t nk, nv;
  if (!saelab_f32(env, a[i++], &s->k, &nk, "k cache")) return 0;
  if (!saelab_f32(env, a[i++], &s->v, &nv, "v cache")) return 0;
  if (!get_int(env, a[i++], &s->slots, "slots") || !get_int(env, a[i++], &s->cap, "cap") || !get_int(env, a[i++], &s->rows, "rows")) return 0;
  size_t need = (size_t)L[L_N_LAYERS] * s->slots * L[L_KV_DIM] * s->cap;
  if (nk < need || nv < need) { napi_throw_error(env, NULL, "saelab native lm: cache arrays smaller than layers * slots * kvDim * cap"); return 0; }
  int32_t *sl, *ps; size_t nsl, nps;
  if (!saelab_i32(env, a[i++], &sl, &nsl, "rowSlot") || !saelab_i32(env, a[i++], &ps, &nps, "rowPos")) return 0;
  if (nsl < (size_t)s->rows || nps < (size_t)s->rows) { napi_throw_error(env, NULL, "saelab native lm: rowSlot/rowPos shorter than rows"); return 0; }
  for (int r = 0; r < s->rows; r++) {
    if (sl[r] < 0 || sl[r] >= s->slots || ps[r] < 0 || ps[r] >= s->cap || ps[r] >= L[L_SEQ_LEN]) {
      char msg[200];
      snprintf(msg, sizeof msg, "saelab native lm: row %d has slot %d / position %d outside the cache (%d slots, cap %d) or seq_len %d", r, sl[r], ps[r], s->slots, s->cap, L[L_SEQ_LEN]);
      napi_throw_range_error(env, NULL, msg);
      return 0;
    }
  }
  s->slot = sl;
  s->pos = ps;
  return 1;
}

static int check_layer(napi_env env, const Step *s, size_t nl, int layer) {
  if (layer < 0 || layer >= s->L[L_N_LAYERS] || nl < (size_t)(L_LAYER0 + Y_PER_LAYER * s->L[L_N_LAYERS])) {
    napi_throw_range_error(env, NULL, "saelab native lm: layer index out of range");
    return 0;
  }
  return 1;
}

static int check_buffer(napi_env env, const int32_t *L, size_t nbuf) {
  const int dim = L[L_DIM], kv = L[L_KV_DIM], hid = L[L_HIDDEN];
  for (int l = 0; l < L[L_N_LAYERS]; l++) {
    const int32_t *o = L + L_LAYER0 + Y_PER_LAYER * l;
    if ((size_t)o[Y_RMS_ATT] + dim > nbuf || (size_t)o[Y_WQKV] + (size_t)(dim + 2 * kv) * dim > nbuf || (size_t)o[Y_WO] + (size_t)dim * dim > nbuf ||
        (size_t)o[Y_RMS_FFN] + dim > nbuf || (size_t)o[Y_W13] + (size_t)2 * hid * dim > nbuf || (size_t)o[Y_W2] + (size_t)dim * hid > nbuf) {
      napi_throw_range_error(env, NULL, "saelab native lm: layout offsets run past the parameter buffer");
      return 0;
    }
  }
  return 1;
}

static napi_value js_rmsnorm(napi_env env, napi_callback_info info) {
  ARGS(6);
  float *x, *w, *out; size_t nx, nw, no; int rows, dim; double eps;
  if (!saelab_f32(env, argv[0], &x, &nx, "x") || !get_int(env, argv[1], &rows, "rows") || !get_int(env, argv[2], &dim, "dim") ||
      !saelab_f32(env, argv[3], &w, &nw, "weight") || !saelab_f32(env, argv[4], &out, &no, "out") || !saelab_double(env, argv[5], &eps, "eps")) return NULL;
  NEED(rows >= 0 && dim > 0 && nx >= (size_t)rows * dim && no >= (size_t)rows * dim && nw >= (size_t)dim, "rmsnorm: array sizes do not match rows x dim");
  lm_rmsnorm(x, rows, dim, w, out, (float)eps);
  return NULL;
}

static napi_value js_swiglu(napi_env env, napi_callback_info info) {
  ARGS(4);
  float *h, *out; size_t nh, no; int rows, hid;
  if (!saelab_f32(env, argv[0], &h, &nh, "h13") || !get_int(env, argv[1], &rows, "rows") || !get_int(env, argv[2], &hid, "hidden") ||
      !saelab_f32(env, argv[3], &out, &no, "out")) return NULL;
  NEED(rows >= 0 && hid > 0 && nh >= (size_t)rows * 2 * hid && no >= (size_t)rows * hid, "swiglu: array sizes do not match");
  lm_swiglu(h, rows, hid, out);
  return NULL;
}

static napi_value js_linear(napi_env env, napi_callback_info info) {
  ARGS(6);
  float *x, *w, *y; size_t nx, nw, ny; int rows, in, out;
  if (!saelab_f32(env, argv[0], &x, &nx, "x") || !get_int(env, argv[1], &rows, "rows") || !get_int(env, argv[2], &in, "inDim") ||
      !saelab_f32(env, argv[3], &w, &nw, "w") || !get_int(env, argv[4], &out, "outDim") || !saelab_f32(env, argv[5], &y, &ny, "out")) return NULL;
  NEED(rows >= 0 && in > 0 && out > 0 && nx >= (size_t)rows * in && nw >= (size_t)out * in && ny >= (size_t)rows * out, "linear: array sizes do not match");
  lm_linear(x, rows, in, w, out, y);
  return NULL;
}

/* lmRopeStore(layout, rope, k, v, slots, cap, rows, rowSlot, rowPos, qkv, layer) */
static napi_value js_rope_store(napi_env env, napi_callback_info info) {
  ARGS(11);
  Step s; size_t nl, nq; float *qkv; int layer;
  if (!get_step(env, argv, 1, &s, &nl)) return NULL;
  if (!saelab_f32(env, argv[9], &qkv, &nq, "qkv") || !get_int(env, argv[10], &layer, "layer")) return NULL;
  if (!check_layer(env, &s, nl, layer)) return NULL;
  NEED(nq >= (size_t)s.rows * (s.L[L_DIM] + 2 * s.L[L_KV_DIM]), "ropeStore: qkv smaller than rows x (dim + 2 kvDim)");
  s.layer = layer;
  /* Rows of one pass never share a (slot, position), so their cache writes do not overlap. */
  lm_rope_store(&s, qkv);
  return NULL;
}

/* lmAttention(layout, k, v, slots, cap, rows, rowSlot, rowPos, qkv, layer, out) */
static napi_value js_attention(napi_env env, napi_callback_info info) {
  ARGS(11);
  Step s; size_t nl, nq, no; float *qkv, *out; int layer;
  if (!get_step(env, argv, 0, &s, &nl)) return NULL;
  if (!saelab_f32(env, argv[8], &qkv, &nq, "qkv") || !get_int(env, argv[9], &layer, "layer") || !saelab_f32(env, argv[10], &out, &no, "out")) return NULL;
  if (!check_layer(env, &s, nl, layer)) return NULL;
  NEED(nq >= (size_t)s.rows * (s.L[L_DIM] + 2 * s.L[L_KV_DIM]) && no >= (size_t)s.rows * s.L[L_DIM], "attention: qkv or out too small");
  s.layer = layer;
  if (!lm_attention(&s, qkv, out)) SAELAB_THROW(env, "saelab native lm: out of memory");
  return NULL;
}

/* lmAttnBlock(layout, rope, k, v, slots, cap, rows, rowSlot, rowPos, buffer, x, layer, out) */
static napi_value js_attn_block(napi_env env, napi_callback_info info) {
  ARGS(13);
  Step s; size_t nl, nb, nx, no; float *buf, *x, *out; int layer;
  if (!get_step(env, argv, 1, &s, &nl)) return NULL;
  if (!saelab_f32(env, argv[9], &buf, &nb, "buffer") || !saelab_f32(env, argv[10], &x, &nx, "x") ||
      !get_int(env, argv[11], &layer, "layer") || !saelab_f32(env, argv[12], &out, &no, "out")) return NULL;
  if (!check_layer(env, &s, nl, layer) || !check_buffer(env, s.L, nb)) return NULL;
  NEED(nx >= (size_t)s.rows * s.L[L_DIM] && no >= (size_t)s.rows * s.L[L_DIM], "attnBlock: x or out smaller than rows x dim");
  s.layer = layer;
  if (!lm_attn_block(&s, buf, x, out)) SAELAB_THROW(env, "saelab native lm: out of memory");
  return NULL;
}

/* lmMlpBlock(layout, buffer, x, rows, layer, out) */
static napi_value js_mlp_block(napi_env env, napi_callback_info info) {
  ARGS(6);
  int32_t *L; size_t nl, nb, nx, no; float *buf, *x, *out; int rows, layer;
  if (!saelab_i32(env, argv[0], &L, &nl, "layout") || !saelab_f32(env, argv[1], &buf, &nb, "buffer") || !saelab_f32(env, argv[2], &x, &nx, "x") ||
      !get_int(env, argv[3], &rows, "rows") || !get_int(env, argv[4], &layer, "layer") || !saelab_f32(env, argv[5], &out, &no, "out")) return NULL;
  NEED(nl >= L_LAYER0 && nl >= (size_t)(L_LAYER0 + Y_PER_LAYER * L[L_N_LAYERS]), "mlpBlock: layout too short");
  NEED(layer >= 0 && layer < L[L_N_LAYERS], "mlpBlock: layer index out of range");
  if (!check_buffer(env, L, nb)) return NULL;
  NEED(rows >= 0 && nx >= (size_t)rows * L[L_DIM] && no >= (size_t)rows * L[L_DIM], "mlpBlock: x or out smaller than rows x dim");
  if (!lm_mlp_block(L, buf, x, rows, layer, out)) SAELAB_THROW(env, "saelab native lm: out of memory");
  return NULL;
}

/* lmLayers(layout, rope, k, v, slots, cap, rows, rowSlot, rowPos, buffer, x, from, to) */
static napi_value js_layers(napi_env env, napi_callback_info info) {
  ARGS(13);
  Step s; size_t nl, nb, nx; float *buf, *x; int from, to;
  if (!get_step(env, argv, 1, &s, &nl)) return NULL;
  if (!saelab_f32(env, argv[9], &buf, &nb, "buffer") || !saelab_f32(env, argv[10], &x, &nx, "x") ||
      !get_int(env, argv[11], &from, "from") || !get_int(env, argv[12], &to, "to")) return NULL;
  NEED(from >= 0 && from <= to && to <= s.L[L_N_LAYERS] && nl >= (size_t)(L_LAYER0 + Y_PER_LAYER * s.L[L_N_LAYERS]), "layers: layer range out of bounds");
  if (!check_buffer(env, s.L, nb)) return NULL;
  const int dim = s.L[L_DIM];
  NEED(nx >= (size_t)s.rows * dim, "layers: x smaller than rows x dim");
  float *tmp = malloc(sizeof(float) * (size_t)s.rows * dim + 1);
  if (!tmp) SAELAB_THROW(env, "saelab native lm: out of memory");
  for (int l = from; l < to; l++) {
    s.layer = l;
    if (!lm_attn_block(&s, buf, x, tmp)) { free(tmp); SAELAB_THROW(env, "saelab native lm: out of memory"); }
    for (size_t i = 0; i < (size_t)s.rows * dim; i++) x[i] += tmp[i];
    if (!lm_mlp_block(s.L, buf, x, s.rows, l, tmp)) { free(tmp); SAELAB_THROW(env, "saelab native lm: out of memory"); }
    for (size_t i = 0; i < (size_t)s.rows * dim; i++) x[i] += tmp[i];
  }
  free(tmp);
  return NULL;
}

void saelab_register_lm(napi_env env, napi_value exports) {
  saelab_export(env, exports, "lmRmsnorm", js_rmsnorm);
  saelab_export(env, exports, "lmSwiglu", js_swiglu);
  saelab_export(env, exports, "lmLinear", js_linear);
  saelab_export(env, exports, "lmRopeStore", js_rope_store);
  saelab_export(env, exports, "lmAttention", js_attention);
  saelab_export(env, exports, "lmAttnBlock", js_attn_block);
  saelab_export(env, exports, "lmMlpBlock", js_mlp_block);
  saelab_export(env, exports, "lmLayers", js_layers);
}
