/* Run-time ISA detection with cpuid and xgetbv: a feature counts only when the CPU has it and the
   OS saves its registers (XCR0), so a kernel library is picked only where it can run. */
#include "isa.h"
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

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
  if (((d7 >> 22) & 1) && ((d7 >> 24) & 1)) f |= SAELAB_CPU_AMXBF16; /* AMX-BF16 and AMX-TILE */
  return f;
}
#else
int saelab_cpu_features(void) { return 0; }
#endif
