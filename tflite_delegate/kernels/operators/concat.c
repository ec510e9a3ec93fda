// Concatenation along one axis (TFLite's CONCATENATION), portable C: for every index of the dimensions
// before the axis, each input's block of sizes[i] * inner contiguous floats in turn. A copy, memory-bound;
// it runs on the caller.
#include <string.h>

#include "onexn_kernels.h"

void onexn_concat_run(size_t count, const float* const* inputs, const size_t* sizes, size_t outer, size_t inner,
                      float* output) {
  if (inputs == NULL || sizes == NULL || output == NULL) return;
  float* out = output;
  for (size_t o = 0; o < outer; o++) {
    for (size_t i = 0; i < count; i++) {
      const size_t n = sizes[i] * inner;
      if (n != 0) memcpy(out, inputs[i] + o * n, n * sizeof(float));
      out += n;
    }
  }
}
