{
  "targets": [
    {
      "target_name": "saelab_native",
      "sources": [
        "native/src/addon.c",
        "native/src/lm.c",
        "native/src/lm_math.c"
      ],
      "cflags": ["-O3", "-march=native", "-fno-math-errno", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_c": ["-std=gnu11"],
      "ldflags": ["-pthread"],
      "libraries": ["-lm"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}
