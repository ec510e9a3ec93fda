// AVX2 int8 ADD microkernel: 16 elements per iteration as two vectors of 8 int32 (vpmovsxbd, vpmulld by the
// multipliers, vpsrad), clamped, packed with saturation (the values are int8 already); the rest one at a time.
#include <immintrin.h>

#include "common/microkernels.h"
#include "qs8-vadd/qs8-vadd-element.h"

static inline __m256i add8(const onexn_qs8_vadd_args* p, const int8_t* a, const int8_t* b) {
  const __m256i va = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)a));
  const __m256i vb = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)b));
  __m256i acc = _mm256_add_epi32(_mm256_set1_epi32(p->bias), _mm256_mullo_epi32(va, _mm256_set1_epi32(p->a_multiplier)));
  acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(vb, _mm256_set1_epi32(p->b_multiplier)));
  __m256i v = _mm256_sra_epi32(acc, _mm_cvtsi32_si128((int)p->shift));
  v = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(p->lo)), _mm256_set1_epi32(p->hi));
  return _mm256_add_epi32(v, _mm256_set1_epi32(p->zero_point));
}

void onexn_qs8_vadd_minmax_16_avx2(const onexn_qs8_vadd_args* p, size_t n, const int8_t* a, const int8_t* b,
                                   int8_t* out) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i h = _mm256_permute4x64_epi64(_mm256_packs_epi32(add8(p, a + i, b + i), add8(p, a + i + 8, b + i + 8)),
                                               0xD8);
    _mm_storeu_si128((__m128i*)(out + i), _mm_packs_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
  }
  for (; i < n; i++) out[i] = onexn_qs8_vadd_element(p, a[i], b[i]);
}
