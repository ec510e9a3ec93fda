// onexn_maxpool_x8: max pooling on int8, the int8 glue in front of ResNet's first block: per output row, runs
// of pixels whose windows have the same valid taps (the borders one by one, the rest as one run), each one
// call of the s8-maxpool microkernel of the ISA. A max of int8 values needs no rescaling, so it is exact.
#include "common/common.h"
#include "onexn_kernels.h"
#include "operators/operators.h"
#include "operators/qs8-requant.h"

static const struct {
  onexn_isa isa;
  const char* name;
  onexn_s8_maxpool_ukernel fn;
} kUkernels[] = {
#define ONEXN_S8_MAXPOOL_UKERNEL(isa, name, ukernel, channel_tile) {isa, name, ukernel},
#include "s8-maxpool/s8-maxpool.inc"
#undef ONEXN_S8_MAXPOOL_UKERNEL
};

// The row of the ISA (AUTO: the best this CPU runs); the scalar one when the CPU or this build lacks it.
static size_t select_ukernel(onexn_isa isa) {
  isa = onexn_isa_resolve(isa);
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (kUkernels[i].isa == isa && onexn_isa_supported(isa)) return i;
  }
  return 0;
}

const char* onexn_maxpool_x8_kernel_name(onexn_isa isa) { return kUkernels[select_ukernel(isa)].name; }

void onexn_maxpool_x8_run(const onexn_pool_shape* s, float scale, int32_t zero_point, const int8_t* input,
                          int8_t* output, onexn_isa isa) {
  if (s == NULL || input == NULL || output == NULL) return;
  const onexn_s8_maxpool_ukernel fn = kUkernels[select_ukernel(isa)].fn;
  const size_t C = (size_t)s->channels;
  onexn_s8_pool_args a;
  a.channels = C;
  a.in_pixel_stride = (size_t)s->stride_w * C;
  a.in_row_stride = (size_t)s->in_w * C;
  a.in_col_stride = C;
  a.out_pixel_stride = C;
  a.min = (int8_t)onexn_qs8_quantize(s->out_min, scale, zero_point);
  a.max = (int8_t)onexn_qs8_quantize(s->out_max, scale, zero_point);
  for (size_t n = 0; n < (size_t)s->batch; n++) {
    const int8_t* image = input + n * (size_t)s->in_h * (size_t)s->in_w * C;
    for (ptrdiff_t oy = 0; oy < s->out_h; oy++) {
      const onexn_tap_range rr = onexn_axis_taps(oy, s->stride_h, s->pad_top, 1, s->kh, s->in_h);
      const size_t iy = (size_t)(oy * s->stride_h - s->pad_top + (ptrdiff_t)rr.first);
      int8_t* row_out = output + (n * (size_t)s->out_h + (size_t)oy) * (size_t)s->out_w * C;
      for (ptrdiff_t ox = 0; ox < s->out_w;) {  // a window always has a valid tap (onexn_pool_shape)
        const onexn_tap_range cr = onexn_axis_taps(ox, s->stride_w, s->pad_left, 1, s->kw, s->in_w);
        ptrdiff_t end = ox + 1;
        for (; end < s->out_w; end++) {
          const onexn_tap_range next = onexn_axis_taps(end, s->stride_w, s->pad_left, 1, s->kw, s->in_w);
          if (next.first != cr.first || next.count != cr.count) break;
        }
        const size_t ix = (size_t)(ox * s->stride_w - s->pad_left + (ptrdiff_t)cr.first);
        a.input = image + (iy * (size_t)s->in_w + ix) * C;
        a.out = row_out + (size_t)ox * C;
        a.pixels = (size_t)(end - ox);
        a.rows = rr.count;
        a.cols = cr.count;
        fn(&a);
        ox = end;
      }
    }
  }
}
