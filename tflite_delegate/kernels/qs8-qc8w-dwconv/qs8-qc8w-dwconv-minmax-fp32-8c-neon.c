// NEON int8 depthwise microkernel: 8 channels per iteration, the input in int16 times the int16 weight into
// two int32x4 (smlal, smlal2). As in the x86 kernels the input zero point goes into the tile's starting value
// (zx * sum w, the same int32 wrap-around) and the weights are widened once per chunk of pixels; four pixels
// per tap loop. fp32 requantization (fcvtns rounds half to even), saturating narrows; the channels after the
// last 8 one at a time like the scalar kernel.
#include <arm_neon.h>

#include "common/microkernels.h"
#include "qs8-qc8w-dwconv/qs8-dw-channel.h"

enum {
  kChunk = 16,  // output pixels that reuse one channel tile's widened weights
  kGroup = 25,  // taps whose widened weights are held at once (5x5); wider windows run in groups
};

typedef struct {
  int32x4_t lo, hi;
} acc8;

static inline acc8 madd(acc8 s, const int8_t* x, int16x8_t w) {
  const int16x8_t vx = vmovl_s8(vld1_s8(x));
  s.lo = vmlal_s16(s.lo, vget_low_s16(vx), vget_low_s16(w));
  s.hi = vmlal_high_s16(s.hi, vx, w);
  return s;
}

// Channels [c, c + 8) of pixels [p0, p0 + np).
static void channel_tile(const onexn_qs8_dw_args* a, size_t p0, size_t np, size_t c) {
  const size_t taps = a->taps;
  int32x4_t sum_lo = vdupq_n_s32(0), sum_hi = vdupq_n_s32(0);
  for (size_t t = 0; t < taps; t++) {
    const int16x8_t w = vmovl_s8(vld1_s8(a->w[t] + c));
    sum_lo = vaddw_s16(sum_lo, vget_low_s16(w));
    sum_hi = vaddw_high_s16(sum_hi, w);
  }
  const int32x4_t zx = vdupq_n_s32(a->input_zero_point);
  const acc8 start = {vmlsq_s32(vld1q_s32(a->bias + c), zx, sum_lo), vmlsq_s32(vld1q_s32(a->bias + c + 4), zx, sum_hi)};
  acc8 acc[kChunk];
  for (size_t p = 0; p < np; p++) acc[p] = start;
  int16x8_t wv[kGroup];
  for (size_t t0 = 0; t0 < taps; t0 += kGroup) {
    const size_t nt = taps - t0 < kGroup ? taps - t0 : kGroup;
    for (size_t t = 0; t < nt; t++) wv[t] = vmovl_s8(vld1_s8(a->w[t0 + t] + c));
    const int8_t* const* x = a->x + t0;
    size_t p = 0;
    for (; p + 4 <= np; p += 4) {  // four independent sums share each weight
      const size_t xs = a->x_stride, off = (p0 + p) * xs + c;
      acc8 s0 = acc[p], s1 = acc[p + 1], s2 = acc[p + 2], s3 = acc[p + 3];
      for (size_t t = 0; t < nt; t++) {
        const int8_t* r = x[t] + off;
        s0 = madd(s0, r, wv[t]);
        s1 = madd(s1, r + xs, wv[t]);
        s2 = madd(s2, r + 2 * xs, wv[t]);
        s3 = madd(s3, r + 3 * xs, wv[t]);
      }
      acc[p] = s0;
      acc[p + 1] = s1;
      acc[p + 2] = s2;
      acc[p + 3] = s3;
    }
    for (; p < np; p++) {
      const size_t off = (p0 + p) * a->x_stride + c;
      acc8 s0 = acc[p];
      for (size_t t = 0; t < nt; t++) s0 = madd(s0, x[t] + off, wv[t]);
      acc[p] = s0;
    }
  }
  const int32x4_t ozp = vdupq_n_s32(a->zero_point);
  const float32x4_t lo = vdupq_n_f32(a->lo), hi = vdupq_n_f32(a->hi);
  const float32x4_t scale_lo = vld1q_f32(a->scale + c), scale_hi = vld1q_f32(a->scale + c + 4);
  for (size_t p = 0; p < np; p++) {
    float32x4_t f0 = vmulq_f32(vcvtq_f32_s32(acc[p].lo), scale_lo);
    float32x4_t f1 = vmulq_f32(vcvtq_f32_s32(acc[p].hi), scale_hi);
    f0 = vminq_f32(vmaxq_f32(f0, lo), hi);
    f1 = vminq_f32(vmaxq_f32(f1, lo), hi);
    const int32x4_t q0 = vaddq_s32(vcvtnq_s32_f32(f0), ozp), q1 = vaddq_s32(vcvtnq_s32_f32(f1), ozp);
    vst1_s8(a->out + (p0 + p) * a->channels + c, vqmovn_s16(vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1))));
  }
}

void onexn_qs8_qc8w_dwconv_minmax_fp32_8c_neon(const onexn_qs8_dw_args* a) {
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
