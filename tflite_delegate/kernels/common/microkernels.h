// The microkernels' side of the kernel library: their argument structs and signatures, one family per
// folder (f32-spconv/, f32-spconv-pixelvec/, f32-pixelvec-gather/, f32-dwconv/, f32-vadd/, f32-softmax/,
// f32-pool/, qs8-qc8w-spconv/, qs8-qc8w-dwconv/, qs8-vadd/, x8-pixelvec-gather/, s8-maxpool/). Every
// microkernel is declared here from its family's kernel list (<family>/<family>.inc), the same list the
// operators dispatch from and the kernel tests iterate. Microkernels see neither TFLite nor the operators.
#ifndef ONEXN_COMMON_MICROKERNELS_H_
#define ONEXN_COMMON_MICROKERNELS_H_

#include <stddef.h>
#include <stdint.h>

#include "common/common.h"

#ifdef __cplusplus
extern "C" {
#endif

// Pixels per tile of the transposed (pixel-vector) kernels; every ISA uses the same tile so one gather
// routine serves them all.
#define ONEXN_XT_PIXELS 16

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
// were gathered channel-major into xt; a 32-pixel kernel reads a second such tile right after the first.
typedef struct {
  const float* xt;         // [taps][cin][ONEXN_XT_PIXELS]
  size_t cin;
  size_t taps;
  size_t kept;
  size_t mr;               // valid pixels (1..the kernel's tile: 16 or 32)
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

// Softmax of one row of n >= 1 floats: exp(beta * (x - max)) times 1 / their sum; output may be input.
typedef void (*onexn_softmax_ukernel)(size_t n, const float* input, float* output, float beta);

// Fills xt ([taps][cin][ONEXN_XT_PIXELS] bytes) from the int8 rows of mr pixels, each byte xor flip (0x80 turns
// int8 into uint8 plus 128); padding taps and pixels past mr read the zero row.
typedef void (*onexn_x8_gather)(uint8_t* xt, const int8_t* input, const int8_t* zero, const ptrdiff_t* ind,
                                size_t taps, size_t cin, size_t mr, uint8_t flip);

// The row of the gathered tile that holds channel c: c, or for a blocked gather (an x8-pixelvec-gather.inc
// column), inside whole 64-channel blocks, the order a zmm byte transpose stores without extracting lanes:
// channel 64b + 16l + j (j < 16, lane l < 4) in row 64b + 4j + l.
static inline size_t onexn_x8_gather_row(size_t c, size_t cin, int blocked) {
  if (!blocked || c >= (cin & ~(size_t)63)) return c;
  return (c & ~(size_t)63) | (c & 15) << 2 | (c >> 4 & 3);
}

// Arguments of an int8 1xN microkernel (qs8 activations, qc8w weights): the ONEXN_XT_PIXELS pixels of one
// tile, whose inputs an x8 gather transposed channel-major into xt, times a range of panels. A panel's kept
// list is padded to a multiple of the kernel's kr by repeating a kept channel (its weights are 0); its packed
// weights are, 64-byte aligned,
//   int32 bias[NR]      the bias minus (input zero point + the kernel's input offset) * the sum of the
//                       channel's weights, so that sum(x * w) over the kernel's x needs no other correction
//   float scale[NR]     input_scale * weight_scale / output_scale, XNNPACK's requantization scale
//   w[taps][kept / kr][NR][kr]   int8, or int16 for kernels that widen (w_int16)
// Each output is clamp(round_half_even((float)acc * scale), lo, hi) + zero_point, as XNNPACK's qs8-qc8w
// kernels compute it (fp32 requantization), so results match it bit for bit.
typedef struct {
  const uint8_t* xt;          // [taps][cin][ONEXN_XT_PIXELS], from the kernel's gather (if it has one)
  const int8_t* input;        // the image's input, the zero row (cin bytes of the input zero point) and the
  const int8_t* zero;         // tile's indirection, [pixel][tap] row offsets in input (-1 = padding), for
  const ptrdiff_t* ind;       // kernels without a gather
  size_t cin;
  size_t taps;
  size_t mr;                  // valid pixels (1..ONEXN_XT_PIXELS); the others are computed, not stored
  const onexn_panel* panels;  // num_panels panels; kept = the padded count
  size_t num_panels;
  const uint32_t* kc;         // padded kept lists as rows of xt (onexn_x8_gather_row), by the panels' kc_off
  const uint8_t* w;           // packed weights, indexed by the panels' w_off (bytes)
  int8_t* out;                // output of pixel 0, channel 0
  size_t out_stride;          // cout
  void* scratch;              // the kernel's activations: taps * (kept rounded up to 64) * x_bytes * 16 bytes
  int32_t zero_point;         // output zero point
  float lo, hi;               // output range minus the zero point (integers)
  int clamp_hi;               // 0: hi is int8's own bound and no acc * scale reaches 2^31 in magnitude
                              // (onexn_qs8_clamp_hi_needed): saturating to int8 clamps, kernels may skip hi
  // A kernel with a strip function (onexn_qs8_strip) reads the panels' group from a strip instead of
  // interleaving the tile when strip is not NULL: the tap t quads of the tile's pixel m start at byte
  // strip_tap[t] + 4 * m of strip, quad j strip_stride bytes after quad 0. xt and ind are then unused.
  const uint8_t* strip;
  size_t strip_stride;
  const size_t* strip_tap;
  // Rows (pixel_stride != 0; qconv.c, plan_rows): strip is the tile's pixel 0 in a flipped, padded copy of the
  // image and the panels' kept quads are a tap row's kw * cin bytes: quad j of tap row t of pixel m is the 4
  // bytes at strip + strip_tap[t] + m * pixel_stride + 4j. xt, ind and kc are then unused.
  size_t pixel_stride;
} onexn_qs8_args;
typedef void (*onexn_qs8_ukernel)(const onexn_qs8_args* args);

// Interleaves one gathered tile's kept channels kc[0..kept) (kept a multiple of 4) as a strip's quads: the 16
// pixels' bytes of channels kc[4j..4j+3] at strip + j * stride (64 bytes). A stride-1 KxK layer gathers and
// interleaves each input pixel once this way, where a tile's kernel call would do it once per tap.
typedef void (*onexn_qs8_strip)(uint8_t* strip, size_t stride, const uint8_t* xt, const uint32_t* kc, size_t kept);

// Arguments of an int8 depthwise microkernel: a run of output pixels with the same valid taps (those inside
// the image), every channel. The taps are given as pointers to channel 0 of the first pixel's input and of
// their weights; pixel p reads p * x_stride bytes further and writes p * channels further. Each output is
// round_half_even(clamp((float)acc * scale[c], lo, hi)) + zero_point with acc = bias[c] + the sum over the taps
// of (x - input_zero_point) * w, as XNNPACK's qs8-qc8w dwconv computes it (its padding taps add 0).
typedef struct {
  const int8_t* const* x;  // taps
  const int8_t* const* w;  // taps
  size_t taps, channels;
  size_t pixels, x_stride;
  const int32_t* bias;     // channels
  const float* scale;      // channels
  int32_t input_zero_point, zero_point;
  float lo, hi;            // the activation's int8 bounds less zero_point
  int clamp_hi;            // as onexn_qs8_args.clamp_hi: 0 lets a kernel skip hi
  int8_t* out;             // pixels * channels
  // The 3x3 kernel's weights packed once (qdwconv.c, pack_3x3), or NULL: per 16-channel tile, the window's
  // three columns as (w[0][kx], w[1][kx], w[2][kx], 0) per channel, then bias - (input_zero_point + 128) *
  // sum(w) over the 9 taps. With it the operator hands the kernel all 9 taps of every pixel, those outside
  // the image pointing at input zero points (their terms are 0), so border pixels run the 3x3 kernel too.
  const uint8_t* packed_3x3;
} onexn_qs8_dw_args;
typedef void (*onexn_qs8_dw_ukernel)(const onexn_qs8_dw_args* args);

// Parameters of an int8 ADD microkernel (XNNPACK's qs8 vadd): out = clamp((bias + a * a_multiplier + b *
// b_multiplier) >> shift, lo, hi) + zero_point, the shift arithmetic.
typedef struct {
  int32_t bias, a_multiplier, b_multiplier;
  uint32_t shift;
  int32_t lo, hi;  // the activation's int8 bounds less zero_point
  int32_t zero_point;
} onexn_qs8_vadd_args;
typedef void (*onexn_qs8_vadd_ukernel)(const onexn_qs8_vadd_args* p, size_t n, const int8_t* a, const int8_t* b,
                                       int8_t* out);

// Arguments of a pooling microkernel: a run of consecutive output pixels of one output row whose windows
// of valid taps have the same rows x cols shape (padding taps are left out: TFLite's max never sees them
// and its average divides by the valid taps only). Tap (r, k) of pixel p is at
// input + p * in_pixel_stride + r * in_row_stride + k * in_col_stride.
typedef struct {
  const float* input;       // first valid tap of pixel 0, first channel
  float* out;               // pixel 0, first channel
  size_t pixels;            // output pixels in the run (consecutive in x)
  size_t channels;
  size_t rows, cols;        // valid taps, both >= 1
  size_t in_pixel_stride;   // stride_w * C
  size_t in_row_stride;     // in_w * C
  size_t in_col_stride;     // C
  size_t out_pixel_stride;  // C
  float scale;              // average: 1 / (rows * cols), the sum's multiplier; max: unused
  float min, max;           // fused activation clamp
} onexn_pool_args;
typedef void (*onexn_pooling_ukernel)(const onexn_pool_args* args);

// The same for int8 max pooling (s8-maxpool): the strides count bytes, min and max are the clamp in int8.
typedef struct {
  const int8_t* input;
  int8_t* out;
  size_t pixels, channels, rows, cols;
  size_t in_pixel_stride, in_row_stride, in_col_stride, out_pixel_stride;
  int8_t min, max;
} onexn_s8_pool_args;
typedef void (*onexn_s8_maxpool_ukernel)(const onexn_s8_pool_args* args);

// Declarations from the kernel lists (the other columns are for the operators and tests).
#define ONEXN_SPCONV_UKERNEL(isa, name, ukernel, mr, nr, nr_fits_block, tile_invariant) \
  void ukernel(const onexn_ind_args* args);
#include "f32-spconv/f32-spconv.inc"
#undef ONEXN_SPCONV_UKERNEL

#define ONEXN_PIXELVEC_UKERNEL(isa, name, ukernel, mr, nr, gather) void ukernel(const onexn_xt_args* args);
#include "f32-spconv-pixelvec/f32-spconv-pixelvec.inc"
#undef ONEXN_PIXELVEC_UKERNEL

#define ONEXN_GATHER_UKERNEL(isa, name, ukernel)                                                      \
  void ukernel(float* xt, const float* input, const float* zero, const ptrdiff_t* ind, size_t taps, \
               size_t cin, size_t mr);
#include "f32-pixelvec-gather/f32-pixelvec-gather.inc"
#undef ONEXN_GATHER_UKERNEL

#define ONEXN_DWCONV_UKERNEL(isa, name, ukernel, channel_tile) void ukernel(const onexn_dw_args* args);
#include "f32-dwconv/f32-dwconv.inc"
#undef ONEXN_DWCONV_UKERNEL

#define ONEXN_VADD_UKERNEL(isa, name, ukernel, batch_tile) \
  void ukernel(size_t n, const float* a, const float* b, float* out, float min, float max);
#include "f32-vadd/f32-vadd.inc"
#undef ONEXN_VADD_UKERNEL

#define ONEXN_SOFTMAX_UKERNEL(isa, name, ukernel, channel_tile) \
  void ukernel(size_t n, const float* input, float* output, float beta);
#include "f32-softmax/f32-softmax.inc"
#undef ONEXN_SOFTMAX_UKERNEL

#define ONEXN_X8_GATHER_UKERNEL(isa, name, ukernel, blocked, max_cin)                                   \
  void ukernel(uint8_t* xt, const int8_t* input, const int8_t* zero, const ptrdiff_t* ind, size_t taps, \
               size_t cin, size_t mr, uint8_t flip);
#include "x8-pixelvec-gather/x8-pixelvec-gather.inc"
#undef ONEXN_X8_GATHER_UKERNEL

#define ONEXN_QS8_SPCONV_UKERNEL(isa, name, ukernel, nr, kr, w_int16, input_offset, x_bytes, gather, strip) \
  void ukernel(const onexn_qs8_args* args);
#include "qs8-qc8w-spconv/qs8-qc8w-spconv.inc"
#undef ONEXN_QS8_SPCONV_UKERNEL
#define ONEXN_QS8_STRIP(fn) void fn(uint8_t* strip, size_t stride, const uint8_t* xt, const uint32_t* kc, size_t kept);
#if ONEXN_ARCH_X86_64
ONEXN_QS8_STRIP(onexn_qs8_qc8w_spconv_16x16_avx512vnni_strip)
ONEXN_QS8_STRIP(onexn_qs8_qc8w_spconv_16x8_avx512vnni_strip)
ONEXN_QS8_STRIP(onexn_qs8_qc8w_spconv_16x4_avx512vnni_strip)
#endif
#undef ONEXN_QS8_STRIP

#define ONEXN_QS8_DWCONV_UKERNEL(isa, name, ukernel, channel_tile) void ukernel(const onexn_qs8_dw_args* args);
#include "qs8-qc8w-dwconv/qs8-qc8w-dwconv.inc"
#undef ONEXN_QS8_DWCONV_UKERNEL

#define ONEXN_QS8_VADD_UKERNEL(isa, name, ukernel, batch_tile) \
  void ukernel(const onexn_qs8_vadd_args* p, size_t n, const int8_t* a, const int8_t* b, int8_t* out);
#include "qs8-vadd/qs8-vadd.inc"
#undef ONEXN_QS8_VADD_UKERNEL

#define ONEXN_POOL_UKERNEL(isa, name, ukernel, kind, channel_tile) void ukernel(const onexn_pool_args* args);
#include "f32-pool/f32-pool.inc"
#undef ONEXN_POOL_UKERNEL

#define ONEXN_S8_MAXPOOL_UKERNEL(isa, name, ukernel, channel_tile) void ukernel(const onexn_s8_pool_args* args);
#include "s8-maxpool/s8-maxpool.inc"
#undef ONEXN_S8_MAXPOOL_UKERNEL

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // ONEXN_COMMON_MICROKERNELS_H_
