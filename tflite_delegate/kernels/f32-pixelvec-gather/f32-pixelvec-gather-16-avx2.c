// AVX2 gather of a 16-pixel tile into channel-major order for the pixel-vector microkernels:
// xt[t][c][m] = input row of pixel m at tap t, channel c. Moves 8 channels x 8 pixels at a time with an
// in-register 8x8 transpose; a channel tail uses masked loads.
#include <immintrin.h>

#include "common/microkernels.h"

static const int32_t kMask[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

// Transposes rows r[0..7] (8 channels each) and stores column j (8 pixels) at dst + 16 * j for j < nc.
static void transpose_store(__m256 r[8], float* dst, size_t nc) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // u[4q + j] holds, in 128-bit lane l, channel 4l + j of rows 4q..4q+3.
  for (int q = 0; q < 2; q++) {
    u[4 * q + 0] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0x44);
    u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], 0xEE);
    u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0x44);
    u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], 0xEE);
  }
  for (int j = 0; j < 4; j++) {
    const __m256 c0 = _mm256_permute2f128_ps(u[j], u[4 + j], 0x20);  // channel j
    const __m256 c1 = _mm256_permute2f128_ps(u[j], u[4 + j], 0x31);  // channel 4 + j
    if ((size_t)j < nc) _mm256_store_ps(dst + 16 * j, c0);
    if ((size_t)j + 4 < nc) _mm256_store_ps(dst + 16 * (j + 4), c1);
  }
}

void onexn_f32_pixelvec_gather_16_avx2(float* xt, const float* input, const float* zero, const ptrdiff_t* ind,
                                       size_t taps, size_t cin, size_t mr) {
  for (size_t t = 0; t < taps; t++) {
    const float* rows[16];
    for (size_t m = 0; m < 16; m++) {
      const ptrdiff_t off = m < mr ? ind[m * taps + t] : -1;
      rows[m] = off < 0 ? zero : input + off;
    }
    float* dst = xt + t * cin * 16;
    __m256 r[8];
    size_t c = 0;
    for (; c + 8 <= cin; c += 8) {
      for (int h = 0; h < 2; h++) {
        for (int m = 0; m < 8; m++) r[m] = _mm256_loadu_ps(rows[8 * h + m] + c);
        transpose_store(r, dst + c * 16 + 8 * h, 8);
      }
    }
    if (c < cin) {
      const size_t nc = cin - c;
      const __m256i mask = _mm256_loadu_si256((const __m256i*)(kMask + 8 - nc));
      for (int h = 0; h < 2; h++) {
        for (int m = 0; m < 8; m++) r[m] = _mm256_maskload_ps(rows[8 * h + m] + c, mask);
        transpose_store(r, dst + c * 16 + 8 * h, nc);
      }
    }
  }
}
