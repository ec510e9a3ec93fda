// NEON int8 depthwise microkernel: 8 channels per iteration, (x - zero point) in int16 times the int16 weight
// into two int32x4 (smlal, smlal2), fp32 requantization (fcvtns rounds half to even), saturating narrows;
// the last channels one at a time like the scalar kernel.
#include <arm_neon.h>

#include "common/microkernels.h"
#include "qs8-qc8w-dwconv/qs8-dw-channel.h"

void onexn_qs8_qc8w_dwconv_minmax_fp32_8c_neon(const onexn_qs8_dw_args* a) {
  const int16x8_t izp = vdupq_n_s16((int16_t)a->input_zero_point);
  const int32x4_t ozp = vdupq_n_s32(a->zero_point);
  const float32x4_t lo = vdupq_n_f32(a->lo), hi = vdupq_n_f32(a->hi);
  for (size_t p = 0; p < a->pixels; p++) {
    const size_t off = p * a->x_stride;
    int8_t* out = a->out + p * a->channels;
    size_t c = 0;
    for (; c + 8 <= a->channels; c += 8) {
      int32x4_t acc0 = vld1q_s32(a->bias + c), acc1 = vld1q_s32(a->bias + c + 4);
      for (size_t t = 0; t < a->taps; t++) {
        const int16x8_t vx = vsubq_s16(vmovl_s8(vld1_s8(a->x[t] + off + c)), izp);
        const int16x8_t vw = vmovl_s8(vld1_s8(a->w[t] + c));
        acc0 = vmlal_s16(acc0, vget_low_s16(vx), vget_low_s16(vw));
        acc1 = vmlal_high_s16(acc1, vx, vw);
      }
      float32x4_t f0 = vmulq_f32(vcvtq_f32_s32(acc0), vld1q_f32(a->scale + c));
      float32x4_t f1 = vmulq_f32(vcvtq_f32_s32(acc1), vld1q_f32(a->scale + c + 4));
      f0 = vminq_f32(vmaxq_f32(f0, lo), hi);
      f1 = vminq_f32(vmaxq_f32(f1, lo), hi);
      const int32x4_t q0 = vaddq_s32(vcvtnq_s32_f32(f0), ozp), q1 = vaddq_s32(vcvtnq_s32_f32(f1), ozp);
      vst1_s8(out + c, vqmovn_s16(vcombine_s16(vqmovn_s32(q0), vqmovn_s32(q1))));
    }
    for (; c < a->channels; c++) onexn_qs8_dw_channel(a, off, c, out);
  }
}
