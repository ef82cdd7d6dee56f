/* RoPE on a pass's queries and keys, with the KV-cache write: keys are cached [kv_dim][position]
   (lm_attn.c reads eight or sixteen consecutive positions of one channel as one vector), values
   [position][kv_dim]. Each rotation pair is two adjacent channels, with its cosine and sine from the
   pass table s->rope. */
#include <string.h>
#include "lm.h"
#include "simd.h"

void lm_rope_rows(const Pass *s, int layer, float *qkv, int ldqkv, int r0, int r1) {
  const int dim = lm_q_dim(s->L), kv = s->L[L_KV_DIM], hs = s->L[L_HEAD_SIZE], half = hs / 2;
  for (int r = r0; r < r1; r++) {
    const int p = s->pos[r];
    float *q = qkv + (size_t)(r - r0) * ldqkv, *kk = q + dim, *vv = kk + kv;
    const float *cs = s->rope + (size_t)p * half * 2;
    float *kc = s->k + lm_k_off(s, layer, s->slot[r]) + p, *vc = s->v + lm_v_off(s, layer, s->slot[r]) + (size_t)p * kv;
    int j = 0;
#ifdef SAELAB_AVX2
    if (hs % 8 == 0) {
      /* out[2i] = a c - b s, out[2i+1] = b c + a s for pairs (a, b): fmaddsub(v, C, swap(v) * S). */
      for (; j < dim; j += 8) {
        const __m256 t = _mm256_loadu_ps(cs + (j % hs)); /* c0 s0 c1 s1 c2 s2 c3 s3 */
        const __m256 C = _mm256_permute_ps(t, 0xA0), S = _mm256_permute_ps(t, 0xF5);
        const __m256 qv = _mm256_loadu_ps(q + j);
        _mm256_storeu_ps(q + j, _mm256_fmaddsub_ps(qv, C, _mm256_mul_ps(_mm256_permute_ps(qv, 0xB1), S)));
        if (j < kv) {
          const __m256 kx = _mm256_loadu_ps(kk + j);
          float rot[8];
          _mm256_storeu_ps(rot, _mm256_fmaddsub_ps(kx, C, _mm256_mul_ps(_mm256_permute_ps(kx, 0xB1), S)));
          for (int i = 0; i < 8; i++) kc[(size_t)(j + i) * s->cap] = rot[i];
        }
      }
    }
#endif
    for (; j < dim; j += 2) {
      const int i = (j % hs) / 2;
      const float c = cs[2 * i], sn = cs[2 * i + 1];
      const float q0 = q[j], q1 = q[j + 1];
      q[j] = q0 * c - q1 * sn;
      q[j + 1] = q0 * sn + q1 * c;
      if (j < kv) {
        const float k0 = kk[j], k1 = kk[j + 1];
        kc[(size_t)j * s->cap] = k0 * c - k1 * sn;
        kc[(size_t)(j + 1) * s->cap] = k0 * sn + k1 * c;
      }
    }
    memcpy(vc, vv, sizeof(float) * kv);
  }
}
