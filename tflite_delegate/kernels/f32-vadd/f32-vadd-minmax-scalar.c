// Portable elementwise add with clamp; out may be a or b.
#include "common/microkernels.h"

void onexn_f32_vadd_minmax_scalar(size_t n, const float* a, const float* b, float* out, float min, float max) {
  for (size_t i = 0; i < n; i++) {
    float s = a[i] + b[i];
    s = s < min ? min : s;  // comparisons with NaN are false: NaN passes through
    out[i] = s > max ? max : s;
  }
}
