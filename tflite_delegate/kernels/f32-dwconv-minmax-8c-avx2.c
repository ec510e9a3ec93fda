// AVX2 + FMA3 depthwise microkernel: 8 channels per ymm, runs of 8, 4 and 1 output pixels.
// Channel tiles are the outer loop so that one tile's inputs of the few input rows under the output row
// stay in L1 while the pixels stream by; 8 pixels give 8 independent FMA chains sharing each weight load.
// The last tile of a ragged channel count uses maskload/maskstore (masked lanes are never touched).
#include <immintrin.h>

#include "onexn_internal.h"

#define LOAD(p) (full ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mask))
#define STORE(p, v) (full ? _mm256_storeu_ps(p, v) : _mm256_maskstore_ps(p, mask, v))
#define CLAMP(v) _mm256_min_ps(vmax, _mm256_max_ps(vmin, v))

static inline __attribute__((always_inline)) void tile(const onexn_dw_args* a, size_t c, __m256i mask,
                                                       const int full) {
  const size_t rows = a->rows, cols = a->cols, pixels = a->pixels;
  const size_t ps = a->in_pixel_stride, rs = a->in_row_stride, cs = a->in_col_stride;
  const size_t wrs = a->w_row_stride, wcs = a->w_col_stride, os = a->out_pixel_stride;
  const __m256 vmin = _mm256_set1_ps(a->min), vmax = _mm256_set1_ps(a->max);
  const __m256 vbias = LOAD(a->bias + c);
  const float* w = a->w + c;
  const float* input = a->input + c;
  float* output = a->out + c;
  size_t p = 0;
  for (; p + 8 <= pixels; p += 8) {
    const float* in = input + p * ps;
    float* out = output + p * os;
    const float* i0 = in;
    const float* i1 = in + ps;
    const float* i2 = in + 2 * ps;
    const float* i3 = in + 3 * ps;
    const float* i4 = in + 4 * ps;
    const float* i5 = in + 5 * ps;
    const float* i6 = in + 6 * ps;
    const float* i7 = in + 7 * ps;
    __m256 acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
    __m256 acc4 = vbias, acc5 = vbias, acc6 = vbias, acc7 = vbias;
    for (size_t r = 0; r < rows; r++) {
      const float* wr = w + r * wrs;
      const size_t roff = r * rs;
      for (size_t k = 0; k < cols; k++) {
        const size_t off = roff + k * cs;
        const __m256 vw = LOAD(wr + k * wcs);
        acc0 = _mm256_fmadd_ps(LOAD(i0 + off), vw, acc0);
        acc1 = _mm256_fmadd_ps(LOAD(i1 + off), vw, acc1);
        acc2 = _mm256_fmadd_ps(LOAD(i2 + off), vw, acc2);
        acc3 = _mm256_fmadd_ps(LOAD(i3 + off), vw, acc3);
        acc4 = _mm256_fmadd_ps(LOAD(i4 + off), vw, acc4);
        acc5 = _mm256_fmadd_ps(LOAD(i5 + off), vw, acc5);
        acc6 = _mm256_fmadd_ps(LOAD(i6 + off), vw, acc6);
        acc7 = _mm256_fmadd_ps(LOAD(i7 + off), vw, acc7);
      }
    }
    STORE(out, CLAMP(acc0));
    STORE(out + os, CLAMP(acc1));
    STORE(out + 2 * os, CLAMP(acc2));
    STORE(out + 3 * os, CLAMP(acc3));
    STORE(out + 4 * os, CLAMP(acc4));
    STORE(out + 5 * os, CLAMP(acc5));
    STORE(out + 6 * os, CLAMP(acc6));
    STORE(out + 7 * os, CLAMP(acc7));
  }
  if (p + 4 <= pixels) {
    const float* in = input + p * ps;
    float* out = output + p * os;
    const float* i0 = in;
    const float* i1 = in + ps;
    const float* i2 = in + 2 * ps;
    const float* i3 = in + 3 * ps;
    __m256 acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
    for (size_t r = 0; r < rows; r++) {
      const float* wr = w + r * wrs;
      const size_t roff = r * rs;
      for (size_t k = 0; k < cols; k++) {
        const size_t off = roff + k * cs;
        const __m256 vw = LOAD(wr + k * wcs);
        acc0 = _mm256_fmadd_ps(LOAD(i0 + off), vw, acc0);
        acc1 = _mm256_fmadd_ps(LOAD(i1 + off), vw, acc1);
        acc2 = _mm256_fmadd_ps(LOAD(i2 + off), vw, acc2);
        acc3 = _mm256_fmadd_ps(LOAD(i3 + off), vw, acc3);
      }
    }
    STORE(out, CLAMP(acc0));
    STORE(out + os, CLAMP(acc1));
    STORE(out + 2 * os, CLAMP(acc2));
    STORE(out + 3 * os, CLAMP(acc3));
    p += 4;
  }
  for (; p < pixels; p++) {
    const float* in = input + p * ps;
    float* out = output + p * os;
    __m256 acc = vbias;
    for (size_t r = 0; r < rows; r++) {
      const float* wr = w + r * wrs;
      const size_t roff = r * rs;
      for (size_t k = 0; k < cols; k++) {
        acc = _mm256_fmadd_ps(LOAD(in + roff + k * cs), LOAD(wr + k * wcs), acc);
      }
    }
    STORE(out, CLAMP(acc));
  }
}

void onexn_f32_dwconv_minmax_8c_avx2(const onexn_dw_args* a) {
  const size_t channels = a->channels;
  size_t c = 0;
  for (; c + 8 <= channels; c += 8) tile(a, c, _mm256_set1_epi32(-1), 1);
  if (c < channels) {
    // Lane j is active when j < channels - c.
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    tile(a, c, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(channels - c)), lanes), 0);
  }
}
