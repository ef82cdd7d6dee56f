/* Shared helpers for saelab's Node-API addon: argument unpacking with clear JS errors. */
#ifndef SAELAB_COMMON_H
#define SAELAB_COMMON_H
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>

/* Throws a JS Error with `msg` and returns NULL from the calling napi function. */
#define SAELAB_THROW(env, msg) do { napi_throw_error((env), NULL, (msg)); return NULL; } while (0)
#define SAELAB_CHECK(env, call) do { if ((call) != napi_ok) SAELAB_THROW(env, "saelab native: Node-API call failed: " #call); } while (0)

/* Gets a Float32Array's data and length; returns 0 and throws if `v` is not a Float32Array. */
int saelab_f32(napi_env env, napi_value v, float **data, size_t *len, const char *what);
/* Gets an Int32Array's data and length. */
int saelab_i32(napi_env env, napi_value v, int32_t **data, size_t *len, const char *what);
/* Gets a Uint8Array's data and length. */
int saelab_u8(napi_env env, napi_value v, uint8_t **data, size_t *len, const char *what);
/* Gets a number as double / int64. */
int saelab_double(napi_env env, napi_value v, double *out, const char *what);
int saelab_int(napi_env env, napi_value v, int64_t *out, const char *what);
/* Adds a function property to `exports`. */
void saelab_export(napi_env env, napi_value exports, const char *name, napi_callback fn);

/* Each kernel file provides one of these; addon.c calls them all. */
void saelab_register_core(napi_env env, napi_value exports);
void saelab_register_lm(napi_env env, napi_value exports);
/* The compute kernels of src/tensor/kernels.ts (bind.c). */
void saelab_register_kernels(napi_env env, napi_value exports);
/* The fused SAE-step kernels (bind_sae.c). */
void saelab_register_sae(napi_env env, napi_value exports);
/* All of one ISA's kernels (isa_entry.c; the ISA libraries rename it, e.g. saelab_register_isa_avx2). */
void saelab_register_isa(napi_env env, napi_value exports);
#endif
