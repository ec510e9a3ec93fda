// onexn_qdwconv: depthwise convolution (depth multiplier 1) on int8 with per-channel weight scales, the int8
// glue between int8 1xN layers: per output pixel, the pointers of its valid taps, then the qs8-qc8w-dwconv
// microkernel of the ISA over every channel. Padding taps are left out of the sum, or, for the 3x3 kernel
// (which then runs every pixel), read from a row of input zero points as XNNPACK reads its zero buffer: their
// (x - zero point) terms are 0, so the int32 sums and hence the results are the same either way.
#include <stdlib.h>
#include <string.h>

#include "common/common.h"
#include "common/memory.h"
#include "common/threadpool.h"
#include "operators/operators.h"
#include "operators/qs8-requant.h"

static const char kCreate[] = "onexn_qdwconv_create";

struct onexn_qdwconv {
  onexn_dwconv_shape s;
  const onexn_qdwconv_ukernel_config* uk;
  int8_t* w;       // kh * kw * channels
  int32_t* bias;   // channels
  float* scale;    // channels: input_scale * weight_scale / output_scale
  int32_t input_zero_point, zero_point;
  float lo, hi;    // the activation's int8 bounds less the output zero point
  int clamp_hi;    // onexn_qs8_dw_args.clamp_hi
  size_t full_x0, full_x1;  // output columns whose window lies inside the image (contiguous; empty: equal)
  // The 3x3 kernel's packed weights (onexn_qs8_dw_args.packed_3x3) and the input zero points its padding
  // taps read: under the run of complete column windows, for the rows it misses at the top and bottom, or
  // under one border pixel. NULL with any other kernel.
  uint8_t* packed_3x3;
  int8_t* zero_row;
};

// Per 16-channel tile: the window columns (w[0][kx], w[1][kx], w[2][kx], 0) per channel, then bias -
// (input zero point + 128) * sum(w) modulo 2^32, the 3x3 kernel's starting sums.
static void pack_3x3(uint8_t* packed, const int8_t* w, const int32_t* bias, size_t C, int32_t input_zero_point) {
  const size_t tiles = (C + 15) / 16;
  memset(packed, 0, tiles * 256);
  for (size_t c = 0; c < C; c++) {
    uint8_t* tile = packed + c / 16 * 256;
    const size_t i = c % 16;
    uint32_t sum = 0;
    for (size_t t = 0; t < 9; t++) {
      tile[64 * (t % 3) + 4 * i + t / 3] = (uint8_t)w[t * C + c];
      sum += (uint32_t)(int32_t)w[t * C + c];
    }
    const uint32_t start = (uint32_t)bias[c] - (uint32_t)(input_zero_point + 128) * sum;
    memcpy(tile + 192 + 4 * i, &start, sizeof(start));
  }
}

static int check_args(const onexn_dwconv_shape* s, const int8_t* w, const onexn_qconv_quant* q, char* err,
                      size_t err_len) {
  if (s == NULL || w == NULL || q == NULL || q->weight_scales == NULL) {
    onexn_set_err(err, err_len, "%s: shape, weights, quantization and weight scales must not be NULL", kCreate);
    return -1;
  }
  const int at_least_one[] = {s->batch, s->in_h, s->in_w, s->channels, s->out_h, s->out_w, s->kh, s->kw,
                              s->stride_h, s->stride_w, s->dilation_h, s->dilation_w};
  for (size_t i = 0; i < sizeof(at_least_one) / sizeof(at_least_one[0]); i++) {
    if (at_least_one[i] < 1) {
      onexn_set_err(err, err_len, "%s: a dimension, stride or dilation is below 1", kCreate);
      return -1;
    }
  }
  if (s->pad_top < 0 || s->pad_left < 0 || isnan(s->out_min) || isnan(s->out_max) || s->out_min > s->out_max) {
    onexn_set_err(err, err_len, "%s: negative padding or an empty activation range", kCreate);
    return -1;
  }
  if (!onexn_qs8_positive_normal(q->input_scale) || !onexn_qs8_positive_normal(q->output_scale) ||
      !onexn_qs8_zero_point_ok(q->input_zero_point) || !onexn_qs8_zero_point_ok(q->output_zero_point)) {
    onexn_set_err(err, err_len, "%s: scales must be positive normal numbers and zero points in -128..127",
                  kCreate);
    return -1;
  }
  for (int c = 0; c < s->channels; c++) {
    // XNNPACK refuses a requantization scale of 256 or more; the stock runtime's own kernel rounds differently.
    if (!onexn_qs8_positive_normal(q->weight_scales[c]) ||
        !(q->input_scale * q->weight_scales[c] / q->output_scale < 256.0f)) {
      onexn_set_err(err, err_len, "%s: weight scale %g of channel %d is not positive normal or gives a "
                    "requantization scale of 256 or more", kCreate, (double)q->weight_scales[c], c);
      return -1;
    }
  }
  return 0;
}

static const onexn_qdwconv_ukernel_config kUkernels[] = {
#define ONEXN_QS8_DWCONV_UKERNEL(isa, name, ukernel, channel_tile) {name, isa, ukernel},
#include "qs8-qc8w-dwconv/qs8-qc8w-dwconv.inc"
#undef ONEXN_QS8_DWCONV_UKERNEL
};

const onexn_qdwconv_ukernel_config* onexn_qdwconv_ukernel(const char* name) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (strcmp(kUkernels[i].name, name) == 0) return &kUkernels[i];
  }
  return NULL;
}

// The row of the ISA; the scalar one when the CPU or this build lacks it (the int8 glue runs everywhere).
// The AVX512 level runs the VNNI row where the CPU has it, as the int8 1xN convolutions do, and the
// VNNI + VBMI row (3x3 windows; it hands other runs to the VNNI row) on a 3x3 layer of dilation 1.
static const onexn_qdwconv_ukernel_config* select_ukernel(onexn_isa isa, const onexn_dwconv_shape* s) {
  if (isa == ONEXN_ISA_AVX512 && onexn_isa_supported(ONEXN_ISA_AVX512VNNI)) isa = ONEXN_ISA_AVX512VNNI;
  if (isa == ONEXN_ISA_AVX512VNNI && onexn_isa_supported(ONEXN_ISA_AVX512VNNIVBMI) && s != NULL && s->kh == 3 &&
      s->kw == 3 && s->dilation_h == 1 && s->dilation_w == 1) {
    isa = ONEXN_ISA_AVX512VNNIVBMI;
  }
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (kUkernels[i].isa == isa && onexn_isa_supported(isa)) return &kUkernels[i];
  }
  return &kUkernels[0];
}

static onexn_qdwconv* create(const onexn_dwconv_shape* shape, const int8_t* weights_hwc, const int32_t* bias,
                             const onexn_qconv_quant* q, const onexn_qdwconv_ukernel_config* uk, char* err,
                             size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (check_args(shape, weights_hwc, q, err, err_len)) return NULL;
  const size_t C = (size_t)shape->channels;
  size_t taps, t;
  if (onexn_mul_size((size_t)shape->kh, (size_t)shape->kw, &taps) || onexn_mul_size(taps, C, &t) ||
      onexn_mul_size((size_t)shape->in_h, (size_t)shape->in_w, &t) || onexn_mul_size(t, C, &t) ||
      onexn_mul_size(t, (size_t)shape->batch, &t) || t > (size_t)PTRDIFF_MAX ||
      onexn_mul_size((size_t)shape->out_h, (size_t)shape->out_w, &t) || onexn_mul_size(t, C, &t) ||
      onexn_mul_size(t, (size_t)shape->batch, &t) || t > (size_t)PTRDIFF_MAX) {
    onexn_set_err(err, err_len, "%s: tensor sizes overflow", kCreate);
    return NULL;
  }
  if (taps > ONEXN_QDW_MAX_TAPS) {
    onexn_set_err(err, err_len, "%s: a %dx%d window has more than %d taps", kCreate, shape->kh, shape->kw,
                  ONEXN_QDW_MAX_TAPS);
    return NULL;
  }
  onexn_qdwconv* dw = (onexn_qdwconv*)calloc(1, sizeof(*dw));
  if (dw == NULL) {
    onexn_set_err(err, err_len, "%s: out of memory", kCreate);
    return NULL;
  }
  dw->s = *shape;
  dw->uk = uk;
  dw->w = (int8_t*)onexn_aligned_alloc(taps * C);
  dw->bias = (int32_t*)onexn_aligned_alloc(C * sizeof(int32_t));
  dw->scale = (float*)onexn_aligned_alloc(C * sizeof(float));
  if (dw->w == NULL || dw->bias == NULL || dw->scale == NULL) {
    onexn_set_err(err, err_len, "%s: out of memory", kCreate);
    onexn_qdwconv_destroy(dw);
    return NULL;
  }
  memcpy(dw->w, weights_hwc, taps * C);
  for (size_t c = 0; c < C; c++) {
    dw->bias[c] = bias != NULL ? bias[c] : 0;
    const float product = q->input_scale * q->weight_scales[c];  // XNNPACK's order of operations
    dw->scale[c] = product / q->output_scale;
  }
  dw->input_zero_point = q->input_zero_point;
  dw->zero_point = q->output_zero_point;
  dw->full_x0 = dw->full_x1 = (size_t)shape->out_w;
  for (ptrdiff_t ox = 0; ox < shape->out_w; ox++) {
    const onexn_tap_range cr = onexn_axis_taps(ox, shape->stride_w, shape->pad_left, shape->dilation_w, shape->kw,
                                               shape->in_w);
    if (cr.count != (uint32_t)shape->kw) continue;
    if (dw->full_x0 == (size_t)shape->out_w) dw->full_x0 = (size_t)ox;
    dw->full_x1 = (size_t)ox + 1;
  }
  if (uk->isa == ONEXN_ISA_AVX512VNNIVBMI && shape->kh == 3 && shape->kw == 3 && shape->dilation_h == 1 &&
      shape->dilation_w == 1) {
    const size_t run = dw->full_x1 > dw->full_x0 ? dw->full_x1 - dw->full_x0 : 1;
    const size_t span = 3 + (run - 1) * (size_t)shape->stride_w;  // pixels; run < out_w, so no overflow
    dw->packed_3x3 = (uint8_t*)onexn_aligned_alloc((C + 15) / 16 * 256);
    dw->zero_row = (int8_t*)onexn_aligned_alloc(span * C);
    if (dw->packed_3x3 == NULL || dw->zero_row == NULL) {
      onexn_set_err(err, err_len, "%s: out of memory", kCreate);
      onexn_qdwconv_destroy(dw);
      return NULL;
    }
    pack_3x3(dw->packed_3x3, dw->w, dw->bias, C, q->input_zero_point);
    memset(dw->zero_row, q->input_zero_point, span * C);
  }
  dw->lo = (float)(onexn_qs8_quantize(shape->out_min, q->output_scale, q->output_zero_point) - dw->zero_point);
  dw->hi = (float)(onexn_qs8_quantize(shape->out_max, q->output_scale, q->output_zero_point) - dw->zero_point);
  double max_bias = 0.0, max_scale = 0.0;
  for (size_t c = 0; c < C; c++) {
    if (fabs((double)dw->bias[c]) > max_bias) max_bias = fabs((double)dw->bias[c]);
    if ((double)dw->scale[c] > max_scale) max_scale = (double)dw->scale[c];
  }
  dw->clamp_hi = onexn_qs8_clamp_hi_needed((int32_t)dw->hi + dw->zero_point, max_bias, (double)taps, max_scale);
  return dw;
}

onexn_qdwconv* onexn_qdwconv_create(const onexn_dwconv_shape* shape, const int8_t* weights_hwc, const int32_t* bias,
                                    const onexn_qconv_quant* quant, onexn_isa isa, char* err, size_t err_len) {
  return create(shape, weights_hwc, bias, quant, select_ukernel(onexn_isa_resolve(isa), shape), err, err_len);
}

onexn_qdwconv* onexn_qdwconv_create_with_ukernel(const onexn_dwconv_shape* shape, const int8_t* weights_hwc,
                                                 const int32_t* bias, const onexn_qconv_quant* quant,
                                                 const onexn_qdwconv_ukernel_config* uk, char* err, size_t err_len) {
  if (uk == NULL || !onexn_isa_supported(uk->isa)) {
    onexn_set_err(err, err_len, "%s: no microkernel given, or the CPU lacks its ISA", kCreate);
    return NULL;
  }
  return create(shape, weights_hwc, bias, quant, uk, err, err_len);
}

int onexn_qdwconv_has_3x3_kernel(int kh, int kw, int dilation_h, int dilation_w, onexn_isa isa) {
  onexn_dwconv_shape s;
  memset(&s, 0, sizeof(s));
  s.kh = kh;
  s.kw = kw;
  s.dilation_h = dilation_h;
  s.dilation_w = dilation_w;
  return select_ukernel(onexn_isa_resolve(isa), &s)->isa == ONEXN_ISA_AVX512VNNIVBMI;
}

const char* onexn_qdwconv_kernel_name(const onexn_qdwconv* dw) { return dw == NULL ? "" : dw->uk->name; }

void onexn_qdwconv_destroy(onexn_qdwconv* dw) {
  if (dw == NULL) return;
  onexn_aligned_free(dw->w);
  onexn_aligned_free(dw->bias);
  onexn_aligned_free(dw->scale);
  onexn_aligned_free(dw->packed_3x3);
  onexn_aligned_free(dw->zero_row);
  free(dw);
}

typedef struct {
  const onexn_qdwconv* dw;
  const int8_t* input;
  int8_t* output;
} run_ctx;

// Output pixels [x0, x1) of row oy, which all have the column window of x0 (one pixel, or the run of complete
// windows): their valid taps' pointers into `a` (with the 3x3 kernel every tap, the padding ones into the zero
// row), then one microkernel call. rows: the image's input rows from row first on.
static void run_pixels(const onexn_qdwconv* dw, onexn_qs8_dw_args* a, const int8_t** taps, const int8_t* rows,
                       size_t first, int8_t* row_out, size_t oy, size_t x0, size_t x1) {
  const onexn_dwconv_shape* s = &dw->s;
  const size_t C = (size_t)s->channels, kw = (size_t)s->kw;
  const int8_t** weights = taps + (size_t)s->kh * kw;
  const onexn_tap_range rr = onexn_axis_taps((ptrdiff_t)oy, s->stride_h, s->pad_top, s->dilation_h, s->kh, s->in_h);
  const onexn_tap_range cr = onexn_axis_taps((ptrdiff_t)x0, s->stride_w, s->pad_left, s->dilation_w, s->kw, s->in_w);
  size_t n = 0;
  if (dw->zero_row != NULL) {  // kh = kw = 3, dilation 1
    for (uint32_t ky = 0; ky < 3; ky++) {
      const size_t iy = (size_t)((ptrdiff_t)oy * s->stride_h - s->pad_top + (ptrdiff_t)ky);
      for (uint32_t kx = 0; kx < 3; kx++, n++) {
        const size_t ix = (size_t)((ptrdiff_t)x0 * s->stride_w - s->pad_left + (ptrdiff_t)kx);
        const int inside = ky - rr.first < rr.count && kx - cr.first < cr.count;  // unsigned: below first wraps
        taps[n] = inside ? rows + ((iy - first) * (size_t)s->in_w + ix) * C : dw->zero_row + kx * C;
        weights[n] = dw->w + ((size_t)ky * kw + kx) * C;
      }
    }
  } else {
    for (uint32_t ky = rr.first; ky < rr.first + rr.count; ky++) {
      const size_t iy = (size_t)((ptrdiff_t)oy * s->stride_h - s->pad_top + (ptrdiff_t)ky * s->dilation_h);
      for (uint32_t kx = cr.first; kx < cr.first + cr.count; kx++, n++) {
        const size_t ix = (size_t)((ptrdiff_t)x0 * s->stride_w - s->pad_left + (ptrdiff_t)kx * s->dilation_w);
        taps[n] = rows + ((iy - first) * (size_t)s->in_w + ix) * C;
        weights[n] = dw->w + ((size_t)ky * kw + kx) * C;
      }
    }
  }
  a->x = taps;
  a->w = weights;
  a->taps = n;
  a->pixels = x1 - x0;
  a->out = row_out + x0 * C;
  dw->uk->fn(a);
}

// Output row oy of one image from its input rows held from row `first` on: the left border pixels one by
// one, the complete windows in one call, the right border pixels. Each output is computed alone, the same
// way by any thread and from any rows buffer: results do not depend on the thread count or on fusion.
static void run_one_row(const onexn_qdwconv* dw, const int8_t* rows, size_t first, int8_t* row_out, size_t oy) {
  const onexn_dwconv_shape* s = &dw->s;
  const size_t C = (size_t)s->channels, out_w = (size_t)s->out_w;
  const int8_t* taps[2 * ONEXN_QDW_MAX_TAPS];  // the inputs', then the weights' (create bounds kh * kw)
  onexn_qs8_dw_args a;
  a.channels = C;
  a.x_stride = (size_t)s->stride_w * C;
  a.bias = dw->bias;
  a.scale = dw->scale;
  a.input_zero_point = dw->input_zero_point;
  a.zero_point = dw->zero_point;
  a.lo = dw->lo;
  a.hi = dw->hi;
  a.clamp_hi = dw->clamp_hi;
  a.packed_3x3 = dw->packed_3x3;
  for (size_t x = 0; x < dw->full_x0; x++) run_pixels(dw, &a, taps, rows, first, row_out, oy, x, x + 1);
  if (dw->full_x0 < dw->full_x1) run_pixels(dw, &a, taps, rows, first, row_out, oy, dw->full_x0, dw->full_x1);
  for (size_t x = dw->full_x1 > dw->full_x0 ? dw->full_x1 : out_w; x < out_w; x++) {
    run_pixels(dw, &a, taps, rows, first, row_out, oy, x, x + 1);
  }
}

// Task r: output row r of the flattened batch * out_h rows.
static void run_row(void* p, size_t r, size_t thread) {
  (void)thread;
  const run_ctx* ctx = (const run_ctx*)p;
  const onexn_dwconv_shape* s = &ctx->dw->s;
  const size_t C = (size_t)s->channels, out_w = (size_t)s->out_w;
  const size_t img = r / (size_t)s->out_h, oy = r % (size_t)s->out_h;
  run_one_row(ctx->dw, ctx->input + img * (size_t)s->in_h * (size_t)s->in_w * C, 0, ctx->output + r * out_w * C, oy);
}

const onexn_dwconv_shape* onexn_qdwconv_get_shape(const onexn_qdwconv* dw) { return &dw->s; }

void onexn_qdwconv_run_row(const onexn_qdwconv* dw, const int8_t* rows, size_t first_row, int8_t* out_row,
                           size_t oy) {
  run_one_row(dw, rows, first_row, out_row, oy);
}

void onexn_qdwconv_run(const onexn_qdwconv* dw, const int8_t* input, int8_t* output, onexn_threadpool* pool) {
  if (dw == NULL || input == NULL || output == NULL) return;
  run_ctx ctx = {dw, input, output};
  onexn_threadpool_parallelize(pool, (size_t)dw->s.batch * (size_t)dw->s.out_h, run_row, &ctx);
}
