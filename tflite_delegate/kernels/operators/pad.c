// Zero padding (TFLite's PAD / PADV2 with a zero constant), portable C: a copy, so memory-bound, and the
// networks that use it pad small tensors (ResNet's stem and max pool); it runs on the caller.
#include <string.h>

#include "onexn_kernels.h"

typedef struct {
  size_t rank;
  const size_t *in_dims, *before, *after;
} pad_spec;

// Elements per index of dimension d: of the input, and of the output.
static void strides(const pad_spec* p, size_t d, size_t* in, size_t* out) {
  *in = *out = 1;
  for (size_t k = d + 1; k < p->rank; k++) {
    *in *= p->in_dims[k];
    *out *= p->before[k] + p->in_dims[k] + p->after[k];
  }
}

// Dimension d and those after it, for one index of the dimensions before it: in and out point at the
// first element of that block.
static void pad_dim(const pad_spec* p, size_t d, const float* in, float* out) {
  size_t is, os;
  strides(p, d, &is, &os);
  memset(out, 0, p->before[d] * os * sizeof(float));
  out += p->before[d] * os;
  if (d + 1 == p->rank) {
    memcpy(out, in, p->in_dims[d] * sizeof(float));
  } else {
    for (size_t i = 0; i < p->in_dims[d]; i++) pad_dim(p, d + 1, in + i * is, out + i * os);
  }
  memset(out + p->in_dims[d] * os, 0, p->after[d] * os * sizeof(float));
}

void onexn_pad_run(const float* input, float* output, size_t rank, const size_t* in_dims, const size_t* before,
                   const size_t* after) {
  if (input == NULL || output == NULL || rank == 0 || in_dims == NULL || before == NULL || after == NULL) return;
  const pad_spec p = {rank, in_dims, before, after};
  pad_dim(&p, 0, input, output);
}
