// onexn_pool: max and average pooling, NHWC. Argument checks, the tap windows of every output row and
// column, and the threaded run loop; the arithmetic happens in the f32-pool microkernels.
//
// As in onexn_dwconv, the valid taps of output pixel (oy, ox) form a rows x cols window whose rows depend
// only on oy and cols only on ox, so each output row is one microkernel call for the pixels whose window
// is complete in x plus one call per edge pixel. Padding taps are left out, which is what TFLite does:
// they never win a max and do not count in an average.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/threadpool.h"
#include "operators/operators.h"

struct onexn_pool {
  onexn_pool_shape s;
  const onexn_pool_ukernel_config* uk;
  size_t channels;
  size_t in_image, out_image;  // floats per image
  onexn_tap_range* rows;       // [out_h]
  onexn_tap_range* cols;       // [out_w]
  size_t full_x0, full_x1;     // output columns [full_x0, full_x1) have all kw taps; may be empty
};

static const onexn_pool_ukernel_config kUkernels[] = {
#define ONEXN_POOL_UKERNEL(isa, name, ukernel, kind, channel_tile) {name, isa, kind, ukernel},
#include "f32-pool/f32-pool.inc"
#undef ONEXN_POOL_UKERNEL
};

const onexn_pool_ukernel_config* onexn_pool_ukernel(const char* name) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (strcmp(kUkernels[i].name, name) == 0) return &kUkernels[i];
  }
  return NULL;
}

static const onexn_pool_ukernel_config* select_ukernel(onexn_pool_kind kind, onexn_isa isa) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (kUkernels[i].kind == kind && kUkernels[i].isa == isa) return &kUkernels[i];
  }
  return NULL;
}

static int check_args(const onexn_pool_shape* s, char* err, size_t err_len) {
  if (s == NULL) {
    onexn_set_err(err, err_len, "onexn_pool_create: shape must not be NULL");
    return -1;
  }
  const struct { const char* name; int v; int min; } dims[] = {
      {"batch", s->batch, 1},       {"in_h", s->in_h, 1},         {"in_w", s->in_w, 1},
      {"channels", s->channels, 1}, {"out_h", s->out_h, 1},       {"out_w", s->out_w, 1},
      {"kh", s->kh, 1},             {"kw", s->kw, 1},             {"stride_h", s->stride_h, 1},
      {"stride_w", s->stride_w, 1}, {"pad_top", s->pad_top, 0},   {"pad_left", s->pad_left, 0},
  };
  for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
    if (dims[i].v < dims[i].min) {
      onexn_set_err(err, err_len, "onexn_pool_create: %s = %d, must be >= %d", dims[i].name, dims[i].v, dims[i].min);
      return -1;
    }
  }
  if (isnan(s->out_min) || isnan(s->out_max) || s->out_min > s->out_max) {
    onexn_set_err(err, err_len, "onexn_pool_create: activation range [%g, %g] is empty or NaN", (double)s->out_min,
                  (double)s->out_max);
    return -1;
  }
  const size_t limit = (size_t)PTRDIFF_MAX / sizeof(float);
  size_t in, out;
  if (onexn_mul_size((size_t)s->batch * (size_t)s->in_h, (size_t)s->in_w * (size_t)s->channels, &in) || in > limit ||
      onexn_mul_size((size_t)s->batch * (size_t)s->out_h, (size_t)s->out_w * (size_t)s->channels, &out) ||
      out > limit) {
    onexn_set_err(err, err_len, "onexn_pool_create: tensor sizes overflow");
    return -1;
  }
  return 0;
}

// The tap windows; -1 (message in err) when an output pixel's window holds no input pixel.
static int build_ranges(onexn_pool* p, char* err, size_t err_len) {
  const onexn_pool_shape* s = &p->s;
  for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
    p->rows[oy] = onexn_axis_taps(oy, s->stride_h, s->pad_top, 1, s->kh, s->in_h);
    if (p->rows[oy].count == 0) {
      onexn_set_err(err, err_len, "onexn_pool_create: the window of output row %d lies in the padding", (int)oy);
      return -1;
    }
  }
  p->full_x0 = p->full_x1 = (size_t)s->out_w;
  for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
    p->cols[ox] = onexn_axis_taps(ox, s->stride_w, s->pad_left, 1, s->kw, s->in_w);
    if (p->cols[ox].count == 0) {
      onexn_set_err(err, err_len, "onexn_pool_create: the window of output column %d lies in the padding", (int)ox);
      return -1;
    }
    if (p->cols[ox].count == (uint32_t)s->kw) {  // complete windows are contiguous in x
      if (p->full_x0 == (size_t)s->out_w) p->full_x0 = (size_t)ox;
      p->full_x1 = (size_t)ox + 1;
    }
  }
  return 0;
}

static onexn_pool* create(const onexn_pool_shape* shape, onexn_pool_kind kind, onexn_isa isa,
                          const onexn_pool_ukernel_config* uk, char* err, size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (check_args(shape, err, err_len)) return NULL;
  if (kind != ONEXN_POOL_MAX && kind != ONEXN_POOL_AVERAGE) {
    onexn_set_err(err, err_len, "onexn_pool_create: unknown pooling kind %d", (int)kind);
    return NULL;
  }
  if (!onexn_isa_supported(isa)) {
    onexn_set_err(err, err_len, "onexn_pool_create: ISA '%s' is not supported by this build or CPU",
                  onexn_isa_name(isa));
    return NULL;
  }
  if (uk == NULL && (uk = select_ukernel(kind, isa)) == NULL) {
    onexn_set_err(err, err_len, "onexn_pool_create: no microkernel for ISA '%s'", onexn_isa_name(isa));
    return NULL;
  }
  onexn_pool* p = (onexn_pool*)calloc(1, sizeof(*p));
  if (p == NULL) {
    onexn_set_err(err, err_len, "onexn_pool_create: out of memory");
    return NULL;
  }
  p->s = *shape;
  p->uk = uk;
  p->channels = (size_t)shape->channels;
  p->in_image = (size_t)shape->in_h * (size_t)shape->in_w * p->channels;  // check_args bounded them
  p->out_image = (size_t)shape->out_h * (size_t)shape->out_w * p->channels;
  p->rows = (onexn_tap_range*)malloc((size_t)shape->out_h * sizeof(onexn_tap_range));
  p->cols = (onexn_tap_range*)malloc((size_t)shape->out_w * sizeof(onexn_tap_range));
  if (p->rows == NULL || p->cols == NULL) {
    onexn_set_err(err, err_len, "onexn_pool_create: out of memory");
    onexn_pool_destroy(p);
    return NULL;
  }
  if (build_ranges(p, err, err_len)) {
    onexn_pool_destroy(p);
    return NULL;
  }
  return p;
}

onexn_pool* onexn_pool_create(onexn_pool_kind kind, const onexn_pool_shape* shape, onexn_isa isa, char* err,
                              size_t err_len) {
  return create(shape, kind, onexn_isa_resolve(isa), NULL, err, err_len);
}

onexn_pool* onexn_pool_create_with_ukernel(const onexn_pool_shape* shape, const onexn_pool_ukernel_config* uk,
                                           char* err, size_t err_len) {
  if (uk == NULL) {
    onexn_set_err(err, err_len, "onexn_pool_create: no microkernel given");
    return NULL;
  }
  return create(shape, uk->kind, uk->isa, uk, err, err_len);
}

const char* onexn_pool_kernel_name(const onexn_pool* p) { return p == NULL ? "" : p->uk->name; }

void onexn_pool_destroy(onexn_pool* p) {
  if (p == NULL) return;
  free(p->rows);
  free(p->cols);
  free(p);
}

// Output pixels [x0, x1) of output row oy of one image, which all have the column window of x0.
static void run_pixels(const onexn_pool* p, onexn_pool_args* a, const float* image, float* row_out, size_t oy,
                       size_t x0, size_t x1) {
  const onexn_pool_shape* s = &p->s;
  const onexn_tap_range rr = p->rows[oy], cr = p->cols[x0];
  const size_t iy = (size_t)((ptrdiff_t)oy * s->stride_h - s->pad_top + (ptrdiff_t)rr.first);
  const size_t ix = (size_t)((ptrdiff_t)x0 * s->stride_w - s->pad_left + (ptrdiff_t)cr.first);
  a->input = image + (iy * (size_t)s->in_w + ix) * p->channels;
  a->out = row_out + x0 * p->channels;
  a->pixels = x1 - x0;
  a->rows = rr.count;
  a->cols = cr.count;
  a->scale = 1.0f / (float)((size_t)rr.count * cr.count);
  p->uk->fn(a);
}

// Output rows [r0, r1) of the flattened batch*out_h rows.
static void run_rows(const onexn_pool* p, const float* input, float* output, size_t r0, size_t r1) {
  const onexn_pool_shape* s = &p->s;
  const size_t C = p->channels, out_w = (size_t)s->out_w;
  onexn_pool_args a;
  a.channels = C;
  a.in_pixel_stride = (size_t)s->stride_w * C;
  a.in_row_stride = (size_t)s->in_w * C;
  a.in_col_stride = C;
  a.out_pixel_stride = C;
  a.min = s->out_min;
  a.max = s->out_max;
  for (size_t r = r0; r < r1; r++) {
    const size_t img = r / (size_t)s->out_h, oy = r % (size_t)s->out_h;
    const float* image = input + img * p->in_image;
    float* row_out = output + img * p->out_image + oy * out_w * C;
    for (size_t x = 0; x < p->full_x0; x++) run_pixels(p, &a, image, row_out, oy, x, x + 1);
    if (p->full_x0 < p->full_x1) run_pixels(p, &a, image, row_out, oy, p->full_x0, p->full_x1);
    for (size_t x = p->full_x1 > p->full_x0 ? p->full_x1 : out_w; x < out_w; x++) {
      run_pixels(p, &a, image, row_out, oy, x, x + 1);
    }
  }
}

typedef struct {
  const onexn_pool* p;
  const float* input;
  float* output;
  size_t rows_total, rows_per_task;
} run_ctx;

static void run_task(void* ctx, size_t task, size_t thread) {
  (void)thread;
  const run_ctx* r = (const run_ctx*)ctx;
  const size_t r0 = task * r->rows_per_task;
  const size_t r1 = r0 + r->rows_per_task < r->rows_total ? r0 + r->rows_per_task : r->rows_total;
  run_rows(r->p, r->input, r->output, r0, r1);
}

// Below this many taps read a layer runs on the caller: waking the pool costs more than it saves.
#define ONEXN_POOL_MIN_PARALLEL_TAPS 65536

void onexn_pool_run(onexn_pool* p, const float* input, float* output, onexn_threadpool* pool) {
  if (p == NULL || input == NULL || output == NULL) return;
  const onexn_pool_shape* s = &p->s;
  const size_t rows_total = (size_t)s->batch * (size_t)s->out_h;
  const size_t threads = (size_t)onexn_threadpool_size(pool);
  const double taps = (double)rows_total * (double)s->out_w * (double)p->channels * s->kh * s->kw;
  if (threads <= 1 || rows_total == 1 || taps < ONEXN_POOL_MIN_PARALLEL_TAPS) {
    run_rows(p, input, output, 0, rows_total);
    return;
  }
  // About 4 runs of whole rows per thread; each output row is computed the same way in any run.
  const size_t want = 4 * threads;
  run_ctx r = {p, input, output, rows_total, (rows_total + want - 1) / want};
  onexn_threadpool_parallelize(pool, (rows_total + r.rows_per_task - 1) / r.rows_per_task, run_task, &r);
}
