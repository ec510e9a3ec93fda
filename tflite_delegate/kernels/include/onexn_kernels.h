// onexn kernel library: 1xN block-sparse float32 and int8 convolution (NHWC), independent of TFLite, and the
// operators that run between such layers (depthwise convolution, add, pooling, pad, concatenation,
// softmax), so that a whole network runs on it.
//
// The delegate resolves everything TFLite-specific (padding, fused activation, tensor shapes) into an
// onexn_conv_shape and hands over dense OHWI weights plus the block index from the metadata
// (docs/FORMAT.md). The library packs the kept blocks once, picks a microkernel for the ISA and runs it.
#ifndef ONEXN_KERNELS_H_
#define ONEXN_KERNELS_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  ONEXN_ISA_AUTO = 0,  // best supported on this CPU
  ONEXN_ISA_SCALAR = 1,
  ONEXN_ISA_AVX2 = 2,    // AVX2 + FMA3
  ONEXN_ISA_AVX512 = 3,  // AVX-512F (+VL, DQ where used)
  ONEXN_ISA_NEON = 4,    // aarch64 Advanced SIMD
  // Extensions that only int8 kernels use (onexn_qconv): an operator asked for AVX512 or NEON runs them when
  // the CPU has them. onexn_isa_resolve never returns them and onexn_isa_from_name does not parse them.
  ONEXN_ISA_AVX512VNNI = 5,  // AVX512 + VNNI (vpdpbusd)
  ONEXN_ISA_NEONDOT = 6,     // NEON + the ARMv8.2 dot product (sdot)
  ONEXN_ISA_AVX512VNNIVBMI = 7,  // AVX512VNNI + VBMI (vpermb)
  // AVX512VNNIVBMI + AMX-INT8 tiles (tdpbusd), supported once Linux granted this process the tile data
  // (arch_prctl). Only onexn_qconv takes it, on request (the delegate's option amx=1): its other int8 kernels
  // and every other operator run as with AVX512.
  ONEXN_ISA_AVX512AMX = 8,
} onexn_isa;

// 1 if the ISA's kernels are compiled into this library and the running CPU supports them.
int onexn_isa_supported(onexn_isa isa);
// 1 when the CPU has AMX-INT8 tiles the OS lets programs use (Intel Sapphire Rapids and later): the stock
// runtime's XNNPACK then runs dense int8 convolutions on them, several times faster than with VNNI.
int onexn_cpu_has_amx_int8(void);
// Bytes of L2 cache per core as the C library reports it (sysconf); 0 where it does not say.
size_t onexn_cpu_l2_bytes(void);
// Flushes denormals to zero on the calling thread (x86 FTZ+DAZ, Arm FZ), as XNNPACK does around every
// operator it runs; returns the previous state, which onexn_fpu_restore puts back. The delegate runs every
// partition, and its pool threads every task, in this mode.
typedef struct {
  uint64_t saved;
} onexn_fpu_state;
onexn_fpu_state onexn_fpu_flush_denormals(void);
void onexn_fpu_restore(onexn_fpu_state state);
// Resolves ONEXN_ISA_AUTO to the best supported ISA; returns other values unchanged.
onexn_isa onexn_isa_resolve(onexn_isa isa);
// "auto", "scalar", "avx2", "avx512", "neon", and the extensions "avx512vnni", "neondot", "avx512vnnivbmi",
// "avx512amx".
const char* onexn_isa_name(onexn_isa isa);
// Parses "auto", "scalar", "avx2", "avx512" or "neon"; returns 0 on success, -1 for any other name.
int onexn_isa_from_name(const char* name, onexn_isa* out);

// Geometry of one convolution. FULLY_CONNECTED is expressed as batch=1, in_h=out_h=1,
// in_w=out_w=rows, kh=kw=1, strides and dilations 1, no padding.
typedef struct {
  int batch;
  int in_h, in_w, cin;
  int out_h, out_w, cout;
  int kh, kw;
  int stride_h, stride_w;
  int dilation_h, dilation_w;
  int pad_top, pad_left;  // input rows/cols before the image; taps outside the image read zero
  float out_min, out_max; // fused activation clamp; -INFINITY/+INFINITY when none
} onexn_conv_shape;

// The 1xN block index (docs/FORMAT.md): group g = output channels [g*n, min((g+1)*n, cout)).
typedef struct {
  int n;
  int num_groups;             // ceil(cout / n)
  const uint32_t* group_ptr;  // num_groups + 1 entries
  const uint32_t* kept_cin;   // group_ptr[num_groups] entries
} onexn_block_index;

typedef struct onexn_conv onexn_conv;
typedef struct onexn_threadpool onexn_threadpool;

// Packs the kept blocks of dense OHWI weights (cout*kh*kw*cin floats) and bias (cout floats, may be
// NULL) for the microkernel the block width dispatches to (onexn_conv_create_planned may choose another
// way). The caller's buffers may be freed afterwards. Returns NULL and writes a message into err (if
// err_len > 0) on invalid arguments, an unsupported ISA, or out of memory.
onexn_conv* onexn_conv_create(const onexn_conv_shape* shape, const onexn_block_index* index,
                              const float* weights_ohwi, const float* bias, onexn_isa isa,
                              char* err, size_t err_len);
// Name of the microkernel chosen, e.g. "f32-spconv-8x16-avx512f".
const char* onexn_conv_kernel_name(const onexn_conv* conv);

// Whether onexn_conv_create_planned may run every block instead of the kept ones (same results: the
// pruned weights are zeros; only a NaN or Inf input in a pruned block's channel then reaches the output,
// as in a dense convolution).
typedef enum {
  ONEXN_DENSE_AUTO = 0,    // a cost model picks the faster of the kept blocks (on the best microkernel for
                           // the block width) and every block (on the dense microkernel)
  ONEXN_DENSE_NEVER = 1,   // the kept blocks, on the microkernel the block width dispatches to
  ONEXN_DENSE_ALWAYS = 2,  // every block
} onexn_dense_policy;

// onexn_conv_create, choosing how to run it by `policy`.
onexn_conv* onexn_conv_create_planned(const onexn_conv_shape* shape, const onexn_block_index* index,
                                      const float* weights_ohwi, const float* bias, onexn_isa isa,
                                      onexn_dense_policy policy, char* err, size_t err_len);

// What the cost model estimated (one thread, nanoseconds; negative where it has no estimate for a
// microkernel) and what was chosen.
typedef struct {
  int dense;         // 1: every block runs (the pruned zeros are multiplied)
  double cost_ns;    // the way chosen
  double sparse_ns;  // the kept blocks on the microkernel the block width dispatches to
  double dense_ns;   // every block, on the fastest dense microkernel (AVX-512: 8x32 where it has coefficients)
  double stock_ns;   // every block on the microkernel of onexn_dense_block_width: about what the stock runtime
                     // takes, the yardstick of the delegate's whole-graph margin (src/node_claim.cc)
} onexn_conv_choice;
void onexn_conv_get_choice(const onexn_conv* conv, onexn_conv_choice* out);
// input: batch*in_h*in_w*cin floats (NHWC); output: batch*out_h*out_w*cout floats (NHWC).
// pool may be NULL (runs on the calling thread). Not reentrant for the same conv object.
void onexn_conv_run(onexn_conv* conv, const float* input, float* output, onexn_threadpool* pool);
// The convolution, then output = min(max(output + addend, out_min), out_max) (a residual ADD after it: the
// same values as onexn_conv_run then onexn_add_run), each task adding its pixels while they are in cache.
// addend has the output's shape and must not overlap it.
void onexn_conv_run_add(onexn_conv* conv, const float* input, const float* addend, float* output, float out_min,
                        float out_max, onexn_threadpool* pool);
void onexn_conv_destroy(onexn_conv* conv);

// The block width n at which a dense layer (every block kept) runs best on the ISA's 1xN kernels: the
// delegate runs CONV_2D / FULLY_CONNECTED nodes without a record as 1xN layers of this n with all blocks
// kept. ONEXN_ISA_AUTO is resolved first.
int onexn_dense_block_width(onexn_isa isa);

// int8 1xN block-sparse convolution (TFLite's full integer quantization), NHWC: int8 activations with one
// scale and zero point, symmetric int8 weights (zero point 0) with a scale per output channel, an int32 bias,
// int32 accumulation and XNNPACK's fp32 requantization, so that outputs equal the stock runtime's (which runs
// int8 through XNNPACK) bit for bit. The shape is onexn_conv_shape's; out_min / out_max are the fused
// activation's range in real units (-INFINITY / +INFINITY when none), quantized to int8 as XNNPACK does it
// (round half to even of out / output_scale + output_zero_point, clamped to [-128, 127]).
typedef struct {
  float input_scale;
  int32_t input_zero_point;     // -128..127
  float output_scale;
  int32_t output_zero_point;    // -128..127
  const float* weight_scales;   // cout scales (a per-tensor scale repeated); copied by create
} onexn_qconv_quant;

typedef struct onexn_qconv onexn_qconv;

// Packs the kept blocks of dense OHWI int8 weights (cout*kh*kw*cin bytes) with the bias (cout int32, may be
// NULL) and the requantization scales input_scale * weight_scale / output_scale (float, in that order, as
// XNNPACK computes them). isa: ONEXN_ISA_AUTO or a level; AVX512 runs the AVX512-VNNI kernels and NEON the
// dot-product ones when the CPU has them, else AVX2 / NEON ones. Returns NULL with a message in err on invalid
// arguments (also: a scale that is not positive and normal, a zero point outside int8, a requantization scale
// of 256 or more, which XNNPACK refuses), an unsupported ISA, or out of memory.
onexn_qconv* onexn_qconv_create(const onexn_conv_shape* shape, const onexn_block_index* index,
                                const int8_t* weights_ohwi, const int32_t* bias, const onexn_qconv_quant* quant,
                                onexn_isa isa, char* err, size_t err_len);
// Name of the microkernel chosen, e.g. "qs8-qc8w-spconv-16x16-avx512vnni".
const char* onexn_qconv_kernel_name(const onexn_qconv* conv);
// 1 when onexn_qconv_create on isa runs a layer of this shape (kh, kw, cin, strides, dilations) and block
// width n from rows: a flipped, padded copy of the image whose tap rows' kw * cin bytes are read as quads,
// without a gather (layers of at most 4 input channels, the stems; AVX512-VNNI).
int onexn_qconv_runs_rows(onexn_isa isa, const onexn_conv_shape* shape, int n);
// input: batch*in_h*in_w*cin int8 (NHWC); output: batch*out_h*out_w*cout int8. pool may be NULL. Not reentrant
// for the same object.
void onexn_qconv_run(onexn_qconv* conv, const int8_t* input, int8_t* output, onexn_threadpool* pool);
void onexn_qconv_destroy(onexn_qconv* conv);

// Depthwise convolution with depth multiplier 1 (DEPTHWISE_CONV_2D where output channels == input
// channels), NHWC. Padding, strides, dilations and the activation clamp as in onexn_conv_shape.
typedef struct {
  int batch;
  int in_h, in_w, channels;
  int out_h, out_w;
  int kh, kw;
  int stride_h, stride_w;
  int dilation_h, dilation_w;
  int pad_top, pad_left;
  float out_min, out_max;
} onexn_dwconv_shape;

typedef struct onexn_dwconv onexn_dwconv;

// weights_hwc: kh*kw*channels floats (TFLite's [1, kh, kw, C] filter); bias: channels floats or NULL.
// Both are copied. Returns NULL and writes a message into err on invalid arguments, an unsupported ISA
// or out of memory.
onexn_dwconv* onexn_dwconv_create(const onexn_dwconv_shape* shape, const float* weights_hwc,
                                  const float* bias, onexn_isa isa, char* err, size_t err_len);
const char* onexn_dwconv_kernel_name(const onexn_dwconv* dw);
// input: batch*in_h*in_w*channels floats; output: batch*out_h*out_w*channels floats (must not alias
// input). pool may be NULL. Not reentrant for the same object.
void onexn_dwconv_run(onexn_dwconv* dw, const float* input, float* output, onexn_threadpool* pool);
void onexn_dwconv_destroy(onexn_dwconv* dw);

// A depthwise convolution and the pointwise convolutions around it (an inverted-residual block's 1x1
// expansion before it and 1x1 projection after it: onexn_convs with kh = kw = 1, strides 1, no padding;
// either or both may be absent, a depthwise alone being a link of onexn_dwblock_chain), run as one: each
// thread computes the expansion rows its depthwise rows read into a band buffer, and projects every few
// depthwise rows at once, so neither intermediate tensor goes to memory. Results are bit-identical to
// running the layers one after the other.
typedef struct onexn_dwblock onexn_dwblock;

// Borrows the layers (they must outlive the returned object); expand and project may be NULL.
// NULL, with a message in err, when a convolution is not such a 1x1 (or its microkernel computes a pixel
// differently by tile) or the shapes do not chain.
onexn_dwblock* onexn_dwblock_create(onexn_conv* expand, onexn_dwconv* dw, onexn_conv* project, char* err,
                                    size_t err_len);
// Shares of depthwise output rows per image that `threads` threads split (1 for a single thread or when
// the batch alone gives every thread an image). With an expansion, every share after the first recomputes
// the max(0, (kh - 1) * dilation_h + 1 - stride_h) expansion rows it shares with the previous one (as does
// a part of a share that a thread takes over from a slower one, unless it continues the thief's rows:
// odd shares run from the bottom up, so at 2 threads it does).
size_t onexn_dwblock_runs(const onexn_dwblock* b, size_t threads);
// Floats of scratch a run on `threads` threads needs (onexn_dwblock_run's scratch); 0 if that overflows.
size_t onexn_dwblock_scratch_floats(const onexn_dwblock* b, size_t threads);
// input: the first layer's input (NHWC); output: the last layer's output. scratch: NULL, or 64-byte
// aligned floats (scratch_floats of them) shared by blocks that run in turn, so they stay in cache; used
// when they hold onexn_dwblock_scratch_floats(b, onexn_threadpool_size(pool)), else the object's own
// buffers are (made on first use). pool may be NULL. Not reentrant for the same object. Returns 0, or -1
// (nothing written) for NULL arguments or when not even one thread's scratch can be allocated.
int onexn_dwblock_run(onexn_dwblock* b, const float* input, float* output, float* scratch, size_t scratch_floats,
                      onexn_threadpool* pool);
// The block, then output = min(max(output + addend, out_min), out_max) (a residual ADD after it: the same
// values as onexn_dwblock_run then onexn_add_run), each task adding its projected rows while they are in
// cache. Needs a projection (-1 otherwise, nothing written). addend has the output's shape and must not
// overlap it.
int onexn_dwblock_run_add(onexn_dwblock* b, const float* input, const float* addend, float* output, float out_min,
                          float out_max, float* scratch, size_t scratch_floats, onexn_threadpool* pool);
void onexn_dwblock_destroy(onexn_dwblock* b);

// A float block cut by channels for several threads: slice i is the block of expansion output channels
// [c_i, c_i+1) (its expansion the expansion's rows of those channels, its depthwise those channels, its
// projection the projection's columns of those channels, the bias in one slice only, no clamp). Each runs on
// one thread over the whole image into a partial sum of the output; the sums then add up, with the
// projection's clamp out_min / out_max. No expansion row is computed twice and the work splits evenly on
// images of few rows, at the cost of adding the partial sums (results differ from the block's by that
// order of additions). Takes ownership of the slices (destroyed with it; their layers are borrowed). NULL,
// with a message, for fewer than 2 slices, a slice without an expansion and a projection or whose
// projection clamps, or slices of other input or output shapes.
typedef struct onexn_dwblock_split onexn_dwblock_split;
onexn_dwblock_split* onexn_dwblock_split_create(onexn_dwblock* const* slices, size_t count, float out_min,
                                                float out_max, char* err, size_t err_len);
size_t onexn_dwblock_split_slices(const onexn_dwblock_split* s);
// Floats of scratch a run needs (any pool): each slice's band and the partial sums; 0 if that overflows.
size_t onexn_dwblock_split_scratch_floats(const onexn_dwblock_split* s);
// As onexn_dwblock_run: scratch (64-byte aligned) is used when it holds onexn_dwblock_split_scratch_floats,
// else the object's own (made on first use). Returns 0, or -1 for NULL arguments or out of memory.
int onexn_dwblock_split_run(onexn_dwblock_split* s, const float* input, float* output, float* scratch,
                            size_t scratch_floats, onexn_threadpool* pool);
// As onexn_dwblock_run_add; -1 (nothing written) when the projection clamps (out_min / out_max of create
// not -INFINITY / +INFINITY): the ADD reads the clamped projection.
int onexn_dwblock_split_run_add(onexn_dwblock_split* s, const float* input, const float* addend, float* output,
                                float out_min, float out_max, float* scratch, size_t scratch_floats,
                                onexn_threadpool* pool);
void onexn_dwblock_split_destroy(onexn_dwblock_split* s);

// Elementwise out[i] = min(max(a[i] + b[i], out_min), out_max) for i < count; out may alias a or b.
// isa is resolved like onexn_conv_create's (ONEXN_ISA_AUTO = best); an unsupported ISA runs the scalar
// kernel. pool may be NULL.
void onexn_add_run(onexn_isa isa, const float* a, const float* b, float* out, size_t count, float out_min,
                   float out_max, onexn_threadpool* pool);
// Name of the microkernel onexn_add_run uses for isa, e.g. "f32-vadd-minmax-avx512f".
const char* onexn_add_kernel_name(onexn_isa isa);

// Max or average pooling over a kh x kw window (TFLite's MAX_POOL_2D / AVERAGE_POOL_2D), NHWC. Taps in the
// padding are left out: the max is over the valid taps, the average is their sum times 1 / their count.
typedef enum { ONEXN_POOL_MAX = 1, ONEXN_POOL_AVERAGE = 2 } onexn_pool_kind;

typedef struct {
  int batch;
  int in_h, in_w, channels;
  int out_h, out_w;
  int kh, kw;
  int stride_h, stride_w;
  int pad_top, pad_left;
  float out_min, out_max;
} onexn_pool_shape;

typedef struct onexn_pool onexn_pool;

// NULL, with a message in err, on invalid arguments, an output pixel whose window holds no input pixel,
// an unsupported ISA or out of memory.
onexn_pool* onexn_pool_create(onexn_pool_kind kind, const onexn_pool_shape* shape, onexn_isa isa, char* err,
                              size_t err_len);
const char* onexn_pool_kernel_name(const onexn_pool* pool);
// input: batch*in_h*in_w*channels floats; output: batch*out_h*out_w*channels floats (must not alias input).
// pool may be NULL.
void onexn_pool_run(onexn_pool* op, const float* input, float* output, onexn_threadpool* pool);
void onexn_pool_destroy(onexn_pool* op);

// Zero padding of a tensor of any rank >= 1 (TFLite's PAD / PADV2 with a zero constant): output dim i is
// before[i] + in_dims[i] + after[i]. Large tensors are split over the pool (may be NULL) by rows.
void onexn_pad_run(const float* input, float* output, size_t rank, const size_t* in_dims, const size_t* before,
                   const size_t* after, onexn_threadpool* pool);
// The same on int8 (TFLite's PAD on int8, which pads with the zero point): the padding bytes are `value`.
void onexn_pad_x8_run(const int8_t* input, int8_t* output, size_t rank, const size_t* in_dims, const size_t* before,
                      const size_t* after, int8_t value, onexn_threadpool* pool);

// Concatenation along one axis (TFLite's CONCATENATION): input i is [outer][sizes[i]][inner] (the product
// of its dims before the axis, its dim along it, the product after it), the output is
// [outer][sum of sizes][inner]. Runs on the caller.
void onexn_concat_run(size_t count, const float* const* inputs, const size_t* sizes, size_t outer, size_t inner,
                      float* output);

// Softmax of each of `rows` rows of `channels` floats (TFLite's SOFTMAX over the last axis):
// exp(beta * (x - max of the row)) times 1 / their sum. output may alias input. isa is resolved like
// onexn_add_run's (an unsupported ISA runs the scalar kernel). Runs on the caller.
void onexn_softmax_run(onexn_isa isa, const float* input, float* output, size_t rows, size_t channels, float beta);
// Name of the microkernel onexn_softmax_run uses for isa, e.g. "f32-softmax-16c-avx512f".
const char* onexn_softmax_kernel_name(onexn_isa isa);

// int8 operators between int8 1xN layers (TFLite's full integer quantization), computed as XNNPACK computes
// them, since the stock runtime runs int8 through XNNPACK. Activation bounds (out_min / out_max, real units,
// +-INFINITY for none) are quantized as onexn_qconv quantizes them.

typedef struct onexn_qdwconv onexn_qdwconv;

// Depthwise convolution with depth multiplier 1 on int8 (shape as onexn_dwconv_create's): weights_hwc
// kh*kw*channels symmetric int8 with the scale quant->weight_scales[c] per channel, bias channels int32 or
// NULL (both copied). Output = round_half_even(clamp(acc * input_scale * weight_scale / output_scale)) + output
// zero point with acc = bias + sum of (x - input zero point) * w over the taps inside the image: XNNPACK's
// qs8-qc8w dwconv bit for bit. isa: ONEXN_ISA_AUTO or a level (one the CPU lacks runs the scalar kernel).
// NULL with a message in err on invalid arguments (as onexn_qconv_create's quantization checks), windows of
// more than ONEXN_QDW_MAX_TAPS taps, or out of memory.
#define ONEXN_QDW_MAX_TAPS 1024
onexn_qdwconv* onexn_qdwconv_create(const onexn_dwconv_shape* shape, const int8_t* weights_hwc, const int32_t* bias,
                                    const onexn_qconv_quant* quant, onexn_isa isa, char* err, size_t err_len);
// 1 when onexn_qdwconv_create runs a layer of this window on the kernel for complete 3x3 windows (AVX512-VNNI
// with VBMI: about twice XNNPACK's int8 depthwise speed on an Intel Xeon), else 0.
int onexn_qdwconv_has_3x3_kernel(int kh, int kw, int dilation_h, int dilation_w, onexn_isa isa);
// Name of the microkernel chosen, e.g. "qs8-qc8w-dwconv-minmax-fp32-16c-avx512".
const char* onexn_qdwconv_kernel_name(const onexn_qdwconv* dw);
// input: batch*in_h*in_w*channels int8; output: batch*out_h*out_w*channels int8 (must not alias input). pool
// may be NULL.
void onexn_qdwconv_run(const onexn_qdwconv* dw, const int8_t* input, int8_t* output, onexn_threadpool* pool);
void onexn_qdwconv_destroy(onexn_qdwconv* dw);

// The same block of int8 layers: 1x1 onexn_qconvs around an onexn_qdwconv, whose tensors chain (the
// caller's business, as it is when they run apart). Bit-identical to the layers one after the other.
// onexn_dwblock_runs, _scratch_floats and _destroy serve both kinds; each kind runs with its own run.
onexn_dwblock* onexn_qdwblock_create(onexn_qconv* expand, onexn_qdwconv* dw, onexn_qconv* project, char* err,
                                     size_t err_len);
int onexn_qdwblock_run(onexn_dwblock* b, const int8_t* input, int8_t* output, float* scratch, size_t scratch_floats,
                       onexn_threadpool* pool);
// onexn_qdwblock_run_add (below, with the int8 ADD): the block and the residual ADD after it.

// Max pooling on int8 (MAX_POOL_2D with the same quantization, scale and zero_point, in and out): the max of
// the valid taps, clamped to shape's out_min / out_max quantized as onexn_qconv quantizes them. Runs on the
// caller, on the s8-maxpool microkernel of isa (AUTO: the best this CPU runs).
void onexn_maxpool_x8_run(const onexn_pool_shape* shape, float scale, int32_t zero_point, const int8_t* input,
                          int8_t* output, onexn_isa isa);
// Name of the microkernel onexn_maxpool_x8_run runs for isa, e.g. "s8-maxpool-minmax-64c-avx512bw".
const char* onexn_maxpool_x8_kernel_name(onexn_isa isa);

// ADD of two int8 tensors with their own scales and zero points (XNNPACK's qs8 vadd: fixed-point
// multipliers of 21 bits for a_scale / out_scale and b_scale / out_scale, a rounding arithmetic shift).
typedef struct {
  int32_t bias, a_multiplier, b_multiplier;
  uint32_t shift;
  int32_t zero_point, qmin, qmax;  // output zero point; the activation's bounds, int8
} onexn_qadd_params;

// Returns 0, or -1 with a message in err when a scale is not a positive normal number, a zero point is not
// int8, or an input-to-output scale ratio is outside [2^-10, 2^8) (XNNPACK refuses those).
int onexn_qadd_init(onexn_qadd_params* p, float a_scale, int32_t a_zero_point, float b_scale, int32_t b_zero_point,
                    float out_scale, int32_t out_zero_point, float out_min, float out_max, char* err,
                    size_t err_len);
// out[i] = a[i] (+) b[i] for i < count; out may alias a or b. isa as onexn_add_run's. pool may be NULL;
// tensors of up to 16 KB run on the caller.
void onexn_qadd_run(onexn_isa isa, const onexn_qadd_params* p, const int8_t* a, const int8_t* b, int8_t* out,
                    size_t count, onexn_threadpool* pool);
// Name of the microkernel onexn_qadd_run uses for isa, e.g. "qs8-vadd-minmax-16-avx512".
const char* onexn_qadd_kernel_name(onexn_isa isa);

// The int8 convolution, then the residual ADD after it: output = add(output, addend) as onexn_qadd_run
// computes it (p; the convolution's output is the ADD's input conv_operand, 0 or 1): pixel tasks add their
// pixels while they are in cache, other task splits add after the job. addend must not overlap output;
// nothing happens for NULL arguments or another operand.
void onexn_qconv_run_add(onexn_qconv* conv, const int8_t* input, const int8_t* addend, int8_t* output,
                         const onexn_qadd_params* p, int conv_operand, onexn_isa isa, onexn_threadpool* pool);
// The int8 block, then the residual ADD after it: output = add(output, addend) as onexn_qadd_run computes it
// (p; the block's output is the ADD's input block_operand, 0 or 1), each task adding its projected rows
// while they are in cache. Needs a projection (-1 otherwise, nothing written); addend must not overlap output.
int onexn_qdwblock_run_add(onexn_dwblock* b, const int8_t* input, const int8_t* addend, int8_t* output,
                           const onexn_qadd_params* p, int block_operand, onexn_isa isa, float* scratch,
                           size_t scratch_floats, onexn_threadpool* pool);

// Consecutive blocks, each reading the output of the one before (a network's chain of inverted-residual
// blocks), all float or all int8, run at two threads as one job rather than one job per block: one thread
// walks every block from the top down, the other from the bottom up, each going on to the next block once
// no row of this one is left to take and waiting only for rows of the block before that the other has not
// written yet. No block waits for its slower thread. Results are bit-identical to running the blocks one
// after the other. Batches of one image only.
typedef struct {
  onexn_dwblock* block;           // borrowed; must outlive the chain
  int residual;                   // nonzero: the block adds its input (onexn_dwblock_run_add, onexn_qdwblock_run_add)
  float add_min, add_max;         // a float block's ADD: its clamp
  const onexn_qadd_params* qadd;  // an int8 block's ADD (borrowed; must outlive the chain)
  int block_operand;              // an int8 block's ADD: which of its inputs the block's output is, 0 or 1
  onexn_isa add_isa;              // an int8 block's ADD: the ISA it runs on
} onexn_dwblock_link;
typedef struct onexn_dwblock_chain onexn_dwblock_chain;
// NULL, with a message in err, for fewer than 2 blocks, float and int8 blocks together, a batch of several
// images, a residual block without a projection or whose output has another shape (or, int8, without its
// ADD's parameters or operand), or a block that does not read the previous one's output.
onexn_dwblock_chain* onexn_dwblock_chain_create(const onexn_dwblock_link* links, size_t count, char* err,
                                                size_t err_len);
// input: the first block's; outputs[k]: block k's output, which block k + 1 reads (count of them). outputs[k]
// may share bytes with outputs[j] for j <= k - 3 and, for k >= 2, with the input, never with the others: a
// thread starts block k only once every row of block k - 2 is written. On a pool of two threads one job
// (the chain's own scratch, made on first use); else block by block, as onexn_dwblock_run. Not reentrant
// for the same chain or its blocks. Returns 0, or -1 (for NULL arguments, a chain of the other kind, or out
// of memory).
int onexn_dwblock_chain_run(onexn_dwblock_chain* c, const float* input, float* const* outputs,
                            onexn_threadpool* pool);
int onexn_qdwblock_chain_run(onexn_dwblock_chain* c, const int8_t* input, int8_t* const* outputs,
                             onexn_threadpool* pool);
void onexn_dwblock_chain_destroy(onexn_dwblock_chain* c);
// Per-side timing of the chain's two-thread runs (the delegate's ONEXN_PROFILE), off until enabled: each run
// of rows then costs two clock reads, each wait for the other side's rows two more. Enabling (again) clears
// the sums; returns -1 when out of memory (profiling stays off).
int onexn_dwblock_chain_profile(onexn_dwblock_chain* c, int enable);
// Sums over the two-thread runs since profiling was enabled (runs: how many), for block k and side 0 (from the
// top) or 1 (from the bottom): the rows it computed, seconds computing them, seconds waiting for rows of the
// block before that the other side had not written yet. Returns -1 for a bad k or side, or profiling off.
typedef struct {
  double rows, compute_seconds, wait_seconds;
} onexn_dwblock_chain_side;
int onexn_dwblock_chain_stats(const onexn_dwblock_chain* c, size_t k, int side, onexn_dwblock_chain_side* out,
                              size_t* runs);

// Global average pooling on int8 (MEAN over height and width): the int32 sum of each channel less
// pixels * input zero point, times input_scale / output_scale / pixels in fp32, rounded half to even, clamped.
typedef struct {
  float scale;
  int32_t bias;             // -pixels * input zero point
  int32_t zero_point;       // output
  size_t pixels;
} onexn_qgavgpool_params;

// Returns 0, or -1 with a message in err for a bad scale or zero point, no pixels, or more pixels than an
// int32 sum holds.
int onexn_qgavgpool_init(onexn_qgavgpool_params* p, float in_scale, int32_t in_zero_point, float out_scale,
                         int32_t out_zero_point, size_t pixels, char* err, size_t err_len);
// input: batch*pixels*channels int8; output: batch*channels int8. Runs on the caller.
void onexn_qgavgpool_run(const onexn_qgavgpool_params* p, const int8_t* input, int8_t* output, size_t batch,
                         size_t channels);

// A fixed-size pool; num_threads <= 1 means "run on the caller". The caller thread takes part.
onexn_threadpool* onexn_threadpool_create(int num_threads);
int onexn_threadpool_size(const onexn_threadpool* pool);
void onexn_threadpool_destroy(onexn_threadpool* pool);
// Profiling (the delegate's ONEXN_PROFILE): with enable nonzero, the pool adds up over its parallel-fors
// how far apart its threads finish their tasks, from the first thread done to the last (a thread that ran
// no task counts as done when the job began). That is the time a step loses to uneven shares; the rest of
// what a second thread loses is in slower tasks. Off by default: it reads the clock once per thread and job.
void onexn_threadpool_time_ends(onexn_threadpool* pool, int enable);
// That sum, in seconds, since the last call; resets it. 0 for NULL or while timing is off.
double onexn_threadpool_take_end_spread(onexn_threadpool* pool);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // ONEXN_KERNELS_H_
