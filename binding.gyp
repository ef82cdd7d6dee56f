{
  "variables": {
    "kernel_sources": [
      "native/src/isa_entry.c",
      "native/src/lm.c",
      "native/src/lm_math.c",
      "native/src/lm_mm.c",
      "native/src/lm_attn.c",
      "native/src/lm_attn512.c",
      "native/src/lm_rope.c",
      "native/src/lm_blocks.c",
      "native/src/gemm.c",
      "native/src/gemm_bf16.c",
      "native/src/gemm_amx.c",
      "native/src/gemm_small.c",
      "native/src/gemm_plan.c",
      "native/src/sparse_select.c",
      "native/src/sparse_topk.c",
      "native/src/sparse_batch.c",
      "native/src/sparse_mm.c",
      "native/src/sparse_sddmm_cols.c",
      "native/src/sae_settle.c",
      "native/src/sae_bound.c",
      "native/src/adam.c",
      "native/src/adam_bf16.c",
      "native/src/sae_encode.c",
      "native/src/sae_encode_wide.c",
      "native/src/sae_decode.c",
      "native/src/sae_pair.c",
      "native/src/bind_sae.c",
      "native/src/bind.c"
    ],
    "kernel_cflags": ["-O3", "-fPIC", "-fno-math-errno", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-include", "isa/names.h"]
  },
  "target_defaults": {
    "include_dirs": ["native/src"],
    "cflags_c": ["-std=gnu11"],
    "defines": ["NAPI_VERSION=8"]
  },
  "targets": [
    {
      "target_name": "saelab_isa_portable",
      "type": "static_library",
      "sources": ["<@(kernel_sources)"],
      "cflags": ["<@(kernel_cflags)"],
      "defines": ["SAELAB_ISA_SUFFIX=_portable"]
    },
    {
      "target_name": "saelab_native",
      "sources": ["native/src/addon.c", "native/src/isa.c", "native/src/pool.c"],
      "dependencies": ["saelab_isa_portable"],
      "cflags": ["-O3", "-fno-math-errno", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "conditions": [
        ["target_arch=='x64'", {
          "dependencies": ["saelab_isa_avx2", "saelab_isa_avx512"],
          "defines": ["SAELAB_X86_ISAS"]
        }]
      ]
    }
  ],
  "conditions": [
    ["target_arch=='x64'", {
      "targets": [
        {
          "target_name": "saelab_isa_avx2",
          "type": "static_library",
          "sources": ["<@(kernel_sources)"],
          "cflags": ["<@(kernel_cflags)", "-mavx2", "-mfma", "-mbmi", "-mbmi2", "-mf16c", "-mpopcnt", "-mlzcnt"],
          "defines": ["SAELAB_ISA_SUFFIX=_avx2"]
        },
        {
          "target_name": "saelab_isa_avx512",
          "type": "static_library",
          "sources": ["<@(kernel_sources)"],
          "cflags": ["<@(kernel_cflags)", "-mavx2", "-mfma", "-mbmi", "-mbmi2", "-mf16c", "-mpopcnt", "-mlzcnt", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq", "-mavx512cd"],
          "defines": ["SAELAB_ISA_SUFFIX=_avx512"]
        }
      ]
    }]
  ]
}
