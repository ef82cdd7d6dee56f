/* Adam over a flat parameter buffer (16 lanes with AVX-512, 8 with AVX2; every lane the same operations
   as the scalar tail): elementwise, in fixed ranges claimed dynamically by the threads. */
#include <math.h>
#include "pool.h"
#include "simd.h"
#include "sparse.h"

typedef saelab_adam_step adam_job;

#define ADAM_CHUNK 65536 /* elements per chunk (claimed dynamically) */

void saelab_adam_setup(saelab_adam_step *J, float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps,
                       double step) {
  double bc1 = 1 - pow(beta1, step), bc2 = 1 - pow(beta2, step);
  saelab_adam_step s = {params, m, v, grads, len, (float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2), (float)(lr / bc1), (float)(1 / bc2), (float)eps};
  *J = s;
}

void saelab_adam_span(const saelab_adam_step *J, int64_t i0, int64_t i1) {
  int64_t i = i0;
#ifdef SAELAB_AVX512
  {
    __m512 b1 = _mm512_set1_ps(J->b1), c1 = _mm512_set1_ps(J->c1), b2 = _mm512_set1_ps(J->b2), c2 = _mm512_set1_ps(J->c2);
    __m512 st = _mm512_set1_ps(J->step), ib = _mm512_set1_ps(J->invBc2), ep = _mm512_set1_ps(J->eps);
    for (; i + 16 <= i1; i += 16) {
      __m512 g = _mm512_loadu_ps(J->g + i);
      __m512 m = _mm512_fmadd_ps(b1, _mm512_loadu_ps(J->m + i), _mm512_mul_ps(c1, g));
      __m512 v = _mm512_fmadd_ps(b2, _mm512_loadu_ps(J->v + i), _mm512_mul_ps(c2, _mm512_mul_ps(g, g)));
      _mm512_storeu_ps(J->m + i, m);
      _mm512_storeu_ps(J->v + i, v);
      __m512 d = _mm512_add_ps(_mm512_sqrt_ps(_mm512_mul_ps(v, ib)), ep);
      _mm512_storeu_ps(J->p + i, _mm512_sub_ps(_mm512_loadu_ps(J->p + i), _mm512_div_ps(_mm512_mul_ps(st, m), d)));
    }
  }
#endif
#ifdef SAELAB_AVX2
  __m256 b1 = _mm256_set1_ps(J->b1), c1 = _mm256_set1_ps(J->c1), b2 = _mm256_set1_ps(J->b2), c2 = _mm256_set1_ps(J->c2);
  __m256 st = _mm256_set1_ps(J->step), ib = _mm256_set1_ps(J->invBc2), ep = _mm256_set1_ps(J->eps);
  for (; i + 8 <= i1; i += 8) {
    __m256 g = _mm256_loadu_ps(J->g + i);
    __m256 m = _mm256_fmadd_ps(b1, _mm256_loadu_ps(J->m + i), _mm256_mul_ps(c1, g));
    __m256 v = _mm256_fmadd_ps(b2, _mm256_loadu_ps(J->v + i), _mm256_mul_ps(c2, _mm256_mul_ps(g, g)));
    _mm256_storeu_ps(J->m + i, m);
    _mm256_storeu_ps(J->v + i, v);
    __m256 d = _mm256_add_ps(_mm256_sqrt_ps(_mm256_mul_ps(v, ib)), ep);
    _mm256_storeu_ps(J->p + i, _mm256_sub_ps(_mm256_loadu_ps(J->p + i), _mm256_div_ps(_mm256_mul_ps(st, m), d)));
  }
#endif
  for (; i < i1; i++) {
    float g = J->g[i];
    float m = fmaf(J->b1, J->m[i], J->c1 * g), v = fmaf(J->b2, J->v[i], J->c2 * (g * g));
    J->m[i] = m;
    J->v[i] = v;
    J->p[i] -= (J->step * m) / (sqrtf(v * J->invBc2) + J->eps);
  }
}

static void adam_chunk(void *ctx, int64_t c, int tid) {
  const adam_job *J = ctx;
  (void)tid;
  saelab_adam_span(J, c * ADAM_CHUNK, c * ADAM_CHUNK + ADAM_CHUNK < J->len ? c * ADAM_CHUNK + ADAM_CHUNK : J->len);
}

void saelab_adam(float *params, const float *grads, float *m, float *v, int64_t len, double lr, double beta1, double beta2, double eps, double step) {
  adam_job J;
  saelab_adam_setup(&J, params, grads, m, v, len, lr, beta1, beta2, eps, step);
  saelab_pool_chunks(adam_chunk, &J, (len + ADAM_CHUNK - 1) / ADAM_CHUNK, len < 32768 ? 1 : 0);
}
