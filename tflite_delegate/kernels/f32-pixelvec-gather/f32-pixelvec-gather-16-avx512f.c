// AVX-512 gather of a 16-pixel tile into channel-major order for the pixel-vector microkernels:
// xt[t][c][m] = input row of pixel m at tap t, channel c. Moves 16 channels x 16 pixels at a time with
// an in-register 16x16 transpose; a channel tail uses masked loads.
#include <immintrin.h>

#include "common/microkernels.h"

// Transposes rows r[0..15] (16 channels each) and stores column j (16 pixels) at dst + 16 * j for j < nc.
static void transpose_store(__m512 r[16], float* dst, size_t nc) {
  __m512 t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4q + j] holds, in 128-bit lane l, channel 4l + j of rows 4q..4q+3.
  for (int q = 0; q < 4; q++) {
    u[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
    u[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
    u[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    u[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
  for (int j = 0; j < 4; j++) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88);       // lanes 0,2 of rows 0-3, 4-7
    const __m512 v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xDD);       // lanes 1,3
    const __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88);
    const __m512 v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xDD);
    const __m512 c0 = _mm512_shuffle_f32x4(v0, v2, 0x88);  // channel j
    const __m512 c2 = _mm512_shuffle_f32x4(v0, v2, 0xDD);  // channel 8 + j
    const __m512 c1 = _mm512_shuffle_f32x4(v1, v3, 0x88);  // channel 4 + j
    const __m512 c3 = _mm512_shuffle_f32x4(v1, v3, 0xDD);  // channel 12 + j
    if ((size_t)j < nc) _mm512_store_ps(dst + 16 * j, c0);
    if ((size_t)j + 4 < nc) _mm512_store_ps(dst + 16 * (j + 4), c1);
    if ((size_t)j + 8 < nc) _mm512_store_ps(dst + 16 * (j + 8), c2);
    if ((size_t)j + 12 < nc) _mm512_store_ps(dst + 16 * (j + 12), c3);
  }
}

void onexn_f32_pixelvec_gather_16_avx512f(float* xt, const float* input, const float* zero, const ptrdiff_t* ind,
                                          size_t taps, size_t cin, size_t mr) {
  for (size_t t = 0; t < taps; t++) {
    const float* rows[16];
    for (size_t m = 0; m < 16; m++) {
      const ptrdiff_t off = m < mr ? ind[m * taps + t] : -1;
      rows[m] = off < 0 ? zero : input + off;
    }
    float* dst = xt + t * cin * 16;
    __m512 r[16];
    size_t c = 0;
    for (; c + 16 <= cin; c += 16) {
      for (int m = 0; m < 16; m++) r[m] = _mm512_loadu_ps(rows[m] + c);
      transpose_store(r, dst + c * 16, 16);
    }
    if (c < cin) {
      const size_t nc = cin - c;
      const __mmask16 mask = (__mmask16)((1u << nc) - 1u);
      for (int m = 0; m < 16; m++) r[m] = _mm512_maskz_loadu_ps(mask, rows[m] + c);
      transpose_store(r, dst + c * 16, nc);
    }
  }
}
