// Portable int8 microkernel and the reference of the family: 16 pixels x up to 8 output channels, one kept
// input channel at a time, read straight from the channel-major tile. Accumulates in uint32 (the int32 sum
// modulo 2^32, as the SIMD kernels wrap, without C's signed overflow).
#include <math.h>

#include "common/microkernels.h"

#define NR 8

void onexn_qs8_qc8w_spconv_16x8_scalar(const onexn_qs8_args* a) {
  for (size_t i = 0; i < a->num_panels; i++) {
    const onexn_panel* pn = &a->panels[i];
    const uint32_t* kc = a->kc + pn->kc_off;
    const int32_t* bias = (const int32_t*)(a->w + pn->w_off);
    const float* scale = (const float*)(bias + NR);
    const int8_t* w0 = (const int8_t*)(scale + NR);
    for (size_t m = 0; m < a->mr; m++) {
      uint32_t acc[NR];
      for (size_t j = 0; j < NR; j++) acc[j] = (uint32_t)bias[j];
      const int8_t* w = w0;
      for (size_t t = 0; t < a->taps; t++) {
        for (size_t k = 0; k < pn->kept; k++) {
          const int32_t x = (int8_t)a->xt[(t * a->cin + kc[k]) * ONEXN_XT_PIXELS + m];
          for (size_t j = 0; j < NR; j++) acc[j] += (uint32_t)(x * (int32_t)w[j]);
          w += NR;
        }
      }
      int8_t* out = a->out + m * a->out_stride + pn->oc;
      for (size_t j = 0; j < pn->nc; j++) {
        // XNNPACK's fp32 requantization: one float multiply, clamp, round half to even, add the zero point.
        float f = (float)(int32_t)acc[j] * scale[j];
        f = f < a->lo ? a->lo : f;
        f = f > a->hi ? a->hi : f;
        out[j] = (int8_t)((int32_t)lrintf(f) + a->zero_point);
      }
    }
  }
}
