// onexn_dwblock: a depthwise convolution and the 1x1 convolutions around it (an inverted-residual
// block's expansion and projection, either or both may be absent) run as one.
//
// MobileNetV2's expansions write tensors of up to 4.8 MB that the depthwise reads straight back, and the
// depthwise writes tensors of up to 1.8 MB that the projection reads back: those layers wait on memory,
// and block sparsity cannot shrink that traffic. Here each task walks a run of depthwise output rows. The
// expansion rows they read are computed into a band buffer (rows still needed when it is full move to
// its front); every few depthwise rows (a few pixel tiles' worth) go through the projection at once.
// Both buffers are per thread and stay in cache. Threads split the rows (onexn_dwblock_runs). The int8
// layers (onexn_qdwblock_create) run the same way on bytes.
//
// Each thread's share of rows is cut into a few tasks, so that a thread that finishes early takes the
// rest of a slower one's (a disturbed core; a stride-2 share that needs one more expansion row). Odd shares
// run from the bottom up (walk_up), towards the share above, which runs down towards them: the last task of
// a share is then the one next to its neighbour's end. A task that continues the rows its thread ran last,
// in either direction, keeps that thread's band; only a share's first task starts a band afresh,
// recomputing the expansion rows it shares with its neighbour (and a task stolen from a share that is not
// a neighbour's, at 3 or more threads). onexn_dwblock_chain runs the same walks.
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
// Tasks per share of rows at several threads.
#define ONEXN_TASKS_PER_SHARE 4

// What a thread's band holds, at the front of its scratch (64 bytes): the expansion rows [lo, hi) of
// image img, which its last task left there for a task that starts at row next (walking down) or ends
// there (walking up).
typedef struct {
  size_t valid, img, up, next, lo, hi;
} band_state;
#define ONEXN_BAND_STATE_BYTES 64

struct onexn_dwblock {
  onexn_conv* expand;     // NULL: the depthwise reads the block's input
  onexn_dwconv* dw;
  onexn_conv* project;    // NULL: the depthwise writes the block's output
  onexn_qconv* qexpand;   // the int8 layers instead (qdw not NULL; the float ones are)
  onexn_qdwconv* qdw;
  onexn_qconv* qproject;
  const onexn_dwconv_shape* d;
  size_t elem;            // bytes an element: 4 (float) or 1 (int8)
  size_t channels;        // depthwise channels
  size_t in_w;            // depthwise input width
  size_t out_h, out_w;    // depthwise output
  size_t batch;
  size_t in_image, out_image;  // elements per image of the block's input and output
  size_t row_elems;       // one depthwise input row: in_w * channels
  size_t band_rows;       // expansion rows a band holds (0 without expansion)
  size_t proj_rows;       // depthwise rows projected at once (0 without projection)
  size_t scratch_floats;  // per thread: band_state, band, then depthwise rows, each 64-byte aligned (in floats)
  float* own;             // the object's scratch, own_threads * scratch_floats; made by the first run
                          // without a caller's scratch that fits
  size_t own_threads;
};

static int has_expand(const onexn_dwblock* b) { return b->expand != NULL || b->qexpand != NULL; }
static int has_project(const onexn_dwblock* b) { return b->project != NULL || b->qproject != NULL; }

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

static size_t round64(size_t x) { return (x + 63) & ~(size_t)63; }

// The block of the shapes (checked by the callers), or NULL with a message.
// fn names the caller in messages.
static onexn_dwblock* make(const char* fn, const onexn_conv_shape* e, const onexn_dwconv_shape* d,
                           const onexn_conv_shape* pr, size_t elem, char* err, size_t err_len) {
  if (e != NULL && (d->batch != e->batch || d->in_h != e->out_h || d->in_w != e->out_w || d->channels != e->cout)) {
    onexn_set_err(err, err_len, "%s: depthwise input %dx%dx%dx%d is not the expansion's output %dx%dx%dx%d", fn,
                  d->batch, d->in_h, d->in_w, d->channels, e->batch, e->out_h, e->out_w, e->cout);
    return NULL;
  }
  if (pr != NULL && (d->batch != pr->batch || d->out_h != pr->in_h || d->out_w != pr->in_w || d->channels != pr->cin)) {
    onexn_set_err(err, err_len, "%s: depthwise output %dx%dx%dx%d is not the projection's input %dx%dx%dx%d", fn,
                  d->batch, d->out_h, d->out_w, d->channels, pr->batch, pr->in_h, pr->in_w, pr->cin);
    return NULL;
  }
  onexn_dwblock* b = (onexn_dwblock*)calloc(1, sizeof(*b));
  if (b == NULL) {
    onexn_set_err(err, err_len, "%s: out of memory", fn);
    return NULL;
  }
  b->d = d;
  b->elem = elem;
  // Every shape passed its create()'s overflow checks, so these products fit.
  b->channels = (size_t)d->channels;
  b->in_w = (size_t)d->in_w;
  b->out_h = (size_t)d->out_h;
  b->out_w = (size_t)d->out_w;
  b->batch = (size_t)d->batch;
  b->row_elems = b->in_w * b->channels;
  if (e != NULL) {
    b->in_image = (size_t)e->in_h * (size_t)e->in_w * (size_t)e->cin;
    // A band holds one output row's window plus one stride of new rows, so every band advances.
    const size_t window = (size_t)(d->kh - 1) * (size_t)d->dilation_h + 1;
    size_t rows = band_bytes() / elem / b->row_elems;
    if (rows < window + (size_t)d->stride_h) rows = window + (size_t)d->stride_h;
    b->band_rows = rows < (size_t)d->in_h ? rows : (size_t)d->in_h;
  } else {
    b->in_image = (size_t)d->in_h * b->row_elems;
  }
  if (pr != NULL) {
    b->out_image = b->out_h * b->out_w * (size_t)pr->cout;
    const size_t rows = (ONEXN_PROJECT_PIXELS + b->out_w - 1) / b->out_w;
    b->proj_rows = rows < b->out_h ? rows : b->out_h;
  } else {
    b->out_image = b->out_h * b->out_w * b->channels;
  }
  size_t band, dwrows;
  if (onexn_mul_size(b->band_rows, b->row_elems * elem, &band) ||
      onexn_mul_size(b->proj_rows, b->out_w * b->channels * elem, &dwrows) || band > SIZE_MAX / 8 ||
      dwrows > SIZE_MAX / 8) {
    onexn_set_err(err, err_len, "%s: scratch size overflows", fn);
    free(b);
    return NULL;
  }
  b->scratch_floats = (ONEXN_BAND_STATE_BYTES + round64(band) + round64(dwrows)) / sizeof(float);
  return b;
}

onexn_dwblock* onexn_dwblock_create(onexn_conv* expand, onexn_dwconv* dw, onexn_conv* project, char* err,
                                    size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (dw == NULL) {
    onexn_set_err(err, err_len, "onexn_dwblock_create: needs a depthwise");
    return NULL;
  }
  const char* why;
  if (expand != NULL && (why = check_pointwise(expand))[0] != '\0') {
    onexn_set_err(err, err_len, "onexn_dwblock_create: the expansion %s", why);
    return NULL;
  }
  if (project != NULL && (why = check_pointwise(project))[0] != '\0') {
    onexn_set_err(err, err_len, "onexn_dwblock_create: the projection %s", why);
    return NULL;
  }
  onexn_dwblock* b = make("onexn_dwblock_create", expand != NULL ? onexn_conv_get_shape(expand) : NULL,
                          onexn_dwconv_get_shape(dw), project != NULL ? onexn_conv_get_shape(project) : NULL,
                          sizeof(float), err, err_len);
  if (b == NULL) return NULL;
  b->expand = expand;
  b->dw = dw;
  b->project = project;
  return b;
}

onexn_dwblock* onexn_qdwblock_create(onexn_qconv* expand, onexn_qdwconv* dw, onexn_qconv* project, char* err,
                                     size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (dw == NULL) {
    onexn_set_err(err, err_len, "onexn_qdwblock_create: needs a depthwise");
    return NULL;
  }
  // int8 sums do not depend on the tiling: any 1x1 of stride 1 without padding runs pixel range by range.
  if ((expand != NULL && !is_pointwise(onexn_qconv_get_shape(expand))) ||
      (project != NULL && !is_pointwise(onexn_qconv_get_shape(project)))) {
    onexn_set_err(err, err_len, "onexn_qdwblock_create: a convolution is not a 1x1 with stride 1 and no padding");
    return NULL;
  }
  onexn_dwblock* b = make("onexn_qdwblock_create", expand != NULL ? onexn_qconv_get_shape(expand) : NULL,
                          onexn_qdwconv_get_shape(dw), project != NULL ? onexn_qconv_get_shape(project) : NULL, 1,
                          err, err_len);
  if (b == NULL) return NULL;
  b->qexpand = expand;
  b->qdw = dw;
  b->qproject = project;
  return b;
}

size_t onexn_dwblock_runs(const onexn_dwblock* b, size_t threads) {
  if (threads <= 1 || b->batch >= threads) return 1;
  const size_t per_image = (threads + b->batch - 1) / b->batch;
  return per_image < b->out_h ? per_image : b->out_h;
}

void onexn_dwblock_layout(const onexn_dwblock* b, size_t* batch, size_t* in_image, size_t* out_image,
                          const onexn_conv** expand, const onexn_conv** project) {
  *batch = b->batch;
  *in_image = b->in_image;
  *out_image = b->out_image;
  *expand = b->expand;
  *project = b->project;
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
  if (b->qexpand != NULL && onexn_qconv_reserve_threads(b->qexpand, threads) < threads) return 1;
  if (b->qproject != NULL && onexn_qconv_reserve_threads(b->qproject, threads) < threads) return 1;
  return threads;
}

// The three layers, float or int8; pointers are to elements of b->elem bytes.
static void expand_pixels(const onexn_dwblock* b, const uint8_t* input, size_t p0, size_t p1, uint8_t* out,
                          size_t thread) {
  if (b->qexpand != NULL) {
    onexn_qconv_run_pixels(b->qexpand, (const int8_t*)input, p0, p1, (int8_t*)out, thread);
  } else {
    onexn_conv_run_pixels(b->expand, (const float*)input, p0, p1, (float*)out, 0, onexn_conv_num_panels(b->expand),
                          thread);
  }
}

static void dw_row(const onexn_dwblock* b, const uint8_t* rows, size_t first, uint8_t* out_row, size_t oy) {
  if (b->qdw != NULL) {
    onexn_qdwconv_run_row(b->qdw, (const int8_t*)rows, first, (int8_t*)out_row, oy);
  } else {
    onexn_dwconv_run_row(b->dw, (const float*)rows, first, (float*)out_row, oy, 0, b->channels);
  }
}

// Projects depthwise rows [r0, r1) (held in dwrows from row r0 on) into the block's output image. The rows
// are pixels [0, n) of a pointwise convolution's input: its indirection is the identity.
static void project_rows(const onexn_dwblock_pass* r, const uint8_t* dwrows, size_t r0, size_t r1, size_t img,
                         size_t thread) {
  const onexn_dwblock* b = r->b;
  const size_t n = (r1 - r0) * b->out_w;
  uint8_t* output = r->output + img * b->out_image * b->elem;
  if (b->qproject != NULL) {
    const size_t cout = (size_t)onexn_qconv_get_shape(b->qproject)->cout;
    int8_t* out = (int8_t*)output + r0 * b->out_w * cout;
    onexn_qconv_run_pixels(b->qproject, (const int8_t*)dwrows, 0, n, out, thread);
    if (r->qaddend != NULL) {
      const int8_t* addend = r->qaddend + img * b->out_image + r0 * b->out_w * cout;
      r->qadd(&r->qadd_args, n * cout, r->block_operand == 0 ? out : addend, r->block_operand == 0 ? addend : out, out);
    }
  } else {
    const size_t cout = (size_t)onexn_conv_get_shape(b->project)->cout;
    float* out = (float*)output + r0 * b->out_w * cout;
    onexn_conv_run_pixels(b->project, (const float*)dwrows, 0, n, out, 0, onexn_conv_num_panels(b->project), thread);
    // A residual ADD after the block: these rows are finished and in this core's cache.
    if (r->addend != NULL) {
      const float* addend = r->addend + img * b->out_image + r0 * b->out_w * cout;
      r->add(n * cout, out, addend, out, r->add_min, r->add_max);
    }
  }
}

// Rows [y0, y1) of one image from the top down. A band kept from the thread's last task holds the rows
// [lo, hi) at its front.
static void walk_down(const onexn_dwblock_pass* r, size_t img, size_t y0, size_t y1, band_state* state, int keep,
                      size_t thread) {
  const onexn_dwblock* b = r->b;
  const size_t e = b->elem;
  const uint8_t* input = r->input + img * b->in_image * e;
  uint8_t* output = r->output + img * b->out_image * e;
  uint8_t* band = (uint8_t*)state + ONEXN_BAND_STATE_BYTES;
  uint8_t* dwrows = band + round64(b->band_rows * b->row_elems * e);
  const size_t row = b->row_elems * e;                 // bytes of a depthwise input row
  const size_t dw_row_bytes = b->out_w * b->channels * e;
  size_t lo, hi, end;
  onexn_dw_shape_row_inputs(b->d, y1 - 1, &lo, &end);  // rows the run needs end here
  size_t band_lo = keep ? state->lo : 0, band_hi = keep ? state->hi : 0;  // expansion rows held
  size_t proj_start = y0;                              // first depthwise row not yet projected
  for (size_t oy = y0; oy < y1; oy++) {
    const uint8_t* rows = input;  // depthwise input rows from row `first` on
    size_t first = 0;
    if (has_expand(b)) {
      onexn_dw_shape_row_inputs(b->d, oy, &lo, &hi);
      if (hi > band_hi) {
        if (band_hi <= lo) {
          band_lo = band_hi = lo;  // nothing held is needed again
        } else if (hi - band_lo > b->band_rows) {
          memmove(band, band + (lo - band_lo) * row, (band_hi - lo) * row);
          band_lo = lo;
        }
        const size_t fill = band_lo + b->band_rows < end ? band_lo + b->band_rows : end;
        expand_pixels(b, input, band_hi * b->in_w, fill * b->in_w, band + (band_hi - band_lo) * row, thread);
        band_hi = fill;
      }
      rows = band;
      first = band_lo;
    }
    if (!has_project(b)) {
      dw_row(b, rows, first, output + oy * dw_row_bytes, oy);
      continue;
    }
    dw_row(b, rows, first, dwrows + (oy - proj_start) * dw_row_bytes, oy);
    if (oy + 1 - proj_start == b->proj_rows || oy + 1 == y1) {
      project_rows(r, dwrows, proj_start, oy + 1, img, thread);
      proj_start = oy + 1;
    }
  }
  state->up = 0;
  state->next = y1;
  state->lo = band_lo;
  state->hi = band_hi;
}

// The same from the bottom up: the band holds its rows at its back and grows towards its front.
static void walk_up(const onexn_dwblock_pass* r, size_t img, size_t y0, size_t y1, band_state* state, int keep,
                    size_t thread) {
  const onexn_dwblock* b = r->b;
  const size_t e = b->elem;
  const uint8_t* input = r->input + img * b->in_image * e;
  uint8_t* output = r->output + img * b->out_image * e;
  uint8_t* band = (uint8_t*)state + ONEXN_BAND_STATE_BYTES;
  uint8_t* band_end = band + b->band_rows * b->row_elems * e;
  uint8_t* dwrows = band + round64(b->band_rows * b->row_elems * e);
  const size_t row = b->row_elems * e;
  const size_t dw_row_bytes = b->out_w * b->channels * e;
  size_t lo, hi, start;
  onexn_dw_shape_row_inputs(b->d, y0, &start, &hi);  // rows the run needs start here
  onexn_dw_shape_row_inputs(b->d, y1 - 1, &lo, &hi);
  size_t band_lo = keep ? state->lo : hi, band_hi = keep ? state->hi : hi;
  size_t proj_end = y1;  // depthwise rows [oy + 1, proj_end) wait for the projection
  for (size_t oy = y1; oy-- > y0;) {
    const uint8_t* rows = input;
    size_t first = 0;
    if (has_expand(b)) {
      onexn_dw_shape_row_inputs(b->d, oy, &lo, &hi);
      if (lo < band_lo) {
        if (band_lo >= hi) {
          band_lo = band_hi = hi;  // nothing held is needed again
        } else if (band_hi - lo > b->band_rows) {
          memmove(band_end - (hi - band_lo) * row, band_end - (band_hi - band_lo) * row, (hi - band_lo) * row);
          band_hi = hi;
        }
        const size_t fill = band_hi >= start + b->band_rows ? band_hi - b->band_rows : start;
        expand_pixels(b, input, fill * b->in_w, band_lo * b->in_w, band_end - (band_hi - fill) * row, thread);
        band_lo = fill;
      }
      rows = band_end - (band_hi - band_lo) * row;
      first = band_lo;
    }
    if (!has_project(b)) {
      dw_row(b, rows, first, output + oy * dw_row_bytes, oy);
      continue;
    }
    const size_t group = proj_end - y0 > b->proj_rows ? proj_end - b->proj_rows : y0;  // first row of the batch
    dw_row(b, rows, first, dwrows + (oy - group) * dw_row_bytes, oy);
    if (oy == group) {
      project_rows(r, dwrows, oy, proj_end, img, thread);
      proj_end = oy;
    }
  }
  state->up = 1;
  state->next = y0;
  state->lo = band_lo;
  state->hi = band_hi;
}

void onexn_dwblock_pass_rows(const onexn_dwblock_pass* r, size_t img, size_t y0, size_t y1, int up, size_t thread) {
  band_state* state = (band_state*)(r->scratch + thread * r->scratch_stride * sizeof(float));
  const int same = state->valid && state->img == img;
  int keep = 0;
  if (same && !state->up && state->next == y0) {
    up = 0;  // continues this thread's last rows downwards
    keep = 1;
  } else if (same && state->up && state->next == y1) {
    up = 1;
    keep = 1;
  }
  if (up) {
    walk_up(r, img, y0, y1, state, keep, thread);
  } else {
    walk_down(r, img, y0, y1, state, keep, thread);
  }
  state->valid = 1;
  state->img = img;
}

void onexn_dwblock_pass_forget(const onexn_dwblock_pass* r, size_t thread) {
  ((band_state*)(r->scratch + thread * r->scratch_stride * sizeof(float)))->valid = 0;
}

static void run_task(void* p, size_t task, size_t thread) {
  const onexn_dwblock_pass* r = (const onexn_dwblock_pass*)p;
  const onexn_dwblock* b = r->b;
  const size_t per_image = r->shares * r->tasks;
  const size_t img = task / per_image, share = task % per_image / r->tasks, part = task % r->tasks;
  const size_t share_begin = share * b->out_h / r->shares, share_end = (share + 1) * b->out_h / r->shares;
  // Odd shares run from the bottom up, towards the share above, which runs down towards them: a thread
  // that finishes its share early takes the other's last tasks from the end of its own rows, and its band
  // keeps the rows the two have in common (see the top of this file).
  const int share_up = r->shares > 1 && share % 2 == 1;
  size_t y0, y1;
  if (!share_up) {
    y0 = share_begin + part * r->rows_per_task;
    y1 = y0 + r->rows_per_task < share_end ? y0 + r->rows_per_task : share_end;
  } else {
    if (part * r->rows_per_task >= share_end - share_begin) return;
    y1 = share_end - part * r->rows_per_task;
    y0 = y1 - share_begin > r->rows_per_task ? y1 - r->rows_per_task : share_begin;
  }
  if (y0 < y1) onexn_dwblock_pass_rows(r, img, y0, y1, share_up, thread);
}

void onexn_dwblock_pass_init(onexn_dwblock_pass* r, const onexn_dwblock* b, const void* input, void* output,
                             const onexn_dwblock_residual* add, float* scratch, size_t stride) {
  memset(r, 0, sizeof(*r));
  r->b = b;
  r->input = (const uint8_t*)input;
  r->output = (uint8_t*)output;
  r->scratch = (uint8_t*)scratch;
  r->scratch_stride = stride;
  r->addend = add->addend;
  r->add = add->addend != NULL ? onexn_conv_add_ukernel(b->project) : NULL;
  r->add_min = add->min;
  r->add_max = add->max;
  r->qaddend = add->qaddend;
  r->qadd = add->qaddend != NULL ? onexn_qadd_ukernel(add->isa, add->qparams, &r->qadd_args) : NULL;
  r->block_operand = add->block_operand;
}

size_t onexn_dwblock_reserve_threads(onexn_dwblock* b, size_t threads) { return reserve_conv_threads(b, threads); }

void onexn_dwblock_rows_read(const onexn_dwblock* b, size_t y0, size_t y1, size_t* lo, size_t* hi) {
  size_t unused;
  onexn_dw_shape_row_inputs(b->d, y0, lo, &unused);
  onexn_dw_shape_row_inputs(b->d, y1 - 1, &unused, hi);
}

size_t onexn_dwblock_out_rows(const onexn_dwblock* b) { return b->out_h; }

size_t onexn_dwblock_in_rows(const onexn_dwblock* b) { return (size_t)b->d->in_h; }

int onexn_dwblock_is_float(const onexn_dwblock* b) { return b->qdw == NULL; }

int onexn_dwblock_has_projection(const onexn_dwblock* b) { return b->project != NULL || b->qproject != NULL; }

static int run(onexn_dwblock* b, const void* input, void* output, const onexn_dwblock_residual* add, float* scratch,
               size_t scratch_floats, onexn_threadpool* pool) {
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
  onexn_dwblock_pass r;
  onexn_dwblock_pass_init(&r, b, input, output, add, scratch != NULL ? scratch : b->own, b->scratch_floats);
  r.shares = onexn_dwblock_runs(b, threads);
  r.tasks = threads > 1 ? ONEXN_TASKS_PER_SHARE : 1;
  const size_t share_rows = (b->out_h + r.shares - 1) / r.shares;  // the longest share
  r.rows_per_task = (share_rows + r.tasks - 1) / r.tasks;
  // Whole groups of projected rows per task: the projections batch as they would in one task per share.
  if (b->proj_rows > 1) r.rows_per_task = (r.rows_per_task + b->proj_rows - 1) / b->proj_rows * b->proj_rows;
  for (size_t t = 0; t < threads; t++) onexn_dwblock_pass_forget(&r, t);
  onexn_threadpool_parallelize(threads > 1 ? pool : NULL, b->batch * r.shares * r.tasks, run_task, &r);
  return 0;
}

int onexn_dwblock_run(onexn_dwblock* b, const float* input, float* output, float* scratch, size_t scratch_floats,
                      onexn_threadpool* pool) {
  if (b == NULL || b->dw == NULL || input == NULL || output == NULL) return -1;
  const onexn_dwblock_residual none = {NULL, 0.0f, 0.0f, NULL, NULL, 0, ONEXN_ISA_AUTO};
  return run(b, input, output, &none, scratch, scratch_floats, pool);
}

int onexn_dwblock_run_add(onexn_dwblock* b, const float* input, const float* addend, float* output, float out_min,
                          float out_max, float* scratch, size_t scratch_floats, onexn_threadpool* pool) {
  if (b == NULL || b->dw == NULL || b->project == NULL || input == NULL || addend == NULL || output == NULL) {
    return -1;
  }
  const onexn_dwblock_residual add = {addend, out_min, out_max, NULL, NULL, 0, ONEXN_ISA_AUTO};
  return run(b, input, output, &add, scratch, scratch_floats, pool);
}

int onexn_qdwblock_run(onexn_dwblock* b, const int8_t* input, int8_t* output, float* scratch, size_t scratch_floats,
                       onexn_threadpool* pool) {
  if (b == NULL || b->qdw == NULL || input == NULL || output == NULL) return -1;
  const onexn_dwblock_residual none = {NULL, 0.0f, 0.0f, NULL, NULL, 0, ONEXN_ISA_AUTO};
  return run(b, input, output, &none, scratch, scratch_floats, pool);
}

int onexn_qdwblock_run_add(onexn_dwblock* b, const int8_t* input, const int8_t* addend, int8_t* output,
                           const onexn_qadd_params* p, int block_operand, onexn_isa isa, float* scratch,
                           size_t scratch_floats, onexn_threadpool* pool) {
  if (b == NULL || b->qdw == NULL || b->qproject == NULL || input == NULL || addend == NULL || output == NULL ||
      p == NULL || (block_operand != 0 && block_operand != 1)) {
    return -1;
  }
  const onexn_dwblock_residual add = {NULL, 0.0f, 0.0f, addend, p, block_operand, isa};
  return run(b, input, output, &add, scratch, scratch_floats, pool);
}
