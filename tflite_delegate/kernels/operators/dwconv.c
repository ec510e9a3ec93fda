// onexn_dwconv: depthwise convolution (depth multiplier 1), NHWC. Argument checks, weight copy, per-row
// and per-column tap windows, and the threaded run loop. Portable C; the arithmetic happens in the
// f32-dwconv-minmax-* microkernels.
//
// No indirection buffer: the valid taps of output pixel (oy, ox) form a rows x cols window that depends on
// oy only through its rows and on ox only through its cols. So create() stores, per output row and per
// output column, the first valid tap and the count; padding taps are skipped (TFLite's reference adds
// nothing for them either). Every output row is then one microkernel call for the pixels whose window is
// complete in x, plus one call per left/right edge pixel.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/memory.h"
#include "common/threadpool.h"
#include "operators/operators.h"

struct onexn_dwconv {
  onexn_dwconv_shape s;
  const onexn_dwconv_ukernel_config* uk;
  size_t channels;
  size_t in_image, out_image;  // floats per image
  float* w;                    // [kh][kw][C]
  float* bias;                 // [C]
  onexn_tap_range* rows;       // [out_h]
  onexn_tap_range* cols;       // [out_w]
  size_t full_x0, full_x1;     // output columns [full_x0, full_x1) have all kw taps; may be empty
};

static int check_args(const onexn_dwconv_shape* s, const float* weights, char* err, size_t err_len) {
  if (s == NULL || weights == NULL) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: shape and weights must not be NULL");
    return -1;
  }
  const struct { const char* name; int v; int min; } dims[] = {
      {"batch", s->batch, 1},           {"in_h", s->in_h, 1},         {"in_w", s->in_w, 1},
      {"channels", s->channels, 1},     {"out_h", s->out_h, 1},       {"out_w", s->out_w, 1},
      {"kh", s->kh, 1},                 {"kw", s->kw, 1},             {"stride_h", s->stride_h, 1},
      {"stride_w", s->stride_w, 1},     {"dilation_h", s->dilation_h, 1}, {"dilation_w", s->dilation_w, 1},
      {"pad_top", s->pad_top, 0},       {"pad_left", s->pad_left, 0},
  };
  for (size_t i = 0; i < sizeof(dims) / sizeof(dims[0]); i++) {
    if (dims[i].v < dims[i].min) {
      onexn_set_err(err, err_len, "onexn_dwconv_create: %s = %d, must be >= %d", dims[i].name, dims[i].v,
              dims[i].min);
      return -1;
    }
  }
  if (isnan(s->out_min) || isnan(s->out_max) || s->out_min > s->out_max) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: activation range [%g, %g] is empty or NaN",
            (double)s->out_min, (double)s->out_max);
    return -1;
  }
  return 0;
}

// -1 on overflow: whole tensors must be addressable with ptrdiff_t float offsets.
static int compute_sizes(onexn_dwconv* dw) {
  const onexn_dwconv_shape* s = &dw->s;
  const size_t limit = (size_t)PTRDIFF_MAX / sizeof(float);
  size_t t;
  dw->channels = (size_t)s->channels;
  if (onexn_mul_size((size_t)s->in_h, (size_t)s->in_w, &t) || onexn_mul_size(t, dw->channels, &dw->in_image)) return -1;
  if (onexn_mul_size((size_t)s->out_h, (size_t)s->out_w, &t) || onexn_mul_size(t, dw->channels, &dw->out_image)) {
    return -1;
  }
  if (onexn_mul_size(dw->in_image, (size_t)s->batch, &t) || t > limit) return -1;
  if (onexn_mul_size(dw->out_image, (size_t)s->batch, &t) || t > limit) return -1;
  if (onexn_mul_size((size_t)s->kh, (size_t)s->kw, &t) || onexn_mul_size(t, dw->channels, &t) || t > limit) return -1;
  return 0;
}

static void build_ranges(onexn_dwconv* dw) {
  const onexn_dwconv_shape* s = &dw->s;
  for (ptrdiff_t oy = 0; oy < s->out_h; oy++)
    dw->rows[oy] = onexn_axis_taps(oy, s->stride_h, s->pad_top, s->dilation_h, s->kh, s->in_h);
  // Columns with a complete window are contiguous: base >= 0 and base + (kw-1)*dw <= in_w-1.
  dw->full_x0 = dw->full_x1 = (size_t)s->out_w;
  for (ptrdiff_t ox = 0; ox < s->out_w; ox++) {
    dw->cols[ox] = onexn_axis_taps(ox, s->stride_w, s->pad_left, s->dilation_w, s->kw, s->in_w);
    if (dw->cols[ox].count == (uint32_t)s->kw) {
      if (dw->full_x0 == (size_t)s->out_w) dw->full_x0 = (size_t)ox;
      dw->full_x1 = (size_t)ox + 1;
    }
  }
}

static const onexn_dwconv_ukernel_config kUkernels[] = {
#define ONEXN_DWCONV_UKERNEL(isa, name, ukernel, channel_tile) {name, isa, ukernel},
#include "f32-dwconv/f32-dwconv.inc"
#undef ONEXN_DWCONV_UKERNEL
};

const onexn_dwconv_ukernel_config* onexn_dwconv_ukernel(const char* name) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (strcmp(kUkernels[i].name, name) == 0) return &kUkernels[i];
  }
  return NULL;
}

// The list's microkernel for the ISA (one per ISA), or NULL if this build has none.
static const onexn_dwconv_ukernel_config* select_ukernel(onexn_isa isa) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (kUkernels[i].isa == isa) return &kUkernels[i];
  }
  return NULL;
}

// Checks, the ISA, then the object with its weights and tap windows.
static onexn_dwconv* create(const onexn_dwconv_shape* shape, const float* weights_hwc, const float* bias,
                            onexn_isa isa, const onexn_dwconv_ukernel_config* uk, char* err, size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (check_args(shape, weights_hwc, err, err_len)) return NULL;
  if (!onexn_isa_supported(isa)) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: ISA '%s' is not supported by this build or CPU",
            onexn_isa_name(isa));
    return NULL;
  }
  if (uk == NULL && (uk = select_ukernel(isa)) == NULL) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: no microkernel for ISA '%s'", onexn_isa_name(isa));
    return NULL;
  }
  onexn_dwconv* dw = (onexn_dwconv*)calloc(1, sizeof(*dw));
  if (dw == NULL) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: out of memory");
    return NULL;
  }
  dw->s = *shape;
  dw->uk = uk;
  if (compute_sizes(dw)) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: tensor sizes overflow");
    free(dw);
    return NULL;
  }
  const size_t wfloats = (size_t)shape->kh * (size_t)shape->kw * dw->channels;  // compute_sizes bounded it
  dw->w = (float*)onexn_aligned_alloc(wfloats * sizeof(float));
  dw->bias = (float*)onexn_aligned_alloc(dw->channels * sizeof(float));
  dw->rows = (onexn_tap_range*)malloc((size_t)shape->out_h * sizeof(onexn_tap_range));
  dw->cols = (onexn_tap_range*)malloc((size_t)shape->out_w * sizeof(onexn_tap_range));
  if (dw->w == NULL || dw->bias == NULL || dw->rows == NULL || dw->cols == NULL) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: out of memory");
    onexn_dwconv_destroy(dw);
    return NULL;
  }
  memcpy(dw->w, weights_hwc, wfloats * sizeof(float));
  if (bias != NULL) {
    memcpy(dw->bias, bias, dw->channels * sizeof(float));
  } else {
    memset(dw->bias, 0, dw->channels * sizeof(float));
  }
  build_ranges(dw);
  return dw;
}

onexn_dwconv* onexn_dwconv_create(const onexn_dwconv_shape* shape, const float* weights_hwc, const float* bias,
                                  onexn_isa isa, char* err, size_t err_len) {
  return create(shape, weights_hwc, bias, onexn_isa_resolve(isa), NULL, err, err_len);
}

onexn_dwconv* onexn_dwconv_create_with_ukernel(const onexn_dwconv_shape* shape, const float* weights_hwc,
                                               const float* bias, const onexn_dwconv_ukernel_config* uk, char* err,
                                               size_t err_len) {
  if (uk == NULL) {
    onexn_set_err(err, err_len, "onexn_dwconv_create: no microkernel given");
    return NULL;
  }
  return create(shape, weights_hwc, bias, uk->isa, uk, err, err_len);
}

const char* onexn_dwconv_kernel_name(const onexn_dwconv* dw) { return dw == NULL ? "" : dw->uk->name; }

void onexn_dwconv_destroy(onexn_dwconv* dw) {
  if (dw == NULL) return;
  onexn_aligned_free(dw->w);
  onexn_aligned_free(dw->bias);
  free(dw->rows);
  free(dw->cols);
  free(dw);
}

// Output pixels [x0, x1) of one row, which all have the column window of x0 (a single pixel, or the
// run of complete windows). a holds the row's fields; this fills in the column-dependent ones.
static void run_pixels(const onexn_dwconv* dw, onexn_dw_args* a, const float* row_in, float* row_out, size_t x0,
                       size_t x1) {
  const onexn_dwconv_shape* s = &dw->s;
  const onexn_tap_range cr = dw->cols[x0];
  // First valid column of x0; never negative when cr.count > 0 (and unused otherwise).
  const ptrdiff_t ix = cr.count == 0 ? 0
                                     : (ptrdiff_t)x0 * s->stride_w - s->pad_left + (ptrdiff_t)cr.first * s->dilation_w;
  a->input = row_in + ix * (ptrdiff_t)dw->channels;
  a->w = a->w + (size_t)cr.first * dw->channels;
  a->cols = cr.count;
  a->pixels = x1 - x0;
  a->out = row_out + x0 * dw->channels;
  dw->uk->fn(a);
}

static void init_args(const onexn_dwconv* dw, onexn_dw_args* a, size_t c0, size_t c1) {
  const onexn_dwconv_shape* s = &dw->s;
  const size_t C = dw->channels;
  a->channels = c1 - c0;
  a->bias = dw->bias + c0;
  a->in_pixel_stride = (size_t)s->stride_w * C;
  a->in_row_stride = (size_t)s->dilation_h * (size_t)s->in_w * C;
  a->in_col_stride = (size_t)s->dilation_w * C;
  a->w_row_stride = (size_t)s->kw * C;
  a->w_col_stride = C;
  a->out_pixel_stride = C;
  a->min = s->out_min;
  a->max = s->out_max;
}

// First input row of output row oy's first valid tap (0 when no tap row is valid).
static size_t first_input_row(const onexn_dwconv* dw, size_t oy) {
  const onexn_dwconv_shape* s = &dw->s;
  const onexn_tap_range rr = dw->rows[oy];
  return rr.count == 0 ? 0
                       : (size_t)((ptrdiff_t)oy * s->stride_h - s->pad_top + (ptrdiff_t)rr.first * s->dilation_h);
}

// Output row oy, channels [c0, c1): row_in is input row first_input_row(oy) (column 0, channel c0), the
// rows below it follow at the image's row stride.
static void run_row(const onexn_dwconv* dw, onexn_dw_args* a, const float* row_in, float* row_out, size_t oy,
                    size_t c0) {
  const size_t out_w = (size_t)dw->s.out_w;
  const onexn_tap_range rr = dw->rows[oy];
  const float* w_row = dw->w + (size_t)rr.first * a->w_row_stride + c0;
  a->rows = rr.count;
  for (size_t x = 0; x < dw->full_x0; x++) {
    a->w = w_row;
    run_pixels(dw, a, row_in, row_out, x, x + 1);
  }
  if (dw->full_x0 < dw->full_x1) {
    a->w = w_row;
    run_pixels(dw, a, row_in, row_out, dw->full_x0, dw->full_x1);
  }
  for (size_t x = dw->full_x1 > dw->full_x0 ? dw->full_x1 : out_w; x < out_w; x++) {
    a->w = w_row;
    run_pixels(dw, a, row_in, row_out, x, x + 1);
  }
}

// Output rows [r0, r1) of the flattened batch*out_h rows, channels [c0, c1).
static void run_rows(const onexn_dwconv* dw, const float* input, float* output, size_t r0, size_t r1, size_t c0,
                     size_t c1) {
  const onexn_dwconv_shape* s = &dw->s;
  const size_t C = dw->channels, out_w = (size_t)s->out_w;
  onexn_dw_args a;
  init_args(dw, &a, c0, c1);
  for (size_t r = r0; r < r1; r++) {
    const size_t img = r / (size_t)s->out_h, oy = r % (size_t)s->out_h;
    const float* row_in = input + img * dw->in_image + first_input_row(dw, oy) * (size_t)s->in_w * C + c0;
    run_row(dw, &a, row_in, output + img * dw->out_image + oy * out_w * C + c0, oy, c0);
  }
}

const onexn_dwconv_shape* onexn_dwconv_get_shape(const onexn_dwconv* dw) { return &dw->s; }

void onexn_dwconv_row_inputs(const onexn_dwconv* dw, size_t oy, size_t* lo, size_t* hi) {
  onexn_dw_shape_row_inputs(&dw->s, oy, lo, hi);
}

void onexn_dw_shape_row_inputs(const onexn_dwconv_shape* s, size_t oy, size_t* lo, size_t* hi) {
  // The window's span clipped to the image, not its first and last valid tap rows: with dilation those
  // can move back from one output row to the next (at the top and bottom edges), the span never does.
  const ptrdiff_t in_h = s->in_h;
  const ptrdiff_t base = (ptrdiff_t)oy * s->stride_h - s->pad_top;
  const ptrdiff_t end = base + (ptrdiff_t)(s->kh - 1) * s->dilation_h + 1;
  *lo = (size_t)(base <= 0 ? 0 : base < in_h ? base : in_h);
  *hi = (size_t)(end <= (ptrdiff_t)*lo ? (ptrdiff_t)*lo : end < in_h ? end : in_h);
}

void onexn_dwconv_run_row(const onexn_dwconv* dw, const float* rows, size_t first_row, float* out_row, size_t oy,
                          size_t c0, size_t c1) {
  const size_t C = dw->channels;
  size_t lo, hi;
  onexn_dwconv_row_inputs(dw, oy, &lo, &hi);
  onexn_dw_args a;
  init_args(dw, &a, c0, c1);
  const size_t first = first_input_row(dw, oy);  // >= lo when the row has taps
  const float* row_in = (hi > lo ? rows + (first - first_row) * (size_t)dw->s.in_w * C : rows) + c0;
  run_row(dw, &a, row_in, out_row + c0, oy, c0);
}

typedef struct {
  const onexn_dwconv* dw;
  const float* input;
  float* output;
  size_t rows_total, rows_per_task;
  size_t channel_chunks, channels_per_chunk;
} run_ctx;

// A task is a run of whole output rows times a chunk of channels. Each output element is computed by the
// same instruction sequence whichever task holds it, so results do not depend on the thread count.
static void run_task(void* p, size_t task, size_t thread) {
  (void)thread;
  const run_ctx* r = (const run_ctx*)p;
  const size_t chunk = task % r->channel_chunks, run = task / r->channel_chunks;
  const size_t r0 = run * r->rows_per_task;
  const size_t r1 = r0 + r->rows_per_task < r->rows_total ? r0 + r->rows_per_task : r->rows_total;
  const size_t c0 = chunk * r->channels_per_chunk;
  const size_t c1 = c0 + r->channels_per_chunk < r->dw->channels ? c0 + r->channels_per_chunk : r->dw->channels;
  run_rows(r->dw, r->input, r->output, r0, r1, c0, c1);
}

// Below this many multiply-adds a layer runs on the caller: waking the pool costs more than it saves.
#define ONEXN_DW_MIN_PARALLEL_MACS 32768

void onexn_dwconv_run(onexn_dwconv* dw, const float* input, float* output, onexn_threadpool* pool) {
  if (dw == NULL || input == NULL || output == NULL) return;
  const onexn_dwconv_shape* s = &dw->s;
  const size_t rows_total = (size_t)s->batch * (size_t)s->out_h;
  const size_t threads = (size_t)onexn_threadpool_size(pool);
  const double macs = (double)rows_total * (double)s->out_w * (double)dw->channels * s->kh * s->kw;
  if (threads <= 1 || macs < ONEXN_DW_MIN_PARALLEL_MACS) {
    run_rows(dw, input, output, 0, rows_total, 0, dw->channels);
    return;
  }
  // About 8 tasks per thread: coarse enough that claiming them costs nothing, fine enough to balance.
  const size_t want = 8 * threads;
  run_ctx r;
  r.dw = dw;
  r.input = input;
  r.output = output;
  r.rows_total = rows_total;
  r.channel_chunks = 1;
  if (rows_total < want) {
    // Few rows (small late layers): split the channels too, in whole 16-channel tiles.
    const size_t tiles = (dw->channels + 15) / 16;
    size_t chunks = (want + rows_total - 1) / rows_total;
    if (chunks > tiles) chunks = tiles;
    r.channel_chunks = chunks;
  }
  const size_t tiles = (dw->channels + 15) / 16;
  r.channels_per_chunk = (tiles + r.channel_chunks - 1) / r.channel_chunks * 16;
  r.channel_chunks = (dw->channels + r.channels_per_chunk - 1) / r.channels_per_chunk;
  const size_t row_tasks = rows_total < want ? rows_total : want;
  r.rows_per_task = (rows_total + row_tasks - 1) / row_tasks;
  const size_t runs = (rows_total + r.rows_per_task - 1) / r.rows_per_task;
  onexn_threadpool_parallelize(pool, runs * r.channel_chunks, run_task, &r);
}
