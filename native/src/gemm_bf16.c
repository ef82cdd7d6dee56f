/* placeholder */ typedef int saelab_bf16_unused;
