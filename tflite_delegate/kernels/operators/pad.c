// Constant padding (TFLite's PAD / PADV2: float32 with a zero constant, int8 with the zero point), portable C:
// a copy, so memory-bound, and the networks that use it pad small tensors (ResNet's stem and max pool); it
// runs on the caller.
#include <string.h>

#include "onexn_kernels.h"

typedef struct {
  size_t rank;
  const size_t *in_dims, *before, *after;
  size_t elem;  // bytes per element
  int fill;     // the byte every padding byte gets (float +0.0 is all zero bytes)
} pad_spec;

// Elements per index of dimension d: of the input, and of the output.
static void strides(const pad_spec* p, size_t d, size_t* in, size_t* out) {
  *in = *out = 1;
  for (size_t k = d + 1; k < p->rank; k++) {
    *in *= p->in_dims[k];
    *out *= p->before[k] + p->in_dims[k] + p->after[k];
  }
}

// 1 if no dimension after d is padded: then an index of d is one contiguous block in both tensors.
static int unpadded_after(const pad_spec* p, size_t d) {
  for (size_t k = d + 1; k < p->rank; k++) {
    if (p->before[k] != 0 || p->after[k] != 0) return 0;
  }
  return 1;
}

// Dimension d and those after it, for one index of the dimensions before it: in and out point at the
// first element of that block.
static void pad_dim(const pad_spec* p, size_t d, const char* in, char* out) {
  size_t is, os;
  strides(p, d, &is, &os);
  is *= p->elem;
  os *= p->elem;
  memset(out, p->fill, p->before[d] * os);
  out += p->before[d] * os;
  if (d + 1 == p->rank || unpadded_after(p, d)) {
    memcpy(out, in, p->in_dims[d] * is);  // contiguous: one copy, not one per pixel (ResNet-50's 3-channel stem)
  } else {
    for (size_t i = 0; i < p->in_dims[d]; i++) pad_dim(p, d + 1, in + i * is, out + i * os);
  }
  memset(out + p->in_dims[d] * os, p->fill, p->after[d] * os);
}

void onexn_pad_run(const float* input, float* output, size_t rank, const size_t* in_dims, const size_t* before,
                   const size_t* after) {
  if (input == NULL || output == NULL || rank == 0 || in_dims == NULL || before == NULL || after == NULL) return;
  const pad_spec p = {rank, in_dims, before, after, sizeof(float), 0};
  pad_dim(&p, 0, (const char*)input, (char*)output);
}

void onexn_pad_x8_run(const int8_t* input, int8_t* output, size_t rank, const size_t* in_dims, const size_t* before,
                      const size_t* after, int8_t value) {
  if (input == NULL || output == NULL || rank == 0 || in_dims == NULL || before == NULL || after == NULL) return;
  const pad_spec p = {rank, in_dims, before, after, 1, (unsigned char)value};
  pad_dim(&p, 0, (const char*)input, (char*)output);
}
