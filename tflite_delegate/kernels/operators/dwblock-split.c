// onexn_dwblock_split: a depthwise block cut by channels, one slice per thread.
//
// At several threads a block splits its image's rows (dwblock.c), and on small images that costs: every
// share recomputes the expansion rows it shares with the next, and 7 rows do not split evenly over 2
// threads (MobileNetV2's 7x7 blocks: 9 expansion rows for 7, and one thread's 4 rows against the other's
// 3). Cut by channels instead, a slice expands its own channels of every pixel, runs their depthwise
// (per channel: no rows to share) and projects them: a partial sum of the whole output. The partial sums
// then add up, one chunk of the output per thread. Each slice is a block of its own on one thread, whose
// band stays in that core's cache; only the partial sums cross between cores.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "common/memory.h"
#include "common/threadpool.h"
#include "operators/operators.h"

struct onexn_dwblock_split {
  onexn_dwblock** slices;  // owned
  size_t count;
  size_t batch, out_elems;    // output elements of the whole batch
  size_t slice_floats;        // one slice's scratch on one thread, 64-byte aligned (in floats)
  size_t partial_floats;      // one partial sum, 64-byte aligned
  float out_min, out_max;     // the projection's clamp, applied to the sum
  onexn_vadd_ukernel add;
  float* own;                 // scratch when the caller's is short; made by the first such run
};

static size_t round16(size_t floats) { return (floats + 15) & ~(size_t)15; }

onexn_dwblock_split* onexn_dwblock_split_create(onexn_dwblock* const* slices, size_t count, float out_min,
                                                float out_max, char* err, size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (slices == NULL || count < 2) {
    onexn_set_err(err, err_len, "onexn_dwblock_split_create: needs at least 2 slices");
    return NULL;
  }
  size_t batch = 0, in_image = 0, out_image = 0, slice_floats = 0;
  const onexn_conv* project0 = NULL;
  for (size_t i = 0; i < count; i++) {
    size_t bt, in, out;
    const onexn_conv *expand, *project;
    if (slices[i] == NULL) {
      onexn_set_err(err, err_len, "onexn_dwblock_split_create: slice %zu is NULL", i);
      return NULL;
    }
    onexn_dwblock_layout(slices[i], &bt, &in, &out, &expand, &project);
    if (expand == NULL || project == NULL) {
      onexn_set_err(err, err_len, "onexn_dwblock_split_create: slice %zu is not a float block with an expansion "
                    "and a projection", i);
      return NULL;
    }
    const onexn_conv_shape* ps = onexn_conv_get_shape(project);
    if (!(ps->out_min == -INFINITY && ps->out_max == INFINITY)) {
      onexn_set_err(err, err_len, "onexn_dwblock_split_create: slice %zu's projection clamps its partial sum", i);
      return NULL;
    }
    if (i == 0) {
      batch = bt, in_image = in, out_image = out, project0 = project;
    } else if (bt != batch || in != in_image || out != out_image) {
      onexn_set_err(err, err_len, "onexn_dwblock_split_create: slice %zu reads or writes another shape than slice 0",
                    i);
      return NULL;
    }
    const size_t f = round16(onexn_dwblock_scratch_floats(slices[i], 1));
    if (f == 0 || f > SIZE_MAX / 4 / count) {
      onexn_set_err(err, err_len, "onexn_dwblock_split_create: scratch size overflows");
      return NULL;
    }
    if (f > slice_floats) slice_floats = f;
  }
  onexn_dwblock_split* s = (onexn_dwblock_split*)calloc(1, sizeof(*s));
  onexn_dwblock** copy = (onexn_dwblock**)calloc(count, sizeof(*copy));
  if (s == NULL || copy == NULL) {
    free(s);
    free(copy);
    onexn_set_err(err, err_len, "onexn_dwblock_split_create: out of memory");
    return NULL;
  }
  for (size_t i = 0; i < count; i++) copy[i] = slices[i];
  s->slices = copy;
  s->count = count;
  s->batch = batch;
  s->out_elems = batch * out_image;
  s->slice_floats = slice_floats;
  s->partial_floats = round16(s->out_elems);
  s->out_min = out_min;
  s->out_max = out_max;
  s->add = onexn_conv_add_ukernel(project0);
  return s;
}

size_t onexn_dwblock_split_slices(const onexn_dwblock_split* s) { return s != NULL ? s->count : 0; }

size_t onexn_dwblock_split_scratch_floats(const onexn_dwblock_split* s) {
  if (s == NULL) return 0;
  const size_t slices = s->count * s->slice_floats, partials = (s->count - 1) * s->partial_floats;
  return partials <= SIZE_MAX / sizeof(float) - slices ? slices + partials : 0;
}

void onexn_dwblock_split_destroy(onexn_dwblock_split* s) {
  if (s == NULL) return;
  for (size_t i = 0; i < s->count; i++) onexn_dwblock_destroy(s->slices[i]);
  free(s->slices);
  onexn_aligned_free(s->own);
  free(s);
}

typedef struct {
  const onexn_dwblock_split* s;
  const float* input;
  const float* addend;  // added by slice 0 (NULL: none)
  float* output;
  float* scratch;
  float min, max;       // the clamp of the sum
  size_t chunk;         // output elements a summing task adds
  atomic_int failed;    // set by any slice's thread
} split_ctx;

static float* partial(const split_ctx* c, size_t slice) {
  return slice == 0 ? c->output
                    : c->scratch + c->s->count * c->s->slice_floats + (slice - 1) * c->s->partial_floats;
}

static void slice_task(void* p, size_t slice, size_t thread) {
  (void)thread;
  split_ctx* c = (split_ctx*)p;
  const onexn_dwblock_split* s = c->s;
  float* scratch = c->scratch + slice * s->slice_floats;
  int status;
  if (slice == 0 && c->addend != NULL) {
    status = onexn_dwblock_run_add(s->slices[0], c->input, c->addend, c->output, -INFINITY, INFINITY, scratch,
                                   s->slice_floats, NULL);
  } else {
    status = onexn_dwblock_run(s->slices[slice], c->input, partial(c, slice), scratch, s->slice_floats, NULL);
  }
  if (status != 0) atomic_store_explicit(&c->failed, 1, memory_order_relaxed);  // not with the scratch given
}

static void sum_task(void* p, size_t task, size_t thread) {
  (void)thread;
  const split_ctx* c = (const split_ctx*)p;
  const onexn_dwblock_split* s = c->s;
  const size_t i0 = task * c->chunk;
  const size_t n = s->out_elems - i0 < c->chunk ? s->out_elems - i0 : c->chunk;
  for (size_t k = 1; k < s->count; k++) {
    const int last = k + 1 == s->count;
    s->add(n, c->output + i0, partial(c, k) + i0, c->output + i0, last ? c->min : -INFINITY,
           last ? c->max : INFINITY);
  }
}

static int run(onexn_dwblock_split* s, const float* input, const float* addend, float* output, float min, float max,
               float* scratch, size_t scratch_floats, onexn_threadpool* pool) {
  const size_t need = onexn_dwblock_split_scratch_floats(s);
  if (scratch == NULL || scratch_floats < need) {
    if (s->own == NULL) s->own = (float*)onexn_aligned_alloc(need * sizeof(float));
    if (s->own == NULL) return -1;
    scratch = s->own;
  }
  split_ctx c = {s, input, addend, output, scratch, min, max, 0, 0};  // failed: 0
  onexn_threadpool_parallelize(pool, s->count, slice_task, &c);
  if (atomic_load_explicit(&c.failed, memory_order_relaxed)) return -1;
  const size_t threads = (size_t)onexn_threadpool_size(pool);
  // Each thread adds one chunk (whole cache lines); a small output on the caller alone.
  c.chunk = onexn_elementwise_chunk(s->out_elems, threads, 1024);
  if (c.chunk == 0) {
    c.chunk = s->out_elems;
    sum_task(&c, 0, 0);
  } else {
    onexn_threadpool_parallelize(pool, (s->out_elems + c.chunk - 1) / c.chunk, sum_task, &c);
  }
  return 0;
}

int onexn_dwblock_split_run(onexn_dwblock_split* s, const float* input, float* output, float* scratch,
                            size_t scratch_floats, onexn_threadpool* pool) {
  if (s == NULL || input == NULL || output == NULL) return -1;
  return run(s, input, NULL, output, s->out_min, s->out_max, scratch, scratch_floats, pool);
}

int onexn_dwblock_split_run_add(onexn_dwblock_split* s, const float* input, const float* addend, float* output,
                                float out_min, float out_max, float* scratch, size_t scratch_floats,
                                onexn_threadpool* pool) {
  if (s == NULL || input == NULL || addend == NULL || output == NULL) return -1;
  // The ADD comes after the projection's own clamp: only a projection without one adds up the same.
  if (!(s->out_min == -INFINITY && s->out_max == INFINITY)) return -1;
  return run(s, input, addend, output, out_min, out_max, scratch, scratch_floats, pool);
}
