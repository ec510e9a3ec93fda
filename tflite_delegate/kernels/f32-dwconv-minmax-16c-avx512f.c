// AVX-512 depthwise microkernel: 16 channels per zmm, runs of 8, 4 and 1 output pixels.
// Channel tiles are the outer loop so that one tile's inputs of the few input rows under the output row
// stay in L1 while the pixels stream by; 8 pixels give 8 independent FMA chains sharing each weight load.
// The last tile of a ragged channel count loads and stores under a mask.
#include <immintrin.h>

#include "onexn_internal.h"

#define LOAD(p) (full ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(mask, p))
#define STORE(p, v) (full ? _mm512_storeu_ps(p, v) : _mm512_mask_storeu_ps(p, mask, v))
#define CLAMP(v) _mm512_min_ps(vmax, _mm512_max_ps(vmin, v))

static inline __attribute__((always_inline)) void tile(const onexn_dw_args* a, size_t c, __mmask16 mask,
                                                       const int full) {
  const size_t rows = a->rows, cols = a->cols, pixels = a->pixels;
  const size_t ps = a->in_pixel_stride, rs = a->in_row_stride, cs = a->in_col_stride;
  const size_t wrs = a->w_row_stride, wcs = a->w_col_stride, os = a->out_pixel_stride;
  const __m512 vmin = _mm512_set1_ps(a->min), vmax = _mm512_set1_ps(a->max);
  const __m512 vbias = LOAD(a->bias + c);
  const float* w = a->w + c;
  const float* input = a->input + c;
  float* output = a->out + c;
  // 1 or 2: the run has 3-column windows without dilation and stride 1 or 2 (see below).
  const int slide = cols == 3 && cs == wcs ? (ps == cs ? 1 : ps == 2 * cs ? 2 : 0) : 0;
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
    __m512 acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
    __m512 acc4 = vbias, acc5 = vbias, acc6 = vbias, acc7 = vbias;
    if (slide == 1 || slide == 2) {
      // Complete 3-column windows with dilation 1: each input column is loaded once and feeds every
      // pixel whose window holds it (stride 1: 10 loads for 24 FMAs per tap row; stride 2: 17). The taps
      // of one pixel are still added in row-major order.
      for (size_t r = 0; r < rows; r++) {
        const float* wr = w + r * wrs;
        const __m512 vw0 = LOAD(wr), vw1 = LOAD(wr + wcs), vw2 = LOAD(wr + 2 * wcs);
        const float* ir = in + r * rs;
        __m512 x;
        if (slide == 1) {
          x = LOAD(ir);
          acc0 = _mm512_fmadd_ps(x, vw0, acc0);
          x = LOAD(ir + 1 * cs);
          acc0 = _mm512_fmadd_ps(x, vw1, acc0);
          acc1 = _mm512_fmadd_ps(x, vw0, acc1);
          x = LOAD(ir + 2 * cs);
          acc0 = _mm512_fmadd_ps(x, vw2, acc0);
          acc1 = _mm512_fmadd_ps(x, vw1, acc1);
          acc2 = _mm512_fmadd_ps(x, vw0, acc2);
          x = LOAD(ir + 3 * cs);
          acc1 = _mm512_fmadd_ps(x, vw2, acc1);
          acc2 = _mm512_fmadd_ps(x, vw1, acc2);
          acc3 = _mm512_fmadd_ps(x, vw0, acc3);
          x = LOAD(ir + 4 * cs);
          acc2 = _mm512_fmadd_ps(x, vw2, acc2);
          acc3 = _mm512_fmadd_ps(x, vw1, acc3);
          acc4 = _mm512_fmadd_ps(x, vw0, acc4);
          x = LOAD(ir + 5 * cs);
          acc3 = _mm512_fmadd_ps(x, vw2, acc3);
          acc4 = _mm512_fmadd_ps(x, vw1, acc4);
          acc5 = _mm512_fmadd_ps(x, vw0, acc5);
          x = LOAD(ir + 6 * cs);
          acc4 = _mm512_fmadd_ps(x, vw2, acc4);
          acc5 = _mm512_fmadd_ps(x, vw1, acc5);
          acc6 = _mm512_fmadd_ps(x, vw0, acc6);
          x = LOAD(ir + 7 * cs);
          acc5 = _mm512_fmadd_ps(x, vw2, acc5);
          acc6 = _mm512_fmadd_ps(x, vw1, acc6);
          acc7 = _mm512_fmadd_ps(x, vw0, acc7);
          x = LOAD(ir + 8 * cs);
          acc6 = _mm512_fmadd_ps(x, vw2, acc6);
          acc7 = _mm512_fmadd_ps(x, vw1, acc7);
          x = LOAD(ir + 9 * cs);
          acc7 = _mm512_fmadd_ps(x, vw2, acc7);
        } else {
          x = LOAD(ir);
          acc0 = _mm512_fmadd_ps(x, vw0, acc0);
          x = LOAD(ir + 1 * cs);
          acc0 = _mm512_fmadd_ps(x, vw1, acc0);
          x = LOAD(ir + 2 * cs);
          acc0 = _mm512_fmadd_ps(x, vw2, acc0);
          acc1 = _mm512_fmadd_ps(x, vw0, acc1);
          x = LOAD(ir + 3 * cs);
          acc1 = _mm512_fmadd_ps(x, vw1, acc1);
          x = LOAD(ir + 4 * cs);
          acc1 = _mm512_fmadd_ps(x, vw2, acc1);
          acc2 = _mm512_fmadd_ps(x, vw0, acc2);
          x = LOAD(ir + 5 * cs);
          acc2 = _mm512_fmadd_ps(x, vw1, acc2);
          x = LOAD(ir + 6 * cs);
          acc2 = _mm512_fmadd_ps(x, vw2, acc2);
          acc3 = _mm512_fmadd_ps(x, vw0, acc3);
          x = LOAD(ir + 7 * cs);
          acc3 = _mm512_fmadd_ps(x, vw1, acc3);
          x = LOAD(ir + 8 * cs);
          acc3 = _mm512_fmadd_ps(x, vw2, acc3);
          acc4 = _mm512_fmadd_ps(x, vw0, acc4);
          x = LOAD(ir + 9 * cs);
          acc4 = _mm512_fmadd_ps(x, vw1, acc4);
          x = LOAD(ir + 10 * cs);
          acc4 = _mm512_fmadd_ps(x, vw2, acc4);
          acc5 = _mm512_fmadd_ps(x, vw0, acc5);
          x = LOAD(ir + 11 * cs);
          acc5 = _mm512_fmadd_ps(x, vw1, acc5);
          x = LOAD(ir + 12 * cs);
          acc5 = _mm512_fmadd_ps(x, vw2, acc5);
          acc6 = _mm512_fmadd_ps(x, vw0, acc6);
          x = LOAD(ir + 13 * cs);
          acc6 = _mm512_fmadd_ps(x, vw1, acc6);
          x = LOAD(ir + 14 * cs);
          acc6 = _mm512_fmadd_ps(x, vw2, acc6);
          acc7 = _mm512_fmadd_ps(x, vw0, acc7);
          x = LOAD(ir + 15 * cs);
          acc7 = _mm512_fmadd_ps(x, vw1, acc7);
          x = LOAD(ir + 16 * cs);
          acc7 = _mm512_fmadd_ps(x, vw2, acc7);
        }
      }
    } else {
      for (size_t r = 0; r < rows; r++) {
        const float* wr = w + r * wrs;
        const size_t roff = r * rs;
        for (size_t k = 0; k < cols; k++) {
          const size_t off = roff + k * cs;
          const __m512 vw = LOAD(wr + k * wcs);
          acc0 = _mm512_fmadd_ps(LOAD(i0 + off), vw, acc0);
          acc1 = _mm512_fmadd_ps(LOAD(i1 + off), vw, acc1);
          acc2 = _mm512_fmadd_ps(LOAD(i2 + off), vw, acc2);
          acc3 = _mm512_fmadd_ps(LOAD(i3 + off), vw, acc3);
          acc4 = _mm512_fmadd_ps(LOAD(i4 + off), vw, acc4);
          acc5 = _mm512_fmadd_ps(LOAD(i5 + off), vw, acc5);
          acc6 = _mm512_fmadd_ps(LOAD(i6 + off), vw, acc6);
          acc7 = _mm512_fmadd_ps(LOAD(i7 + off), vw, acc7);
        }
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
    __m512 acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
    for (size_t r = 0; r < rows; r++) {
      const float* wr = w + r * wrs;
      const size_t roff = r * rs;
      for (size_t k = 0; k < cols; k++) {
        const size_t off = roff + k * cs;
        const __m512 vw = LOAD(wr + k * wcs);
        acc0 = _mm512_fmadd_ps(LOAD(i0 + off), vw, acc0);
        acc1 = _mm512_fmadd_ps(LOAD(i1 + off), vw, acc1);
        acc2 = _mm512_fmadd_ps(LOAD(i2 + off), vw, acc2);
        acc3 = _mm512_fmadd_ps(LOAD(i3 + off), vw, acc3);
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
    __m512 acc = vbias;
    for (size_t r = 0; r < rows; r++) {
      const float* wr = w + r * wrs;
      const size_t roff = r * rs;
      for (size_t k = 0; k < cols; k++) {
        acc = _mm512_fmadd_ps(LOAD(in + roff + k * cs), LOAD(wr + k * wcs), acc);
      }
    }
    STORE(out, CLAMP(acc));
  }
}

void onexn_f32_dwconv_minmax_16c_avx512f(const onexn_dw_args* a) {
  const size_t channels = a->channels;
  size_t c = 0;
  for (; c + 16 <= channels; c += 16) tile(a, c, 0xFFFF, 1);
  if (c < channels) tile(a, c, (__mmask16)((1u << (channels - c)) - 1u), 0);
}
