// AVX-512 elementwise add with clamp: 64 floats per iteration, masked tail. Each vector is loaded
// before its result is stored, so out may be a or b.
#include <immintrin.h>

#include "onexn_internal.h"

void onexn_f32_vadd_minmax_avx512f(size_t n, const float* a, const float* b, float* out, float min, float max) {
  const __m512 vmin = _mm512_set1_ps(min), vmax = _mm512_set1_ps(max);
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 s0 = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    const __m512 s1 = _mm512_add_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    const __m512 s2 = _mm512_add_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    const __m512 s3 = _mm512_add_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
    _mm512_storeu_ps(out + i, _mm512_min_ps(vmax, _mm512_max_ps(vmin, s0)));
    _mm512_storeu_ps(out + i + 16, _mm512_min_ps(vmax, _mm512_max_ps(vmin, s1)));
    _mm512_storeu_ps(out + i + 32, _mm512_min_ps(vmax, _mm512_max_ps(vmin, s2)));
    _mm512_storeu_ps(out + i + 48, _mm512_min_ps(vmax, _mm512_max_ps(vmin, s3)));
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 s = _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    _mm512_storeu_ps(out + i, _mm512_min_ps(vmax, _mm512_max_ps(vmin, s)));
  }
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    const __m512 s = _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
    _mm512_mask_storeu_ps(out + i, m, _mm512_min_ps(vmax, _mm512_max_ps(vmin, s)));
  }
}
