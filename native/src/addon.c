/* saelab native addon: module init and argument helpers. Kernel groups live in their own files and
   register themselves through saelab_register_<group>(), called below. */
#include <string.h>
#include <stdio.h>
#include "common.h"

static int typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *len, const char *what, const char *tname) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) goto bad;
  napi_typedarray_type t; size_t n; void *p; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, v, &t, &n, &p, &ab, &off) != napi_ok || t != want) goto bad;
  *data = p; *len = n;
  return 1;
bad: {
    char msg[256];
    snprintf(msg, sizeof msg, "saelab native: %s must be a %s", what, tname);
    napi_throw_type_error(env, NULL, msg);
    return 0;
  }
}

int saelab_f32(napi_env env, napi_value v, float **d, size_t *n, const char *what) { return typed(env, v, napi_float32_array, (void **)d, n, what, "Float32Array"); }
int saelab_i32(napi_env env, napi_value v, int32_t **d, size_t *n, const char *what) { return typed(env, v, napi_int32_array, (void **)d, n, what, "Int32Array"); }
int saelab_u8(napi_env env, napi_value v, uint8_t **d, size_t *n, const char *what) { return typed(env, v, napi_uint8_array, (void **)d, n, what, "Uint8Array"); }

int saelab_double(napi_env env, napi_value v, double *out, const char *what) {
  if (napi_get_value_double(env, v, out) != napi_ok) {
    char msg[200]; snprintf(msg, sizeof msg, "saelab native: %s must be a number", what);
    napi_throw_type_error(env, NULL, msg); return 0;
  }
  return 1;
}

int saelab_int(napi_env env, napi_value v, int64_t *out, const char *what) {
  if (napi_get_value_int64(env, v, out) != napi_ok) {
    char msg[200]; snprintf(msg, sizeof msg, "saelab native: %s must be an integer", what);
    napi_throw_type_error(env, NULL, msg); return 0;
  }
  return 1;
}

void saelab_export(napi_env env, napi_value exports, const char *name, napi_callback fn) {
  napi_value f;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f);
  napi_set_named_property(env, exports, name, f);
}

static napi_value abi_version(napi_env env, napi_callback_info info) {
  napi_value v; napi_create_int32(env, 1, &v); return v;
}

void saelab_register_core(napi_env env, napi_value exports) {
  saelab_export(env, exports, "abiVersion", abi_version);
}

static napi_value init(napi_env env, napi_value exports) {
  saelab_register_core(env, exports);
  saelab_register_lm(env, exports);
  saelab_register_kernels(env, exports);
  saelab_register_sae(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
