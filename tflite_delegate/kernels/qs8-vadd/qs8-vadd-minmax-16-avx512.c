// AVX-512 int8 ADD microkernel: 16 elements per zmm of int32 (vpmovsxbd, vpmulld, vpsrad), clamped, vpmovsdb
// to bytes; the last elements under a mask.
#include <immintrin.h>

#include "common/microkernels.h"

void onexn_qs8_vadd_minmax_16_avx512(const onexn_qs8_vadd_args* p, size_t n, const int8_t* a, const int8_t* b,
                                     int8_t* out) {
  const __m512i bias = _mm512_set1_epi32(p->bias), am = _mm512_set1_epi32(p->a_multiplier);
  const __m512i bm = _mm512_set1_epi32(p->b_multiplier), zp = _mm512_set1_epi32(p->zero_point);
  const __m512i lo = _mm512_set1_epi32(p->lo), hi = _mm512_set1_epi32(p->hi);
  const __m128i shift = _mm_cvtsi32_si128((int)p->shift);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 m = (__mmask16)(n - i >= 16 ? 0xFFFFu : (1u << (n - i)) - 1u);
    const __m512i va = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a + i));
    const __m512i vb = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, b + i));
    const __m512i acc = _mm512_add_epi32(_mm512_add_epi32(bias, _mm512_mullo_epi32(va, am)), _mm512_mullo_epi32(vb, bm));
    const __m512i v = _mm512_min_epi32(_mm512_max_epi32(_mm512_sra_epi32(acc, shift), lo), hi);
    _mm512_mask_cvtsepi32_storeu_epi8(out + i, m, _mm512_add_epi32(v, zp));
  }
}
