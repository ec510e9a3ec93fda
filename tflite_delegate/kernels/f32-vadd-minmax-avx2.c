// AVX2 elementwise add with clamp: 32 floats per iteration, maskload/maskstore tail. Each vector is
// loaded before its result is stored, so out may be a or b.
#include <immintrin.h>

#include "onexn_internal.h"

void onexn_f32_vadd_minmax_avx2(size_t n, const float* a, const float* b, float* out, float min, float max) {
  const __m256 vmin = _mm256_set1_ps(min), vmax = _mm256_set1_ps(max);
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 s0 = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 s1 = _mm256_add_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    const __m256 s2 = _mm256_add_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    const __m256 s3 = _mm256_add_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    _mm256_storeu_ps(out + i, _mm256_min_ps(vmax, _mm256_max_ps(vmin, s0)));
    _mm256_storeu_ps(out + i + 8, _mm256_min_ps(vmax, _mm256_max_ps(vmin, s1)));
    _mm256_storeu_ps(out + i + 16, _mm256_min_ps(vmax, _mm256_max_ps(vmin, s2)));
    _mm256_storeu_ps(out + i + 24, _mm256_min_ps(vmax, _mm256_max_ps(vmin, s3)));
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 s = _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    _mm256_storeu_ps(out + i, _mm256_min_ps(vmax, _mm256_max_ps(vmin, s)));
  }
  if (i < n) {
    const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 s = _mm256_add_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m));
    _mm256_maskstore_ps(out + i, m, _mm256_min_ps(vmax, _mm256_max_ps(vmin, s)));
  }
}
