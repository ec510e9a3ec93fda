// onexn_conv_dw: an inverted-residual block's expansion 1x1 and depthwise convolution run as one.
//
// MobileNetV2's expansions write tensors of up to 4.8 MB that the depthwise reads straight back: both
// layers then wait on memory, and block sparsity cannot shrink that traffic. Here each task walks a run
// of depthwise output rows; the expansion rows they read are computed into a per-thread band buffer
// (rows kept across the band's end are moved to its front), so they are read from cache. Threads split
// the channels first (a depthwise channel needs only its own expansion channel: nothing is computed
// twice), and the rows only of tall layers (a task's first band recomputes the rows it shares with the
// previous task).
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdlib.h>
#include <string.h>

#include "onexn_internal.h"

// Band buffer per thread, unless the depthwise window alone needs more: about half of a Zen 4 / recent
// Arm core's L2, so the depthwise reads what the expansion just wrote.
#define ONEXN_BAND_BYTES (256 * 1024)
// Tasks per thread: more balance the load when a core is disturbed.
#define ONEXN_BAND_TASKS_PER_THREAD 1
// Output rows per task at least, when threads split the rows: the shared window rows are then a small
// fraction of the expansion's work.
#define ONEXN_BAND_MIN_RUN_ROWS 16

struct onexn_conv_dw {
  onexn_conv* conv;
  onexn_dwconv* dw;
  size_t width, height;   // of the intermediate tensor
  size_t row_floats;      // one intermediate row: width * channels
  size_t band_rows;       // rows a band buffer holds
  size_t in_image, out_image;
  float* bands;           // band_threads * band_rows * row_floats
  size_t band_threads;
  size_t* cuts;           // panels where a 16-channel-aligned channel chunk may start, then the panel count
  size_t segments;        // cuts entries - 1
};

onexn_conv_dw* onexn_conv_dw_create(onexn_conv* conv, onexn_dwconv* dw, char* err, size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (conv == NULL || dw == NULL) {
    onexn_set_err(err, err_len, "onexn_conv_dw_create: conv and dw must not be NULL");
    return NULL;
  }
  const onexn_conv_shape* c = onexn_conv_get_shape(conv);
  const onexn_dwconv_shape* d = onexn_dwconv_get_shape(dw);
  if (c->kh != 1 || c->kw != 1 || c->stride_h != 1 || c->stride_w != 1 || c->pad_top != 0 || c->pad_left != 0 ||
      c->out_h != c->in_h || c->out_w != c->in_w) {
    onexn_set_err(err, err_len, "onexn_conv_dw_create: the convolution is not a 1x1 with stride 1 and no padding");
    return NULL;
  }
  if (d->batch != c->batch || d->in_h != c->out_h || d->in_w != c->out_w || d->channels != c->cout) {
    onexn_set_err(err, err_len,
                  "onexn_conv_dw_create: depthwise input %dx%dx%dx%d is not the convolution's output %dx%dx%dx%d",
                  d->batch, d->in_h, d->in_w, d->channels, c->batch, c->out_h, c->out_w, c->cout);
    return NULL;
  }
  if (!onexn_conv_tile_invariant(conv)) {
    // Bands cut the pixels into other tiles than onexn_conv_run does; this kernel would round differently.
    onexn_set_err(err, err_len,
                  "onexn_conv_dw_create: the convolution's microkernel %s computes a pixel differently depending on "
                  "its tile (a layer with fewer pixels than a tile)",
                  onexn_conv_kernel_name(conv));
    return NULL;
  }
  onexn_conv_dw* f = (onexn_conv_dw*)calloc(1, sizeof(*f));
  if (f == NULL) {
    onexn_set_err(err, err_len, "onexn_conv_dw_create: out of memory");
    return NULL;
  }
  f->conv = conv;
  f->dw = dw;
  f->width = (size_t)c->out_w;
  f->height = (size_t)c->out_h;
  // Both shapes passed their create()'s overflow checks, so these products fit.
  f->row_floats = f->width * (size_t)c->cout;
  f->in_image = (size_t)c->in_h * (size_t)c->in_w * (size_t)c->cin;
  f->out_image = (size_t)d->out_h * (size_t)d->out_w * (size_t)d->channels;
  // A band must hold one output row's window plus one stride of new rows, so every band advances.
  const size_t window = (size_t)(d->kh - 1) * (size_t)d->dilation_h + 1;
  size_t rows = ONEXN_BAND_BYTES / sizeof(float) / f->row_floats;
  if (rows < window + (size_t)d->stride_h) rows = window + (size_t)d->stride_h;
  f->band_rows = rows < f->height ? rows : f->height;
  size_t floats;
  if (onexn_mul_size(f->band_rows, f->row_floats, &floats) || floats > SIZE_MAX / sizeof(float)) {
    onexn_set_err(err, err_len, "onexn_conv_dw_create: band buffer size overflows");
    free(f);
    return NULL;
  }
  f->bands = (float*)onexn_aligned_alloc(floats * sizeof(float));
  if (f->bands == NULL) {
    onexn_set_err(err, err_len, "onexn_conv_dw_create: out of memory");
    free(f);
    return NULL;
  }
  f->band_threads = 1;
  // Chunk boundaries at whole vectors of depthwise channels, so every chunk's depthwise runs full tiles.
  const size_t panels = onexn_conv_num_panels(conv);
  f->cuts = (size_t*)malloc((panels + 1) * sizeof(size_t));
  if (f->cuts == NULL) {
    onexn_set_err(err, err_len, "onexn_conv_dw_create: out of memory");
    onexn_conv_dw_destroy(f);
    return NULL;
  }
  for (size_t p = 0; p < panels; p++) {
    if (onexn_conv_panel_channel(conv, p) % 16 == 0) f->cuts[f->segments++] = p;
  }
  f->cuts[f->segments] = panels;  // panel 0 starts at channel 0, so cuts[0] == 0
  return f;
}

void onexn_conv_dw_destroy(onexn_conv_dw* f) {
  if (f == NULL) return;
  onexn_aligned_free(f->bands);
  free(f->cuts);
  free(f);
}

// Grows the band buffers to `threads`; returns how many threads may run.
static size_t reserve_threads(onexn_conv_dw* f, size_t threads) {
  threads = onexn_conv_reserve_threads(f->conv, threads);
  if (threads <= f->band_threads) return threads;
  const size_t per = f->band_rows * f->row_floats;
  float* b = threads <= SIZE_MAX / sizeof(float) / per ? (float*)onexn_aligned_alloc(threads * per * sizeof(float))
                                                       : NULL;
  if (b == NULL) return 1;
  onexn_aligned_free(f->bands);
  f->bands = b;
  f->band_threads = threads;
  return threads;
}

size_t onexn_conv_dw_scratch_floats(const onexn_conv_dw* f, int threads) {
  if (f == NULL) return 0;
  const size_t per = f->band_rows * f->row_floats;
  const size_t t = threads < 1 ? 1 : (size_t)threads;
  return t <= SIZE_MAX / sizeof(float) / per ? t * per : SIZE_MAX / sizeof(float);
}

typedef struct {
  const onexn_conv_dw* f;
  const float* input;
  float* output;
  float* bands;
  size_t runs;          // runs of output rows per image
  size_t rows_per_run;
  size_t chunks;        // channel chunks
} run_ctx;

static void run_task(void* p, size_t task, size_t thread) {
  const run_ctx* r = (const run_ctx*)p;
  const onexn_conv_dw* f = r->f;
  const size_t chunk = task % r->chunks, run = task / r->chunks % r->runs, img = task / r->chunks / r->runs;
  const size_t pa = f->cuts[chunk * f->segments / r->chunks], pb = f->cuts[(chunk + 1) * f->segments / r->chunks];
  const size_t c0 = onexn_conv_panel_channel(f->conv, pa), c1 = onexn_conv_panel_channel(f->conv, pb);
  const size_t out_h = (size_t)onexn_dwconv_get_shape(f->dw)->out_h;
  const size_t y0 = run * r->rows_per_run;
  const size_t y1 = y0 + r->rows_per_run < out_h ? y0 + r->rows_per_run : out_h;
  if (y0 >= y1 || c0 >= c1) return;
  const float* input = r->input + img * f->in_image;
  float* output = r->output + img * f->out_image;
  float* band = r->bands + thread * f->band_rows * f->row_floats;
  size_t lo, hi, last_lo, end;
  onexn_dwconv_row_inputs(f->dw, y1 - 1, &last_lo, &end);  // rows the task needs end here
  size_t band_lo = 0, band_hi = 0;                            // rows held: [band_lo, band_hi)
  for (size_t oy = y0; oy < y1; oy++) {
    onexn_dwconv_row_inputs(f->dw, oy, &lo, &hi);
    if (hi > band_hi) {
      if (band_hi <= lo) {
        band_lo = band_hi = lo;  // nothing held is needed again
      } else if (hi - band_lo > f->band_rows) {
        memmove(band, band + (lo - band_lo) * f->row_floats, (band_hi - lo) * f->row_floats * sizeof(float));
        band_lo = lo;
      }
      const size_t fill = band_lo + f->band_rows < end ? band_lo + f->band_rows : end;
      onexn_conv_run_pixels(f->conv, input, band_hi * f->width, fill * f->width,
                            band + (band_hi - band_lo) * f->row_floats, pa, pb, thread);
      band_hi = fill;
    }
    onexn_dwconv_run_row(f->dw, band, band_lo, output, oy, c0, c1);
  }
}

void onexn_conv_dw_run(onexn_conv_dw* f, const float* input, float* output, float* scratch,
                       onexn_threadpool* pool) {
  if (f == NULL || input == NULL || output == NULL) return;
  const size_t batch = (size_t)onexn_dwconv_get_shape(f->dw)->batch;
  const size_t out_h = (size_t)onexn_dwconv_get_shape(f->dw)->out_h;
  size_t threads = (size_t)onexn_threadpool_size(pool);
  if (scratch == NULL) {
    threads = reserve_threads(f, threads);
  } else if (onexn_conv_reserve_threads(f->conv, threads) < threads) {
    threads = 1;
  }
  run_ctx r;
  r.f = f;
  r.input = input;
  r.output = output;
  r.bands = scratch != NULL ? scratch : f->bands;
  r.runs = 1;
  r.chunks = 1;
  if (threads > 1) {
    const size_t want = threads * ONEXN_BAND_TASKS_PER_THREAD;
    const size_t per_image = batch >= want ? 1 : (want + batch - 1) / batch;
    r.runs = per_image < out_h ? per_image : out_h;
    r.chunks = (per_image + r.runs - 1) / r.runs;
    if (r.chunks > f->segments) r.chunks = f->segments;
  }
  r.rows_per_run = (out_h + r.runs - 1) / r.runs;
  r.runs = (out_h + r.rows_per_run - 1) / r.rows_per_run;
  onexn_threadpool_parallelize(threads > 1 ? pool : NULL, batch * r.runs * r.chunks, run_task, &r);
}
