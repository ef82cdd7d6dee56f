/* Run-time ISA detection (cpuid and the OS's saved register state), for choosing a kernel library. */
#ifndef SAELAB_ISA_H
#define SAELAB_ISA_H

/* Bits of saelab_cpu_features(). */
enum {
  SAELAB_CPU_AVX2 = 1,      /* AVX2 + FMA + BMI1/2 + F16C + POPCNT/LZCNT, YMM state enabled by the OS */
  SAELAB_CPU_AVX512 = 2,    /* AVX-512 F/BW/VL/DQ/CD, ZMM and mask state enabled by the OS */
  SAELAB_CPU_AVX512BF16 = 4,/* AVX512-BF16 (vdpbf16ps) on top of SAELAB_CPU_AVX512 */
  SAELAB_CPU_AMXBF16 = 8    /* AMX-BF16 and AMX-TILE, tile state enabled by the OS and permitted to this process */
};

/* The features of the CPU this runs on, as a set of SAELAB_CPU_* bits (pure: reads cpuid each call). */
int saelab_cpu_features(void);
/* Asks Linux for this process's permission to use AMX tile data (arch_prctl ARCH_REQ_XCOMP_PERM; a
   process-wide, idempotent grant, asked once when the addon loads); returns 1 when AMX may be used. */
int saelab_amx_request(void);
#endif
