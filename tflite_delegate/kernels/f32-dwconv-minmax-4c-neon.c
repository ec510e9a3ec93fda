// NEON depthwise microkernel: 4 channels per q register, runs of 8, 4 and 1 output pixels.
// Channel tiles are the outer loop (see the AVX-512 kernel). The last 1-3 channels go through a
// zero-padded copy of their lanes, so nothing outside the tensors is read or written.
#include <arm_neon.h>

#include "onexn_internal.h"

static inline float32x4_t load_part(const float* p, size_t n) {
  float32x4_t v = vdupq_n_f32(0.0f);
  v = vld1q_lane_f32(p, v, 0);
  if (n > 1) v = vld1q_lane_f32(p + 1, v, 1);
  if (n > 2) v = vld1q_lane_f32(p + 2, v, 2);
  return v;
}

static inline void store_part(float* p, float32x4_t v, size_t n) {
  vst1q_lane_f32(p, v, 0);
  if (n > 1) vst1q_lane_f32(p + 1, v, 1);
  if (n > 2) vst1q_lane_f32(p + 2, v, 2);
}

#define LOAD(p) (full ? vld1q_f32(p) : load_part(p, nc))
#define STORE(p, v) (full ? vst1q_f32(p, v) : store_part(p, v, nc))
#define CLAMP(v) vminq_f32(vmax, vmaxq_f32(vmin, v))

static inline __attribute__((always_inline)) void tile(const onexn_dw_args* a, size_t c, size_t nc,
                                                       const int full) {
  const size_t rows = a->rows, cols = a->cols, pixels = a->pixels;
  const size_t ps = a->in_pixel_stride, rs = a->in_row_stride, cs = a->in_col_stride;
  const size_t wrs = a->w_row_stride, wcs = a->w_col_stride, os = a->out_pixel_stride;
  const float32x4_t vmin = vdupq_n_f32(a->min), vmax = vdupq_n_f32(a->max);
  const float32x4_t vbias = LOAD(a->bias + c);
  const float* w = a->w + c;
  const float* input = a->input + c;
  float* output = a->out + c;
  size_t p = 0;
  for (; p + 8 <= pixels; p += 8) {
    const float* in = input + p * ps;
    float* out = output + p * os;
    float32x4_t acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
    float32x4_t acc4 = vbias, acc5 = vbias, acc6 = vbias, acc7 = vbias;
    for (size_t r = 0; r < rows; r++) {
      const float* wr = w + r * wrs;
      const float* ir = in + r * rs;
      for (size_t k = 0; k < cols; k++) {
        const float* ik = ir + k * cs;
        const float32x4_t vw = LOAD(wr + k * wcs);
        acc0 = vfmaq_f32(acc0, LOAD(ik), vw);
        acc1 = vfmaq_f32(acc1, LOAD(ik + ps), vw);
        acc2 = vfmaq_f32(acc2, LOAD(ik + 2 * ps), vw);
        acc3 = vfmaq_f32(acc3, LOAD(ik + 3 * ps), vw);
        acc4 = vfmaq_f32(acc4, LOAD(ik + 4 * ps), vw);
        acc5 = vfmaq_f32(acc5, LOAD(ik + 5 * ps), vw);
        acc6 = vfmaq_f32(acc6, LOAD(ik + 6 * ps), vw);
        acc7 = vfmaq_f32(acc7, LOAD(ik + 7 * ps), vw);
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
    float32x4_t acc0 = vbias, acc1 = vbias, acc2 = vbias, acc3 = vbias;
    for (size_t r = 0; r < rows; r++) {
      const float* wr = w + r * wrs;
      const float* ir = in + r * rs;
      for (size_t k = 0; k < cols; k++) {
        const float* ik = ir + k * cs;
        const float32x4_t vw = LOAD(wr + k * wcs);
        acc0 = vfmaq_f32(acc0, LOAD(ik), vw);
        acc1 = vfmaq_f32(acc1, LOAD(ik + ps), vw);
        acc2 = vfmaq_f32(acc2, LOAD(ik + 2 * ps), vw);
        acc3 = vfmaq_f32(acc3, LOAD(ik + 3 * ps), vw);
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
    float32x4_t acc = vbias;
    for (size_t r = 0; r < rows; r++) {
      for (size_t k = 0; k < cols; k++) {
        acc = vfmaq_f32(acc, LOAD(in + r * rs + k * cs), LOAD(w + r * wrs + k * wcs));
      }
    }
    STORE(output + p * os, CLAMP(acc));
  }
}

void onexn_f32_dwconv_minmax_4c_neon(const onexn_dw_args* a) {
  const size_t channels = a->channels;
  size_t c = 0;
  for (; c + 4 <= channels; c += 4) tile(a, c, 4, 1);
  if (c < channels) tile(a, c, channels - c, 0);
}
