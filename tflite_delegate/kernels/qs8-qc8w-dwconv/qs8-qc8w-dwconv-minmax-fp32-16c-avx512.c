// AVX-512 int8 depthwise microkernel: 16 channels per zmm of int32 (vpmovsxbd, vpmulld), fp32 requantization
// (vcvtps2dq rounds half to even), vpmovsdb to bytes; the last channels under a mask, so no scalar tail.
#include <immintrin.h>


#include "common/microkernels.h"

void onexn_qs8_qc8w_dwconv_minmax_fp32_16c_avx512(const onexn_qs8_dw_args* a) {
  const __m512i izp = _mm512_set1_epi32(a->input_zero_point), ozp = _mm512_set1_epi32(a->zero_point);
  const __m512 lo = _mm512_set1_ps(a->lo), hi = _mm512_set1_ps(a->hi);
  for (size_t p = 0; p < a->pixels; p++) {
    const size_t off = p * a->x_stride;
    int8_t* out = a->out + p * a->channels;
    for (size_t c = 0; c < a->channels; c += 16) {
      const size_t nc = a->channels - c < 16 ? a->channels - c : 16;
      const __mmask16 m = (__mmask16)((1u << nc) - 1u);
      __m512i acc = _mm512_maskz_loadu_epi32(m, a->bias + c);
      for (size_t t = 0; t < a->taps; t++) {
        const __m512i vx = _mm512_sub_epi32(_mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a->x[t] + off + c)), izp);
        const __m512i vw = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(m, a->w[t] + c));
        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(vx, vw));
      }
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc), _mm512_maskz_loadu_ps(m, a->scale + c));
      f = _mm512_min_ps(_mm512_max_ps(f, lo), hi);
      _mm512_mask_cvtsepi32_storeu_epi8(out + c, m, _mm512_add_epi32(_mm512_cvtps_epi32(f), ozp));
    }
  }
}
