// Global average pooling (TFLite MEAN over the height and width axes of an NHWC tensor), portable C.
// A small operator at the end of a network; taking it lets the classifier after it join the delegate's
// partition. Fixed-width channel blocks let the compiler vectorize the sums at -O2.
#include "onexn_kernels.h"

#define BLOCK 16

void onexn_gavgpool_run(const float* input, float* output, size_t batch, size_t pixels, size_t channels) {
  if (input == NULL || output == NULL || pixels == 0) return;
  const float scale = 1.0f / (float)pixels;
  for (size_t b = 0; b < batch; b++) {
    const float* in = input + b * pixels * channels;
    float* out = output + b * channels;
    size_t c = 0;
    for (; c + BLOCK <= channels; c += BLOCK) {
      float acc[BLOCK] = {0};
      for (size_t p = 0; p < pixels; p++) {
        const float* row = in + p * channels + c;
        for (size_t j = 0; j < BLOCK; j++) acc[j] += row[j];
      }
      for (size_t j = 0; j < BLOCK; j++) out[c + j] = acc[j] * scale;
    }
    for (; c < channels; c++) {
      float acc = 0.0f;
      for (size_t p = 0; p < pixels; p++) acc += in[p * channels + c];
      out[c] = acc * scale;
    }
  }
}
