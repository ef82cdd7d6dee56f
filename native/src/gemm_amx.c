/* The mixed-precision product on AMX-BF16 tiles (saelab_gemm_args.bf16 == 3; the AVX-512 library
   only, on a CPU with AMX whose OS let this process use it, see isa.c). The values multiplied are
   the same bfloat16 roundings as gemm_bf16.c's (vcvtne2ps2bf16: nearest even, subnormals to zero);
   op(B) is packed by saelab_pack_b_bf16 in the same pair-word panels (row q of a 32-column panel
   holds elements 2q and 2q + 1 of each column, which is the tile layout tdpbf16ps reads, 16 columns
   at a time), with pair rows past the block's end zeroed up to a whole tile of 16. op(A) is packed
   into 16-row x 32-element tiles. A 32 x 32 block of C is four accumulator tiles over the whole
   shared block, then the fp32 kernel's epilogue; each element's sum runs over the same pairs in the
   same order whatever the thread count or how C is cut. */
#include <string.h>
#include "gemm.h"
#include "gemm_internal.h"
#include "isa.h"
#include "simd.h"

#ifdef SAELAB_AVX512
#pragma GCC push_options
#pragma GCC target("avx512bf16,amx-tile,amx-bf16")

enum { TR = 16, TK = 32 }; /* a tile: 16 rows of 32 bfloat16 (64 bytes) */

/* The tile configuration (palette 1): tiles 0-3 the 16 x 16 fp32 accumulators, 4-5 two A tiles of
   16 rows x 32 bf16, 6-7 two B tiles of 16 pair rows x 16 columns. */
typedef struct {
  uint8_t palette, startRow, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} tile_config;

static void tiles_on(void) {
  tile_config c;
  memset(&c, 0, sizeof c);
  c.palette = 1;
  for (int t = 0; t < 8; t++) {
    c.colsb[t] = 64;
    c.rows[t] = TR;
  }
  _tile_loadconfig(&c);
}

static int64_t amx_pad_pairs(int64_t kc) { return (kc + TK - 1) / TK * (TK / 2); }

void saelab_amx_pad_b(float *panels, int64_t nc, int64_t kc) {
  const int64_t kp = (kc + 1) / 2, kpp = amx_pad_pairs(kc);
  uint32_t *dst = (uint32_t *)panels;
  for (int64_t jr = 0; jr < nc; jr += NR, dst += NR * kc) memset(dst + kp * NR, 0, (size_t)((kpp - kp) * NR) * sizeof(uint32_t));
}

/* Packs rows [i, i+mc) x shared [pc, pc+kc) of op(A) into tiles: rows padded with zeros to a multiple
   of 32, then for each 16-row group its kc / 32 tiles (zeros past kc) one after another. */
void saelab_amx_pack_a(const saelab_gemm_args *g, int64_t i, int64_t mc, int64_t pc, int64_t kc, uint16_t *dst) {
  const int64_t nkt = (kc + TK - 1) / TK, mp = (mc + 2 * TR - 1) / (2 * TR) * (2 * TR);
  for (int64_t r = 0; r < mp; r++) {
    uint16_t *row = dst + (r / TR) * nkt * TR * TK + (r % TR) * TK;
    if (r >= mc) {
      for (int64_t s = 0; s < nkt; s++) memset(row + s * TR * TK, 0, TK * sizeof(uint16_t));
      continue;
    }
    if (!g->transA) {
      const float *src = g->a + (i + r) * g->lda + pc;
      for (int64_t s = 0; s < nkt; s++) {
        const int64_t p = s * TK, left = kc - p;
        const __mmask16 m0 = left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
        const __mmask16 m1 = left >= 32 ? (__mmask16)0xFFFF : left > 16 ? (__mmask16)((1u << (left - 16)) - 1) : 0;
        __m512bh h = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, src + p + 16), _mm512_maskz_loadu_ps(m0, src + p));
        memcpy(row + s * TR * TK, &h, 64);
      }
    } else {
      for (int64_t s = 0; s < nkt; s++)
        for (int q = 0; q < TK; q++) {
          const int64_t p = s * TK + q;
          row[s * TR * TK + q] = p < kc ? saelab_bf16_bits(g->a[(pc + p) * g->lda + i + r]) : 0;
        }
    }
  }
}

/* out [32 x 32] = A rows (two 16-row groups, nkt tiles each) x one B panel (nkt tiles of 16 pair rows). */
static void block32(int64_t nkt, const uint16_t *A0, const uint16_t *A1, const uint32_t *B, float *out) {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int64_t s = 0; s < nkt; s++) {
    _tile_loadd(4, A0 + s * TR * TK, TK * 2);
    _tile_loadd(6, B + s * TR * NR, NR * 4);
    _tile_loadd(7, B + s * TR * NR + 16, NR * 4);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, A1 + s * TR * TK, TK * 2);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, 32 * 4);
  _tile_stored(1, out + 16, 32 * 4);
  _tile_stored(2, out + 16 * 32, 32 * 4);
  _tile_stored(3, out + 16 * 32 + 16, 32 * 4);
}

void saelab_gemm_block_amx(const saelab_gemm_args *g, const saelab_gemm_epi *e, int64_t i0, int64_t i1, int64_t j0, int64_t j1, int64_t kcb, float *Ap, float *Bp,
                           const float *BpAll, int64_t cRow0, const uint16_t *ApAll) {
  uint16_t *Aw = (uint16_t *)Ap;
  float acc[32 * 32] __attribute__((aligned(64)));
  tiles_on();
  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = j1 - jc < NC ? j1 - jc : NC;
    for (int64_t pc = 0; pc < g->k; pc += kcb) {
      const int64_t kc = g->k - pc < kcb ? g->k - pc : kcb, nkt = (kc + TK - 1) / TK;
      const int first = pc == 0, last = pc + kc >= g->k;
      const float *bpk = Bp;
      if (BpAll) bpk = BpAll + pc * ((g->n + NR - 1) / NR * NR) + jc * kc;
      else {
        saelab_pack_b_bf16(g, jc, nc, pc, kc, Bp);
        saelab_amx_pad_b(Bp, nc, kc);
      }
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = i1 - ic < MC ? i1 - ic : MC;
        if (ApAll) Aw = (uint16_t *)ApAll + saelab_amx_a_offset(g->m, kcb, pc, ic);
        else saelab_amx_pack_a(g, ic, mc, pc, kc, Aw);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int nr = nc - jr < NR ? (int)(nc - jr) : NR;
          const uint32_t *bp = (const uint32_t *)(bpk + jr * kc);
          float *cc = g->c + (ic - cRow0) * g->ldc + jc + jr;
          for (int64_t ir = 0; ir < mc; ir += 2 * TR) {
            const int mr = mc - ir < 2 * TR ? (int)(mc - ir) : 2 * TR;
            const uint16_t *a0 = Aw + (ir / TR) * nkt * TR * TK;
            block32(nkt, a0, a0 + nkt * TR * TK, bp, acc);
            saelab_tile_store16(cc + ir * g->ldc, g->ldc, mr, nr, (const __m512 *)acc, e, jc + jr, first, last); /* acc: 32 rows of two vectors */
          }
        }
      }
    }
  }
  _tile_release();
}

double saelab_amx_peak(float *sink) {
  if (!(saelab_cpu_features() & SAELAB_CPU_AMXBF16)) return 0;
  /* Four independent accumulator tiles over two A and two B tiles (the kernel's shape), operands in
     tile registers: each tdpbf16ps is 16 x 16 x 32 products, 2 FLOPs each. */
  static const uint16_t one[TR * TK] __attribute__((aligned(64))) = {0};
  float out[TR * TR] __attribute__((aligned(64)));
  tiles_on();
  _tile_loadd(4, one, 64);
  _tile_loadd(5, one, 64);
  _tile_loadd(6, one, 64);
  _tile_loadd(7, one, 64);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  for (int i = 0; i < 20000; i++) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  *sink += out[0];
  return 20000.0 * 4 * TR * TR * TK * 2;
}
#pragma GCC pop_options
#else
double saelab_amx_peak(float *sink) { (void)sink; return 0; }
#endif
