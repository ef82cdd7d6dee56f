{
  "targets": [
    {
      "target_name": "saelab_native",
      "sources": [
        "native/src/addon.c",
        "native/src/lm.c",
        "native/src/lm_math.c",
        "native/src/lm_mm.c",
        "native/src/lm_attn.c",
        "native/src/lm_blocks.c",
        "native/src/pool.c",
        "native/src/gemm.c",
        "native/src/gemm_small.c",
        "native/src/gemm_plan.c",
        "native/src/sparse_select.c",
        "native/src/sparse_topk.c",
        "native/src/sparse_batch.c",
        "native/src/sparse_mm.c",
        "native/src/adam.c",
        "native/src/sae_encode.c",
        "native/src/sae_decode.c",
        "native/src/sae_pair.c",
        "native/src/bind_sae.c",
        "native/src/bind.c"
      ],
      "cflags": ["-O3", "-march=native", "-fno-math-errno", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
