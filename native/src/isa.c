/* Run-time ISA detection with cpuid and xgetbv: a feature counts only when the CPU has it and the
   OS saves its registers (XCR0), so a kernel library is picked only where it can run. */
#include "isa.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#ifdef __linux__
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_GET_XCOMP_PERM 0x1022
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
#endif

/* cpuid leaf 7 EDX: AMX-BF16 (bit 22) and AMX-TILE (bit 24); bit 25, AMX-INT8, is not needed here. */
static int amx_cpuid(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return ((d >> 22) & 1) && ((d >> 24) & 1);
}

/* Whether Linux lets this process use the AMX tile data (granted by saelab_amx_request). */
static int amx_permitted(void) {
#if defined(__linux__) && defined(__x86_64__)
  unsigned long perm = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) != 0) return 0;
  return (perm >> XFEATURE_XTILEDATA) & 1;
#else
  return 0;
#endif
}

int saelab_amx_request(void) {
  if (!amx_cpuid()) return 0;
#if defined(__linux__) && defined(__x86_64__)
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
#endif
  return amx_permitted();
}

static unsigned long long xcr0(void) {
  unsigned int lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((unsigned long long)hi << 32) | lo;
}

int saelab_cpu_features(void) {
  unsigned int a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
  const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1, popcnt = (c >> 23) & 1;
  if (!osxsave || !avx) return 0;
  unsigned long long x = xcr0();
  if ((x & 0x6) != 0x6) return 0; /* XMM and YMM state */
  unsigned int b7, c7, d7, a71 = 0, b71, c71, d71;
  if (!__get_cpuid_count(7, 0, &a, &b7, &c7, &d7)) return 0;
  __get_cpuid_count(7, 1, &a71, &b71, &c71, &d71);
  unsigned int ea, eb, ec = 0, ed;
  __get_cpuid(0x80000001, &ea, &eb, &ec, &ed);
  const int avx2 = (b7 >> 5) & 1, bmi1 = (b7 >> 3) & 1, bmi2 = (b7 >> 8) & 1, lzcnt = (ec >> 5) & 1;
  int f = 0;
  if (avx2 && fma && bmi1 && bmi2 && f16c && popcnt && lzcnt) f |= SAELAB_CPU_AVX2;
  const int a512 = (b7 >> 16) & 1, dq = (b7 >> 17) & 1, cd = (b7 >> 28) & 1, bw = (b7 >> 30) & 1, vl = (b7 >> 31) & 1;
  if ((f & SAELAB_CPU_AVX2) && a512 && dq && cd && bw && vl && (x & 0xe6) == 0xe6) {
    f |= SAELAB_CPU_AVX512;
    if ((a71 >> 5) & 1) f |= SAELAB_CPU_AVX512BF16;
  }
  /* AMX tiles: the CPU has them, the OS saves their state (XCR0 bits 17-18) and let this process use them. */
  if ((f & SAELAB_CPU_AVX512BF16) && ((d7 >> 22) & 1) && ((d7 >> 24) & 1) && ((x >> 17) & 3) == 3 && amx_permitted()) f |= SAELAB_CPU_AMXBF16;
  return f;
}
#else
int saelab_cpu_features(void) { return 0; }
int saelab_amx_request(void) { return 0; }
#endif
