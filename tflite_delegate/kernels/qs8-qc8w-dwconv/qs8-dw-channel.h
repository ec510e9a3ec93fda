// One channel of an int8 depthwise output pixel: the scalar reference's arithmetic, which the SIMD kernels
// also use for the channels after their last full vector.
#ifndef ONEXN_QS8_QC8W_DWCONV_QS8_DW_CHANNEL_H_
#define ONEXN_QS8_QC8W_DWCONV_QS8_DW_CHANNEL_H_

#include <math.h>

#include "common/microkernels.h"

// Channel c of the pixel whose input is `off` bytes after the taps' pointers, into out[c]. Sums in uint32: the
// int32 sum modulo 2^32, as the SIMD kernels and XNNPACK wrap, without C's signed overflow.
static inline void onexn_qs8_dw_channel(const onexn_qs8_dw_args* a, size_t off, size_t c, int8_t* out) {
  uint32_t acc = (uint32_t)a->bias[c];
  for (size_t t = 0; t < a->taps; t++) {
    acc += (uint32_t)(((int32_t)a->x[t][off + c] - a->input_zero_point) * (int32_t)a->w[t][c]);
  }
  float f = (float)(int32_t)acc * a->scale[c];
  f = f < a->lo ? a->lo : f;
  f = f > a->hi ? a->hi : f;
  out[c] = (int8_t)((int32_t)lrintf(f) + a->zero_point);
}

#endif  // ONEXN_QS8_QC8W_DWCONV_QS8_DW_CHANNEL_H_
