// NEON (ARMv8.0) int8 microkernel: 16 pixels (two runs of 8) x 8 output channels, activations and weights
// widened to int16. smlal by element multiplies four int16 weights by one pixel's activation and adds the
// products to int32 lanes, one kept input channel at a time, read straight from the channel-major tile (no
// interleaving). The activations stay signed (the packed bias subtracts zero point * sum(w)); the sums are
// int32 modulo 2^32 and the requantization is XNNPACK's (vcvtnq rounds half to even).
#include <arm_neon.h>

#include "common/microkernels.h"

// Pixels p0..p0+7 of one panel.
static void pass(const onexn_qs8_args* a, const onexn_panel* pn, size_t p0) {
  const uint32_t* kc = a->kc + pn->kc_off;
  const uint8_t* w = a->w + pn->w_off;
  const int32x4_t vbias0 = vld1q_s32((const int32_t*)w), vbias1 = vld1q_s32((const int32_t*)w + 4);
  const float32x4_t vscale[2] = {vld1q_f32((const float*)w + 8), vld1q_f32((const float*)w + 12)};
  const int16_t* wk = (const int16_t*)(w + 64);
  int32x4_t acc0_0 = vbias0, acc0_1 = vbias1, acc1_0 = vbias0, acc1_1 = vbias1;
  int32x4_t acc2_0 = vbias0, acc2_1 = vbias1, acc3_0 = vbias0, acc3_1 = vbias1;
  int32x4_t acc4_0 = vbias0, acc4_1 = vbias1, acc5_0 = vbias0, acc5_1 = vbias1;
  int32x4_t acc6_0 = vbias0, acc6_1 = vbias1, acc7_0 = vbias0, acc7_1 = vbias1;
  for (size_t t = 0; t < a->taps; t++) {
    const int8_t* rows = (const int8_t*)a->xt + t * a->cin * ONEXN_XT_PIXELS + p0;
    for (size_t k = 0; k < pn->kept; k++) {
      const int16x8_t vx = vmovl_s8(vld1_s8(rows + kc[k] * 16));
      const int16x8_t vw = vld1q_s16(wk);
      const int16x4_t vw_lo = vget_low_s16(vw);
      wk += 8;
      acc0_0 = vmlal_laneq_s16(acc0_0, vw_lo, vx, 0);
      acc0_1 = vmlal_high_laneq_s16(acc0_1, vw, vx, 0);
      acc1_0 = vmlal_laneq_s16(acc1_0, vw_lo, vx, 1);
      acc1_1 = vmlal_high_laneq_s16(acc1_1, vw, vx, 1);
      acc2_0 = vmlal_laneq_s16(acc2_0, vw_lo, vx, 2);
      acc2_1 = vmlal_high_laneq_s16(acc2_1, vw, vx, 2);
      acc3_0 = vmlal_laneq_s16(acc3_0, vw_lo, vx, 3);
      acc3_1 = vmlal_high_laneq_s16(acc3_1, vw, vx, 3);
      acc4_0 = vmlal_laneq_s16(acc4_0, vw_lo, vx, 4);
      acc4_1 = vmlal_high_laneq_s16(acc4_1, vw, vx, 4);
      acc5_0 = vmlal_laneq_s16(acc5_0, vw_lo, vx, 5);
      acc5_1 = vmlal_high_laneq_s16(acc5_1, vw, vx, 5);
      acc6_0 = vmlal_laneq_s16(acc6_0, vw_lo, vx, 6);
      acc6_1 = vmlal_high_laneq_s16(acc6_1, vw, vx, 6);
      acc7_0 = vmlal_laneq_s16(acc7_0, vw_lo, vx, 7);
      acc7_1 = vmlal_high_laneq_s16(acc7_1, vw, vx, 7);
    }
  }
  const float32x4_t vlo = vdupq_n_f32(a->lo), vhi = vdupq_n_f32(a->hi);
  const int32x4_t vzero_point = vdupq_n_s32(a->zero_point);
  const int8x8_t vlo8 = vdup_n_s8((int8_t)((int32_t)a->lo + a->zero_point));
  const int clamp_hi = a->clamp_hi;
  const int32x4_t acc[8][2] = {{acc0_0, acc0_1}, {acc1_0, acc1_1}, {acc2_0, acc2_1}, {acc3_0, acc3_1},
                               {acc4_0, acc4_1}, {acc5_0, acc5_1}, {acc6_0, acc6_1}, {acc7_0, acc7_1}};
  const size_t rows = a->mr > p0 ? a->mr - p0 : 0;
  for (size_t m = 0; m < 8 && m < rows; m++) {
    int16x4_t q16[2];
    for (size_t h = 0; h < 2; h++) {
      float32x4_t f = vmulq_f32(vcvtq_f32_s32(acc[m][h]), vscale[h]);
      // Both bounds in float where a->clamp_hi says so, else the saturating narrowing clamps above and the
      // lower bound waits for the bytes (integer bounds).
      if (clamp_hi) f = vminq_f32(vmaxq_f32(f, vlo), vhi);
      q16[h] = vqmovn_s32(vaddq_s32(vcvtnq_s32_f32(f), vzero_point));
    }
    int8_t* o = a->out + (p0 + m) * a->out_stride + pn->oc;
    const int8x8_t q8 = vmax_s8(vqmovn_s16(vcombine_s16(q16[0], q16[1])), vlo8);
    if (pn->nc == 8) {  // a full panel: one store
      vst1_s8(o, q8);
      continue;
    }
    int8_t tmp[8];
    vst1_s8(tmp, q8);
    for (size_t j = 0; j < pn->nc; j++) o[j] = tmp[j];
  }
}

void onexn_qs8_qc8w_spconv_16x8_neon(const onexn_qs8_args* a) {
  for (size_t i = 0; i < a->num_panels; i++) {
    pass(a, &a->panels[i], 0);
    if (a->mr > 8) pass(a, &a->panels[i], 8);
  }
}
