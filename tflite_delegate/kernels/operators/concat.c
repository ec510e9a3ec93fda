// Concatenation along one axis (TFLite's CONCATENATION), portable C: for every index of the dimensions
// before the axis, each input's block of sizes[i] * inner contiguous floats in turn. A copy, memory-bound;
// it runs on the caller.
#include <math.h>
#include <string.h>

#include "onexn_kernels.h"

void onexn_concat_run(size_t count, const float* const* inputs, const size_t* sizes, size_t outer, size_t inner,
                      float* output, float out_min, float out_max) {
  if (inputs == NULL || sizes == NULL || output == NULL) return;
  const int clamp = out_min > -INFINITY || out_max < INFINITY;
  float* out = output;
  for (size_t o = 0; o < outer; o++) {
    for (size_t i = 0; i < count; i++) {
      const size_t n = sizes[i] * inner;
      if (n == 0) continue;
      const float* in = inputs[i] + o * n;
      if (!clamp) {
        memcpy(out, in, n * sizeof(float));
      } else {
        for (size_t k = 0; k < n; k++) {
          const float v = in[k] < out_min ? out_min : in[k];  // comparisons with NaN are false: NaN passes
          out[k] = v > out_max ? out_max : v;
        }
      }
      out += n;
    }
  }
}
