// AVX2 int8 microkernel: 16 pixels (two runs of 8) x 8 output channels (ymm), int8 weights and activations
// widened to int16. vpmaddwd multiplies two int16 pairs and adds them into an int32 lane, exactly: the kept
// input channels of the group are interleaved two at a time, the weights packed as int16 pairs. (vpmaddubsw
// would do four bytes per lane, but it adds the two products of a pair in int16 with saturation, and a pair
// of |w| = 127 weights with activations near 255 overflows it: per-channel int8 weights use the full range,
// so that path is never exact here.) The sums are int32 modulo 2^32; the requantization is XNNPACK's.
#include <immintrin.h>

#include "common/microkernels.h"

// x[t][p][m] = the int16 activations of pixel m at kept channels 2p, 2p+1 (raw int8: the packed bias
// subtracts zero point * sum(w)).
static void interleave(uint8_t* x, const onexn_qs8_args* a, const uint32_t* kc, size_t kept) {
  for (size_t t = 0; t < a->taps; t++) {
    const uint8_t* rows = a->xt + t * a->cin * ONEXN_XT_PIXELS;
    for (size_t k = 0; k < kept; k += 2) {
      const __m128i r0 = _mm_load_si128((const __m128i*)(rows + kc[k] * 16));
      const __m128i r1 = _mm_load_si128((const __m128i*)(rows + kc[k + 1] * 16));
      _mm256_store_si256((__m256i*)x, _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(r0, r1)));        // pixels 0..7
      _mm256_store_si256((__m256i*)(x + 32), _mm256_cvtepi8_epi16(_mm_unpackhi_epi8(r0, r1)));  // 8..15
      x += 64;
    }
  }
}

// Pixels 8h..8h+7 of one panel.
static void half(const onexn_qs8_args* a, const onexn_panel* pn, const int32_t* x, size_t h) {
  const uint8_t* w = a->w + pn->w_off;
  const __m256i vbias = _mm256_load_si256((const __m256i*)w);
  const __m256 vscale = _mm256_load_ps((const float*)(w + 32));
  w += 64;
  __m256i acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
  __m256i acc4 = vbias, acc5 = vbias, acc6 = vbias, acc7 = vbias;
  x += 8 * h;
  for (size_t p = a->taps * (pn->kept / 2); p != 0; p--) {
    const __m256i vw = _mm256_load_si256((const __m256i*)w);
    w += 32;
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(_mm256_set1_epi32(x[0]), vw));
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(_mm256_set1_epi32(x[1]), vw));
    acc2 = _mm256_add_epi32(acc2, _mm256_madd_epi16(_mm256_set1_epi32(x[2]), vw));
    acc3 = _mm256_add_epi32(acc3, _mm256_madd_epi16(_mm256_set1_epi32(x[3]), vw));
    acc4 = _mm256_add_epi32(acc4, _mm256_madd_epi16(_mm256_set1_epi32(x[4]), vw));
    acc5 = _mm256_add_epi32(acc5, _mm256_madd_epi16(_mm256_set1_epi32(x[5]), vw));
    acc6 = _mm256_add_epi32(acc6, _mm256_madd_epi16(_mm256_set1_epi32(x[6]), vw));
    acc7 = _mm256_add_epi32(acc7, _mm256_madd_epi16(_mm256_set1_epi32(x[7]), vw));
    x += 16;
  }
  const __m256 vlo = _mm256_set1_ps(a->lo), vhi = _mm256_set1_ps(a->hi);
  const __m256i vzero_point = _mm256_set1_epi32(a->zero_point);
  const __m128i vlo8 = _mm_set1_epi8((char)((int32_t)a->lo + a->zero_point));
  const int clamp_hi = a->clamp_hi;
  const __m256i acc[8] = {acc0, acc1, acc2, acc3, acc4, acc5, acc6, acc7};
  int8_t* out = a->out + 8 * h * a->out_stride + pn->oc;
  const size_t rows = a->mr > 8 * h ? a->mr - 8 * h : 0;
  for (size_t m = 0; m < 8 && m < rows; m++) {
    __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[m]), vscale);
    // Both bounds in float where the upper one is not int8's own or a product could pass 2^31 (a->clamp_hi),
    // else the saturating packs clamp above and the lower bound waits for the bytes (integer bounds).
    if (clamp_hi) f = _mm256_min_ps(_mm256_max_ps(f, vlo), vhi);
    const __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(f), vzero_point);
    const __m128i q16 = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    const __m128i q8 = _mm_max_epi8(_mm_packs_epi16(q16, q16), vlo8);
    int8_t* o = out + m * a->out_stride;
    if (pn->nc == 8) {
      _mm_storel_epi64((__m128i*)o, q8);
    } else {
      int8_t tmp[16];
      _mm_storeu_si128((__m128i*)tmp, q8);
      for (size_t j = 0; j < pn->nc; j++) o[j] = tmp[j];
    }
  }
}

void onexn_qs8_qc8w_spconv_16x8_avx2(const onexn_qs8_args* a) {
  for (size_t i = 0; i < a->num_panels; i++) {
    const onexn_panel* pn = &a->panels[i];
    if (i == 0 || pn->kc_off != pn[-1].kc_off || pn->kept != pn[-1].kept) {  // a new group
      interleave((uint8_t*)a->scratch, a, a->kc + pn->kc_off, pn->kept);
    }
    half(a, pn, (const int32_t*)a->scratch, 0);
    if (a->mr > 8) half(a, pn, (const int32_t*)a->scratch, 1);
  }
}
