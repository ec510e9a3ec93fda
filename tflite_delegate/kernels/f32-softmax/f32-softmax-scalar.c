// Portable softmax of a row: the max, exp(beta * (x - max)) with libm's expf, and the sum's reciprocal as
// one multiplier (as XNNPACK and TFLite's optimized kernel do). output may be input.
#include <math.h>

#include "common/microkernels.h"

void onexn_f32_softmax_scalar(size_t n, const float* input, float* output, float beta) {
  float max = input[0];
  for (size_t c = 1; c < n; c++) max = input[c] > max ? input[c] : max;
  float sum = 0.0f;
  for (size_t c = 0; c < n; c++) {
    output[c] = expf((input[c] - max) * beta);
    sum += output[c];
  }
  const float scale = 1.0f / sum;
  for (size_t c = 0; c < n; c++) output[c] *= scale;
}
