// onexn_maxpool_x8: max pooling on int8, the int8 glue in front of ResNet's first block. A max of int8 values
// needs no rescaling, so it is exact; portable C over whole pixels of channels, which the compiler vectorizes.
#include "onexn_kernels.h"
#include "operators/operators.h"
#include "operators/qs8-requant.h"

void onexn_maxpool_x8_run(const onexn_pool_shape* s, float scale, int32_t zero_point, const int8_t* input,
                          int8_t* output) {
  if (s == NULL || input == NULL || output == NULL) return;
  const int8_t qmin = (int8_t)onexn_qs8_quantize(s->out_min, scale, zero_point);
  const int8_t qmax = (int8_t)onexn_qs8_quantize(s->out_max, scale, zero_point);
  const size_t C = (size_t)s->channels;
  for (size_t n = 0; n < (size_t)s->batch; n++) {
    const int8_t* image = input + n * (size_t)s->in_h * (size_t)s->in_w * C;
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
      const onexn_tap_range rr = onexn_axis_taps(oy, s->stride_h, s->pad_top, 1, s->kh, s->in_h);
      for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
        const onexn_tap_range cr = onexn_axis_taps(ox, s->stride_w, s->pad_left, 1, s->kw, s->in_w);
        int8_t* out = output + ((n * (size_t)s->out_h + (size_t)oy) * (size_t)s->out_w + (size_t)ox) * C;
        for (size_t c = 0; c < C; c++) out[c] = qmin;  // a window always has a valid tap (onexn_pool_shape)
        for (uint32_t ky = rr.first; ky < rr.first + rr.count; ky++) {
          const size_t iy = (size_t)(oy * s->stride_h - s->pad_top + (ptrdiff_t)ky);
          for (uint32_t kx = cr.first; kx < cr.first + cr.count; kx++) {
            const size_t ix = (size_t)(ox * s->stride_w - s->pad_left + (ptrdiff_t)kx);
            const int8_t* x = image + (iy * (size_t)s->in_w + ix) * C;
            for (size_t c = 0; c < C; c++) out[c] = x[c] > out[c] ? x[c] : out[c];
          }
        }
        for (size_t c = 0; c < C; c++) out[c] = out[c] > qmax ? qmax : out[c];
      }
    }
  }
}
