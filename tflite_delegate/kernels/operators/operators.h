// Internal interfaces of the operators (conv, dwconv, dwblock, pool, ...): which microkernel an operator
// runs and how it is chosen, the creation with a given microkernel that the kernel tests use to test
// every microkernel of the lists directly, the tap windows of depthwise convolution and pooling, and the
// pieces of onexn_conv / onexn_dwconv that onexn_dwblock runs row by row. Not part of the public API
// (include/onexn_kernels.h).
#ifndef ONEXN_OPERATORS_OPERATORS_H_
#define ONEXN_OPERATORS_OPERATORS_H_

#include <stddef.h>
#include <stdint.h>

#include "common/microkernels.h"
#include "onexn_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { ONEXN_KIND_IND = 1, ONEXN_KIND_XT = 2 } onexn_kernel_kind;

// A 1xN convolution microkernel: a row of f32-spconv.inc (ind) or f32-spconv-pixelvec.inc (xt + gather).
typedef struct {
  const char* name;
  onexn_isa isa;      // the ISA it needs
  onexn_kernel_kind kind;
  uint32_t mr;        // pixels per tile
  uint32_t nr;        // packed output channels per panel (the most, when nr_fits_block)
  int nr_fits_block;  // panels are min(n, nr) wide
  onexn_ind_ukernel ind;
  onexn_xt_ukernel xt;
  onexn_xt_gather gather;
  int tile_invariant;
} onexn_ukernel_config;

// The vadd microkernel onexn_add_run runs for isa (add.c); onexn_conv_run_add adds with it.
onexn_vadd_ukernel onexn_add_ukernel(onexn_isa isa);
// The one for conv's ISA (onexn_dwblock_run_add adds with its projection's).
onexn_vadd_ukernel onexn_conv_add_ukernel(const onexn_conv* conv);
// The qs8 vadd microkernel onexn_qadd_run runs for isa, and its arguments for p (qadd.c).
onexn_qs8_vadd_ukernel onexn_qadd_ukernel(onexn_isa isa, const onexn_qadd_params* p, onexn_qs8_vadd_args* args);

// The microkernel for a resolved ISA, block width n and output pixels per image (conv-dispatch.c).
// Returns 0, or -1 if the ISA has no kernels in this build.
int onexn_select_ukernel(onexn_isa isa, int n, size_t out_pixels, const onexn_ukernel_config** out);
// The convolution microkernel of that name in this build, or NULL.
const onexn_ukernel_config* onexn_conv_ukernel(const char* name);
// How onexn_conv_create_planned runs a convolution (conv-cost.c): the microkernel, and with dense_n > 0 an
// index of every block at that width instead of the kept ones.
typedef struct {
  const onexn_ukernel_config* uk;
  int dense_n;
  onexn_conv_choice choice;
} onexn_conv_plan;
int onexn_conv_plan_for(const onexn_conv_shape* shape, const onexn_block_index* index, onexn_isa isa,
                        onexn_dense_policy policy, onexn_conv_plan* out);
// Bytes of input one image's output pixels read: the image, or each pixel's taps where that is less.
static inline size_t onexn_conv_input_bytes(const onexn_conv_shape* s) {
  const size_t image = (size_t)s->in_h * (size_t)s->in_w * (size_t)s->cin;
  const size_t taps = (size_t)s->out_h * (size_t)s->out_w * (size_t)s->kh * (size_t)s->kw * (size_t)s->cin;
  return (image < taps ? image : taps) * sizeof(float);
}
enum { ONEXN_WEIGHT_BLOCK_BYTES = 256 * 1024 };  // a quarter of Zen 4's L2, an eighth of a Xeon's
// Whether a convolution runs blocks of panels, each over all the pixels of a task, so that its weights are
// read once per task rather than once per tile (conv.c): the weights are larger than a share of L2 and the
// input rows its pixels read fit in one. weight_bytes: packed weights; input_bytes: the input a run reads;
// tiles: pixel tiles per image.
static inline int onexn_conv_blocks_weights(size_t weight_bytes, size_t input_bytes, size_t tiles) {
  return tiles >= 2 && weight_bytes > 2 * ONEXN_WEIGHT_BLOCK_BYTES && input_bytes <= 2 * ONEXN_WEIGHT_BLOCK_BYTES;
}
// The bytes of an image's gathered tiles for a pixel-vector kernel (tiles of mr pixels, taps x cin floats
// each), which it reads where an indirection kernel reads the input; 0 or -1 on overflow.
static inline int onexn_conv_gathered_bytes(size_t tiles, size_t mr, size_t taps, size_t cin, size_t* bytes) {
  const size_t factors[4] = {tiles, mr, taps, cin};
  size_t b = sizeof(float);
  for (int i = 0; i < 4; i++) {
    if (factors[i] != 0 && b > SIZE_MAX / factors[i]) return -1;
    b *= factors[i];
  }
  *bytes = b;
  return 0;
}
// The same for a pixel-vector convolution, whose blocks of panels run over every gathered tile of a run
// (gathered once: conv.c). Only where the weights and the tiles do not fit in L2 (l2, in bytes) together,
// and the tiles fit in a quarter of it beside a block of weights, or the weights exceed it one and a half
// times: each panel reads four times as many bytes of its tiles as of its weights (N = 4), so tiles pushed
// out of L2 cost more than the weights' passes save unless those are large. On Zen 4 (1 MB of L2), N = 4:
// in blocks, MobileNetV1's 7x7x512->1024 50% (1 MB of weights, 128 KB of tiles) and 7x7x1024->1024 (2.1 MB,
// 256 KB) and ResNet-50's 7x7x2048->512 50% (2.1 MB, 512 KB) ran faster; ResNet-50's 7x7x2048->512 75%
// (1 MB, 512 KB) 1-2% slower, and MobileNetV2's 7x7x320->1280 50% (0.8 MB, 80 KB: they fit) 1% slower.
static inline int onexn_conv_xt_blocks_weights(size_t weight_bytes, size_t gathered_bytes, size_t tiles, size_t l2) {
  return onexn_conv_blocks_weights(weight_bytes, gathered_bytes, tiles) && weight_bytes + gathered_bytes > l2 &&
         (gathered_bytes <= ONEXN_WEIGHT_BLOCK_BYTES || weight_bytes / 3 > l2 / 2);
}
// 1 on CPUs that run AVX-512 on 256-bit units (AMD Zen 4): ymm code then does as much per cycle per lane.
int onexn_cpu_avx512_on_256bit_units(void);
// onexn_conv_create with the given microkernel instead of the dispatched one; fails (NULL, message in
// err) like onexn_conv_create, and when the CPU lacks the microkernel's ISA.
onexn_conv* onexn_conv_create_with_ukernel(const onexn_conv_shape* shape, const onexn_block_index* index,
                                           const float* weights_ohwi, const float* bias,
                                           const onexn_ukernel_config* uk, char* err, size_t err_len);

// A depthwise microkernel: a row of f32-dwconv.inc.
typedef struct {
  const char* name;
  onexn_isa isa;
  onexn_dw_ukernel fn;
} onexn_dwconv_ukernel_config;

// The depthwise microkernel of that name in this build, or NULL.
const onexn_dwconv_ukernel_config* onexn_dwconv_ukernel(const char* name);
// onexn_dwconv_create with the given microkernel; fails like it, and when the CPU lacks its ISA.
onexn_dwconv* onexn_dwconv_create_with_ukernel(const onexn_dwconv_shape* shape, const float* weights_hwc,
                                               const float* bias, const onexn_dwconv_ukernel_config* uk, char* err,
                                               size_t err_len);

// The checks of a 1xN convolution's shape, block index and weights pointer (conv-args.c); fn names the
// create function in the message. Returns 0, or -1 with a message in err.
int onexn_conv_check_args(const char* fn, const onexn_conv_shape* s, const onexn_block_index* ix,
                          const void* weights, char* err, size_t err_len);
// ind[(oy * out_w + ox) * kh * row_taps + ky * row_taps + kx] = element offset of the input row that tap
// reads, -1 for a padding tap. row_taps: kw, or 1 when each kernel row is read as one tap of kw * cin floats.
void onexn_conv_build_indirection(const onexn_conv_shape* s, int row_taps, ptrdiff_t* ind);
// How a run splits into tasks, each a run of consecutive pixel tiles of one image times a chunk of panels
// (onexn_conv_task_of).
typedef struct {
  size_t chunks, panels_per_chunk;  // panel chunks per run of tiles
  size_t tiles_per_task, tile_runs;  // consecutive tiles of one image per task; runs per image
  size_t tasks;
  const uint32_t* chunk_order;       // the chunks in the order the tasks take them; NULL: 0, 1, 2, ...
} onexn_conv_tasks;
typedef struct {
  size_t chunk, img, run;
} onexn_conv_task;
// Task i, chunk by chunk: the threads' contiguous shares of the tasks start on different chunks, so they
// stream different panels' weights from memory, not the same ones at once (tiles first, both threads began
// on chunk 0: ResNet-50 N=4 75% at 2 threads, whose 7x7 layers run 4 tiles x 2 chunks, 0.93-0.94 of that).
static inline onexn_conv_task onexn_conv_task_of(const onexn_conv_tasks* t, size_t i) {
  const size_t per_chunk = t->tasks / t->chunks;  // images x tile_runs
  const size_t c = i / per_chunk;
  const onexn_conv_task r = {t->chunk_order != NULL ? t->chunk_order[c] : c, i % per_chunk / t->tile_runs,
                             i % per_chunk % t->tile_runs};
  return r;
}
// The chunks of a plan ordered so that the threads' shares (chunks / threads consecutive chunks each) hold
// about the same work, counted as the panels' kept input channels: chunks of equal panel counts differ by
// their kept blocks (ResNet-50 N=16 50%: the 14x14 3x3 layers' 16 panels keep 981-1350 blocks each, and
// one thread's 8 up to 4.5% more than the other's, a time it then waits at the layer's end). Fills order
// and returns 1 where the shares in order differ by at least 1% of the work and the order at least halves
// that, else returns 0 (also when there is nothing to choose: fewer than 2 chunks per thread, or chunks not
// a multiple of threads). order: room for `chunks` entries.
int onexn_conv_balance_chunks(const onexn_panel* panels, size_t num_panels, size_t panels_per_chunk,
                              size_t chunks, size_t threads, uint32_t* order);
// weights_in_blocks: the layer's panels run in blocks (conv.c, weight_blocking), so at several threads its
// tasks run half an image's tiles each (over a chunk of the panels). min_tiles: tiles a task of pixels
// should hold at least (1: no minimum).
onexn_conv_tasks onexn_conv_plan_tasks(size_t threads, size_t batch, size_t tiles, size_t num_panels,
                                       int weights_in_blocks, size_t min_tiles);

// An int8 1xN convolution microkernel: a row of qs8-qc8w-spconv.inc.
typedef struct {
  const char* name;
  onexn_isa isa;
  uint32_t nr;            // packed output channels per panel
  uint32_t kr;            // kept input channels per weight group
  int w_int16;            // weights packed as int16
  int32_t input_offset;   // 128: the kernel reads x + 128 (the gather flips the sign bit)
  uint32_t x_bytes;       // interleave scratch per tap, padded kept channel and pixel
  onexn_qs8_ukernel fn;
  onexn_x8_gather gather;
  onexn_qs8_strip strip;  // or NULL
} onexn_qs8_ukernel_config;

// The blocked column of a gather's row in x8-pixelvec-gather.inc (0 for an unknown function).
int onexn_x8_gather_blocked(onexn_x8_gather gather);
// The narrow gather (max_cin column) that can stand in for a full gather on a layer of cin input channels, or
// NULL. It reads 4 bytes at every row: only for tiles whose rows all have them.
onexn_x8_gather onexn_x8_gather_narrow(onexn_x8_gather gather, size_t cin);
// The int8 microkernel of that name in this build, or NULL.
const onexn_qs8_ukernel_config* onexn_qconv_ukernel(const char* name);
// The int8 microkernel for a resolved ISA (AVX512 and NEON take their dot-product extension when the CPU has
// it) and block width n; -1 if the ISA has none in this build.
int onexn_qconv_select_ukernel(onexn_isa isa, int n, const onexn_qs8_ukernel_config** out);
// The microkernel for a layer: onexn_qconv_select_ukernel's, or a faster twin for this layer's shape and kept
// lists where the CPU has one. 0, or -1 if the ISA has none.
int onexn_qconv_choose_ukernel(onexn_isa isa, const onexn_conv_shape* shape, const onexn_block_index* index,
                               const onexn_qs8_ukernel_config** out);
// 1 for a stride-1 KxK layer (dilation 1, at most 4M padded pixels) that runs from strips where its kernel has
// a strip function (qconv.c, plan_strip, which also bounds its per-thread memory).
int onexn_qconv_strip_shape(const onexn_conv_shape* shape);
// 1 for a KxK layer of at most 4 input channels (dilation 1) that runs rows where its kernel has a strip
// function (qconv.c, plan_rows).
int onexn_qconv_rows_shape(const onexn_conv_shape* shape);
// onexn_qconv_create with the given microkernel; fails like it, and when the CPU lacks the microkernel's ISA.
onexn_qconv* onexn_qconv_create_with_ukernel(const onexn_conv_shape* shape, const onexn_block_index* index,
                                             const int8_t* weights_ohwi, const int32_t* bias,
                                             const onexn_qconv_quant* quant, const onexn_qs8_ukernel_config* uk,
                                             char* err, size_t err_len);

// An int8 depthwise microkernel: a row of qs8-qc8w-dwconv.inc.
typedef struct {
  const char* name;
  onexn_isa isa;
  onexn_qs8_dw_ukernel fn;
} onexn_qdwconv_ukernel_config;

// The int8 depthwise microkernel of that name in this build, or NULL.
const onexn_qdwconv_ukernel_config* onexn_qdwconv_ukernel(const char* name);
// onexn_qdwconv_create with the given microkernel; fails like it, and when the CPU lacks its ISA.
onexn_qdwconv* onexn_qdwconv_create_with_ukernel(const onexn_dwconv_shape* shape, const int8_t* weights_hwc,
                                                 const int32_t* bias, const onexn_qconv_quant* quant,
                                                 const onexn_qdwconv_ukernel_config* uk, char* err, size_t err_len);

// A pooling microkernel: a row of f32-pool.inc.
typedef struct {
  const char* name;
  onexn_isa isa;
  onexn_pool_kind kind;
  onexn_pooling_ukernel fn;
} onexn_pool_ukernel_config;

// The pooling microkernel of that name in this build, or NULL.
const onexn_pool_ukernel_config* onexn_pool_ukernel(const char* name);
// onexn_pool_create with the given microkernel (of its kind); fails like it, and when the CPU lacks its ISA.
onexn_pool* onexn_pool_create_with_ukernel(const onexn_pool_shape* shape, const onexn_pool_ukernel_config* uk,
                                           char* err, size_t err_len);

// Valid taps of output coordinate o along one axis of a window (depthwise convolution, pooling): k in
// [first, first + count) with 0 <= o * stride - pad + k * dilation < in.
typedef struct {
  uint32_t first;  // first valid tap (row ky or column kx)
  uint32_t count;  // valid taps from there
} onexn_tap_range;

static inline onexn_tap_range onexn_axis_taps(ptrdiff_t o, ptrdiff_t stride, ptrdiff_t pad, ptrdiff_t dilation,
                                              ptrdiff_t k_max, ptrdiff_t in) {
  const ptrdiff_t base = o * stride - pad;
  ptrdiff_t k0 = base >= 0 ? 0 : (-base + dilation - 1) / dilation;
  ptrdiff_t k1 = base > in - 1 ? 0 : (in - 1 - base) / dilation + 1;
  if (k1 > k_max) k1 = k_max;
  if (k0 > k_max) k0 = k_max;
  const onexn_tap_range r = {(uint32_t)k0, (uint32_t)(k1 > k0 ? k1 - k0 : 0)};
  return r;
}

// A block's batch, elements per image of its input and output, and its float expansion and projection
// (NULL when absent or int8): what onexn_dwblock_split checks of its slices.
void onexn_dwblock_layout(const onexn_dwblock* b, size_t* batch, size_t* in_image, size_t* out_image,
                          const onexn_conv** expand, const onexn_conv** project);

// One run of a block over its tensors, for onexn_dwblock_chain: rows of one image at a time, each thread
// on its own band of expansion rows in the scratch (scratch_stride floats per thread, each 64-byte
// aligned and at least onexn_dwblock_scratch_floats(b, 1)).
typedef struct {
  const onexn_dwblock* b;
  const uint8_t* input;
  uint8_t* output;
  uint8_t* scratch;
  size_t scratch_stride;  // floats of scratch per thread
  const float* addend;    // added to the projection's rows as they finish, or NULL (onexn_dwblock_run_add)
  onexn_vadd_ukernel add;
  float add_min, add_max;
  const int8_t* qaddend;  // onexn_qdwblock_run_add's, or NULL
  onexn_qs8_vadd_ukernel qadd;
  onexn_qs8_vadd_args qadd_args;
  int block_operand;      // which input of the int8 ADD the block's output is
  size_t shares;          // onexn_dwblock_run: shares of depthwise output rows per image (onexn_dwblock_runs)
  size_t tasks;           // tasks per share
  size_t rows_per_task;   // at most; a share's last task may be shorter or empty
} onexn_dwblock_pass;
// The residual ADD a pass adds to the projection's rows: a float block's (addend, clamped to [min, max]) or
// an int8 block's (qaddend, as onexn_qadd_run computes it); none when both are NULL.
typedef struct {
  const float* addend;
  float min, max;
  const int8_t* qaddend;
  const onexn_qadd_params* qparams;
  int block_operand;  // which input of the int8 ADD the block's output is
  onexn_isa isa;      // the int8 ADD's
} onexn_dwblock_residual;
void onexn_dwblock_pass_init(onexn_dwblock_pass* pass, const onexn_dwblock* b, const void* input, void* output,
                             const onexn_dwblock_residual* add, float* scratch, size_t stride);
// Output rows [y0, y1) of image img, from the top down (up = 0) or the bottom up, as thread `thread` (of as
// many as onexn_dwblock_reserve_threads allowed). Rows that continue the thread's last ones, in either
// direction, keep its band (and run in that direction); the others start it afresh.
void onexn_dwblock_pass_rows(const onexn_dwblock_pass* pass, size_t img, size_t y0, size_t y1, int up, size_t thread);
// The thread's band holds nothing of this pass (before its first rows).
void onexn_dwblock_pass_forget(const onexn_dwblock_pass* pass, size_t thread);
size_t onexn_dwblock_reserve_threads(onexn_dwblock* b, size_t threads);
// Input rows [lo, hi) that output rows [y0, y1) read (y0 < y1).
void onexn_dwblock_rows_read(const onexn_dwblock* b, size_t y0, size_t y1, size_t* lo, size_t* hi);
size_t onexn_dwblock_in_rows(const onexn_dwblock* b);
size_t onexn_dwblock_out_rows(const onexn_dwblock* b);
int onexn_dwblock_is_float(const onexn_dwblock* b);
int onexn_dwblock_has_projection(const onexn_dwblock* b);  // float or int8

// Pieces of onexn_conv / onexn_dwconv that onexn_dwblock runs row by row.
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
// Panels per microkernel call: fewer than onexn_conv_num_panels where the weights run in blocks (conv.c).
size_t onexn_conv_panel_block(const onexn_conv* conv);
const onexn_dwconv_shape* onexn_dwconv_get_shape(const onexn_dwconv* dw);
// Input rows [lo, hi) holding every row output row oy reads (lo == hi when all its tap rows are padding);
// lo and hi never decrease from one output row to the next.
void onexn_dwconv_row_inputs(const onexn_dwconv* dw, size_t oy, size_t* lo, size_t* hi);
void onexn_dw_shape_row_inputs(const onexn_dwconv_shape* s, size_t oy, size_t* lo, size_t* hi);
// Channels [c0, c1) of output row oy of one image into out_row (that row's pixel 0, channel 0). rows holds
// consecutive input rows of the image from row first_row on, at the image's row stride, covering
// onexn_dwconv_row_inputs(oy).
void onexn_dwconv_run_row(const onexn_dwconv* dw, const float* rows, size_t first_row, float* out_row, size_t oy,
                          size_t c0, size_t c1);
// The same pieces of the int8 layers (onexn_qdwblock): a 1x1 onexn_qconv runs tiles, never strips.
const onexn_conv_shape* onexn_qconv_get_shape(const onexn_qconv* conv);
size_t onexn_qconv_reserve_threads(onexn_qconv* conv, size_t threads);
// Output pixels [p0, p1) of one image of a 1x1 stride-1 unpadded layer, every channel, into out (pixel p0).
void onexn_qconv_run_pixels(const onexn_qconv* conv, const int8_t* input_image, size_t p0, size_t p1, int8_t* out,
                            size_t thread);
const onexn_dwconv_shape* onexn_qdwconv_get_shape(const onexn_qdwconv* dw);
// Every channel of output row oy of one image, from its input rows held from row first_row on.
void onexn_qdwconv_run_row(const onexn_qdwconv* dw, const int8_t* rows, size_t first_row, int8_t* out_row,
                           size_t oy);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // ONEXN_OPERATORS_OPERATORS_H_
