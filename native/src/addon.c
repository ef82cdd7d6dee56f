/* saelab native addon: module init and argument helpers. Kernel groups live in their own files and
   register themselves through saelab_register_<group>(), called below. */
#include <string.h>
#include <stdio.h>
#include "common.h"
#include "isa.h"
#include "pool.h"

/* The kernel libraries binding.gyp builds, best first: each is the same sources compiled for one ISA. */
void saelab_register_isa_portable(napi_env env, napi_value exports);
#ifdef SAELAB_X86_ISAS
void saelab_register_isa_avx2(napi_env env, napi_value exports);
void saelab_register_isa_avx512(napi_env env, napi_value exports);
#endif
typedef struct { const char *name; void (*reg)(napi_env, napi_value); int needs; } isa_lib;
/* "amx" is the AVX-512 library whose mixed-precision products the caller asks to run on AMX tiles
   (src/tensor/native.ts passes that with each bf16 call); fp32 kernels are the AVX-512 ones. */
static const isa_lib ISAS[] = {
#ifdef SAELAB_X86_ISAS
  {"amx", saelab_register_isa_avx512, SAELAB_CPU_AVX512 | SAELAB_CPU_AMXBF16},
  {"avx512", saelab_register_isa_avx512, SAELAB_CPU_AVX512},
  {"avx2", saelab_register_isa_avx2, SAELAB_CPU_AVX2},
#endif
  {"portable", saelab_register_isa_portable, 0},
};

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
  napi_value v; napi_create_int32(env, 2, &v); return v;
}

static void set_bool(napi_env env, napi_value obj, const char *name, int v) {
  napi_value b;
  napi_get_boolean(env, v != 0, &b);
  napi_set_named_property(env, obj, name, b);
}

/* cpuFeatures() -> { avx2, avx512, avx512bf16, amxBf16 }: what this CPU (and OS) can run (amxBf16: the
   tiles are there and Linux granted this process their use). */
static napi_value cpu_features(napi_env env, napi_callback_info info) {
  int f = saelab_cpu_features();
  napi_value o;
  napi_create_object(env, &o);
  set_bool(env, o, "avx2", f & SAELAB_CPU_AVX2);
  set_bool(env, o, "avx512", f & SAELAB_CPU_AVX512);
  set_bool(env, o, "avx512bf16", f & SAELAB_CPU_AVX512BF16);
  set_bool(env, o, "amxBf16", f & SAELAB_CPU_AMXBF16);
  return o;
}

/* setThreads(n) -> the pool's thread count: starts the shared pool with n threads (0: the CPUs
   available) unless a kernel started it already. */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], r;
  int64_t n = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || !saelab_int(env, argv[0], &n, "setThreads n")) return NULL;
  napi_create_int32(env, saelab_pool_set_threads(n > 64 ? 64 : (int)n), &r);
  return r;
}

void saelab_register_core(napi_env env, napi_value exports) {
  saelab_export(env, exports, "setThreads", set_threads);
  saelab_export(env, exports, "abiVersion", abi_version);
  saelab_export(env, exports, "cpuFeatures", cpu_features);
}

/* exports.isas.<name>: every kernel library this CPU can run, each with all the kernels; exports.isa
   names the best, whose kernels are also exports' own (for callers that do not choose). */
static napi_value init(napi_env env, napi_value exports) {
  saelab_amx_request(); /* before the features are read: AMX counts only once this process may use it */
  saelab_register_core(env, exports);
  const int f = saelab_cpu_features();
  napi_value isas;
  napi_create_object(env, &isas);
  const char *best = NULL;
  for (size_t i = 0; i < sizeof ISAS / sizeof ISAS[0]; i++) {
    if ((f & ISAS[i].needs) != ISAS[i].needs) continue;
    napi_value lib, name;
    napi_create_object(env, &lib);
    ISAS[i].reg(env, lib);
    napi_create_string_utf8(env, ISAS[i].name, NAPI_AUTO_LENGTH, &name);
    napi_set_named_property(env, lib, "isa", name);
    napi_set_named_property(env, isas, ISAS[i].name, lib);
    if (!best) {
      best = ISAS[i].name;
      ISAS[i].reg(env, exports);
      napi_set_named_property(env, exports, "isa", name);
    }
  }
  napi_set_named_property(env, exports, "isas", isas);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
