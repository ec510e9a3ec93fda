// AVX2 int8 depthwise microkernel: 8 channels per vector of int32, vpmaddwd + vpaddd per tap, as the AVX-512
// kernels (avx512.c.in) do it: the input zero point goes into the tile's starting value (zx * sum w, the same
// int32 wrap-around), the weights are widened once per chunk of pixels into int32 lanes with a zero high half,
// so that vpmaddwd of a sign-extended input lane gives exactly x * w; four pixels per tap loop. fp32
// requantization (vcvtps2dq rounds half to even), saturating packs; the channels after the last 8 one at a
// time like the scalar kernel.
#include <immintrin.h>

#include "common/microkernels.h"
#include "qs8-qc8w-dwconv/qs8-dw-channel.h"

enum {
  kChunk = 16,  // output pixels that reuse one channel tile's widened weights
  kGroup = 25,  // taps whose widened weights are held at once (5x5); wider windows run in groups
};

static inline __m256i load8(const int8_t* p) { return _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i*)p)); }

static inline __m256i madd(__m256i acc, __m256i x, __m256i w) {
  return _mm256_add_epi32(acc, _mm256_madd_epi16(x, w));
}

// 8 int32 results -> 8 saturated bytes.
static inline __m128i pack8(__m256i v) {
  const __m128i h = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  return _mm_packs_epi16(h, h);
}

// Channels [c, c + 8) of pixels [p0, p0 + np).
static void channel_tile(const onexn_qs8_dw_args* a, size_t p0, size_t np, size_t c) {
  const size_t taps = a->taps;
  const __m256i low16 = _mm256_set1_epi32(0xFFFF);
  __m256i wsum = _mm256_setzero_si256();
  for (size_t t = 0; t < taps; t++) wsum = _mm256_add_epi32(wsum, load8(a->w[t] + c));
  const __m256i start = _mm256_sub_epi32(_mm256_loadu_si256((const __m256i*)(a->bias + c)),
                                         _mm256_mullo_epi32(_mm256_set1_epi32(a->input_zero_point), wsum));
  __m256i acc[kChunk];
  for (size_t p = 0; p < np; p++) acc[p] = start;
  __m256i wv[kGroup];
  for (size_t t0 = 0; t0 < taps; t0 += kGroup) {
    const size_t nt = taps - t0 < kGroup ? taps - t0 : kGroup;
    for (size_t t = 0; t < nt; t++) wv[t] = _mm256_and_si256(load8(a->w[t0 + t] + c), low16);
    const int8_t* const* x = a->x + t0;
    size_t p = 0;
    for (; p + 4 <= np; p += 4) {  // four independent sums share each weight load
      const size_t xs = a->x_stride, off = (p0 + p) * xs + c;
      __m256i s0 = acc[p], s1 = acc[p + 1], s2 = acc[p + 2], s3 = acc[p + 3];
      for (size_t t = 0; t < nt; t++) {
        const int8_t* r = x[t] + off;
        s0 = madd(s0, load8(r), wv[t]);
        s1 = madd(s1, load8(r + xs), wv[t]);
        s2 = madd(s2, load8(r + 2 * xs), wv[t]);
        s3 = madd(s3, load8(r + 3 * xs), wv[t]);
      }
      acc[p] = s0;
      acc[p + 1] = s1;
      acc[p + 2] = s2;
      acc[p + 3] = s3;
    }
    for (; p < np; p++) {
      const size_t off = (p0 + p) * a->x_stride + c;
      __m256i s0 = acc[p];
      for (size_t t = 0; t < nt; t++) s0 = madd(s0, load8(x[t] + off), wv[t]);
      acc[p] = s0;
    }
  }
  const __m256i ozp = _mm256_set1_epi32(a->zero_point);
  const __m256 lo = _mm256_set1_ps(a->lo), hi = _mm256_set1_ps(a->hi);
  const __m256 scale = _mm256_loadu_ps(a->scale + c);
  for (size_t p = 0; p < np; p++) {
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[p]), scale);
    f = _mm256_min_ps(_mm256_max_ps(f, lo), hi);
    _mm_storel_epi64((__m128i*)(a->out + (p0 + p) * a->channels + c),
                     pack8(_mm256_add_epi32(_mm256_cvtps_epi32(f), ozp)));
  }
}

void onexn_qs8_qc8w_dwconv_minmax_fp32_8c_avx2(const onexn_qs8_dw_args* a) {
  const size_t vector_channels = a->channels / 8 * 8;
  for (size_t p0 = 0; p0 < a->pixels; p0 += kChunk) {
    const size_t np = a->pixels - p0 < kChunk ? a->pixels - p0 : kChunk;
    for (size_t c = 0; c < vector_channels; c += 8) channel_tile(a, p0, np, c);
    for (size_t p = p0; p < p0 + np; p++) {
      for (size_t c = vector_channels; c < a->channels; c++) {
        onexn_qs8_dw_channel(a, p * a->x_stride, c, a->out + p * a->channels);
      }
    }
  }
}
