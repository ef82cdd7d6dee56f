/* The entry point of one ISA's kernel library (compiled once per ISA, see isa/names.h): registers
   the library's kernels, SAE-step kernels and LM kernels on `exports`. */
#include "common.h"

void saelab_register_isa(napi_env env, napi_value exports) {
  saelab_register_kernels(env, exports);
  saelab_register_sae(env, exports);
  saelab_register_lm(env, exports);
}
