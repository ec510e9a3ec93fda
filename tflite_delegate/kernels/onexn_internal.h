// Internal interfaces of the onexn kernel library: microkernel signatures, the kernel table entry,
// the packed convolution object and the thread pool's parallel-for. Not part of the public API.
#ifndef ONEXN_INTERNAL_H_
#define ONEXN_INTERNAL_H_

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "onexn_kernels.h"

// Pixels per tile of the transposed (pixel-vector) kernels; every ISA uses the same tile so one gather
// routine serves them all.
#define ONEXN_XT_PIXELS 16

// Forces inlining where a call per tile would cost as much as the tile (see onexn_ind_args).
#if defined(__GNUC__)
#define ONEXN_INLINE inline __attribute__((always_inline))
#else
#define ONEXN_INLINE inline
#endif

// A panel is up to nr output channels of one group; all panels of a group share its kept list.
typedef struct {
  uint32_t oc;      // first output channel
  uint32_t nc;      // valid channels (<= nr)
  uint32_t kept;    // kept input channels
  size_t kc_off;    // into the kept lists (onexn_ind_args.kc)
  size_t w_off;     // into the packed weights (onexn_ind_args.w), 64-byte aligned
} onexn_panel;

// One tile of an indirection microkernel: the vector runs over the NR output channels of one panel and
// the tile holds up to MR output pixels of one image.
typedef struct {
  const float* input;      // this image, NHWC
  const float* zero;       // cin zeros, read for padding taps and for pixels past mr
  const ptrdiff_t* ind;    // ind[m * taps + t]: float offset of the input row of pixel m, tap t; < 0 = pad
  size_t taps;             // kh * kw
  size_t kept;             // kept input channels of this panel
  size_t mr;               // valid pixels in this tile (1..MR)
  size_t nc;               // valid output channels in this panel (1..NR)
  size_t nr;               // packed channel width of the panel (used by runtime-width kernels)
  size_t pixel_stride;     // see onexn_ind_args
  const uint32_t* kc;      // kept input channels, strictly increasing
  const float* w;          // bias[NR], then [taps][kept][NR]
  float* out;              // output of pixel 0 of the tile, channel 0 of the panel
  size_t out_stride;       // floats between consecutive output pixels (cout)
  float min, max;          // fused activation clamp
} onexn_ind_tile;

// Arguments of an indirection microkernel: output pixels [0, pixels) of one image, in tiles of MR from
// pixel 0, times a range of panels (tile by tile, every panel of a tile before the next tile, so each
// output row is written whole while it is in cache). One call covers the whole run: a call per tile
// and panel spilled the row pointers and saved registers to the stack, and reloading them right after
// the tile's output stores cost up to a third of the time of layers that keep few input channels.
typedef struct {
  const float* input;         // this image, NHWC
  const float* zero;          // cin zeros
  const ptrdiff_t* ind;       // [pixels][taps] input row offsets of the run's pixels; < 0 = pad
  size_t taps;
  size_t pixels;
  const onexn_panel* panels;  // num_panels panels
  size_t num_panels;
  size_t nr;
  // cin when every pixel has one tap and reads input row p * cin (a 1x1 convolution with stride 1 and
  // no padding): kernels may then address rows as input + (ind[0] + m * cin) without the indirection
  // buffer. 0 otherwise.
  size_t pixel_stride;
  const uint32_t* kc;         // kept lists, indexed by the panels' kc_off
  const float* w;             // packed weights, indexed by the panels' w_off
  float* out;                 // output of pixel 0, channel 0
  size_t out_stride;          // cout
  float min, max;
} onexn_ind_args;

// The tile of an indirection run at pixel p (mr_max pixels or what is left of the run), panel i.
static ONEXN_INLINE void onexn_ind_tile_at(const onexn_ind_args* a, size_t p, size_t mr_max, size_t i,
                                           onexn_ind_tile* t) {
  const onexn_panel* pn = &a->panels[i];
  t->input = a->input;
  t->zero = a->zero;
  t->ind = a->ind + p * a->taps;
  t->taps = a->taps;
  t->kept = pn->kept;
  t->mr = a->pixels - p < mr_max ? a->pixels - p : mr_max;
  t->nc = pn->nc;
  t->nr = a->nr;
  t->pixel_stride = a->pixel_stride;
  t->kc = a->kc + pn->kc_off;
  t->w = a->w + pn->w_off;
  t->out = a->out + p * a->out_stride + pn->oc;
  t->out_stride = a->out_stride;
  t->min = a->min;
  t->max = a->max;
}

typedef void (*onexn_ind_ukernel)(const onexn_ind_args* args);

// Arguments of a transposed-tile microkernel: the vector runs over ONEXN_XT_PIXELS pixels whose inputs
// were gathered channel-major into xt.
typedef struct {
  const float* xt;         // [taps][cin][ONEXN_XT_PIXELS]
  size_t cin;
  size_t taps;
  size_t kept;
  size_t mr;               // valid pixels (1..ONEXN_XT_PIXELS)
  size_t nc;               // valid output channels (1..NR)
  const uint32_t* kc;
  const float* w;          // bias[NR], then [taps][kept][NR]
  float* out;
  size_t out_stride;
  float min, max;
} onexn_xt_args;
typedef void (*onexn_xt_ukernel)(const onexn_xt_args* args);

// Fills xt ([taps][cin][ONEXN_XT_PIXELS]) from the rows of mr pixels; pixels past mr read zero.
typedef void (*onexn_xt_gather)(float* xt, const float* input, const float* zero, const ptrdiff_t* ind,
                                size_t taps, size_t cin, size_t mr);

typedef enum { ONEXN_KIND_IND = 1, ONEXN_KIND_XT = 2 } onexn_kernel_kind;

// One row of a dispatch table.
typedef struct {
  const char* name;
  onexn_kernel_kind kind;
  uint32_t mr;  // pixels per tile
  uint32_t nr;  // packed output channels per panel
  onexn_ind_ukernel ind;
  onexn_xt_ukernel xt;
  onexn_xt_gather gather;
  // 1 if a pixel's result does not depend on which tile it runs in or how full that tile is (kernels
  // with a separate path for short tiles may sum in another order there).
  int tile_invariant;
} onexn_ukernel_config;

// Picks the microkernel for a resolved ISA, block width n and output pixels per image. Returns 0, or -1
// if the ISA has no kernels in this build.
int onexn_select_ukernel(onexn_isa isa, int n, size_t out_pixels, onexn_ukernel_config* out);

// Parallel-for over [0, n): fn(ctx, task, thread) with thread in [0, onexn_threadpool_size(pool)).
// pool may be NULL. Tasks are claimed dynamically; the caller runs tasks as thread 0.
typedef void (*onexn_task_fn)(void* ctx, size_t task, size_t thread);
void onexn_threadpool_parallelize(onexn_threadpool* pool, size_t n, onexn_task_fn fn, void* ctx);

// Arguments of a depthwise microkernel: a run of consecutive output pixels of one output row that all
// read the same rows x cols window of valid taps (padding taps are skipped, not multiplied by zeros).
// The window of pixel p starts at input + p * in_pixel_stride; tap (r, k) of it is at
// + r * in_row_stride + k * in_col_stride and its weights at w + r * w_row_stride + k * w_col_stride.
typedef struct {
  const float* input;       // first valid tap of pixel 0, first channel
  const float* w;           // weights of that tap ([kh][kw][C] rows), first channel
  const float* bias;        // first channel
  float* out;               // pixel 0, first channel
  size_t pixels;            // output pixels in the run (consecutive in x)
  size_t channels;          // channels to compute (<= C: a thread may take a chunk of them)
  size_t rows, cols;        // valid taps; either may be 0 (the output is the clamped bias)
  size_t in_pixel_stride;   // floats between the windows of consecutive pixels (stride_w * C)
  size_t in_row_stride;     // dilation_h * in_w * C
  size_t in_col_stride;     // dilation_w * C
  size_t w_row_stride;      // kw * C
  size_t w_col_stride;      // C
  size_t out_pixel_stride;  // C
  float min, max;           // fused activation clamp
} onexn_dw_args;
typedef void (*onexn_dw_ukernel)(const onexn_dw_args* args);

// Elementwise out[i] = min(max(a[i] + b[i], min), max); out may be a or b.
typedef void (*onexn_vadd_ukernel)(size_t n, const float* a, const float* b, float* out, float min, float max);

// a * b into *r; -1 if it overflows size_t.
static inline int onexn_mul_size(size_t a, size_t b, size_t* r) {
  if (a != 0 && b > SIZE_MAX / a) return -1;
  *r = a * b;
  return 0;
}

// printf-style message into err (when err_len > 0): the create functions' error reports.
static inline void onexn_set_err(char* err, size_t err_len, const char* fmt, ...) {
  if (err == NULL || err_len == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, err_len, fmt, ap);
  va_end(ap);
}

// Pieces of onexn_conv / onexn_dwconv that onexn_dwblock.c runs row by row.
const onexn_conv_shape* onexn_conv_get_shape(const onexn_conv* conv);
// The microkernel's tile_invariant: onexn_conv_run_pixels on any range gives onexn_conv_run's bits.
int onexn_conv_tile_invariant(const onexn_conv* conv);
// Makes per-thread scratch for `threads` threads; returns how many may run (1 if memory ran out).
size_t onexn_conv_reserve_threads(onexn_conv* conv, size_t threads);
// Output pixels [p0, p1) of one image (input_image: that image's input), panels [pa, pb), into out (pixel
// p0, channel 0; pixels cout floats apart), as thread `thread` of a reserved count.
void onexn_conv_run_pixels(const onexn_conv* conv, const float* input_image, size_t p0, size_t p1, float* out,
                           size_t pa, size_t pb, size_t thread);
size_t onexn_conv_num_panels(const onexn_conv* conv);
const onexn_dwconv_shape* onexn_dwconv_get_shape(const onexn_dwconv* dw);
// Input rows [lo, hi) holding every row output row oy reads (lo == hi when all its tap rows are padding);
// lo and hi never decrease from one output row to the next.
void onexn_dwconv_row_inputs(const onexn_dwconv* dw, size_t oy, size_t* lo, size_t* hi);
// Channels [c0, c1) of output row oy of one image into out_row (that row's pixel 0, channel 0). rows holds
// consecutive input rows of the image from row first_row on, at the image's row stride, covering
// onexn_dwconv_row_inputs(oy).
void onexn_dwconv_run_row(const onexn_dwconv* dw, const float* rows, size_t first_row, float* out_row, size_t oy,
                          size_t c0, size_t c1);

// Aligned allocation helpers (64-byte alignment, NULL on overflow or failure).
void* onexn_aligned_alloc(size_t bytes);
void onexn_aligned_free(void* p);

// Microkernels, one per file named like the function (f32-spconv-MRxNR[-pixelvec]-ISA.c).
void onexn_f32_spconv_4xn_scalar(const onexn_ind_args* args);
void onexn_f32_pixelvec_gather_16_scalar(float* xt, const float* input, const float* zero, const ptrdiff_t* ind,
                                         size_t taps, size_t cin, size_t mr);
#if defined(__x86_64__)
void onexn_f32_spconv_8x16_avx512f(const onexn_ind_args* args);
void onexn_f32_pixelvec_gather_16_avx512f(float* xt, const float* input, const float* zero, const ptrdiff_t* ind,
                                          size_t taps, size_t cin, size_t mr);
void onexn_f32_pixelvec_gather_16_avx2(float* xt, const float* input, const float* zero, const ptrdiff_t* ind,
                                       size_t taps, size_t cin, size_t mr);
void onexn_f32_spconv_16x1_pixelvec_avx512f(const onexn_xt_args* args);
void onexn_f32_spconv_16x2_pixelvec_avx512f(const onexn_xt_args* args);
void onexn_f32_spconv_16x4_pixelvec_avx512f(const onexn_xt_args* args);
void onexn_f32_spconv_16x8_pixelvec_avx512f(const onexn_xt_args* args);
void onexn_f32_spconv_8x8_avx2(const onexn_ind_args* args);
void onexn_f32_spconv_8x4_avx2(const onexn_ind_args* args);
void onexn_f32_spconv_4x16_avx2(const onexn_ind_args* args);
void onexn_f32_spconv_16x1_pixelvec_avx2(const onexn_xt_args* args);
void onexn_f32_spconv_16x2_pixelvec_avx2(const onexn_xt_args* args);
void onexn_f32_spconv_16x4_pixelvec_avx2(const onexn_xt_args* args);
#endif
#if defined(__aarch64__)
void onexn_f32_spconv_8x4_neon(const onexn_ind_args* args);
void onexn_f32_spconv_8x8_neon(const onexn_ind_args* args);
void onexn_f32_spconv_16x1_pixelvec_neon(const onexn_xt_args* args);
void onexn_f32_spconv_16x2_pixelvec_neon(const onexn_xt_args* args);
#endif

// Depthwise and elementwise-add microkernels (f32-dwconv-minmax-*.c, f32-vadd-minmax-*.c).
void onexn_f32_dwconv_minmax_scalar(const onexn_dw_args* args);
void onexn_f32_vadd_minmax_scalar(size_t n, const float* a, const float* b, float* out, float min, float max);
#if defined(__x86_64__)
void onexn_f32_dwconv_minmax_16c_avx512f(const onexn_dw_args* args);
void onexn_f32_dwconv_minmax_8c_avx2(const onexn_dw_args* args);
void onexn_f32_vadd_minmax_avx512f(size_t n, const float* a, const float* b, float* out, float min, float max);
void onexn_f32_vadd_minmax_avx2(size_t n, const float* a, const float* b, float* out, float min, float max);
#endif
#if defined(__aarch64__)
void onexn_f32_dwconv_minmax_4c_neon(const onexn_dw_args* args);
void onexn_f32_vadd_minmax_neon(size_t n, const float* a, const float* b, float* out, float min, float max);
#endif

#endif  // ONEXN_INTERNAL_H_
