// Softmax over the last axis (TFLite's SOFTMAX), portable C: per row the max, exp(beta * (x - max)) with
// libm's expf, and the sum's reciprocal as one multiplier (as XNNPACK and TFLite's optimized kernel do).
// Networks apply it once, to the classifier's output; it runs on the caller.
#include <math.h>

#include "onexn_kernels.h"

void onexn_softmax_run(const float* input, float* output, size_t rows, size_t channels, float beta) {
  if (input == NULL || output == NULL || channels == 0) return;
  for (size_t r = 0; r < rows; r++) {
    const float* in = input + r * channels;
    float* out = output + r * channels;
    float max = in[0];
    for (size_t c = 1; c < channels; c++) max = in[c] > max ? in[c] : max;
    float sum = 0.0f;
    for (size_t c = 0; c < channels; c++) {
      out[c] = expf((in[c] - max) * beta);
      sum += out[c];
    }
    const float scale = 1.0f / sum;
    for (size_t c = 0; c < channels; c++) out[c] *= scale;
  }
}
