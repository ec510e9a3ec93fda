// onexn_conv: weight packing and the threaded run loop (argument checks, indirection and task split:
// conv-args.c).
// Portable C; the ISA-specific work happens in the microkernel chosen by conv-dispatch.c.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdlib.h>
#include <string.h>

#include "common/memory.h"
#include "common/threadpool.h"
#include "operators/operators.h"

// The input rows [lo, hi) of image src a thread has copied into its widened image in run `run`; a cache
// line each, as every thread writes its own.
typedef struct {
  size_t run;
  const float* src;
  ptrdiff_t lo, hi;
  char pad[64 - 2 * sizeof(size_t) - 2 * sizeof(ptrdiff_t)];
} wide_rows;

// Threads' scratch slices lie whole 4 KB pages apart, each at the same offset within its page. Slices xt_floats
// apart left MobileNetV2 N=4's two threads unequally fast in its 14x14 blocks (1-3% in the fast host mode,
// which thread depending on the heap layout), and the faster one waited; in whole pages they ran within 1%
// of each other, and the model at 2 threads 1-1.5% faster (A/B in both orders, Zen 4; N=16 unchanged).
#define ONEXN_PAGE_FLOATS (4096 / sizeof(float))

struct onexn_conv {
  onexn_conv_shape s;
  int n;
  onexn_conv_choice choice;
  onexn_ukernel_config uk;
  size_t taps;          // input pointers per output pixel: kh*kw, or kh when a kernel row is one tap
  size_t tap_cin;       // floats read at each tap: cin, or kw*cin (see rows_as_taps)
  size_t out_pixels;    // per image
  size_t tiles;         // pixel tiles per image
  size_t in_image;      // floats per input image
  size_t out_image;     // floats per output image
  size_t num_panels;
  onexn_panel* panels;
  uint32_t* kc;         // copy of kept_cin
  float* packed;
  size_t packed_floats;
  size_t panel_block;   // panels per microkernel call (see weight_blocking)
  float* zero;          // cin zeros
  size_t pixel_stride;  // onexn_ind_args.pixel_stride
  ptrdiff_t* ind;       // [out_pixels][taps] input row offsets, -1 = padding
  size_t xt_floats;     // per-thread scratch of the transposed kernels, or of the widened rows
  size_t xt_stride;     // floats from one thread's scratch to the next: xt_floats in whole pages
  float* xt;            // xt_threads * xt_stride
  size_t xt_threads;
  size_t wide_w;        // 0, or the width of the input copy with its horizontal padding (see widen_rows)
  wide_rows* wide;      // xt_threads records of the rows each thread's widened image holds
  size_t runs;          // onexn_conv_run calls so far: tells a record of this run from older ones
  uint32_t* chunk_order;  // the plan's chunks balanced over its threads (NULL: in order), for:
  size_t order_chunks, order_threads;
};

static int add_size(size_t a, size_t b, size_t* r) {
  if (b > SIZE_MAX - a) return -1;
  *r = a + b;
  return 0;
}

// Sizes in floats of the buffers; -1 on overflow.
// 1 if each kernel row can be read as one tap of kw*cin contiguous floats: in NHWC the kw taps of a row are
// consecutive pixels when dilation_w is 1, and no output pixel needs horizontal padding. The stems of
// ResNet-50 (7x7/2 on 3 channels after an explicit PAD) then run 7 taps of 21 channels instead of 49 taps
// of 3, whose loop overhead made them slower than XNNPACK. OHWI weights already hold a row's kw*cin values
// in that order, and the sums run in the same order: the results do not change.
static int rows_as_taps(const onexn_conv_shape* s) {
  return s->kw > 1 && s->dilation_w == 1 && s->pad_left == 0 &&
         (int64_t)(s->out_w - 1) * s->stride_w + s->kw <= (int64_t)s->in_w;
}

// 1 if the input rows are copied with their horizontal padding first, so that kernel rows can be taps
// (rows_as_taps) where padding on the right (TensorFlow's SAME, e.g. MobileNetV2's 3x3/2 stem) rules them
// out: 9 taps of 3 floats per pixel left the indirection kernel more time in per-tap overhead than in FMAs
// (the stem at 1.31x XNNPACK's time); 3 taps of 9 do not. Only for few input channels: a wider layer's
// taps already amortize that overhead, and its copy would cost more. Same products, same order per pixel.
static int widen_rows(const onexn_conv* conv) {
  const onexn_conv_shape* s = &conv->s;
  return conv->uk.kind == ONEXN_KIND_IND && s->cin < 16 && s->kw > 1 && s->dilation_w == 1 && !rows_as_taps(s);
}

// The shape the indirection reads when the rows are widened: rows of wide_w pixels, no padding on the left.
static onexn_conv_shape row_shape(const onexn_conv* conv) {
  onexn_conv_shape r = conv->s;
  if (conv->wide_w != 0) {
    r.in_w = (int)conv->wide_w;
    r.pad_left = 0;
  }
  return r;
}

static int compute_sizes(onexn_conv* conv) {
  const onexn_conv_shape* s = &conv->s;
  size_t t;
  if (widen_rows(conv)) {
    const int64_t need = (int64_t)(s->out_w - 1) * s->stride_w + s->kw, have = (int64_t)s->pad_left + s->in_w;
    conv->wide_w = (size_t)(need > have ? need : have);  // check_args bounded the shape's sizes
  }
  const onexn_conv_shape rows = row_shape(conv);
  if (rows_as_taps(&rows)) {
    conv->taps = (size_t)s->kh;
    conv->tap_cin = (size_t)s->kw * (size_t)s->cin;  // check_args bounded kw * cin
  } else {
    if (onexn_mul_size((size_t)s->kh, (size_t)s->kw, &conv->taps)) return -1;
    conv->tap_cin = (size_t)s->cin;
  }
  if (onexn_mul_size((size_t)s->out_h, (size_t)s->out_w, &conv->out_pixels)) return -1;
  if (onexn_mul_size(conv->out_pixels, (size_t)s->cout, &conv->out_image)) return -1;
  if (onexn_mul_size((size_t)s->in_h, (size_t)s->in_w, &t) || onexn_mul_size(t, (size_t)s->cin, &conv->in_image)) {
    return -1;
  }
  // Whole tensors must be addressable, and offsets are ptrdiff_t.
  if (onexn_mul_size(conv->in_image, (size_t)s->batch, &t) || t > (size_t)PTRDIFF_MAX / sizeof(float)) return -1;
  if (onexn_mul_size(conv->out_image, (size_t)s->batch, &t) || t > (size_t)PTRDIFF_MAX / sizeof(float)) return -1;
  if (onexn_mul_size(conv->out_pixels, conv->taps, &t) || t > SIZE_MAX / sizeof(ptrdiff_t)) return -1;
  // Dense weights cout*kh*kw*cin.
  if (onexn_mul_size(conv->taps, conv->tap_cin, &t) || onexn_mul_size(t, (size_t)s->cout, &t)) return -1;
  if (t > SIZE_MAX / sizeof(float)) return -1;
  conv->tiles = conv->out_pixels / conv->uk.mr + (conv->out_pixels % conv->uk.mr != 0);
  return 0;
}

static size_t round_up16(size_t x) { return (x + 15) & ~(size_t)15; }

static int pack_weights(onexn_conv* conv, const onexn_block_index* ix, const float* w, const float* bias) {
  const onexn_conv_shape* s = &conv->s;
  const size_t nr = conv->uk.nr;
  const size_t n = (size_t)ix->n;
  const size_t cout = (size_t)s->cout, cin = conv->tap_cin, taps = conv->taps;
  const size_t kept_total = ix->group_ptr[ix->num_groups];
  // Count panels and packed floats.
  size_t panels = 0, floats = 0;
  for (size_t g = 0; g < (size_t)ix->num_groups; g++) {
    const size_t g0 = g * n, g1 = g0 + n < cout ? g0 + n : cout;
    const size_t kept = ix->group_ptr[g + 1] - ix->group_ptr[g];
    for (size_t oc = g0; oc < g1; oc += nr) {
      size_t pf;
      if (onexn_mul_size(taps, kept, &pf) || add_size(pf, 1, &pf) || onexn_mul_size(pf, nr, &pf) || pf > SIZE_MAX - 16)
        return -1;
      if (add_size(floats, round_up16(pf), &floats)) return -1;
      panels++;
    }
  }
  if (floats > SIZE_MAX / sizeof(float) || panels > SIZE_MAX / sizeof(onexn_panel)) return -1;
  conv->num_panels = panels;
  conv->panels = (onexn_panel*)onexn_aligned_alloc(panels * sizeof(onexn_panel));
  conv->kc = (uint32_t*)onexn_aligned_alloc(kept_total * sizeof(uint32_t));
  conv->packed = (float*)onexn_aligned_alloc(floats * sizeof(float));
  conv->packed_floats = floats;
  if (conv->panels == NULL || conv->kc == NULL || conv->packed == NULL) return -1;
  if (kept_total != 0) memcpy(conv->kc, ix->kept_cin, kept_total * sizeof(uint32_t));
  memset(conv->packed, 0, floats * sizeof(float));
  size_t p = 0, off = 0;
  for (size_t g = 0; g < (size_t)ix->num_groups; g++) {
    const size_t g0 = g * n, g1 = g0 + n < cout ? g0 + n : cout;
    const size_t k0 = ix->group_ptr[g], kept = ix->group_ptr[g + 1] - k0;
    for (size_t oc = g0; oc < g1; oc += nr) {
      onexn_panel* pn = &conv->panels[p++];
      pn->oc = (uint32_t)oc;
      pn->nc = (uint32_t)(g1 - oc < nr ? g1 - oc : nr);
      pn->kept = (uint32_t)kept;
      pn->kc_off = k0;
      pn->w_off = off;
      float* dst = conv->packed + off;
      for (size_t j = 0; j < pn->nc; j++) dst[j] = bias != NULL ? bias[oc + j] : 0.0f;
      dst += nr;
      for (size_t t = 0; t < taps; t++) {
        for (size_t k = 0; k < kept; k++) {
          const size_t c = ix->kept_cin[k0 + k];
          for (size_t j = 0; j < pn->nc; j++) dst[j] = w[((oc + j) * taps + t) * cin + c];
          dst += nr;
        }
      }
      off += round_up16((1 + taps * kept) * nr);
    }
  }
  return 0;
}

// pack_weights for the taps conv reads: when a kernel row is one tap (rows_as_taps), kept input channel c
// of a block becomes the row's kw channels kx*cin + c.
static int pack_row_weights(onexn_conv* conv, const onexn_block_index* ix, const float* w, const float* bias) {
  const size_t kw = conv->tap_cin / (size_t)conv->s.cin, cin = (size_t)conv->s.cin;
  if (kw == 1) return pack_weights(conv, ix, w, bias);
  const size_t kept_total = ix->group_ptr[ix->num_groups];
  uint32_t* group_ptr = (uint32_t*)malloc(((size_t)ix->num_groups + 1) * sizeof(uint32_t));
  uint32_t* kept = (uint32_t*)malloc((kept_total * kw + 1) * sizeof(uint32_t));
  int status = -1;
  if (group_ptr != NULL && kept != NULL) {
    size_t k = 0;
    for (size_t g = 0; g < (size_t)ix->num_groups; g++) {
      group_ptr[g] = (uint32_t)k;
      for (size_t kx = 0; kx < kw; kx++) {
        for (size_t i = ix->group_ptr[g]; i < ix->group_ptr[g + 1]; i++) kept[k++] = (uint32_t)(kx * cin + ix->kept_cin[i]);
      }
    }
    group_ptr[ix->num_groups] = (uint32_t)k;
    const onexn_block_index rows = {ix->n, ix->num_groups, group_ptr, kept};
    status = pack_weights(conv, &rows, w, bias);
  }
  free(group_ptr);
  free(kept);
  return status;
}

// Panels per microkernel call. A microkernel call runs every panel of a tile before the next tile, so the
// panels' weights are read once per tile: fine while they stay in cache, but a layer with few pixels and
// large weights (ResNet-50's 7x7 stage: 2-5 MB of weights, 49 pixels) would stream them from memory once
// per tile. Such a layer runs blocks of panels whose weights fit in L2, each over all the pixels of a task
// (an image; half of one at several threads), whose input rows then stay in L2. Every output element is
// still computed by the same tile code: same bits.
// The input counted is what the pixels read: the image, or less at a stride (ResNet-50's 1x1/2
// projections); not taps times channels per pixel, which counts a 3x3 layer's rows nine times and had
// left ResNet-50's 7x7 3x3 layers streaming 4.7 MB per 7-pixel tile (1.99 -> 1.30 ms in the graph).
// A pixel-vector kernel's blocks run over its gathered tiles instead, all of a run's gathered once into the
// thread's scratch (onexn_conv_xt_blocks_weights; MobileNetV1's 7x7x1024->1024 at N = 4 50%: 2.1 MB of
// weights read once instead of once for each of its 4 tiles).
static size_t weight_blocking(const onexn_conv* conv) {
  const size_t weight_bytes = conv->packed_floats * sizeof(float);
  if (conv->uk.kind == ONEXN_KIND_XT) {
    size_t gathered;
    if (onexn_conv_gathered_bytes(conv->tiles, conv->uk.mr, conv->taps, conv->tap_cin, &gathered) ||
        !onexn_conv_xt_blocks_weights(weight_bytes, gathered, conv->tiles, onexn_cpu_l2_bytes())) {
      return conv->num_panels;
    }
  } else if (!onexn_conv_blocks_weights(weight_bytes, onexn_conv_input_bytes(&conv->s), conv->tiles)) {
    return conv->num_panels;
  }
  const size_t block = ONEXN_WEIGHT_BLOCK_BYTES / (weight_bytes / conv->num_panels + 1);
  return block > 0 ? block : 1;
}

// 1 if every output pixel p has a single tap reading input row p (1x1, stride 1, no padding).
static int identity_indirection(const onexn_conv* conv) {
  if (conv->taps != 1) return 0;
  for (size_t p = 0; p < conv->out_pixels; p++) {
    if (conv->ind[p] != (ptrdiff_t)(p * conv->tap_cin)) return 0;
  }
  return 1;
}

// Checks, the ISA, then the object with its packed weights, indirection buffer and scratch.
static onexn_conv* create(const onexn_conv_shape* shape, const onexn_block_index* index, const float* weights_ohwi,
                          const float* bias, onexn_isa isa, const onexn_ukernel_config* uk, char* err,
                          size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (onexn_conv_check_args("onexn_conv_create", shape, index, weights_ohwi, err, err_len)) return NULL;
  if (!onexn_isa_supported(isa)) {
    onexn_set_err(err, err_len, "onexn_conv_create: ISA '%s' is not supported by this build or CPU",
            onexn_isa_name(isa));
    return NULL;
  }
  const size_t out_pixels = (size_t)shape->out_h * (size_t)shape->out_w;  // check_args bounded both
  if (uk == NULL && onexn_select_ukernel(isa, index->n, out_pixels, &uk)) {
    onexn_set_err(err, err_len, "onexn_conv_create: no microkernel for ISA '%s'", onexn_isa_name(isa));
    return NULL;
  }
  onexn_conv* conv = (onexn_conv*)calloc(1, sizeof(*conv));
  if (conv == NULL) {
    onexn_set_err(err, err_len, "onexn_conv_create: out of memory");
    return NULL;
  }
  conv->s = *shape;
  conv->n = index->n;
  conv->uk = *uk;
  if (uk->nr_fits_block && (uint32_t)index->n < uk->nr) conv->uk.nr = (uint32_t)index->n;
  if (compute_sizes(conv)) {
    onexn_set_err(err, err_len, "onexn_conv_create: tensor sizes overflow");
    free(conv);
    return NULL;
  }
  if (pack_row_weights(conv, index, weights_ohwi, bias)) goto oom;
  conv->zero = (float*)onexn_aligned_alloc(conv->tap_cin * sizeof(float));
  conv->ind = (ptrdiff_t*)onexn_aligned_alloc(conv->out_pixels * conv->taps * sizeof(ptrdiff_t));
  if (conv->zero == NULL || conv->ind == NULL) goto oom;
  memset(conv->zero, 0, conv->tap_cin * sizeof(float));
  const onexn_conv_shape rows = row_shape(conv);
  onexn_conv_build_indirection(&rows, rows_as_taps(&rows) ? 1 : conv->s.kw, conv->ind);
  conv->pixel_stride = identity_indirection(conv) ? conv->tap_cin : 0;
  conv->panel_block = weight_blocking(conv);
  // Per-thread scratch: the pixel-vector kernels' gathered tiles, or one widened image whose padding
  // columns stay zero (see widen_rows); grown by onexn_conv_reserve_threads.
  int scratch = 0;
  if (conv->wide_w != 0) {
    scratch = onexn_mul_size((size_t)conv->s.in_h * conv->wide_w, (size_t)conv->s.cin, &conv->xt_floats) ? -1 : 1;
  } else if (conv->uk.kind == ONEXN_KIND_XT) {
    // One gathered tile, or every tile of an image where the weights run in blocks (weight_blocking).
    const size_t tiles = conv->panel_block < conv->num_panels ? conv->tiles : 1;
    scratch = onexn_mul_size(conv->taps * conv->tap_cin, conv->uk.mr, &conv->xt_floats) ||
                      onexn_mul_size(conv->xt_floats, tiles, &conv->xt_floats)
                  ? -1
                  : 1;
  }
  if (scratch < 0 || (scratch > 0 && conv->xt_floats > SIZE_MAX / sizeof(float) - ONEXN_PAGE_FLOATS)) goto oom;
  conv->xt_stride = (conv->xt_floats + ONEXN_PAGE_FLOATS - 1) / ONEXN_PAGE_FLOATS * ONEXN_PAGE_FLOATS;
  if (scratch > 0) {
    conv->xt = (float*)onexn_aligned_alloc(conv->xt_floats * sizeof(float));
    if (conv->xt == NULL) goto oom;
    if (conv->wide_w != 0) {
      conv->wide = (wide_rows*)onexn_aligned_alloc(sizeof(wide_rows));
      if (conv->wide == NULL) goto oom;
      memset(conv->wide, 0, sizeof(wide_rows));
    }
    memset(conv->xt, 0, conv->xt_floats * sizeof(float));
    conv->xt_threads = 1;
  }
  return conv;
oom:
  onexn_set_err(err, err_len, "onexn_conv_create: out of memory (or packed size overflows)");
  onexn_conv_destroy(conv);
  return NULL;
}

onexn_conv* onexn_conv_create(const onexn_conv_shape* shape, const onexn_block_index* index,
                              const float* weights_ohwi, const float* bias, onexn_isa isa, char* err,
                              size_t err_len) {
  return onexn_conv_create_planned(shape, index, weights_ohwi, bias, isa, ONEXN_DENSE_NEVER, err, err_len);
}

// Every block at the dense width: the weights outside the kept blocks, which the caller may not have
// zeroed (onexn_conv_create ignores them), are zeroed in a copy first, so this is the same convolution.
static onexn_conv* create_dense(const onexn_conv_shape* shape, const onexn_block_index* index,
                                const float* weights_ohwi, const float* bias, onexn_isa isa,
                                const onexn_conv_plan* plan, char* err, size_t err_len) {
  const size_t cin = (size_t)shape->cin;
  size_t taps, per_channel, total;
  if (onexn_mul_size((size_t)shape->kh, (size_t)shape->kw, &taps) || onexn_mul_size(taps, cin, &per_channel) ||
      onexn_mul_size(per_channel, (size_t)shape->cout, &total)) {
    onexn_set_err(err, err_len, "onexn_conv_create: tensor sizes overflow");
    return NULL;
  }
  const int groups = (shape->cout + plan->dense_n - 1) / plan->dense_n;
  float* masked = (float*)calloc(total, sizeof(float));
  uint32_t* group_ptr = (uint32_t*)malloc(((size_t)groups + 1) * sizeof(uint32_t));
  uint32_t* kept_cin = (uint32_t*)malloc((size_t)groups * cin * sizeof(uint32_t));
  onexn_conv* conv = NULL;
  if (masked == NULL || group_ptr == NULL || kept_cin == NULL) {
    onexn_set_err(err, err_len, "onexn_conv_create: out of memory");
  } else {
    for (int o = 0; o < shape->cout; o++) {
      const int g = o / index->n;
      for (uint32_t k = index->group_ptr[g]; k < index->group_ptr[g + 1]; k++) {
        const size_t c = index->kept_cin[k];
        for (size_t t = 0; t < taps; t++) masked[o * per_channel + t * cin + c] = weights_ohwi[o * per_channel + t * cin + c];
      }
    }
    for (int g = 0; g <= groups; g++) group_ptr[g] = (uint32_t)((size_t)g * cin);
    for (size_t k = 0; k < (size_t)groups * cin; k++) kept_cin[k] = (uint32_t)(k % cin);
    const onexn_block_index all = {plan->dense_n, groups, group_ptr, kept_cin};
    conv = create(shape, &all, masked, bias, isa, plan->uk, err, err_len);
  }
  free(masked);
  free(group_ptr);
  free(kept_cin);
  return conv;
}

onexn_conv* onexn_conv_create_planned(const onexn_conv_shape* shape, const onexn_block_index* index,
                                      const float* weights_ohwi, const float* bias, onexn_isa isa,
                                      onexn_dense_policy policy, char* err, size_t err_len) {
  isa = onexn_isa_resolve(isa);
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (onexn_conv_check_args("onexn_conv_create", shape, index, weights_ohwi, err, err_len)) return NULL;
  onexn_conv_plan plan;
  if (!onexn_isa_supported(isa) || onexn_conv_plan_for(shape, index, isa, policy, &plan)) {
    return create(shape, index, weights_ohwi, bias, isa, NULL, err, err_len);  // says what is wrong
  }
  onexn_conv* conv;
  if (plan.dense_n > 0) {
    conv = create_dense(shape, index, weights_ohwi, bias, isa, &plan, err, err_len);
  } else {
    conv = create(shape, index, weights_ohwi, bias, isa, plan.uk, err, err_len);
  }
  if (conv != NULL) conv->choice = plan.choice;
  return conv;
}

void onexn_conv_get_choice(const onexn_conv* conv, onexn_conv_choice* out) { *out = conv->choice; }

onexn_conv* onexn_conv_create_with_ukernel(const onexn_conv_shape* shape, const onexn_block_index* index,
                                           const float* weights_ohwi, const float* bias,
                                           const onexn_ukernel_config* uk, char* err, size_t err_len) {
  if (uk == NULL) {
    onexn_set_err(err, err_len, "onexn_conv_create: no microkernel given");
    return NULL;
  }
  return create(shape, index, weights_ohwi, bias, uk->isa, uk, err, err_len);
}

const char* onexn_conv_kernel_name(const onexn_conv* conv) { return conv == NULL ? "" : conv->uk.name; }

void onexn_conv_destroy(onexn_conv* conv) {
  if (conv == NULL) return;
  free(conv->chunk_order);
  onexn_aligned_free(conv->panels);
  onexn_aligned_free(conv->kc);
  onexn_aligned_free(conv->packed);
  onexn_aligned_free(conv->zero);
  onexn_aligned_free(conv->ind);
  onexn_aligned_free(conv->xt);
  onexn_aligned_free(conv->wide);
  free(conv);
}

typedef struct {
  onexn_conv* conv;
  const float* input;
  float* output;
  onexn_conv_tasks plan;
  const float* addend;  // onexn_conv_run_add: added to each task's outputs, or NULL
  onexn_vadd_ukernel add;
  float add_min, add_max;
  size_t run;  // conv->runs of this run (see widened_rows)
} run_ctx;

// Gathers output pixels [p0, p0 + mr) of one image (mr <= the kernel's tile) for a pixel-vector kernel into
// xt: one gathered tile per 16 pixels, one after the other (a 32-pixel kernel reads the second at
// xt + taps * cin * 16); a 32-pixel kernel handed at most 16 pixels reads only the first.
static void gather_tile(const onexn_conv* conv, const float* input, size_t p0, size_t mr, float* xt) {
  for (size_t q = 0; q < mr; q += ONEXN_XT_PIXELS) {
    conv->uk.gather(xt + q * conv->taps * conv->tap_cin, input, conv->zero, conv->ind + (p0 + q) * conv->taps,
                    conv->taps, conv->tap_cin, mr - q < ONEXN_XT_PIXELS ? mr - q : ONEXN_XT_PIXELS);
  }
}

// Panels [pa, pb) of a gathered tile of mr pixels; out points at its first pixel, channel 0.
static void run_xt_panels(const onexn_conv* conv, const float* xt, size_t mr, float* out, size_t pa, size_t pb) {
  const onexn_conv_shape* s = &conv->s;
  onexn_xt_args a;
  a.xt = xt;
  a.cin = conv->tap_cin;
  a.taps = conv->taps;
  a.mr = mr;
  a.out_stride = (size_t)s->cout;
  a.min = s->out_min;
  a.max = s->out_max;
  for (size_t i = pa; i < pb; i++) {
    const onexn_panel* pn = &conv->panels[i];
    a.kept = pn->kept;
    a.nc = pn->nc;
    a.kc = conv->kc + pn->kc_off;
    a.w = conv->packed + pn->w_off;
    a.out = out + pn->oc;
    conv->uk.xt(&a);
  }
}

// Pixels [p0, p1) of a pixel-vector kernel, panels [pa, pb): as many tiles at a time as the thread's scratch
// holds (one, or an image's where the weights run in blocks: weight_blocking), each block of panels over
// all of them.
static void run_xt_range(const onexn_conv* conv, const float* input, size_t p0, size_t p1, float* out, size_t pa,
                         size_t pb, size_t thread) {
  const size_t mr_max = conv->uk.mr, cout = (size_t)conv->s.cout;
  const size_t tile_floats = conv->taps * conv->tap_cin * mr_max, held = conv->xt_floats / tile_floats;
  float* xt = conv->xt + thread * conv->xt_stride;
  for (size_t p = p0; p < p1; p += held * mr_max) {
    const size_t pe = p1 - p < held * mr_max ? p1 : p + held * mr_max;
    for (size_t q = p, i = 0; q < pe; q += mr_max, i++) {
      gather_tile(conv, input, q, pe - q < mr_max ? pe - q : mr_max, xt + i * tile_floats);
    }
    for (size_t b = pa; b < pb; b += conv->panel_block) {
      const size_t be = pb - b < conv->panel_block ? pb : b + conv->panel_block;
      for (size_t q = p, i = 0; q < pe; q += mr_max, i++) {
        run_xt_panels(conv, xt + i * tile_floats, pe - q < mr_max ? pe - q : mr_max, out + (q - p0) * cout, b, be);
      }
    }
  }
}

static void copy_rows(const onexn_conv* conv, float* wide, const float* input, ptrdiff_t lo, ptrdiff_t hi) {
  const size_t cin = (size_t)conv->s.cin, row = (size_t)conv->s.in_w * cin;
  for (ptrdiff_t iy = lo; iy < hi; iy++) {
    memcpy(wide + ((size_t)iy * conv->wide_w + (size_t)conv->s.pad_left) * cin, input + (size_t)iy * row,
           row * sizeof(float));
  }
}

// Copies the input rows that output pixels [p0, p1) read into the thread's widened image (see widen_rows),
// at the columns after the left padding; the padding columns stay zero. Returns the widened image. Within
// run `run` (0: none) only the rows the thread has not copied yet: its tasks are mostly consecutive, and
// tasks of a row or two of a 7x7/2 stem would otherwise copy each input row three or four times.
static const float* widened_rows(const onexn_conv* conv, const float* input, size_t p0, size_t p1, size_t thread,
                                 size_t run) {
  const onexn_conv_shape* s = &conv->s;
  float* wide = conv->xt + thread * conv->xt_stride;
  const size_t out_w = (size_t)s->out_w;
  const ptrdiff_t first = (ptrdiff_t)(p0 / out_w) * s->stride_h - s->pad_top;
  const ptrdiff_t last =
      (ptrdiff_t)((p1 - 1) / out_w) * s->stride_h - s->pad_top + (ptrdiff_t)(s->kh - 1) * s->dilation_h;
  const ptrdiff_t lo = first < 0 ? 0 : first, hi = last < s->in_h ? last + 1 : s->in_h;
  if (lo >= hi) return wide;
  wide_rows* held = run != 0 ? &conv->wide[thread] : NULL;
  if (held != NULL && held->run == run && held->src == input && lo <= held->hi && hi >= held->lo) {
    // Overlapping or adjacent: copy what lies outside, and hold the union.
    if (lo < held->lo) {
      copy_rows(conv, wide, input, lo, held->lo);
      held->lo = lo;
    }
    if (hi > held->hi) {
      copy_rows(conv, wide, input, held->hi, hi);
      held->hi = hi;
    }
    return wide;
  }
  copy_rows(conv, wide, input, lo, hi);
  if (held != NULL) {
    held->run = run;
    held->src = input;
    held->lo = lo;
    held->hi = hi;
  }
  return wide;
}

static void run_pixel_range(const onexn_conv* conv, const float* input_image, size_t p0, size_t p1, float* out,
                            size_t pa, size_t pb, size_t thread, size_t run) {
  const onexn_conv_shape* s = &conv->s;
  if (p1 <= p0 || pb <= pa) return;
  if (conv->wide_w != 0) input_image = widened_rows(conv, input_image, p0, p1, thread, run);
  if (conv->uk.kind == ONEXN_KIND_IND) {
    onexn_ind_args a;
    a.input = input_image;
    a.zero = conv->zero;
    a.ind = conv->ind + p0 * conv->taps;
    a.taps = conv->taps;
    a.pixels = p1 - p0;
    a.nr = conv->uk.nr;
    a.pixel_stride = conv->pixel_stride;
    a.kc = conv->kc;
    a.w = conv->packed;
    a.out = out;
    a.out_stride = (size_t)s->cout;
    a.min = s->out_min;
    a.max = s->out_max;
    for (size_t q = pa; q < pb; q += conv->panel_block) {
      a.panels = conv->panels + q;
      a.num_panels = pb - q < conv->panel_block ? pb - q : conv->panel_block;
      conv->uk.ind(&a);
    }
    return;
  }
  run_xt_range(conv, input_image, p0, p1, out, pa, pb, thread);
}

void onexn_conv_run_pixels(const onexn_conv* conv, const float* input_image, size_t p0, size_t p1, float* out,
                           size_t pa, size_t pb, size_t thread) {
  run_pixel_range(conv, input_image, p0, p1, out, pa, pb, thread, 0);
}

size_t onexn_conv_num_panels(const onexn_conv* conv) { return conv->num_panels; }

size_t onexn_conv_panel_block(const onexn_conv* conv) { return conv->panel_block; }

onexn_vadd_ukernel onexn_conv_add_ukernel(const onexn_conv* conv) { return onexn_add_ukernel(conv->uk.isa); }

const onexn_conv_shape* onexn_conv_get_shape(const onexn_conv* conv) { return &conv->s; }

int onexn_conv_tile_invariant(const onexn_conv* conv) { return conv->uk.tile_invariant; }

size_t onexn_conv_reserve_threads(onexn_conv* conv, size_t threads) {
  if (conv->xt_floats == 0 || threads <= conv->xt_threads) return threads;
  // Grow the per-thread scratch; if that fails, the caller runs alone (same results).
  float* xt = threads <= SIZE_MAX / sizeof(float) / conv->xt_stride
                  ? (float*)onexn_aligned_alloc(threads * conv->xt_stride * sizeof(float))
                  : NULL;
  wide_rows* wide = conv->wide_w != 0 ? (wide_rows*)onexn_aligned_alloc(threads * sizeof(wide_rows)) : NULL;
  if (xt == NULL || (conv->wide_w != 0 && wide == NULL)) {
    onexn_aligned_free(xt);
    onexn_aligned_free(wide);
    return 1;
  }
  if (conv->wide_w != 0) {
    memset(xt, 0, threads * conv->xt_stride * sizeof(float));
    memset(wide, 0, threads * sizeof(wide_rows));
    onexn_aligned_free(conv->wide);
    conv->wide = wide;
  }
  onexn_aligned_free(conv->xt);
  conv->xt = xt;
  conv->xt_threads = threads;
  return threads;
}

// A task is a run of consecutive tiles of one image times a chunk of panels. Every output element is
// computed by the same code whichever thread runs its task, so results do not depend on the pool.
static void run_task(void* p, size_t task, size_t thread) {
  const run_ctx* r = (const run_ctx*)p;
  const onexn_conv* conv = r->conv;
  const onexn_conv_task t = onexn_conv_task_of(&r->plan, task);
  const size_t chunk = t.chunk, run = t.run, img = t.img;
  const size_t pa = chunk * r->plan.panels_per_chunk;
  const size_t pb = pa + r->plan.panels_per_chunk < conv->num_panels ? pa + r->plan.panels_per_chunk
                                                                      : conv->num_panels;
  const size_t run_pixels = r->plan.tiles_per_task * conv->uk.mr;
  const size_t p0 = run * run_pixels;  // a run starts at a tile boundary
  const size_t p1 = p0 + run_pixels < conv->out_pixels ? p0 + run_pixels : conv->out_pixels;
  const size_t out_at = img * conv->out_image + p0 * (size_t)conv->s.cout;
  run_pixel_range(conv, r->input + img * conv->in_image, p0, p1, r->output + out_at, pa, pb, thread, r->run);
  if (r->addend == NULL) return;
  // The task's outputs are done: add while they are in this core's cache.
  const size_t cout = (size_t)conv->s.cout;
  if (r->plan.chunks == 1) {
    const size_t n = (p1 - p0) * cout;
    r->add(n, r->output + out_at, r->addend + out_at, r->output + out_at, r->add_min, r->add_max);
    return;
  }
  // A chunk's panels are consecutive output channels.
  const size_t c0 = conv->panels[pa].oc, c1 = conv->panels[pb - 1].oc + conv->panels[pb - 1].nc;
  for (size_t p = 0; p < p1 - p0; p++) {
    const size_t at = out_at + p * cout + c0;
    r->add(c1 - c0, r->output + at, r->addend + at, r->output + at, r->add_min, r->add_max);
  }
}

// The order of the plan's chunks that shares their work out evenly over the threads, or NULL (in order is
// even enough: onexn_conv_balance_chunks; or no memory); worked out on a plan's first run, then kept.
static const uint32_t* chunk_order(onexn_conv* conv, const onexn_conv_tasks* plan, size_t threads) {
  if (threads < 2 || plan->chunks < 2 * threads) return NULL;
  if (conv->order_chunks != plan->chunks || conv->order_threads != threads) {
    free(conv->chunk_order);
    conv->chunk_order = (uint32_t*)malloc(plan->chunks * sizeof(uint32_t));
    if (conv->chunk_order != NULL &&
        !onexn_conv_balance_chunks(conv->panels, conv->num_panels, plan->panels_per_chunk, plan->chunks, threads,
                                   conv->chunk_order)) {
      free(conv->chunk_order);
      conv->chunk_order = NULL;
    }
    conv->order_chunks = plan->chunks;
    conv->order_threads = threads;
  }
  return conv->chunk_order;
}

static void run(onexn_conv* conv, const float* input, float* output, const float* addend, float add_min,
                float add_max, onexn_threadpool* pool) {
  const size_t threads = onexn_conv_reserve_threads(conv, (size_t)onexn_threadpool_size(pool));
  run_ctx r;
  r.conv = conv;
  r.input = input;
  r.output = output;
  // A layer whose panels run in blocks (weight_blocking) runs half images per task at several threads.
  // Tasks of pixels of about 4 us or more by the cost model's estimate.
  const double tile_ns = conv->choice.cost_ns > 0.0 ? conv->choice.cost_ns / (double)conv->tiles : 0.0;
  const size_t min_tiles = tile_ns > 0.0 && tile_ns < 4000.0 ? (size_t)(4000.0 / tile_ns) : 1;
  r.plan = onexn_conv_plan_tasks(threads, (size_t)conv->s.batch, conv->tiles, conv->num_panels,
                                 conv->panel_block < conv->num_panels, min_tiles);
  r.plan.chunk_order = chunk_order(conv, &r.plan, threads);
  r.run = ++conv->runs;
  r.addend = addend;
  r.add = addend != NULL ? onexn_add_ukernel(conv->uk.isa) : NULL;
  r.add_min = add_min;
  r.add_max = add_max;
  onexn_threadpool_parallelize(threads > 1 ? pool : NULL, r.plan.tasks, run_task, &r);
}

void onexn_conv_run(onexn_conv* conv, const float* input, float* output, onexn_threadpool* pool) {
  if (conv == NULL || input == NULL || output == NULL) return;
  run(conv, input, output, NULL, 0.0f, 0.0f, pool);
}

void onexn_conv_run_add(onexn_conv* conv, const float* input, const float* addend, float* output, float out_min,
                        float out_max, onexn_threadpool* pool) {
  if (conv == NULL || input == NULL || addend == NULL || output == NULL) return;
  run(conv, input, output, addend, out_min, out_max, pool);
}
