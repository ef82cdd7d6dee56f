/* Node-API wrappers of the LM kernels (lm_math.c, lm_mm.c, lm_attn.c): argument unpacking with size
   checks, so a wrong size is a JS error, never an out-of-bounds access. Exported as lm* functions;
   src/lm/native.ts feature-detects them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int fail(napi_env env, const char *msg) {
  napi_throw_range_error(env, NULL, msg);
  return 0;
}

/* Reads the layout and checks that its dimensions are consistent (so kernels can trust them). With
   wide_q (RoPE and attention alone) the query width n_heads * head_size may differ from the model
   width and the MLP is not checked (Gemma 2's GeGLU); the fused blocks need the full check. */
static int get_layout_q(napi_env env, napi_value v, const int32_t **out, int wide_q) {
  int32_t *L; size_t nl;
  if (!saelab_i32(env, v, &L, &nl, "layout")) return 0;
  if (nl < L_LAYER0) return fail(env, "saelab native lm: layout too short");
  const int dim = L[L_DIM], kv = L[L_KV_DIM], hs = L[L_HEAD_SIZE], nh = L[L_N_HEADS], nkv = L[L_N_KV_HEADS];
  if (dim <= 0 || kv <= 0 || L[L_HIDDEN] <= 0 || nh <= 0 || nkv <= 0 || hs <= 0 || hs % 2 || L[L_N_LAYERS] < 0 || L[L_VOCAB] <= 0 || L[L_SEQ_LEN] <= 0 ||
      (!wide_q && nh * hs != dim) || nkv * hs != kv || nh % nkv || nl < (size_t)(L_LAYER0 + Y_PER_LAYER * L[L_N_LAYERS]) || !(lm_eps(L) > 0.0f) ||
      (!wide_q && (LM_ACT(L) > ACT_GELU_ERF || ((L[L_FLAGS] & LF_GATED) && LM_ACT(L) != ACT_SILU))))
    return fail(env, "saelab native lm: inconsistent model layout");
  *out = L;
  return 1;
}
static int get_layout(napi_env env, napi_value v, const int32_t **out) { return get_layout_q(env, v, out, 0); }

/* Unpacks (layout, rope?, k, v, slots, cap, rows, rowSlot, rowPos) and checks every size. */
static int get_pass_q(napi_env env, napi_value *a, int has_rope, Pass *s, int wide_q) {
  size_t n;
  float *f;
  int i = 0;
  memset(s, 0, sizeof *s);
  if (!get_layout_q(env, a[i++], &s->L, wide_q)) return 0;
  const int32_t *L = s->L;
  s->rope = NULL;
  if (has_rope) {
    if (!saelab_f32(env, a[i++], &f, &n, "rope")) return 0;
    if (n < (size_t)L[L_SEQ_LEN] * L[L_HEAD_SIZE]) return fail(env, "saelab native lm: rope table too short");
    s->rope = f;
  }
  size_t nk, nv;
  if (!saelab_f32(env, a[i++], &s->k, &nk, "k cache")) return 0;
  if (!saelab_f32(env, a[i++], &s->v, &nv, "v cache")) return 0;
  if (!get_int(env, a[i++], &s->slots, "slots") || !get_int(env, a[i++], &s->cap, "cap") || !get_int(env, a[i++], &s->rows, "rows")) return 0;
  if (s->slots < 1 || s->cap < 1 || s->rows < 0) return fail(env, "saelab native lm: slots and cap must be positive, rows non-negative");
  size_t need = (size_t)L[L_N_LAYERS] * s->slots * L[L_KV_DIM] * s->cap;
  if (nk < need || nv < need) return fail(env, "saelab native lm: cache arrays smaller than layers * slots * kvDim * cap");
  int32_t *sl, *ps; size_t nsl, nps;
  if (!saelab_i32(env, a[i++], &sl, &nsl, "rowSlot") || !saelab_i32(env, a[i++], &ps, &nps, "rowPos")) return 0;
  if (nsl < (size_t)s->rows || nps < (size_t)s->rows) return fail(env, "saelab native lm: rowSlot/rowPos shorter than rows");
  for (int r = 0; r < s->rows; r++) {
    if (sl[r] < 0 || sl[r] >= s->slots || ps[r] < 0 || ps[r] >= s->cap || ps[r] >= L[L_SEQ_LEN]) {
      char msg[200];
      snprintf(msg, sizeof msg, "saelab native lm: row %d has slot %d / position %d outside the cache (%d slots, cap %d) or seq_len %d", r, sl[r], ps[r], s->slots, s->cap, L[L_SEQ_LEN]);
      return fail(env, msg);
    }
  }
  s->slot = sl;
  s->pos = ps;
  return 1;
}
static int get_pass(napi_env env, napi_value *a, int has_rope, Pass *s) { return get_pass_q(env, a, has_rope, s, 0); }

/* Reads the attention variant (windows [n_layers] (0: none), scale (0: 1/sqrt(head_size)), softcap (0: none)) into s. */
static int get_attn(napi_env env, napi_value *a, Pass *s) {
  int32_t *w; size_t nw; double scale, softcap;
  if (!saelab_i32(env, a[0], &w, &nw, "windows") || !saelab_double(env, a[1], &scale, "scale") || !saelab_double(env, a[2], &softcap, "softcap")) return 0;
  if (nw < (size_t)s->L[L_N_LAYERS]) return fail(env, "saelab native lm: windows shorter than the number of layers");
  for (int l = 0; l < s->L[L_N_LAYERS]; l++)
    if (w[l] < 0) return fail(env, "saelab native lm: a sliding window must be positive (0: none)");
  if (!(scale >= 0.0 && scale < 1e30) || !(softcap >= 0.0 && softcap < 1e30)) return fail(env, "saelab native lm: attention scale and softcap must be finite and non-negative");
  s->window = w;
  s->scale = (float)scale;
  s->softcap = (float)softcap;
  return 1;
}

static int check_layer(napi_env env, const int32_t *L, int layer) {
  if (layer < 0 || layer >= L[L_N_LAYERS]) return fail(env, "saelab native lm: layer index out of range");
  return 1;
}

/* The parameter buffer, checked against the layout's offsets. */
static int get_buffer(napi_env env, napi_value v, const int32_t *L, const float **out) {
  float *buf; size_t nbuf;
  if (!saelab_f32(env, v, &buf, &nbuf, "buffer")) return 0;
  const size_t dim = L[L_DIM], kv = L[L_KV_DIM], hid = L[L_HIDDEN], nin = (L[L_FLAGS] & LF_GATED) ? 2 * hid : hid;
  /* Sizes of the per-layer tensors, in Y_* order; the biases (from Y_LN1_B on) may be absent (-1). */
  const size_t sizes[Y_PER_LAYER] = { dim, (dim + 2 * kv) * dim, dim * dim, dim, nin * dim, dim * hid, dim, dim + 2 * kv, dim, dim, nin, dim };
  for (int l = 0; l < L[L_N_LAYERS]; l++) {
    const int32_t *o = L + L_LAYER0 + Y_PER_LAYER * l;
    for (int w = 0; w < Y_PER_LAYER; w++) {
      if (o[w] == -1 && w >= Y_LN1_B) continue;
      if (o[w] < 0) return fail(env, "saelab native lm: negative offset in the layout");
      if ((size_t)o[w] + sizes[w] > nbuf) return fail(env, "saelab native lm: layout offsets run past the parameter buffer");
    }
    if ((L[L_FLAGS] & LF_GATED) && o[Y_BIN] != -1) return fail(env, "saelab native lm: a gated MLP with biases is not supported");
  }
  if (L[L_OFF_FINAL_B] < -1 || (L[L_OFF_FINAL_B] >= 0 && (size_t)L[L_OFF_FINAL_B] + dim > nbuf)) return fail(env, "saelab native lm: final norm bias offset runs past the parameter buffer");
  if (L[L_OFF_CLS] < 0 || (size_t)L[L_OFF_CLS] + (size_t)L[L_VOCAB] * dim > nbuf) return fail(env, "saelab native lm: classifier offset runs past the parameter buffer");
  *out = buf;
  return 1;
}

static int get_packed(napi_env env, napi_value v, const int32_t *L, const float **out) {
  float *p; size_t n;
  if (!saelab_f32(env, v, &p, &n, "packed weights")) return 0;
  if (n < lm_packed_size(L)) return fail(env, "saelab native lm: packed weights too short for this layout (see lmPackedSize)");
  *out = p;
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
  Pass s; size_t nq; float *qkv; int layer;
  if (!get_pass_q(env, argv, 1, &s, 1)) return NULL;
  if (!saelab_f32(env, argv[9], &qkv, &nq, "qkv") || !get_int(env, argv[10], &layer, "layer") || !check_layer(env, s.L, layer)) return NULL;
  NEED(nq >= (size_t)s.rows * (lm_q_dim(s.L) + 2 * s.L[L_KV_DIM]), "ropeStore: qkv smaller than rows x (qDim + 2 kvDim)");
  /* Rows of one pass never share a (slot, position), so their cache writes do not overlap. */
  lm_rope_store(&s, layer, qkv);
  return NULL;
}

/* lmAttention(layout, k, v, slots, cap, rows, rowSlot, rowPos, qkv, layer, out, windows, scale, softcap) */
static napi_value js_attention(napi_env env, napi_callback_info info) {
  ARGS(14);
  Pass s; size_t nq, no; float *qkv, *out; int layer;
  if (!get_pass_q(env, argv, 0, &s, 1) || !get_attn(env, argv + 11, &s)) return NULL;
  if (!saelab_f32(env, argv[8], &qkv, &nq, "qkv") || !get_int(env, argv[9], &layer, "layer") || !saelab_f32(env, argv[10], &out, &no, "out") ||
      !check_layer(env, s.L, layer)) return NULL;
  NEED(nq >= (size_t)s.rows * (lm_q_dim(s.L) + 2 * s.L[L_KV_DIM]) && no >= (size_t)s.rows * lm_q_dim(s.L), "attention: qkv or out too small");
  if (!lm_attention(&s, layer, qkv, out)) SAELAB_THROW(env, "saelab native lm: out of memory");
  return NULL;
}

/* lmPackedSize(layout) */
static napi_value js_packed_size(napi_env env, napi_callback_info info) {
  ARGS(1);
  const int32_t *L;
  if (!get_layout(env, argv[0], &L)) return NULL;
  napi_value r;
  SAELAB_CHECK(env, napi_create_double(env, (double)lm_packed_size(L), &r));
  return r;
}

/* lmPack(layout, buffer, packed) */
static napi_value js_pack(napi_env env, napi_callback_info info) {
  ARGS(3);
  const int32_t *L; const float *buf; float *p; size_t n;
  if (!get_layout(env, argv[0], &L) || !get_buffer(env, argv[1], L, &buf) || !saelab_f32(env, argv[2], &p, &n, "packed")) return NULL;
  NEED(n >= lm_packed_size(L), "pack: output smaller than lmPackedSize(layout)");
  lm_pack(L, buf, p);
  return NULL;
}

/* lmAttnBlock(layout, rope, k, v, slots, cap, rows, rowSlot, rowPos, buffer, packed, x, layer, out, windows, scale, softcap) */
static napi_value js_attn_block(napi_env env, napi_callback_info info) {
  ARGS(17);
  Pass s; size_t nx, no; const float *buf, *packed; float *x, *out; int layer;
  if (!get_pass(env, argv, 1, &s) || !get_attn(env, argv + 14, &s) || !get_buffer(env, argv[9], s.L, &buf) || !get_packed(env, argv[10], s.L, &packed)) return NULL;
  if (!saelab_f32(env, argv[11], &x, &nx, "x") || !get_int(env, argv[12], &layer, "layer") || !saelab_f32(env, argv[13], &out, &no, "out") ||
      !check_layer(env, s.L, layer)) return NULL;
  NEED(nx >= (size_t)s.rows * s.L[L_DIM] && no >= (size_t)s.rows * s.L[L_DIM], "attnBlock: x or out smaller than rows x dim");
  if (!lm_attn_block(&s, layer, buf, packed, x, out)) SAELAB_THROW(env, "saelab native lm: out of memory");
  return NULL;
}

/* lmMlpBlock(layout, buffer, packed, x, rows, layer, out) */
static napi_value js_mlp_block(napi_env env, napi_callback_info info) {
  ARGS(7);
  const int32_t *L; const float *buf, *packed; size_t nx, no; float *x, *out; int rows, layer;
  if (!get_layout(env, argv[0], &L) || !get_buffer(env, argv[1], L, &buf) || !get_packed(env, argv[2], L, &packed)) return NULL;
  if (!saelab_f32(env, argv[3], &x, &nx, "x") || !get_int(env, argv[4], &rows, "rows") || !get_int(env, argv[5], &layer, "layer") ||
      !saelab_f32(env, argv[6], &out, &no, "out") || !check_layer(env, L, layer)) return NULL;
  NEED(rows >= 0 && nx >= (size_t)rows * L[L_DIM] && no >= (size_t)rows * L[L_DIM], "mlpBlock: x or out smaller than rows x dim");
  if (!lm_mlp_block(L, layer, buf, packed, x, rows, out)) SAELAB_THROW(env, "saelab native lm: out of memory");
  return NULL;
}

/* lmLayers(layout, rope, k, v, slots, cap, rows, rowSlot, rowPos, buffer, packed, x, from, to, windows, scale, softcap) */
static napi_value js_layers(napi_env env, napi_callback_info info) {
  ARGS(17);
  Pass s; size_t nx; const float *buf, *packed; float *x; int from, to;
  if (!get_pass(env, argv, 1, &s) || !get_attn(env, argv + 14, &s) || !get_buffer(env, argv[9], s.L, &buf) || !get_packed(env, argv[10], s.L, &packed)) return NULL;
  if (!saelab_f32(env, argv[11], &x, &nx, "x") || !get_int(env, argv[12], &from, "from") || !get_int(env, argv[13], &to, "to")) return NULL;
  NEED(from >= 0 && from <= to && to <= s.L[L_N_LAYERS], "layers: layer range out of bounds");
  NEED(nx >= (size_t)s.rows * s.L[L_DIM], "layers: x smaller than rows x dim");
  if (!lm_layers(&s, from, to, buf, packed, x)) SAELAB_THROW(env, "saelab native lm: out of memory");
  return NULL;
}

/* lmClassify(layout, packed, x, rows, out) */
static napi_value js_classify(napi_env env, napi_callback_info info) {
  ARGS(5);
  const int32_t *L; const float *packed; size_t nx, no; float *x, *out; int rows;
  if (!get_layout(env, argv[0], &L) || !get_packed(env, argv[1], L, &packed)) return NULL;
  if (!saelab_f32(env, argv[2], &x, &nx, "x") || !get_int(env, argv[3], &rows, "rows") || !saelab_f32(env, argv[4], &out, &no, "out")) return NULL;
  NEED(rows >= 0 && nx >= (size_t)rows * L[L_DIM] && no >= (size_t)rows * L[L_VOCAB], "classify: x or out too small");
  lm_classify(L, packed, x, rows, out);
  return NULL;
}

void saelab_register_lm(napi_env env, napi_value exports) {
  saelab_export(env, exports, "lmRmsnorm", js_rmsnorm);
  saelab_export(env, exports, "lmSwiglu", js_swiglu);
  saelab_export(env, exports, "lmLinear", js_linear);
  saelab_export(env, exports, "lmRopeStore", js_rope_store);
  saelab_export(env, exports, "lmAttention", js_attention);
  saelab_export(env, exports, "lmPackedSize", js_packed_size);
  saelab_export(env, exports, "lmPack", js_pack);
  saelab_export(env, exports, "lmAttnBlock", js_attn_block);
  saelab_export(env, exports, "lmMlpBlock", js_mlp_block);
  saelab_export(env, exports, "lmLayers", js_layers);
  saelab_export(env, exports, "lmClassify", js_classify);
}
