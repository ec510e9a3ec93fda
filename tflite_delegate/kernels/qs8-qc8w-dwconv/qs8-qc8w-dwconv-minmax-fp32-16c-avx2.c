// AVX2 int8 depthwise microkernel: 16 channels per iteration as two vectors of 8 int32 (vpmovsxbd, vpmulld:
// (x - zero point) * w needs 17 x 8 bits), fp32 requantization (vcvtps2dq rounds half to even), then 8,
// then the last channels one at a time like the scalar kernel.
#include <immintrin.h>

#include "common/microkernels.h"
#include "qs8-qc8w-dwconv/qs8-dw-channel.h"

static inline __m256i tap_products(const int8_t* x, const int8_t* w, __m256i zero_point) {
  const __m256i vx = _mm256_sub_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)x)), zero_point);
  return _mm256_mullo_epi32(vx, _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)w)));
}

// 8 accumulators -> 8 int32 outputs (zero point added; within int8 after the clamp).
static inline __m256i requantize(__m256i acc, const float* scale, __m256 lo, __m256 hi, __m256i zero_point) {
  __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_loadu_ps(scale));
  f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);
  return _mm256_add_epi32(_mm256_cvtps_epi32(f), zero_point);
}

static inline __m128i pack8(__m256i v) {
  const __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_packs_epi16(h, h);
}

void onexn_qs8_qc8w_dwconv_minmax_fp32_16c_avx2(const onexn_qs8_dw_args* a) {
  const __m256i izp = _mm256_set1_epi32(a->input_zero_point), ozp = _mm256_set1_epi32(a->zero_point);
  const __m256 lo = _mm256_set1_ps(a->lo), hi = _mm256_set1_ps(a->hi);
  for (size_t p = 0; p < a->pixels; p++) {
    const size_t off = p * a->x_stride;
    int8_t* out = a->out + p * a->channels;
    size_t c = 0;
    for (; c + 16 <= a->channels; c += 16) {
      __m256i acc0 = _mm256_loadu_si256((const __m256i*)(a->bias + c));
      __m256i acc1 = _mm256_loadu_si256((const __m256i*)(a->bias + c + 8));
      for (size_t t = 0; t < a->taps; t++) {
        acc0 = _mm256_add_epi32(acc0, tap_products(a->x[t] + off + c, a->w[t] + c, izp));
        acc1 = _mm256_add_epi32(acc1, tap_products(a->x[t] + off + c + 8, a->w[t] + c + 8, izp));
      }
      const __m256i q0 = requantize(acc0, a->scale + c, lo, hi, ozp);
      const __m256i q1 = requantize(acc1, a->scale + c + 8, lo, hi, ozp);
      const __m256i h = _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8);
      _mm_storeu_si128((__m128i*)(out + c), _mm_packs_epi16(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1)));
    }
    for (; c + 8 <= a->channels; c += 8) {
      __m256i acc = _mm256_loadu_si256((const __m256i*)(a->bias + c));
      for (size_t t = 0; t < a->taps; t++) {
        acc = _mm256_add_epi32(acc, tap_products(a->x[t] + off + c, a->w[t] + c, izp));
      }
      _mm_storel_epi64((__m128i*)(out + c), pack8(requantize(acc, a->scale + c, lo, hi, ozp)));
    }
    for (; c < a->channels; c++) onexn_qs8_dw_channel(a, off, c, out);
  }
}
