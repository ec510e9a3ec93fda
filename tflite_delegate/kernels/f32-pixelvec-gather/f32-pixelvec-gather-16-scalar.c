// Portable gather of a 16-pixel tile into channel-major order for the transposed (pixel-vector)
// microkernels: xt[t][c][m] = input row of pixel m at tap t, channel c.
#include "common/microkernels.h"

void onexn_f32_pixelvec_gather_16_scalar(float* xt, const float* input, const float* zero, const ptrdiff_t* ind,
                                   size_t taps, size_t cin, size_t mr) {
  for (size_t t = 0; t < taps; t++) {
    float* dst = xt + t * cin * ONEXN_XT_PIXELS;
    for (size_t m = 0; m < ONEXN_XT_PIXELS; m++) {
      const ptrdiff_t off = m < mr ? ind[m * taps + t] : -1;
      const float* row = off < 0 ? zero : input + off;
      for (size_t c = 0; c < cin; c++) dst[c * ONEXN_XT_PIXELS + m] = row[c];
    }
  }
}
