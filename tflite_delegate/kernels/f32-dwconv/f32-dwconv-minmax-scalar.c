// Portable depthwise microkernel: one output pixel at a time, taps in row-major order per channel.
#include "common/microkernels.h"

void onexn_f32_dwconv_minmax_scalar(const onexn_dw_args* a) {
  for (size_t p = 0; p < a->pixels; p++) {
    const float* in = a->input + p * a->in_pixel_stride;
    float* out = a->out + p * a->out_pixel_stride;
    for (size_t c = 0; c < a->channels; c++) {
      float acc = a->bias[c];
      for (size_t r = 0; r < a->rows; r++) {
        const float* ir = in + r * a->in_row_stride + c;
        const float* wr = a->w + r * a->w_row_stride + c;
        for (size_t k = 0; k < a->cols; k++) acc += ir[k * a->in_col_stride] * wr[k * a->w_col_stride];
      }
      // Comparisons with NaN are false: a NaN passes through, like TFLite's min(max(x, lo), hi).
      acc = acc < a->min ? a->min : acc;
      acc = acc > a->max ? a->max : acc;
      out[c] = acc;
    }
  }
}
