// Portable gather of a 16-pixel int8 tile into channel-major order: xt[t][c][m] = input row of pixel m at
// tap t, channel c, xor flip.
#include "common/microkernels.h"

void onexn_x8_pixelvec_gather_16_scalar(uint8_t* xt, const int8_t* input, const int8_t* zero, const ptrdiff_t* ind,
                                        size_t taps, size_t cin, size_t mr, uint8_t flip) {
  for (size_t t = 0; t < taps; t++) {
    for (size_t m = 0; m < ONEXN_XT_PIXELS; m++) {
      const ptrdiff_t off = m < mr ? ind[m * taps + t] : -1;
      const int8_t* row = off < 0 ? zero : input + off;
      for (size_t c = 0; c < cin; c++) xt[(t * cin + c) * ONEXN_XT_PIXELS + m] = (uint8_t)row[c] ^ flip;
    }
  }
}
