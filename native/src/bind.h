/* Argument helpers shared by the Node-API binding files (bind.c, bind_sae.c). Each macro declares
   the variable it reads and returns NULL from the binding after throwing a clear JS error. */
#ifndef SAELAB_BIND_H
#define SAELAB_BIND_H
#include <stdio.h>
#include "common.h"

#define MAXARGS 24
#define ARGS(n)                                                                  \
  size_t argc_ = MAXARGS;                                                       \
  napi_value argv[MAXARGS];                                                     \
  SAELAB_CHECK(env, napi_get_cb_info(env, info, &argc_, argv, NULL, NULL));     \
  if (argc_ < (n)) SAELAB_THROW(env, "saelab native: too few arguments")
#define F32(i, var, len, what) float *var; size_t len; if (!saelab_f32(env, argv[i], &var, &len, what)) return NULL
#define I32(i, var, len, what) int32_t *var; size_t len; if (!saelab_i32(env, argv[i], &var, &len, what)) return NULL
#define INT(i, var, what) int64_t var; if (!saelab_int(env, argv[i], &var, what)) return NULL
#define DBL(i, var, what) double var; if (!saelab_double(env, argv[i], &var, what)) return NULL
#define NEED(cond, ...) do { if (!(cond)) { char m_[256]; snprintf(m_, sizeof m_, __VA_ARGS__); napi_throw_range_error(env, NULL, m_); return NULL; } } while (0)

/* Whether v is undefined or null. */
static inline int bind_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  return napi_typeof(env, v, &t) == napi_ok && (t == napi_undefined || t == napi_null);
}

/* An optional Float32Array of at least `need` elements (NULL when absent); 0 after throwing. */
static inline int bind_opt_f32(napi_env env, napi_value v, float **out, int64_t need, const char *what) {
  *out = NULL;
  if (bind_nullish(env, v)) return 1;
  size_t len;
  if (!saelab_f32(env, v, out, &len, what)) return 0;
  if ((int64_t)len < need) {
    char m[200];
    snprintf(m, sizeof m, "saelab native: %s has length %zu, needs %lld", what, len, (long long)need);
    napi_throw_range_error(env, NULL, m);
    return 0;
  }
  return 1;
}

/* A JS number. */
static inline napi_value bind_num(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}
#endif
