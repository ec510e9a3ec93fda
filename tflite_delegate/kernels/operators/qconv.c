// onexn_qconv: the int8 1xN convolution. Argument checks, weight packing (the bias corrected for the input
// zero point, XNNPACK's requantization scales, kept lists padded to the microkernel's kr), the indirection
// buffer, per-thread scratch and the threaded run loop; qconv-dispatch.c chooses the microkernel.
//
// A task runs tiles of 16 output pixels: the kernel's gather transposes a tile's inputs channel-major (a
// kernel without one reads the tile's input rows itself), then the microkernel computes every panel of the
// task's chunk for it. A stride-1 KxK layer whose kernel has a strip function runs from strips instead (see
// plan_strip): the image gathered once, each group's kept channels interleaved once. Every output is computed
// by one microkernel call, the same whichever thread runs it, and integer sums do not depend on their order:
// results are bit-identical for any thread count.
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/memory.h"
#include "common/threadpool.h"
#include "operators/operators.h"
#include "operators/qs8-requant.h"

static const char kCreate[] = "onexn_qconv_create";

struct onexn_qconv {
  onexn_conv_shape s;
  onexn_qs8_ukernel_config uk;
  size_t taps;
  size_t out_pixels;      // per image
  size_t tiles;           // tiles of ONEXN_XT_PIXELS output pixels per image
  size_t in_image;        // bytes per input image
  size_t out_image;       // bytes per output image
  size_t num_panels;
  onexn_panel* panels;
  uint32_t* kc;           // each group's kept list as rows of the gathered tile, padded to a multiple of kr
  uint8_t* packed;
  int8_t* zero;           // max(cin, 4) bytes of the input zero point: padding taps read it, so x - zero point = 0
  ptrdiff_t* ind;         // [out_pixels][taps] input row offsets, -1 = padding
  onexn_x8_gather narrow; // the ISA's gather for at most 4 channels (one 4-byte read a pixel), or NULL ...
  size_t narrow_tiles;    // ... for the tiles before the first that reads a row within 4 bytes of the image's end
  size_t xt_bytes;        // per thread: the gathered tile ...
  size_t scratch_bytes;   // ... then the microkernel's scratch
  uint8_t* scratch;       // scratch_threads * scratch_bytes
  size_t scratch_threads;
  // Strips (plan_strip): the input padded to (out_h + kh - 1) x (out_w + kw - 1) pixels, pixel order.
  size_t strip_w;           // padded width; 0 when the layer runs tiles of the indirection instead
  size_t strip_tiles;       // gathered tiles of 16 padded pixels
  size_t strip_tile_bytes;  // per gathered tile (cin rows of 16 bytes, 64-byte aligned)
  size_t strip_stride;      // bytes from one quad of a strip to the next: 16 pixels more than the tiles hold
  ptrdiff_t* strip_ind;     // [strip_tiles * 16] input row offsets of the padded pixels, -1 = padding
  size_t* strip_tap;        // [taps] byte offset of each tap's pixel from the output pixel's in a strip
  // Rows (plan_rows): few input channels, the image flipped and padded, a tap row's kw * cin bytes as quads.
  size_t rows_h, rows_w;    // padded input size; rows_w 0 when the layer does not run rows
  size_t rows_bytes;        // the padded image with slack for the last pixels' reads past it
  size_t* rows_tap;         // [kh] byte offset of each tap row
  uint8_t zero_flipped;     // the input zero point + 128
  int32_t zero_point;     // output
  float lo, hi;           // output range minus the output zero point
  int clamp_hi;           // onexn_qs8_args.clamp_hi
};

static int positive_normal(float v) { return isnormal(v) && v > 0.0f; }

// XNNPACK's checks of the quantization (xnn_create_convolution2d_nhwc_qs8_qc8w): a model it refuses runs
// on the stock runtime's own kernel, whose rounding differs, so those are refused here too.
static int check_quant(const onexn_conv_shape* s, const onexn_qconv_quant* q, char* err, size_t err_len) {
  if (q == NULL || q->weight_scales == NULL) {
    onexn_set_err(err, err_len, "%s: quantization parameters and weight scales must not be NULL", kCreate);
    return -1;
  }
  if (!positive_normal(q->input_scale) || !positive_normal(q->output_scale)) {
    onexn_set_err(err, err_len, "%s: input scale %g and output scale %g must be positive normal numbers", kCreate,
                  (double)q->input_scale, (double)q->output_scale);
    return -1;
  }
  if (q->input_zero_point < -128 || q->input_zero_point > 127 || q->output_zero_point < -128 ||
      q->output_zero_point > 127) {
    onexn_set_err(err, err_len, "%s: zero points %d (input) and %d (output) must be in -128..127", kCreate,
                  (int)q->input_zero_point, (int)q->output_zero_point);
    return -1;
  }
  for (int c = 0; c < s->cout; c++) {
    if (!positive_normal(q->weight_scales[c])) {
      onexn_set_err(err, err_len, "%s: weight scale %g of output channel %d must be a positive normal number",
                    kCreate, (double)q->weight_scales[c], c);
      return -1;
    }
    const float product = q->input_scale * q->weight_scales[c];
    if (!(product / q->output_scale < 256.0f)) {
      onexn_set_err(err, err_len, "%s: requantization scale %g of output channel %d is 256 or more", kCreate,
                    (double)(product / q->output_scale), c);
      return -1;
    }
  }
  return 0;
}

// xnn_qs8_quantize: an activation bound in real units -> int8, rounding half to even.
static int32_t quantize_bound(float v, float scale, int32_t zero_point) {
  return (int32_t)lrintf(fminf(fmaxf(v / scale + (float)zero_point, -128.0f), 127.0f));
}

static size_t round_up(size_t x, size_t m) { return (x + m - 1) / m * m; }

// Sizes in bytes; -1 on overflow.
static int compute_sizes(onexn_qconv* conv) {
  const onexn_conv_shape* s = &conv->s;
  size_t t;
  if (onexn_mul_size((size_t)s->kh, (size_t)s->kw, &conv->taps)) return -1;
  if (onexn_mul_size((size_t)s->out_h, (size_t)s->out_w, &conv->out_pixels)) return -1;
  if (onexn_mul_size(conv->out_pixels, (size_t)s->cout, &conv->out_image)) return -1;
  if (onexn_mul_size((size_t)s->in_h, (size_t)s->in_w, &t) || onexn_mul_size(t, (size_t)s->cin, &conv->in_image)) {
    return -1;
  }
  // Whole tensors must be addressable, and offsets are ptrdiff_t.
  if (onexn_mul_size(conv->in_image, (size_t)s->batch, &t) || t > (size_t)PTRDIFF_MAX) return -1;
  if (onexn_mul_size(conv->out_image, (size_t)s->batch, &t) || t > (size_t)PTRDIFF_MAX) return -1;
  if (onexn_mul_size(conv->out_pixels, conv->taps, &t) || t > SIZE_MAX / sizeof(ptrdiff_t)) return -1;
  if (onexn_mul_size(conv->taps, (size_t)s->cin, &t) || onexn_mul_size(t, (size_t)s->cout, &t)) return -1;
  if (onexn_mul_size(conv->taps, (size_t)s->cin, &t) || onexn_mul_size(t, ONEXN_XT_PIXELS, &t)) return -1;
  conv->xt_bytes = conv->uk.gather != NULL ? round_up(t, 64) : 0;
  conv->tiles = conv->out_pixels / ONEXN_XT_PIXELS + (conv->out_pixels % ONEXN_XT_PIXELS != 0);
  return 0;
}

// One panel: bias (corrected), scales, then the weights [taps][kept / kr][nr][kr] of its nc channels.
static void pack_panel(const onexn_qconv* conv, const onexn_panel* pn, const uint32_t* kept_cin, size_t kept,
                       const int8_t* w, const int32_t* bias, const onexn_qconv_quant* q) {
  const size_t nr = conv->uk.nr, kr = conv->uk.kr, taps = conv->taps, cin = (size_t)conv->s.cin;
  int32_t* pb = (int32_t*)(conv->packed + pn->w_off);
  float* ps = (float*)(pb + nr);
  uint8_t* pw = (uint8_t*)(ps + nr);
  // sum((x + offset - zero point - offset) * w): the kernel's sum minus (zero point + offset) * sum(w), modulo
  // 2^32 as the int32 sums of the kernels and of XNNPACK's packed bias.
  const uint32_t shift = (uint32_t)(q->input_zero_point + conv->uk.input_offset);
  for (size_t j = 0; j < pn->nc; j++) {
    const size_t oc = pn->oc + j;
    uint32_t sum = 0;
    for (size_t t = 0; t < taps; t++) {
      for (size_t k = 0; k < kept; k++) sum += (uint32_t)(int32_t)w[(oc * taps + t) * cin + kept_cin[k]];
    }
    pb[j] = (int32_t)((bias != NULL ? (uint32_t)bias[oc] : 0u) - shift * sum);
    const float product = q->input_scale * q->weight_scales[oc];  // XNNPACK's order of operations
    ps[j] = product / q->output_scale;
  }
  const size_t groups = pn->kept / kr;
  for (size_t t = 0; t < taps; t++) {
    for (size_t g = 0; g < groups; g++) {
      for (size_t j = 0; j < pn->nc; j++) {
        for (size_t r = 0; r < kr; r++) {
          const size_t k = g * kr + r;
          const int8_t v = k < kept ? w[((pn->oc + j) * taps + t) * cin + kept_cin[k]] : 0;
          const size_t at = ((t * groups + g) * nr + j) * kr + r;
          if (conv->uk.w_int16) {
            ((int16_t*)pw)[at] = v;
          } else {
            ((int8_t*)pw)[at] = v;
          }
        }
      }
    }
  }
}

// Panels of nr channels per group, the padded kept lists, the packed weights. Returns the largest padded
// kept count (for the scratch), or -1 when out of memory or a size overflows.
static ptrdiff_t pack(onexn_qconv* conv, const onexn_block_index* ix, const int8_t* w, const int32_t* bias,
                      const onexn_qconv_quant* q) {
  const size_t nr = conv->uk.nr, kr = conv->uk.kr, n = (size_t)ix->n, cout = (size_t)conv->s.cout;
  const size_t wbytes = conv->uk.w_int16 ? 2 : 1, cin = (size_t)conv->s.cin;
  const int blocked = onexn_x8_gather_blocked(conv->uk.gather);
  size_t panels = 0, bytes = 0, kc_total = 0, max_kept = 0;
  for (size_t g = 0; g < (size_t)ix->num_groups; g++) {
    const size_t kept = round_up(ix->group_ptr[g + 1] - ix->group_ptr[g], kr);
    kc_total += kept;
    max_kept = kept > max_kept ? kept : max_kept;
    const size_t g0 = g * n, g1 = g0 + n < cout ? g0 + n : cout;
    size_t panel_bytes;
    if (onexn_mul_size(conv->taps, kept, &panel_bytes) || onexn_mul_size(panel_bytes, nr * wbytes, &panel_bytes) ||
        panel_bytes > SIZE_MAX - 8 * nr - 64)
      return -1;
    panel_bytes = round_up(8 * nr + panel_bytes, 64);
    for (size_t oc = g0; oc < g1; oc += nr) {
      if (bytes > SIZE_MAX - panel_bytes) return -1;
      bytes += panel_bytes;
      panels++;
    }
  }
  conv->num_panels = panels;
  conv->panels = (onexn_panel*)onexn_aligned_alloc(panels * sizeof(onexn_panel));
  conv->kc = (uint32_t*)onexn_aligned_alloc((kc_total + 1) * sizeof(uint32_t));
  // 1 KB of slack: the AMX kernel loads a whole tile of weights for a tap's last chunk (its rows past the
  // chunk's weights meet activations of 0).
  if (bytes > SIZE_MAX - 1024) return -1;
  conv->packed = (uint8_t*)onexn_aligned_alloc(bytes + 1024);
  if (conv->panels == NULL || conv->kc == NULL || conv->packed == NULL) return -1;
  memset(conv->packed, 0, bytes + 1024);
  size_t p = 0, off = 0, kc_off = 0;
  for (size_t g = 0; g < (size_t)ix->num_groups; g++) {
    const size_t kept = ix->group_ptr[g + 1] - ix->group_ptr[g], padded = round_up(kept, kr);
    const uint32_t* kept_cin = kept != 0 ? ix->kept_cin + ix->group_ptr[g] : NULL;
    for (size_t k = 0; k < padded; k++) {  // the padding repeats a kept channel, with weights 0
      conv->kc[kc_off + k] = (uint32_t)onexn_x8_gather_row(kept_cin[k < kept ? k : kept - 1], cin, blocked);
    }
    const size_t g0 = g * n, g1 = g0 + n < cout ? g0 + n : cout;
    for (size_t oc = g0; oc < g1; oc += nr) {
      onexn_panel* pn = &conv->panels[p++];
      pn->oc = (uint32_t)oc;
      pn->nc = (uint32_t)(g1 - oc < nr ? g1 - oc : nr);
      pn->kept = (uint32_t)padded;
      pn->kc_off = kc_off;
      pn->w_off = off;
      pack_panel(conv, pn, kept_cin, kept, w, bias, q);
      off += round_up(8 * nr + conv->taps * padded * nr * wbytes, 64);
    }
    kc_off += padded;
  }
  return (ptrdiff_t)max_kept;
}

// Layers of at most 4 input channels (RGB stems) read each pixel's channels as one 4-byte word where the ISA
// has a narrow gather (the full ones copy such rows byte by byte: 60% of MobileNetV2's int8 stem). The word
// may run past the image's last pixel, so tiles from the first that reads within 4 bytes of the end keep
// the full gather; both fill the tile alike.
static void plan_narrow_gather(onexn_qconv* conv) {
  conv->narrow = conv->uk.gather != NULL ? onexn_x8_gather_narrow(conv->uk.gather, (size_t)conv->s.cin) : NULL;
  conv->narrow_tiles = conv->narrow != NULL ? conv->tiles : 0;
  if (conv->narrow == NULL) return;
  for (size_t i = 0; i < conv->out_pixels * conv->taps; i++) {
    const ptrdiff_t o = conv->ind[i];
    if (o >= 0 && (size_t)o + 4 > conv->in_image) {
      conv->narrow_tiles = i / conv->taps / ONEXN_XT_PIXELS;
      return;
    }
  }
}

// Strips for stride-1 KxK layers. A tile's kernel call gathers and interleaves its pixels' inputs once per
// tap: each input pixel of a 3x3 layer 9 times, 40% of int8 ResNet-50's 3x3 layers. With strips a run
// gathers the zero-padded image once (pixel order, so that a tap's inputs of consecutive output pixels are
// consecutive) and interleaves each group's kept channels once; the tiles then run along output rows,
// whose pixels read each tap's quads 4 bytes apart. Every output's sum is the same, so are the results.
// ResNet-50's 3x3 layers at N = 16 50%: 0.65-0.8x the time of the tiles (qconv_bench, Zen 4).
int onexn_qconv_strip_shape(const onexn_conv_shape* s) {
  if ((size_t)s->kh * (size_t)s->kw < 2 || s->stride_h != 1 || s->stride_w != 1 || s->dilation_h != 1 ||
      s->dilation_w != 1 || s->cin > (1 << 16)) {
    return 0;
  }
  const size_t hp = (size_t)s->out_h + (size_t)s->kh - 1, wp = (size_t)s->out_w + (size_t)s->kw - 1;
  return hp <= ((size_t)4 << 20) / wp;
}

static int plan_strip(onexn_qconv* conv, size_t max_kept) {
  const onexn_conv_shape* s = &conv->s;
  if (conv->uk.strip == NULL || conv->uk.gather == NULL || !onexn_qconv_strip_shape(s)) return 0;
  const size_t hp = (size_t)s->out_h + (size_t)s->kh - 1, wp = (size_t)s->out_w + (size_t)s->kw - 1;
  const size_t cin = (size_t)s->cin;
  const size_t tiles = (hp * wp + ONEXN_XT_PIXELS - 1) / ONEXN_XT_PIXELS;
  const size_t tile_bytes = round_up(cin * ONEXN_XT_PIXELS, 64);
  // A thread holds the gathered image and one group's strip: at most 8 MB each.
  if (tiles * tile_bytes > ((size_t)8 << 20) || (tiles + 1) * ONEXN_XT_PIXELS * max_kept > ((size_t)8 << 20)) return 0;
  conv->strip_ind = (ptrdiff_t*)onexn_aligned_alloc(tiles * ONEXN_XT_PIXELS * sizeof(ptrdiff_t));
  conv->strip_tap = (size_t*)onexn_aligned_alloc(conv->taps * sizeof(size_t));
  if (conv->strip_ind == NULL || conv->strip_tap == NULL) return -1;
  for (size_t i = 0; i < tiles * ONEXN_XT_PIXELS; i++) {
    const ptrdiff_t y = (ptrdiff_t)(i / wp) - s->pad_top, x = (ptrdiff_t)(i % wp) - s->pad_left;
    const int inside = i < hp * wp && y >= 0 && y < s->in_h && x >= 0 && x < s->in_w;
    conv->strip_ind[i] = inside ? (y * s->in_w + x) * (ptrdiff_t)cin : -1;
  }
  for (size_t t = 0; t < conv->taps; t++) conv->strip_tap[t] = 4 * (t / (size_t)s->kw * wp + t % (size_t)s->kw);
  conv->strip_w = wp;
  conv->strip_tiles = tiles;
  conv->strip_tile_bytes = tile_bytes;
  conv->strip_stride = 4 * (tiles + 1) * ONEXN_XT_PIXELS;  // a short row's unstored pixels read past the tiles
  return 1;
}

// Rows for layers of few input channels (RGB stems). With a tile's gather and interleave, a 3-channel pixel
// fills one quad of kept channels a tap, 3/4 used, transposed again for every tap and group: ResNet-50's int8
// 7x7/2 stem took 2.7 ms (XNNPACK: 1.6-2.0). Rows read a flipped, zero-point-padded copy of the image instead:
// a tap row's kw * cin bytes are contiguous in it, so they are the row's quads (7 x 3 = 21 bytes: 6 quads, not
// 7), broadcast straight from the copy at a pixel stride of stride_w * cin bytes. Every block is computed
// (pruned weights are 0). The same sums as the tiles': the same results.
int onexn_qconv_rows_shape(const onexn_conv_shape* s) {
  return s->cin <= 4 && (size_t)s->kh * (size_t)s->kw >= 2 && s->dilation_h == 1 && s->dilation_w == 1 &&
         s->stride_w <= 16;
}

static int rows_shape(const onexn_qconv* conv) {
  return conv->uk.strip != NULL && onexn_qconv_rows_shape(&conv->s) && (size_t)conv->s.kw * (size_t)conv->s.cin <= 64;
}

static int plan_rows(onexn_qconv* conv) {
  const onexn_conv_shape* s = &conv->s;
  const size_t h = (size_t)(s->out_h - 1) * (size_t)s->stride_h + (size_t)s->kh;
  const size_t w = (size_t)(s->out_w - 1) * (size_t)s->stride_w + (size_t)s->kw;
  const size_t cin = (size_t)s->cin;
  if (h > ((size_t)8 << 20) / w / cin) return 0;  // at most 8 MB a thread
  conv->rows_tap = (size_t*)onexn_aligned_alloc((size_t)s->kh * sizeof(size_t));
  if (conv->rows_tap == NULL) return -1;
  for (size_t t = 0; t < (size_t)s->kh; t++) conv->rows_tap[t] = t * w * cin;
  conv->rows_h = h;
  conv->rows_w = w;
  // Unstored pixels of a short row and a row's last quad read up to 16 pixels and 3 bytes past the image.
  conv->rows_bytes = round_up(h * w * cin + 16 * (size_t)s->stride_w * cin + 64, 64);
  return 1;
}

// Rows' panels: per group and nr channels, the bias (corrected), scales, then w[kh][quads][nr][4], quad j of
// tap row ky holding bytes 4j..4j+3 of the row's kw * cin (kx major, then channel; 0 past them).
static ptrdiff_t pack_rows(onexn_qconv* conv, const onexn_block_index* ix, const int8_t* w, const int32_t* bias,
                           const onexn_qconv_quant* q) {
  const size_t nr = conv->uk.nr, n = (size_t)ix->n, cout = (size_t)conv->s.cout, cin = (size_t)conv->s.cin;
  const size_t kh = (size_t)conv->s.kh, kw = (size_t)conv->s.kw, row = kw * cin, quads = (row + 3) / 4;
  const size_t panel_bytes = round_up(8 * nr + kh * quads * 4 * nr, 64);
  size_t panels = 0;
  for (size_t g = 0; g < (size_t)ix->num_groups; g++) {
    const size_t g0 = g * n, g1 = g0 + n < cout ? g0 + n : cout;
    panels += (g1 - g0 + nr - 1) / nr;
  }
  conv->num_panels = panels;
  conv->panels = (onexn_panel*)onexn_aligned_alloc(panels * sizeof(onexn_panel));
  conv->kc = (uint32_t*)onexn_aligned_alloc(sizeof(uint32_t));
  conv->packed = (uint8_t*)onexn_aligned_alloc(panels * panel_bytes);
  if (conv->panels == NULL || conv->kc == NULL || conv->packed == NULL) return -1;
  memset(conv->packed, 0, panels * panel_bytes);
  const uint32_t shift = (uint32_t)(q->input_zero_point + conv->uk.input_offset);
  size_t p = 0;
  for (size_t g = 0; g < (size_t)ix->num_groups; g++) {
    const size_t g0 = g * n, g1 = g0 + n < cout ? g0 + n : cout;
    for (size_t oc = g0; oc < g1; oc += nr, p++) {
      onexn_panel* pn = &conv->panels[p];
      pn->oc = (uint32_t)oc;
      pn->nc = (uint32_t)(g1 - oc < nr ? g1 - oc : nr);
      pn->kept = (uint32_t)(quads * 4);
      pn->kc_off = 0;
      pn->w_off = p * panel_bytes;
      int32_t* pb = (int32_t*)(conv->packed + pn->w_off);
      float* ps = (float*)(pb + nr);
      int8_t* pw = (int8_t*)(ps + nr);
      for (size_t j = 0; j < pn->nc; j++) {
        const int8_t* wo = w + (oc + j) * conv->taps * cin;  // OHWI: [kh][kw][cin]
        uint32_t sum = 0;
        for (size_t i = 0; i < conv->taps * cin; i++) sum += (uint32_t)(int32_t)wo[i];
        pb[j] = (int32_t)((bias != NULL ? (uint32_t)bias[oc + j] : 0u) - shift * sum);
        const float product = q->input_scale * q->weight_scales[oc + j];  // XNNPACK's order of operations
        ps[j] = product / q->output_scale;
        for (size_t ky = 0; ky < kh; ky++) {
          for (size_t b = 0; b < row; b++) pw[((ky * quads + b / 4) * nr + j) * 4 + b % 4] = wo[ky * row + b];
        }
      }
    }
  }
  return (ptrdiff_t)(quads * 4);
}

// Per-thread scratch for `threads` threads; returns how many may run (1 if memory ran out: same results).
static size_t reserve_threads(onexn_qconv* conv, size_t threads) {
  if (threads <= conv->scratch_threads) return threads;
  uint8_t* scratch = threads <= SIZE_MAX / conv->scratch_bytes
                         ? (uint8_t*)onexn_aligned_alloc(threads * conv->scratch_bytes)
                         : NULL;
  if (scratch == NULL) return 1;
  memset(scratch, 0, threads * conv->scratch_bytes);  // a strip's tail, read for pixels that are not stored
  onexn_aligned_free(conv->scratch);
  conv->scratch = scratch;
  conv->scratch_threads = threads;
  return threads;
}

static onexn_qconv* create(const onexn_conv_shape* shape, const onexn_block_index* index, const int8_t* weights,
                           const int32_t* bias, const onexn_qconv_quant* quant, onexn_isa isa,
                           const onexn_qs8_ukernel_config* uk, char* err, size_t err_len) {
  if (err != NULL && err_len > 0) err[0] = '\0';
  if (onexn_conv_check_args(kCreate, shape, index, weights, err, err_len)) return NULL;
  if (check_quant(shape, quant, err, err_len)) return NULL;
  if (!onexn_isa_supported(isa)) {
    onexn_set_err(err, err_len, "%s: ISA '%s' is not supported by this build or CPU", kCreate, onexn_isa_name(isa));
    return NULL;
  }
  if (uk == NULL && onexn_qconv_choose_ukernel(isa, shape, index, &uk)) {
    onexn_set_err(err, err_len, "%s: no int8 microkernel for ISA '%s'", kCreate, onexn_isa_name(isa));
    return NULL;
  }
  onexn_qconv* conv = (onexn_qconv*)calloc(1, sizeof(*conv));
  if (conv == NULL) {
    onexn_set_err(err, err_len, "%s: out of memory", kCreate);
    return NULL;
  }
  conv->s = *shape;
  conv->uk = *uk;
  conv->zero_point = quant->output_zero_point;
  const int32_t qmin = quantize_bound(shape->out_min, quant->output_scale, quant->output_zero_point);
  const int32_t qmax = quantize_bound(shape->out_max, quant->output_scale, quant->output_zero_point);
  conv->lo = (float)(qmin - conv->zero_point);
  conv->hi = (float)(qmax - conv->zero_point);
  double max_bias = 0.0, max_scale = 0.0;
  for (int c = 0; c < shape->cout; c++) {
    if (bias != NULL && fabs((double)bias[c]) > max_bias) max_bias = fabs((double)bias[c]);
    const float product = quant->input_scale * quant->weight_scales[c];
    if ((double)(product / quant->output_scale) > max_scale) max_scale = (double)(product / quant->output_scale);
  }
  conv->clamp_hi = onexn_qs8_clamp_hi_needed(qmax, max_bias, (double)shape->kh * shape->kw * shape->cin, max_scale);
  if (compute_sizes(conv)) {
    onexn_set_err(err, err_len, "%s: tensor sizes overflow", kCreate);
    free(conv);
    return NULL;
  }
  const int rows = rows_shape(conv) ? plan_rows(conv) : 0;
  if (rows < 0) goto oom;
  const ptrdiff_t max_kept = rows ? pack_rows(conv, index, weights, bias, quant) : pack(conv, index, weights, bias, quant);
  if (max_kept < 0) goto oom;
  const int strip = rows ? 0 : plan_strip(conv, (size_t)max_kept);
  if (strip < 0) goto oom;
  size_t x_bytes;  // the microkernel's scratch
  if (rows) {  // the padded image; the kernel needs no scratch of its own
    conv->xt_bytes = conv->rows_bytes;
    x_bytes = 0;
  } else if (strip) {  // the gathered image, then a group's strip (plan_strip bounds both)
    conv->xt_bytes = conv->strip_tiles * conv->strip_tile_bytes;
    x_bytes = conv->strip_stride * ((size_t)max_kept / 4);
  } else if (onexn_mul_size(conv->taps * ONEXN_XT_PIXELS * uk->x_bytes, round_up((size_t)max_kept, 64), &x_bytes) ||
             x_bytes > SIZE_MAX - 64 - conv->xt_bytes) {
    goto oom;
  }
  conv->scratch_bytes = conv->xt_bytes + round_up(x_bytes, 64);
  if (conv->scratch_bytes == 0) conv->scratch_bytes = 64;  // the VBMI twin on an empty layer: no gather, nothing kept
  const size_t zero_bytes = shape->cin < 4 ? 4 : (size_t)shape->cin;
  conv->zero = (int8_t*)onexn_aligned_alloc(zero_bytes);
  conv->ind = (ptrdiff_t*)onexn_aligned_alloc(conv->out_pixels * conv->taps * sizeof(ptrdiff_t));
  if (conv->zero == NULL || conv->ind == NULL || reserve_threads(conv, 1) != 1) goto oom;
  memset(conv->zero, quant->input_zero_point, zero_bytes);
  conv->zero_flipped = (uint8_t)(quant->input_zero_point + 128);
  onexn_conv_build_indirection(shape, shape->kw, conv->ind);
  plan_narrow_gather(conv);
  return conv;
oom:
  onexn_set_err(err, err_len, "%s: out of memory (or packed size overflows)", kCreate);
  onexn_qconv_destroy(conv);
  return NULL;
}

onexn_qconv* onexn_qconv_create(const onexn_conv_shape* shape, const onexn_block_index* index,
                                const int8_t* weights_ohwi, const int32_t* bias, const onexn_qconv_quant* quant,
                                onexn_isa isa, char* err, size_t err_len) {
  return create(shape, index, weights_ohwi, bias, quant, onexn_isa_resolve(isa), NULL, err, err_len);
}

onexn_qconv* onexn_qconv_create_with_ukernel(const onexn_conv_shape* shape, const onexn_block_index* index,
                                             const int8_t* weights_ohwi, const int32_t* bias,
                                             const onexn_qconv_quant* quant, const onexn_qs8_ukernel_config* uk,
                                             char* err, size_t err_len) {
  if (uk == NULL) {
    onexn_set_err(err, err_len, "%s: no microkernel given", kCreate);
    return NULL;
  }
  return create(shape, index, weights_ohwi, bias, quant, uk->isa, uk, err, err_len);
}

const char* onexn_qconv_kernel_name(const onexn_qconv* conv) { return conv == NULL ? "" : conv->uk.name; }

void onexn_qconv_destroy(onexn_qconv* conv) {
  if (conv == NULL) return;
  onexn_aligned_free(conv->panels);
  onexn_aligned_free(conv->kc);
  onexn_aligned_free(conv->packed);
  onexn_aligned_free(conv->zero);
  onexn_aligned_free(conv->ind);
  onexn_aligned_free(conv->strip_ind);
  onexn_aligned_free(conv->strip_tap);
  onexn_aligned_free(conv->rows_tap);
  onexn_aligned_free(conv->scratch);
  free(conv);
}

typedef struct {
  const onexn_qconv* conv;
  const int8_t* input;
  int8_t* output;
  onexn_conv_tasks plan;
  const int8_t* addend;  // onexn_qconv_run_add: added to each pixel task's outputs, or NULL
  onexn_qs8_vadd_ukernel add;
  onexn_qs8_vadd_args add_args;
  int conv_operand;      // which input of the ADD the convolution's output is
} run_ctx;

// The arguments every call of thread `thread` shares: panels [pa, pb), the thread's scratch.
static void init_args(const onexn_qconv* conv, onexn_qs8_args* a, const int8_t* input, size_t pa, size_t pb,
                      size_t thread) {
  uint8_t* xt = conv->scratch + thread * conv->scratch_bytes;
  memset(a, 0, sizeof(*a));
  a->xt = xt;
  a->input = input;
  a->zero = conv->zero;
  a->cin = (size_t)conv->s.cin;
  a->taps = conv->taps;
  a->panels = conv->panels + pa;
  a->num_panels = pb - pa;
  a->kc = conv->kc;
  a->w = conv->packed;
  a->out_stride = (size_t)conv->s.cout;
  a->scratch = xt + conv->xt_bytes;
  a->zero_point = conv->zero_point;
  a->lo = conv->lo;
  a->hi = conv->hi;
  a->clamp_hi = conv->clamp_hi;
}

// Output pixels [p0, p1) of one image into out (pixel p0), 16 at a time: the gather, then the microkernel.
// The narrow gather serves the pixels before narrow_end.
static void run_range(const onexn_qconv* conv, onexn_qs8_args* a, size_t p0, size_t p1, int8_t* out,
                      size_t narrow_end) {
  uint8_t* xt = (uint8_t*)a->xt;
  const uint8_t flip = conv->uk.input_offset != 0 ? 0x80 : 0x00;
  for (size_t p = p0; p < p1; p += ONEXN_XT_PIXELS) {
    a->mr = p1 - p < ONEXN_XT_PIXELS ? p1 - p : ONEXN_XT_PIXELS;
    a->ind = conv->ind + p * conv->taps;
    const onexn_x8_gather gather = p < narrow_end ? conv->narrow : conv->uk.gather;
    if (gather != NULL) gather(xt, a->input, conv->zero, a->ind, conv->taps, a->cin, a->mr, flip);
    a->out = out + (p - p0) * a->out_stride;
    conv->uk.fn(a);
  }
}

// Output rows [oy0, oy1) of image img, 16 pixels a call, over the panels a holds: tile (oy, ox) reads its
// quads from base + oy * row_step + ox * pixel_step (a strip's or the padded copy's).
static void run_tiles_along_rows(const run_ctx* r, onexn_qs8_args* a, size_t img, size_t oy0, size_t oy1,
                                 const uint8_t* base, size_t row_step, size_t pixel_step) {
  const onexn_qconv* conv = r->conv;
  const size_t out_w = (size_t)conv->s.out_w, cout = (size_t)conv->s.cout;
  for (size_t oy = oy0; oy < oy1; oy++) {
    for (size_t ox = 0; ox < out_w; ox += ONEXN_XT_PIXELS) {
      a->mr = out_w - ox < ONEXN_XT_PIXELS ? out_w - ox : ONEXN_XT_PIXELS;
      a->strip = base + oy * row_step + ox * pixel_step;
      a->out = r->output + img * conv->out_image + (oy * out_w + ox) * cout;
      conv->uk.fn(a);
    }
  }
}

// A run from strips (plan_strip): output rows [oy0, oy1) of image img over the panels [pa, pb), a group at a
// time, tiles along rows. Only the strip tiles those rows read are gathered and interleaved.
static void run_strips(const run_ctx* r, size_t img, size_t pa, size_t pb, size_t oy0, size_t oy1, size_t thread) {
  const onexn_qconv* conv = r->conv;
  const size_t cin = (size_t)conv->s.cin;
  const int8_t* input = r->input + img * conv->in_image;
  onexn_qs8_args a;
  init_args(conv, &a, input, pa, pb, thread);
  uint8_t* image = (uint8_t*)a.xt;  // the gathered padded image, then a group's strip
  uint8_t* strip = (uint8_t*)a.scratch;
  const uint8_t flip = conv->uk.input_offset != 0 ? 0x80 : 0x00;
  const size_t t0 = oy0 * conv->strip_w / ONEXN_XT_PIXELS;  // the padded rows [oy0, oy1 + kh - 1)
  const size_t t1_rows = ((oy1 + (size_t)conv->s.kh - 1) * conv->strip_w + ONEXN_XT_PIXELS - 1) / ONEXN_XT_PIXELS;
  const size_t t1 = t1_rows < conv->strip_tiles ? t1_rows : conv->strip_tiles;
  for (size_t i = t0; i < t1; i++) {
    conv->uk.gather(image + i * conv->strip_tile_bytes, input, conv->zero, conv->strip_ind + i * ONEXN_XT_PIXELS, 1,
                    cin, ONEXN_XT_PIXELS, flip);
  }
  a.xt = NULL;
  a.strip_stride = conv->strip_stride;
  a.strip_tap = conv->strip_tap;
  for (size_t q = pa; q < pb;) {
    const onexn_panel* first = &conv->panels[q];
    size_t end = q + 1;  // the group's panels
    while (end < pb && conv->panels[end].kc_off == first->kc_off && conv->panels[end].kept == first->kept) end++;
    for (size_t i = t0; i < t1; i++) {
      conv->uk.strip(strip + 4 * ONEXN_XT_PIXELS * i, conv->strip_stride, image + i * conv->strip_tile_bytes,
                     conv->kc + first->kc_off, first->kept);
    }
    a.panels = first;
    a.num_panels = end - q;
    run_tiles_along_rows(r, &a, img, oy0, oy1, strip, 4 * conv->strip_w, 4);
    q = end;
  }
}

// dst = src ^ 0x80 per byte (x + 128 as unsigned), 8 bytes a step.
static void flip_copy(uint8_t* dst, const int8_t* src, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, src + i, 8);
    v ^= UINT64_C(0x8080808080808080);
    memcpy(dst + i, &v, 8);
  }
  for (; i < n; i++) dst[i] = (uint8_t)src[i] ^ 0x80;
}

// A run of rows (plan_rows): output rows [oy0, oy1) of image img over every panel, from the padded rows they
// read, flipped into the thread's copy at their places in the image. Threads split the rows: split by panels,
// each thread copied the whole image for its half of the channels (MobileNetV2's int8 stem: 1.1x at 2 threads).
static void run_rows(const run_ctx* r, size_t img, size_t oy0, size_t oy1, size_t thread) {
  const onexn_qconv* conv = r->conv;
  const onexn_conv_shape* s = &conv->s;
  const size_t cin = (size_t)s->cin, w = conv->rows_w, h = conv->rows_h, row_bytes = w * cin;
  const int8_t* input = r->input + img * conv->in_image;
  onexn_qs8_args a;
  init_args(conv, &a, input, 0, conv->num_panels, thread);
  // The copy: each byte written once, the zero point around the image (the padding, and the columns or
  // rows a VALID window never reaches), 0 in the slack after it.
  uint8_t* image = (uint8_t*)a.xt;
  const size_t top = (size_t)s->pad_top < h ? (size_t)s->pad_top : h;
  const size_t rows = (size_t)s->in_h < h - top ? (size_t)s->in_h : h - top;
  const size_t left = ((size_t)s->pad_left < w ? (size_t)s->pad_left : w) * cin;
  const size_t in_row = (size_t)s->in_w * cin, n = in_row < row_bytes - left ? in_row : row_bytes - left;
  const size_t y0 = oy0 * (size_t)s->stride_h;  // padded rows [y0, y1) hold the run's windows
  const size_t y1 = oy1 == (size_t)s->out_h ? h : (oy1 - 1) * (size_t)s->stride_h + (size_t)s->kh;
  for (size_t y = y0; y < y1; y++) {
    uint8_t* dst = image + y * row_bytes;
    if (y < top || y >= top + rows) {
      memset(dst, conv->zero_flipped, row_bytes);
      continue;
    }
    memset(dst, conv->zero_flipped, left);
    flip_copy(dst + left, input + (y - top) * in_row, n);
    memset(dst + left + n, conv->zero_flipped, row_bytes - left - n);
  }
  // The slack after the image, read only for pixels that are not stored (rows past a run's own hold whatever
  // an earlier run left there: also not stored).
  if (y1 == h) memset(image + h * row_bytes, 0, conv->rows_bytes - h * row_bytes);
  a.xt = NULL;
  a.taps = (size_t)s->kh;
  a.strip_tap = conv->rows_tap;
  a.pixel_stride = (size_t)s->stride_w * cin;
  run_tiles_along_rows(r, &a, img, oy0, oy1, image, (size_t)s->stride_h * row_bytes, (size_t)s->stride_w * cin);
}

// The addend added to a task's finished outputs, pixels [p0, p1) of image img and channels [c0, c1), while
// they are in this core's cache.
static void add_own(const run_ctx* r, size_t img, size_t p0, size_t p1, size_t c0, size_t c1) {
  const size_t cout = (size_t)r->conv->s.cout, at = img * r->conv->out_image + p0 * cout;
  int8_t* out = r->output + at;
  const int8_t* addend = r->addend + at;
  if (c0 == 0 && c1 == cout) {
    const size_t n = (p1 - p0) * cout;
    r->add(&r->add_args, n, r->conv_operand == 0 ? out : addend, r->conv_operand == 0 ? addend : out, out);
    return;
  }
  for (size_t p = 0; p < p1 - p0; p++) {
    int8_t* o = out + p * cout + c0;
    const int8_t* b = addend + p * cout + c0;
    r->add(&r->add_args, c1 - c0, r->conv_operand == 0 ? o : b, r->conv_operand == 0 ? b : o, o);
  }
}

static void run_task(void* p, size_t task, size_t thread) {
  const run_ctx* r = (const run_ctx*)p;
  const onexn_qconv* conv = r->conv;
  const onexn_conv_task t = onexn_conv_task_of(&r->plan, task);
  const size_t chunk = t.chunk, run = t.run, img = t.img;
  const size_t pa = chunk * r->plan.panels_per_chunk;
  const size_t pb = pa + r->plan.panels_per_chunk < conv->num_panels ? pa + r->plan.panels_per_chunk : conv->num_panels;
  const size_t tile0 = run * r->plan.tiles_per_task;
  const size_t tile1 = tile0 + r->plan.tiles_per_task < conv->tiles ? tile0 + r->plan.tiles_per_task : conv->tiles;
  if (conv->strip_w != 0 || conv->rows_w != 0) {  // output rows [tile0, oy1) of the image
    const size_t out_h = (size_t)conv->s.out_h, end = tile0 + r->plan.tiles_per_task;
    const size_t oy1 = end < out_h ? end : out_h;
    size_t c0 = 0, c1 = (size_t)conv->s.cout;
    if (conv->strip_w != 0) {
      run_strips(r, img, pa, pb, tile0, oy1, thread);
      c0 = conv->panels[pa].oc;  // a chunk's panels are consecutive output channels
      c1 = conv->panels[pb - 1].oc + conv->panels[pb - 1].nc;
    } else {
      run_rows(r, img, tile0, oy1, thread);  // every panel
    }
    if (r->addend != NULL) add_own(r, img, tile0 * (size_t)conv->s.out_w, oy1 * (size_t)conv->s.out_w, c0, c1);
    return;
  }
  onexn_qs8_args a;
  init_args(conv, &a, r->input + img * conv->in_image, pa, pb, thread);
  const size_t p0 = tile0 * ONEXN_XT_PIXELS, p1 = tile1 < conv->tiles ? tile1 * ONEXN_XT_PIXELS : conv->out_pixels;
  int8_t* out = r->output + img * conv->out_image + p0 * a.out_stride;
  run_range(conv, &a, p0, p1, out, conv->narrow_tiles * ONEXN_XT_PIXELS);
  // A chunk's panels are consecutive output channels.
  if (r->addend != NULL) {
    add_own(r, img, p0, p1, conv->panels[pa].oc, conv->panels[pb - 1].oc + conv->panels[pb - 1].nc);
  }
}

// Strips at several threads: bands of output rows, each thread gathering and interleaving only the rows its
// band reads (kh - 1 more than it computes), or chunks of the panels, each thread gathering the whole image.
// Bands unless one of ceil(out_h / threads) rows is a larger share of the work than the largest chunk's kept
// weights (ResNet-50's 7x7 stage at 2 threads: 4 rows of 7). int8 ResNet-50 N=16 50% at 2 threads, per layer:
// the 56x56 3x3 layers 0.82-0.87 of the chunks' time (4 panels: 2 chunks of unequal kept weights), 14x14 0.98.
static onexn_conv_tasks plan_strip_tasks(const onexn_qconv* conv, size_t threads) {
  const size_t out_h = (size_t)conv->s.out_h, panels = conv->num_panels;
  onexn_conv_tasks t = onexn_conv_plan_tasks(1, (size_t)conv->s.batch, out_h, panels, 0, 1);  // 1 run, 1 chunk
  if (threads <= 1) return t;
  const size_t per_chunk = (panels + threads - 1) / threads;
  size_t total = 0, largest = 0;
  for (size_t c = 0; c < panels; c += per_chunk) {
    size_t kept = 0;
    for (size_t q = c; q < panels && q < c + per_chunk; q++) kept += conv->panels[q].kept;
    total += kept;
    if (kept > largest) largest = kept;
  }
  const size_t band = (out_h + threads - 1) / threads;
  if (band * total <= largest * out_h) {  // band / out_h <= largest / total
    t.tiles_per_task = band;
    t.tile_runs = (out_h + band - 1) / band;
  } else {
    t.panels_per_chunk = per_chunk;
    t.chunks = (panels + per_chunk - 1) / per_chunk;
  }
  t.tasks = (size_t)conv->s.batch * t.tile_runs * t.chunks;
  return t;
}

static void run(onexn_qconv* conv, const int8_t* input, int8_t* output, const int8_t* addend,
                const onexn_qadd_params* add, int conv_operand, onexn_isa add_isa, onexn_threadpool* pool) {
  const size_t threads = reserve_threads(conv, (size_t)onexn_threadpool_size(pool));
  run_ctx r;
  r.conv = conv;
  r.input = input;
  r.output = output;
  r.addend = addend;
  r.add = addend != NULL ? onexn_qadd_ukernel(add_isa, add, &r.add_args) : NULL;
  r.conv_operand = conv_operand;
  if (conv->rows_w != 0) {  // a run of output rows per thread ("tiles" are rows here), every panel
    const size_t out_h = (size_t)conv->s.out_h;
    r.plan = onexn_conv_plan_tasks(1, (size_t)conv->s.batch, out_h, 1, 0, 1);
    r.plan.tiles_per_task = (out_h + threads - 1) / threads;
    r.plan.tile_runs = (out_h + r.plan.tiles_per_task - 1) / r.plan.tiles_per_task;
    r.plan.tasks = (size_t)conv->s.batch * r.plan.tile_runs;
  } else if (conv->strip_w != 0) {
    r.plan = plan_strip_tasks(conv, threads);
  } else {
    r.plan = onexn_conv_plan_tasks(threads, (size_t)conv->s.batch, conv->tiles, conv->num_panels, 0, 1);
  }
  // Every task adds the addend to its own outputs.
  onexn_threadpool_parallelize(threads > 1 ? pool : NULL, r.plan.tasks, run_task, &r);
}

void onexn_qconv_run(onexn_qconv* conv, const int8_t* input, int8_t* output, onexn_threadpool* pool) {
  if (conv == NULL || input == NULL || output == NULL) return;
  run(conv, input, output, NULL, NULL, 0, ONEXN_ISA_AUTO, pool);
}

void onexn_qconv_run_add(onexn_qconv* conv, const int8_t* input, const int8_t* addend, int8_t* output,
                         const onexn_qadd_params* p, int conv_operand, onexn_isa isa, onexn_threadpool* pool) {
  if (conv == NULL || input == NULL || addend == NULL || output == NULL || p == NULL ||
      (conv_operand != 0 && conv_operand != 1)) {
    return;
  }
  run(conv, input, output, addend, p, conv_operand, isa, pool);
}

const onexn_conv_shape* onexn_qconv_get_shape(const onexn_qconv* conv) { return &conv->s; }

size_t onexn_qconv_reserve_threads(onexn_qconv* conv, size_t threads) { return reserve_threads(conv, threads); }

void onexn_qconv_run_pixels(const onexn_qconv* conv, const int8_t* input_image, size_t p0, size_t p1, int8_t* out,
                            size_t thread) {
  onexn_qs8_args a;
  init_args(conv, &a, input_image, 0, conv->num_panels, thread);
  run_range(conv, &a, p0, p1, out, 0);  // not the narrow gather: it reads 4 bytes a pixel, past a band's end
}
