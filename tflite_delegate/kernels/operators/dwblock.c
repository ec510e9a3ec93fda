// onexn_dwblock: a depthwise convolution and the 1x1 convolutions around it (an inverted-residual
// block's expansion and projection, either may be absent) run as one.
//
// MobileNetV2's expansions write tensors of up to 4.8 MB that the depthwise reads straight back, and the
// depthwise writes tensors of up to 1.8 MB that the projection reads back: those layers wait on memory,
// and block sparsity cannot shrink that traffic. Here each task walks a run of depthwise output rows. The
// expansion rows they read are computed into a band buffer (rows still needed when it is full move to
// its front); every few depthwise rows (a few pixel tiles' worth) go through the projection at once.
// Both buffers are per thread and stay in cache. Threads split the rows (onexn_dwblock_runs).
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdlib.h>
#include <string.h>

#include "common/memory.h"
#include "common/threadpool.h"
#include "operators/operators.h"

// Band buffer per thread, unless the depthwise window alone needs more: a quarter of the core's L2, so the
// depthwise reads what the expansion just wrote, and at least 256 KB (a quarter of Zen 4's L2; also where
// the L2 size is unknown). Every refill moves the window's last rows to the band's front, so a band of few
// rows copies much: at 256 KB MobileNetV2's 112x112x96 stride-2 band holds 5 rows and moves one of them
// for every 4 rows it computes. 512 KB on a Xeon with 2 MB of L2: MobileNetV2 N=16 50% 2-3% faster at 1
// and 2 threads (1 MB: the same at 1 thread, slower at 2).
static size_t band_bytes(void) {
  const size_t quarter = onexn_cpu_l2_bytes() / 4;
  return quarter < 256 * 1024 ? 256 * 1024 : quarter > 1024 * 1024 ? 1024 * 1024 : quarter;
}
// Depthwise output rows are projected once they hold this many pixels (or the run ends).
#define ONEXN_PROJECT_PIXELS 64

struct onexn_dwblock {
  onexn_conv* expand;     // NULL: the depthwise reads the block's input
  onexn_dwconv* dw;
  onexn_conv* project;    // NULL: the depthwise writes the block's output
  size_t channels;        // depthwise channels
  size_t in_w;            // depthwise input width
  size_t out_h, out_w;    // depthwise output
  size_t batch;
  size_t in_image, out_image;  // floats per image of the block's input and output
  size_t row_floats;      // one depthwise input row: in_w * channels
  size_t band_rows;       // expansion rows a band holds (0 without expansion)
  size_t proj_rows;       // depthwise rows projected at once (0 without projection)
  size_t scratch_floats;  // per thread: band, then depthwise rows; multiples of 16 (64-byte aligned)
  float* own;             // the object's scratch, own_threads * scratch_floats; made by the first run
                          // without a caller's scratch that fits
  size_t own_threads;
};

static int is_pointwise(const onexn_conv_shape* c) {
  return c->kh == 1 && c->kw == 1 && c->stride_h == 1 && c->stride_w == 1 && c->pad_top == 0 &&
         c->pad_left == 0 && c->out_h == c->in_h && c->out_w == c->in_w;
}

// "" if conv can run pixel range by pixel range inside the block, else why not.
static const char* check_pointwise(const onexn_conv* conv) {
  if (!is_pointwise(onexn_conv_get_shape(conv))) return "is not a 1x1 with stride 1 and no padding";
  // Bands cut the pixels into other tiles than onexn_conv_run does; such a kernel would round differently.
  if (!onexn_conv_tile_invariant(conv)) return "has a microkernel that computes a pixel differently by tile";
  return "";
}

static size_t round16(size_t x) { return (x + 15) & ~(size_t)15; }

onexn_dwblock* onexn_dwblock_create(onexn_conv* expand, onexn_dwconv* dw, onexn_conv* project, char* err,
                                    size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (dw == NULL || (expand == NULL && project == NULL)) {
    onexn_set_err(err, err_len, "onexn_dwblock_create: needs a depthwise and an expansion or a projection");
    return NULL;
  }
  const onexn_dwconv_shape* d = onexn_dwconv_get_shape(dw);
  const char* why;
  if (expand != NULL) {
    const onexn_conv_shape* c = onexn_conv_get_shape(expand);
    if ((why = check_pointwise(expand))[0] != '\0') {
      onexn_set_err(err, err_len, "onexn_dwblock_create: the expansion %s", why);
      return NULL;
    }
    if (d->batch != c->batch || d->in_h != c->out_h || d->in_w != c->out_w || d->channels != c->cout) {
      onexn_set_err(err, err_len,
                    "onexn_dwblock_create: depthwise input %dx%dx%dx%d is not the expansion's output %dx%dx%dx%d",
                    d->batch, d->in_h, d->in_w, d->channels, c->batch, c->out_h, c->out_w, c->cout);
      return NULL;
    }
  }
  if (project != NULL) {
    const onexn_conv_shape* c = onexn_conv_get_shape(project);
    if ((why = check_pointwise(project))[0] != '\0') {
      onexn_set_err(err, err_len, "onexn_dwblock_create: the projection %s", why);
      return NULL;
    }
    if (d->batch != c->batch || d->out_h != c->in_h || d->out_w != c->in_w || d->channels != c->cin) {
      onexn_set_err(err, err_len,
                    "onexn_dwblock_create: depthwise output %dx%dx%dx%d is not the projection's input %dx%dx%dx%d",
                    d->batch, d->out_h, d->out_w, d->channels, c->batch, c->in_h, c->in_w, c->cin);
      return NULL;
    }
  }
  onexn_dwblock* b = (onexn_dwblock*)calloc(1, sizeof(*b));
  if (b == NULL) {
    onexn_set_err(err, err_len, "onexn_dwblock_create: out of memory");
    return NULL;
  }
  b->expand = expand;
  b->dw = dw;
  b->project = project;
  // Every shape passed its create()'s overflow checks, so these products fit.
  b->channels = (size_t)d->channels;
  b->in_w = (size_t)d->in_w;
  b->out_h = (size_t)d->out_h;
  b->out_w = (size_t)d->out_w;
  b->batch = (size_t)d->batch;
  b->row_floats = b->in_w * b->channels;
  if (expand != NULL) {
    const onexn_conv_shape* c = onexn_conv_get_shape(expand);
    b->in_image = (size_t)c->in_h * (size_t)c->in_w * (size_t)c->cin;
    // A band holds one output row's window plus one stride of new rows, so every band advances.
    const size_t window = (size_t)(d->kh - 1) * (size_t)d->dilation_h + 1;
    size_t rows = band_bytes() / sizeof(float) / b->row_floats;
    if (rows < window + (size_t)d->stride_h) rows = window + (size_t)d->stride_h;
    b->band_rows = rows < (size_t)d->in_h ? rows : (size_t)d->in_h;
  } else {
    b->in_image = (size_t)d->in_h * b->row_floats;
  }
  if (project != NULL) {
    b->out_image = b->out_h * b->out_w * (size_t)onexn_conv_get_shape(project)->cout;
    const size_t rows = (ONEXN_PROJECT_PIXELS + b->out_w - 1) / b->out_w;
    b->proj_rows = rows < b->out_h ? rows : b->out_h;
  } else {
    b->out_image = b->out_h * b->out_w * b->channels;
  }
  size_t band, dwrows;
  if (onexn_mul_size(b->band_rows, b->row_floats, &band) ||
      onexn_mul_size(b->proj_rows, b->out_w * b->channels, &dwrows) || band > SIZE_MAX / 8 || dwrows > SIZE_MAX / 8) {
    onexn_set_err(err, err_len, "onexn_dwblock_create: scratch size overflows");
    free(b);
    return NULL;
  }
  b->scratch_floats = round16(band) + round16(dwrows);
  return b;
}

size_t onexn_dwblock_runs(const onexn_dwblock* b, size_t threads) {
  if (threads <= 1 || b->batch >= threads) return 1;
  // With an expansion, one run per thread: each run's first band recomputes the rows it shares with the
  // previous run. Without, four (no recomputation; finer tasks balance a disturbed core).
  const size_t per_image = (threads + b->batch - 1) / b->batch;
  size_t runs = b->expand != NULL ? per_image : 4 * per_image;
  const size_t rows = b->proj_rows > 0 ? b->proj_rows : 1;
  if (b->expand == NULL && runs > b->out_h / rows) runs = b->out_h / rows > per_image ? b->out_h / rows : per_image;
  return runs < b->out_h ? runs : b->out_h;
}

void onexn_dwblock_destroy(onexn_dwblock* b) {
  if (b == NULL) return;
  onexn_aligned_free(b->own);
  free(b);
}

size_t onexn_dwblock_scratch_floats(const onexn_dwblock* b, size_t threads) {
  if (b == NULL) return 0;
  const size_t t = threads < 1 ? 1 : threads;
  return t <= SIZE_MAX / sizeof(float) / b->scratch_floats ? t * b->scratch_floats : 0;  // 0: overflows
}

// Per-thread scratch of the convolutions for `threads`; returns how many threads may run.
static size_t reserve_conv_threads(onexn_dwblock* b, size_t threads) {
  if (b->expand != NULL && onexn_conv_reserve_threads(b->expand, threads) < threads) return 1;
  if (b->project != NULL && onexn_conv_reserve_threads(b->project, threads) < threads) return 1;
  return threads;
}

typedef struct {
  const onexn_dwblock* b;
  const float* input;
  float* output;
  float* scratch;
  size_t runs;  // runs of depthwise output rows per image
  size_t rows_per_run;
} run_ctx;

// Projects depthwise rows [r0, r1) (held in dwrows from row r0 on) into the block's output image.
static void project_rows(const onexn_dwblock* b, const float* dwrows, size_t r0, size_t r1, float* output,
                         size_t thread) {
  const size_t cout = (size_t)onexn_conv_get_shape(b->project)->cout;
  const size_t panels = onexn_conv_num_panels(b->project);
  // The rows are pixels [0, n) of a pointwise convolution's input: its indirection is the identity.
  onexn_conv_run_pixels(b->project, dwrows, 0, (r1 - r0) * b->out_w, output + r0 * b->out_w * cout, 0, panels,
                        thread);
}

static void run_task(void* p, size_t task, size_t thread) {
  const run_ctx* r = (const run_ctx*)p;
  const onexn_dwblock* b = r->b;
  const size_t img = task / r->runs, run = task % r->runs;
  const size_t y0 = run * r->rows_per_run;
  const size_t y1 = y0 + r->rows_per_run < b->out_h ? y0 + r->rows_per_run : b->out_h;
  if (y0 >= y1) return;
  const float* input = r->input + img * b->in_image;
  float* output = r->output + img * b->out_image;
  float* band = r->scratch + thread * b->scratch_floats;
  float* dwrows = band + round16(b->band_rows * b->row_floats);
  const size_t dw_row = b->out_w * b->channels;
  const size_t expand_panels = b->expand != NULL ? onexn_conv_num_panels(b->expand) : 0;
  size_t lo, hi, end;
  onexn_dwconv_row_inputs(b->dw, y1 - 1, &lo, &end);  // rows the run needs end here
  size_t band_lo = 0, band_hi = 0;                           // expansion rows held: [band_lo, band_hi)
  size_t proj_start = y0;                                    // first depthwise row not yet projected
  for (size_t oy = y0; oy < y1; oy++) {
    const float* rows = input;  // depthwise input rows from row `first` on
    size_t first = 0;
    if (b->expand != NULL) {
      onexn_dwconv_row_inputs(b->dw, oy, &lo, &hi);
      if (hi > band_hi) {
        if (band_hi <= lo) {
          band_lo = band_hi = lo;  // nothing held is needed again
        } else if (hi - band_lo > b->band_rows) {
          memmove(band, band + (lo - band_lo) * b->row_floats, (band_hi - lo) * b->row_floats * sizeof(float));
          band_lo = lo;
        }
        const size_t fill = band_lo + b->band_rows < end ? band_lo + b->band_rows : end;
        onexn_conv_run_pixels(b->expand, input, band_hi * b->in_w, fill * b->in_w,
                              band + (band_hi - band_lo) * b->row_floats, 0, expand_panels, thread);
        band_hi = fill;
      }
      rows = band;
      first = band_lo;
    }
    if (b->project == NULL) {
      onexn_dwconv_run_row(b->dw, rows, first, output + oy * dw_row, oy, 0, b->channels);
      continue;
    }
    onexn_dwconv_run_row(b->dw, rows, first, dwrows + (oy - proj_start) * dw_row, oy, 0, b->channels);
    if (oy + 1 - proj_start == b->proj_rows || oy + 1 == y1) {
      project_rows(b, dwrows, proj_start, oy + 1, output, thread);
      proj_start = oy + 1;
    }
  }
}

int onexn_dwblock_run(onexn_dwblock* b, const float* input, float* output, float* scratch, size_t scratch_floats,
                      onexn_threadpool* pool) {
  if (b == NULL || input == NULL || output == NULL) return -1;
  const size_t pool_threads = (size_t)onexn_threadpool_size(pool);
  size_t threads = reserve_conv_threads(b, pool_threads);
  // The caller's scratch serves as many threads as it holds; short of that, the object's own.
  if (scratch == NULL || scratch_floats < b->scratch_floats * threads) {
    scratch = NULL;
    if (threads > b->own_threads) {
      const size_t floats = onexn_dwblock_scratch_floats(b, threads);
      float* own = floats != 0 ? (float*)onexn_aligned_alloc(floats * sizeof(float)) : NULL;
      if (own != NULL) {
        onexn_aligned_free(b->own);
        b->own = own;
        b->own_threads = threads;
      }
    }
    if (b->own == NULL) return -1;  // not even one thread's scratch
    if (b->own_threads < threads) threads = 1;
  }
  // Short of memory for every pool thread: the caller runs alone (same results).
  if (threads < pool_threads) threads = 1;
  run_ctx r;
  r.b = b;
  r.input = input;
  r.output = output;
  r.scratch = scratch != NULL ? scratch : b->own;
  r.runs = onexn_dwblock_runs(b, threads);
  r.rows_per_run = (b->out_h + r.runs - 1) / r.runs;
  if (b->expand == NULL && b->proj_rows > 1) {
    // Whole groups of projected rows per run, unless that leaves a thread without a run (7x7 layers).
    const size_t whole = (r.rows_per_run + b->proj_rows - 1) / b->proj_rows * b->proj_rows;
    const size_t per_image = threads > b->batch ? (threads + b->batch - 1) / b->batch : 1;
    if ((b->out_h + whole - 1) / whole >= per_image) r.rows_per_run = whole;
  }
  r.runs = (b->out_h + r.rows_per_run - 1) / r.rows_per_run;
  onexn_threadpool_parallelize(threads > 1 ? pool : NULL, b->batch * r.runs, run_task, &r);
  return 0;
}
