/* What the attention of lm_attn.c shares with its AVX-512 tiles (lm_attn512.c, built into the
   AVX-512 library only): the tile sizes, one chunk of a tile's weights-times-values product, and the
   512-bit pieces, each giving every output lane the operations of the AVX2 piece it replaces. */
#ifndef SAELAB_LM_ATTN_H
#define SAELAB_LM_ATTN_H
#include <stddef.h>

#define QMAX 12 /* queries per tile (rows x query heads of one key/value head) */
#define RMAX 6  /* rows per chunk of a tile's P.V */
/* A key's weight is exp(x) for x = (s - max s) c >= LOGIT_FLOOR and exactly 0 below it, where exp
   is under 1.7e-38 and saelab_exp8 would return subnormals: on x86 every operation that meets a
   subnormal (the exp's last multiply, then each P.V FMA) takes a slow microcode assist. */
#define LOGIT_FLOOR -87.0f

/* Up to RMAX rows of one query head: row j weighs keys 0..n0 + j - 1 by p[j] and writes
   out[j][0..hs) = (sum over those keys of p[j][t] * v[t]) * inv[j]. Entries j >= rows repeat row 0. */
typedef struct {
  const float *p[RMAX];
  float *out[RMAX];
  float inv[RMAX];
  int rows, n0;
} PvChunk;

/* Scores of QMAX transposed queries qt [hs][QMAX] over keys 0..nmax-1 of kb [hs][cap] (keys from
   capb on read as 0), 16 at a time: row i of S (stride ls) gets them, rounded up to 16 entries. */
void lm_attn512_scores(const float *qt, const float *kb, int hs, int cap, int capb, int nmax, float *S, size_t ls);
/* One query q [hs] over keys 0..n-1 of kb, into sc (n rounded up to 16 entries). */
void lm_attn512_scores_one(const float *q, const float *kb, int hs, int cap, int capb, int n, float *sc);
/* lm_attn.c's softmax_rows: the weights of nq rows of S in place and inv[i] = 1 / their sum. */
void lm_attn512_softmax(float *S, size_t ls, const int *n, const int *lo, int nq, float c, float *inv);
/* A chunk's channels d0..d0+15 (values vb, rows of stride kv). */
void lm_attn512_pv16(const PvChunk *ch, const float *vb, int kv, int d0);
/* Two chunks of the same rows (heads sharing vb) with head size 8, as one: pp is scratch of
   RMAX * 2 * lp floats, lp >= the rounded-up score row length. */
void lm_attn512_pv_pair(const PvChunk *a, const PvChunk *b, const float *vb, int kv, float *pp, size_t lp);
/* Decoding: channels d0..d0+15 of nq heads, head i's weights at S + i * ls over keys 0..n-1 and its
   values at vb + voff[i]; out + i * hs gets them times inv[i]. */
void lm_attn512_pv_one(const float *S, size_t ls, int n, int nq, const float *vb, int kv, const size_t *voff, const float *inv, float *out, int hs, int d0);
#endif
