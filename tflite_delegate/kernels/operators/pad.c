// Constant padding (TFLite's PAD / PADV2: float32 with a zero constant, int8 with the zero point), portable C:
// a copy, so memory-bound. Large tensors are split over the pool by their first dimension longer than 1 (an
// image's rows), in contiguous shares: each thread then writes about the rows the next layer's thread reads,
// and reads about those the layer before wrote on its core (ResNet-50's stem and max-pool pads on the caller
// alone read half their input from the other core and cost more at 2 threads than at 1).
#include <string.h>

#include "common/threadpool.h"
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

static size_t out_dim(const pad_spec* p, size_t d) { return p->before[d] + p->in_dims[d] + p->after[d]; }

// 1 if no dimension after d is padded: then an index of d is one contiguous block in both tensors.
static int unpadded_after(const pad_spec* p, size_t d) {
  for (size_t k = d + 1; k < p->rank; k++) {
    if (p->before[k] != 0 || p->after[k] != 0) return 0;
  }
  return 1;
}

// Output indices [j0, j1) of dimension d and everything after them, for one index of the dimensions before
// it: in and out point at the first element of that index's block in each tensor.
static void pad_range(const pad_spec* p, size_t d, size_t j0, size_t j1, const char* in, char* out) {
  size_t is, os;
  strides(p, d, &is, &os);
  is *= p->elem;
  os *= p->elem;
  const size_t b = p->before[d], e = b + p->in_dims[d];  // output indices [b, e) hold the input
  const size_t c0 = j0 > b ? j0 : b, c1 = j1 < e ? j1 : e;
  if (c0 >= c1) {
    memset(out + j0 * os, p->fill, (j1 - j0) * os);
    return;
  }
  memset(out + j0 * os, p->fill, (c0 - j0) * os);
  if (d + 1 == p->rank || unpadded_after(p, d)) {
    memcpy(out + c0 * os, in + (c0 - b) * is, (c1 - c0) * is);  // contiguous: one copy (ResNet-50's 3-channel stem)
  } else {
    for (size_t j = c0; j < c1; j++) pad_range(p, d + 1, 0, out_dim(p, d + 1), in + (j - b) * is, out + j * os);
  }
  memset(out + c1 * os, p->fill, (j1 - c1) * os);
}

// Tensors up to this many bytes run on the caller (waking a thread would cost more).
#define ONEXN_PAD_MIN_SPLIT_BYTES ((size_t)65536)

typedef struct {
  const pad_spec* p;
  size_t dim;       // the dimension split into tasks; every one before it has one unpadded index
  size_t per_task;  // output indices of dim per task
  const char* in;
  char* out;
} pad_ctx;

static void pad_task(void* ctx, size_t task, size_t thread) {
  (void)thread;
  const pad_ctx* c = (const pad_ctx*)ctx;
  const size_t n = out_dim(c->p, c->dim), j0 = task * c->per_task;
  pad_range(c->p, c->dim, j0, j0 + c->per_task < n ? j0 + c->per_task : n, c->in, c->out);
}

static void pad(const pad_spec* p, const char* in, char* out, onexn_threadpool* pool) {
  // Leading dimensions of one unpadded index (the batch) hold a single block: split the first after them.
  size_t dim = 0;
  while (dim + 1 < p->rank && p->in_dims[dim] == 1 && p->before[dim] == 0 && p->after[dim] == 0) dim++;
  size_t is, os;
  strides(p, dim, &is, &os);
  const size_t n = out_dim(p, dim), threads = (size_t)onexn_threadpool_size(pool);
  if (threads <= 1 || n < 2 || n * os * p->elem <= ONEXN_PAD_MIN_SPLIT_BYTES) {
    pad_range(p, dim, 0, n, in, out);
    return;
  }
  size_t per_task = n / (4 * threads);  // about 4 tasks per thread
  if (per_task == 0) per_task = 1;
  const pad_ctx c = {p, dim, per_task, in, out};
  onexn_threadpool_parallelize(pool, (n + per_task - 1) / per_task, pad_task, (void*)&c);
}

void onexn_pad_run(const float* input, float* output, size_t rank, const size_t* in_dims, const size_t* before,
                   const size_t* after, onexn_threadpool* pool) {
  if (input == NULL || output == NULL || rank == 0 || in_dims == NULL || before == NULL || after == NULL) return;
  const pad_spec p = {rank, in_dims, before, after, sizeof(float), 0};
  pad(&p, (const char*)input, (char*)output, pool);
}

void onexn_pad_x8_run(const int8_t* input, int8_t* output, size_t rank, const size_t* in_dims, const size_t* before,
                      const size_t* after, int8_t value, onexn_threadpool* pool) {
  if (input == NULL || output == NULL || rank == 0 || in_dims == NULL || before == NULL || after == NULL) return;
  const pad_spec p = {rank, in_dims, before, after, 1, (unsigned char)value};
  pad(&p, (const char*)input, (char*)output, pool);
}
