// onexn_qgavgpool: global average pooling on int8 (TFLite's MEAN over height and width). Exact int32 sums,
// then one fp32 multiply and round half to even, as XNNPACK's qs8 reduce finishes a mean.
#include <limits.h>

#include "common/common.h"
#include "onexn_kernels.h"
#include "operators/qs8-requant.h"

// Channels summed at once. A whole block runs loops of constant length into int16 partial sums over at
// most 256 pixels (|sum| <= 128 * 256 fits), which the compiler vectorizes with the sums in registers: a
// loop over nc channels into int32 stayed scalar (MobileNetV2's 7x7x1280: 0.031 ms, XNNPACK 0.004).
#define BLOCK 64
#define PART_PIXELS 256

int onexn_qgavgpool_init(onexn_qgavgpool_params* p, float in_scale, int32_t in_zero_point, float out_scale,
                         int32_t out_zero_point, size_t pixels, char* err, size_t err_len) {
  if (!onexn_qs8_positive_normal(in_scale) || !onexn_qs8_positive_normal(out_scale)) {
    onexn_set_err(err, err_len, "onexn_qgavgpool_init: scales %g and %g must be positive normal numbers",
                  (double)in_scale, (double)out_scale);
    return -1;
  }
  if (!onexn_qs8_zero_point_ok(in_zero_point) || !onexn_qs8_zero_point_ok(out_zero_point)) {
    onexn_set_err(err, err_len, "onexn_qgavgpool_init: zero points %d and %d must be in -128..127",
                  (int)in_zero_point, (int)out_zero_point);
    return -1;
  }
  // Each sum of (x - zero point) lies within pixels * 255 in magnitude.
  if (pixels == 0 || pixels > (size_t)INT32_MAX / 256) {
    onexn_set_err(err, err_len, "onexn_qgavgpool_init: %zu pixels (1 to %d are taken)", pixels, INT32_MAX / 256);
    return -1;
  }
  p->scale = in_scale / out_scale / (float)pixels;
  p->bias = -(int32_t)pixels * in_zero_point;
  p->zero_point = out_zero_point;
  p->pixels = pixels;
  return 0;
}

void onexn_qgavgpool_run(const onexn_qgavgpool_params* p, const int8_t* input, int8_t* output, size_t batch,
                         size_t channels) {
  if (p == NULL || input == NULL || output == NULL) return;
  const float lo = (float)(-128 - p->zero_point), hi = (float)(127 - p->zero_point);
  for (size_t n = 0; n < batch; n++) {
    const int8_t* in = input + n * p->pixels * channels;
    int8_t* out = output + n * channels;
    for (size_t c0 = 0; c0 < channels; c0 += BLOCK) {
      const size_t nc = channels - c0 < BLOCK ? channels - c0 : BLOCK;
      int32_t acc[BLOCK];
      for (size_t j = 0; j < BLOCK; j++) acc[j] = p->bias;
      if (nc == BLOCK) {
        for (size_t q0 = 0; q0 < p->pixels; q0 += PART_PIXELS) {
          const size_t nq = p->pixels - q0 < PART_PIXELS ? p->pixels - q0 : PART_PIXELS;
          int16_t part[BLOCK] = {0};
          for (size_t q = q0; q < q0 + nq; q++) {
            const int8_t* row = in + q * channels + c0;
            for (size_t j = 0; j < BLOCK; j++) part[j] = (int16_t)(part[j] + row[j]);
          }
          for (size_t j = 0; j < BLOCK; j++) acc[j] += part[j];
        }
      } else {
        for (size_t q = 0; q < p->pixels; q++) {
          const int8_t* row = in + q * channels + c0;
          for (size_t j = 0; j < nc; j++) acc[j] += row[j];
        }
      }
      for (size_t j = 0; j < nc; j++) out[c0 + j] = onexn_qs8_requantize(acc[j], p->scale, lo, hi, p->zero_point);
    }
  }
}
