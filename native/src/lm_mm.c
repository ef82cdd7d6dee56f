/* Products of activation rows with the LM's weights, pre-packed into 16-column panels (see lm.h).
   A register tile of MR rows by NP panels keeps MR x 2NP accumulators; each accumulator is one FMA
   chain over k in order, so an output's value does not depend on the tile it falls in: one row
   (decoding) and thousands (a prefill) give the same bits. Few rows use several panels per tile so
   that enough independent chains hide the FMA latency. The panels are swept in blocks that stay in
   L2 while every row passes over them, and the AVX-512 library uses 512-bit tiles (same chains). */
#include <math.h>
#include <string.h>
#include "lm.h"
#include "pool.h"
#include "simd.h"

#define PANEL 16

static inline size_t panels(int n) { return (size_t)(n + PANEL - 1) / PANEL; }

/* Floats of the packed MLP input projection. */
static size_t w13_packed(const int32_t *L) {
  const size_t dim = L[L_DIM], hid = L[L_HIDDEN];
  return PANEL * dim * ((L[L_FLAGS] & LF_GATED) ? (hid + 7) / 8 : panels((int)hid));
}

static size_t layer_packed(const int32_t *L) {
  const size_t dim = L[L_DIM], kv = L[L_KV_DIM], hid = L[L_HIDDEN];
  return PANEL * (dim * panels((int)(dim + 2 * kv)) + dim * panels((int)dim) + hid * panels((int)dim)) + w13_packed(L);
}

size_t lm_packed_size(const int32_t *L) {
  return layer_packed(L) * L[L_N_LAYERS] + PANEL * (size_t)L[L_DIM] * panels(L[L_VOCAB]);
}

size_t lm_packed_off(const int32_t *L, int layer, int which) {
  const size_t dim = L[L_DIM], kv = L[L_KV_DIM], hid = L[L_HIDDEN];
  size_t off = layer_packed(L) * layer;
  if (layer == L[L_N_LAYERS]) return off;
  const size_t sizes[P_PER_LAYER] = {
    PANEL * dim * panels((int)(dim + 2 * kv)), PANEL * dim * panels((int)dim), w13_packed(L), PANEL * hid * panels((int)dim),
  };
  for (int w = 0; w < which; w++) off += sizes[w];
  return off;
}

/* Panels of W [n, k]: dst[p][kk][c] = W[16p + c][kk]. */
static void pack_rows(const float *W, int n, int k, float *dst) {
  for (size_t p = 0; p < panels(n); p++)
    for (int kk = 0; kk < k; kk++)
      for (int c = 0; c < PANEL; c++) {
        const size_t o = p * PANEL + c;
        dst[(p * k + kk) * PANEL + c] = o < (size_t)n ? W[o * k + kk] : 0.0f;
      }
}

/* w13 [2 hid, k] (w1 rows then w3 rows): panel b = w1 outputs 8b..8b+7, then w3's. */
static void pack_w13(const float *W, int hid, int k, float *dst) {
  for (int b = 0; b < (hid + 7) / 8; b++)
    for (int kk = 0; kk < k; kk++)
      for (int c = 0; c < PANEL; c++) {
        const int o = 8 * b + (c & 7);
        dst[((size_t)b * k + kk) * PANEL + c] = o < hid ? W[((size_t)(c < 8 ? 0 : hid) + o) * k + kk] : 0.0f;
      }
}

void lm_pack(const int32_t *L, const float *buf, float *packed) {
  const int dim = L[L_DIM], kv = L[L_KV_DIM], hid = L[L_HIDDEN];
  for (int l = 0; l < L[L_N_LAYERS]; l++) {
    const int32_t *o = L + L_LAYER0 + Y_PER_LAYER * l;
    pack_rows(buf + o[Y_WQKV], dim + 2 * kv, dim, packed + lm_packed_off(L, l, P_QKV));
    pack_rows(buf + o[Y_WO], dim, dim, packed + lm_packed_off(L, l, P_WO));
    if (L[L_FLAGS] & LF_GATED) pack_w13(buf + o[Y_W13], hid, dim, packed + lm_packed_off(L, l, P_W13));
    else pack_rows(buf + o[Y_W13], hid, dim, packed + lm_packed_off(L, l, P_W13));
    pack_rows(buf + o[Y_W2], dim, hid, packed + lm_packed_off(L, l, P_W2));
  }
  pack_rows(buf + L[L_OFF_CLS], L[L_VOCAB], dim, packed + lm_packed_off(L, L[L_N_LAYERS], 0));
}

#ifdef SAELAB_AVX2
/* silu(a) * b, as lm_swiglu computes it. */
static inline __m256 swiglu8(__m256 a, __m256 b) {
  __m256 den = _mm256_add_ps(_mm256_set1_ps(1.0f), saelab_exp8(_mm256_sub_ps(_mm256_setzero_ps(), a)));
  return _mm256_mul_ps(_mm256_div_ps(a, den), b);
}

/* Writes v to the `cols` (<= 8) first floats of y in the given mode (MM_STORE or MM_ADD). */
static inline void put8(float *y, __m256 v, int cols, int mode) {
  if (cols >= 8) {
    if (mode == MM_ADD) v = _mm256_add_ps(_mm256_loadu_ps(y), v);
    _mm256_storeu_ps(y, v);
  } else if (cols > 0) {
    const __m256i m = saelab_lane_mask(cols);
    if (mode == MM_ADD) v = _mm256_add_ps(_mm256_maskload_ps(y, m), v);
    _mm256_maskstore_ps(y, m, v);
  }
}

/* One tile: MR rows of x by NP panels. `cols` is the number of valid outputs from the tile's first
   column (for MM_SWIGLU, hidden units from its first unit). */
static inline __attribute__((always_inline)) void tile(const int MR, const int NP, const float *x, int ldx, int k, const float *P, float *y, int ldy,
                                                      int mode, int cols) {
  __m256 acc[6][8];
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 8
    for (int j = 0; j < 2 * NP; j++) acc[r][j] = _mm256_setzero_ps();
  const size_t ps = (size_t)k * PANEL;
  for (int kk = 0; kk < k; kk++) {
    const float *b = P + (size_t)kk * PANEL;
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
      const __m256 xr = _mm256_broadcast_ss(x + (size_t)r * ldx + kk);
#pragma GCC unroll 4
      for (int p = 0; p < NP; p++) {
        acc[r][2 * p] = _mm256_fmadd_ps(xr, _mm256_loadu_ps(b + p * ps), acc[r][2 * p]);
        acc[r][2 * p + 1] = _mm256_fmadd_ps(xr, _mm256_loadu_ps(b + p * ps + 8), acc[r][2 * p + 1]);
      }
    }
  }
  /* Fully unrolled, so that the accumulators never leave registers inside the loop above. */
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    float *yr = y + (size_t)r * ldy;
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
      if (mode == MM_SWIGLU) {
        const int c = cols - 8 * p;
        if (c > 0) put8(yr + 8 * p, swiglu8(acc[r][2 * p], acc[r][2 * p + 1]), c, MM_STORE);
      } else {
        put8(yr + PANEL * p, acc[r][2 * p], cols - PANEL * p, mode);
        put8(yr + PANEL * p + 8, acc[r][2 * p + 1], cols - PANEL * p - 8, mode);
      }
    }
  }
}

typedef void (*tile_fn)(const float *, int, int, const float *, float *, int, int, int);
#ifndef SAELAB_AVX512
#define TILE_FN(MR, NP) \
  static void tile_##MR##_##NP(const float *x, int ldx, int k, const float *P, float *y, int ldy, int mode, int cols) { tile(MR, NP, x, ldx, k, P, y, ldy, mode, cols); }
TILE_FN(1, 1) TILE_FN(1, 2) TILE_FN(1, 3) TILE_FN(1, 4)
TILE_FN(2, 1) TILE_FN(2, 2) TILE_FN(2, 3)
TILE_FN(3, 1) TILE_FN(3, 2)
TILE_FN(4, 1) TILE_FN(5, 1) TILE_FN(6, 1)
/* TILES[mr - 1][np - 1]; NP_MAX[mr - 1] panels per tile keep at most 12 accumulators busy. */
static const tile_fn TILES[6][4] = {
  { tile_1_1, tile_1_2, tile_1_3, tile_1_4 }, { tile_2_1, tile_2_2, tile_2_3, NULL }, { tile_3_1, tile_3_2, NULL, NULL },
  { tile_4_1, NULL, NULL, NULL }, { tile_5_1, NULL, NULL, NULL }, { tile_6_1, NULL, NULL, NULL },
};
static const int NP_MAX[6] = { 4, 3, 2, 1, 1, 1 };
#endif

#ifdef SAELAB_AVX512
/* swiglu8's operations on 16 lanes. */
static inline __m512 swiglu16(__m512 a, __m512 b) {
  __m512 den = _mm512_add_ps(_mm512_set1_ps(1.0f), saelab_exp16(_mm512_sub_ps(_mm512_setzero_ps(), a)));
  return _mm512_mul_ps(_mm512_div_ps(a, den), b);
}

/* The AVX-512 tile: one zmm accumulator per row and panel (16 outputs), MR x NP <= 24 of them. Each
   lane is the same FMA chain over k as the AVX2 tile's, so both give the same bits. The SwiGLU
   epilogue takes two panels at a time (their w1 halves, then their w3 halves, as 16 lanes). */
static inline __attribute__((always_inline)) void tile512(const int MR, const int NP, const float *x, int ldx, int k, const float *P, float *y, int ldy,
                                                         int mode, int cols) {
  __m512 acc[6][4];
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++)
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) acc[r][p] = _mm512_setzero_ps();
  const size_t ps = (size_t)k * PANEL;
  for (int kk = 0; kk < k; kk++) {
    const float *b = P + (size_t)kk * PANEL;
    __m512 w[4];
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) w[p] = _mm512_loadu_ps(b + p * ps);
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
      const __m512 xr = _mm512_set1_ps(x[(size_t)r * ldx + kk]);
#pragma GCC unroll 4
      for (int p = 0; p < NP; p++) acc[r][p] = _mm512_fmadd_ps(xr, w[p], acc[r][p]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; r++) {
    float *yr = y + (size_t)r * ldy;
#pragma GCC unroll 4
    for (int p = 0; p < NP; p++) {
      const __m256 lo = _mm512_castps512_ps256(acc[r][p]), hi = _mm512_extractf32x8_ps(acc[r][p], 1);
      if (mode == MM_SWIGLU) {
        const int c = cols - 8 * p;
        if (p % 2 == 1 || c <= 0) continue; /* odd panels went with the even one before them */
        if (p + 1 < NP) {
          const __m512 v = swiglu16(_mm512_shuffle_f32x4(acc[r][p], acc[r][p + 1], 0x44), _mm512_shuffle_f32x4(acc[r][p], acc[r][p + 1], 0xEE));
          if (c >= 16) _mm512_storeu_ps(yr + 8 * p, v);
          else _mm512_mask_storeu_ps(yr + 8 * p, (__mmask16)((1u << c) - 1), v);
        } else {
          put8(yr + 8 * p, swiglu8(lo, hi), c, MM_STORE);
        }
      } else {
        const int c = cols - PANEL * p;
        if (c >= PANEL) {
          __m512 v = acc[r][p];
          if (mode == MM_ADD) v = _mm512_add_ps(_mm512_loadu_ps(yr + PANEL * p), v);
          _mm512_storeu_ps(yr + PANEL * p, v);
        } else {
          put8(yr + PANEL * p, lo, c, mode);
          put8(yr + PANEL * p + 8, hi, c - 8, mode);
        }
      }
    }
  }
}
#define TILE512_FN(MR, NP) \
  static void t512_##MR##_##NP(const float *x, int ldx, int k, const float *P, float *y, int ldy, int mode, int cols) { tile512(MR, NP, x, ldx, k, P, y, ldy, mode, cols); }
#define TILE512_ROW(MR) TILE512_FN(MR, 1) TILE512_FN(MR, 2) TILE512_FN(MR, 3) TILE512_FN(MR, 4)
TILE512_ROW(1) TILE512_ROW(2) TILE512_ROW(3) TILE512_ROW(4) TILE512_ROW(5) TILE512_ROW(6)
#define TILE512_ENTRY(MR) { t512_##MR##_1, t512_##MR##_2, t512_##MR##_3, t512_##MR##_4 }
static const tile_fn TILES512[6][4] = { TILE512_ENTRY(1), TILE512_ENTRY(2), TILE512_ENTRY(3), TILE512_ENTRY(4), TILE512_ENTRY(5), TILE512_ENTRY(6) };
#endif

/* Bytes of weight panels one sweep over the rows reads before moving on: the block stays in the
   core's L2 cache while every row of the call passes over it (the weights of a layer do not fit). */
#define MM_BLOCK_BYTES (256 * 1024)

void lm_mm(const float *x, int ldx, int rows, int k, const float *P, int n, float *y, int ldy, int mode) {
  const int swi = mode == MM_SWIGLU;
  const int np = swi ? (n + 7) / 8 : (int)panels(n);
  const int per = swi ? 8 : PANEL; /* outputs per panel */
  int block = (int)(MM_BLOCK_BYTES / ((size_t)k * PANEL * sizeof(float)));
  if (block < 4) block = 4;
  for (int b0 = 0; b0 < np; b0 += block) {
    const int b1 = np - b0 < block ? np : b0 + block;
    for (int r0 = 0; r0 < rows; r0 += 6) {
      const int mr = rows - r0 < 6 ? rows - r0 : 6;
#ifdef SAELAB_AVX512
      const int npm = 4;
      const tile_fn *tiles = TILES512[mr - 1];
#else
      const int npm = NP_MAX[mr - 1];
      const tile_fn *tiles = TILES[mr - 1];
#endif
      for (int p0 = b0; p0 < b1; p0 += npm) {
        const int nb = b1 - p0 < npm ? b1 - p0 : npm;
        tiles[nb - 1](x + (size_t)r0 * ldx, ldx, k, P + (size_t)p0 * k * PANEL, y + (size_t)r0 * ldy + (size_t)p0 * per, ldy, mode, n - p0 * per);
      }
    }
  }
}
#else
/* Portable twin: the same panels and the same chain per output. */
void lm_mm(const float *x, int ldx, int rows, int k, const float *P, int n, float *y, int ldy, int mode) {
  const int swi = mode == MM_SWIGLU;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * ldx;
    float *yr = y + (size_t)r * ldy;
    for (int j = 0; j < n; j++) {
      if (swi) {
        const float *b = P + (size_t)(j / 8) * k * PANEL + (j % 8);
        float a = 0.0f, g = 0.0f;
        for (int kk = 0; kk < k; kk++) {
          a = fmaf(xr[kk], b[(size_t)kk * PANEL], a);
          g = fmaf(xr[kk], b[(size_t)kk * PANEL + 8], g);
        }
        yr[j] = (a / (1.0f + expf(-a))) * g;
      } else {
        const float *b = P + (size_t)(j / PANEL) * k * PANEL + (j % PANEL);
        float a = 0.0f;
        for (int kk = 0; kk < k; kk++) a = fmaf(xr[kk], b[(size_t)kk * PANEL], a);
        yr[j] = mode == MM_ADD ? yr[j] + a : a;
      }
    }
  }
}
#endif

/* ---- few rows on the pool: the panels split between threads (each output is still one chain). */

/* Panels per chunk a thread claims, and the smallest product worth splitting. */
#define COL_CHUNK 16
#define COL_MIN_FLOPS 1e6

typedef struct { const float *x; int ldx, rows, k; const float *P; int n; float *y; int ldy, mode, per; } ColJob;

static void col_chunk(void *c, int64_t chunk, int tid) {
  (void)tid;
  const ColJob *j = c;
  const int p0 = (int)chunk * COL_CHUNK, o0 = p0 * j->per, m = j->n - o0 < COL_CHUNK * j->per ? j->n - o0 : COL_CHUNK * j->per;
  lm_mm(j->x, j->ldx, j->rows, j->k, j->P + (size_t)p0 * j->k * PANEL, m, j->y + o0, j->ldy, j->mode);
}

void lm_mm_cols(const float *x, int ldx, int rows, int k, const float *P, int n, float *y, int ldy, int mode) {
  const int per = mode == MM_SWIGLU ? 8 : PANEL, np = (n + per - 1) / per, chunks = (np + COL_CHUNK - 1) / COL_CHUNK;
  if (rows > LM_COL_ROWS || chunks < 2 || 2.0 * rows * k * n < COL_MIN_FLOPS || saelab_pool_threads() < 2) {
    lm_mm(x, ldx, rows, k, P, n, y, ldy, mode);
    return;
  }
  ColJob j = { x, ldx, rows, k, P, n, y, ldy, mode, per };
  saelab_pool_chunks(col_chunk, &j, chunks, 0);
}
