// Chooses the 1xN convolution microkernel for a resolved ISA, block width n and layer size. The kernels
// and their tiles come from the kernel lists (f32-spconv.inc, f32-spconv-pixelvec.inc); this file only
// says which one serves which n. Compiled without ISA flags; a list holds only the rows of the
// architecture being compiled.
//
// Blocks at least as wide as a vector use "indirection" kernels whose vector spans output channels
// (a block of n is split into panels of NR channels; a partial panel stores under a mask). Narrower
// blocks use "pixel-vector" kernels: the vector spans 16 output pixels whose inputs are gathered
// channel-major once per tile, so no lane is wasted on padding channels. Layers with fewer output
// pixels than a pixel-vector tile (FULLY_CONNECTED at batch 1) would waste those lanes instead: they use a
// 4-channel indirection kernel, which streams only the kept weights (such layers are weight-bound).
#include <limits.h>
#include <string.h>

#include "operators/operators.h"

static const onexn_ukernel_config kUkernels[] = {
#define ONEXN_SPCONV_UKERNEL(isa, name, ukernel, mr, nr, nr_fits_block, tile_invariant) \
  {name, isa, ONEXN_KIND_IND, mr, nr, nr_fits_block, ukernel, NULL, NULL, tile_invariant},
#include "f32-spconv/f32-spconv.inc"
#undef ONEXN_SPCONV_UKERNEL
#define ONEXN_PIXELVEC_UKERNEL(isa, name, ukernel, mr, nr, gather) \
  {name, isa, ONEXN_KIND_XT, mr, nr, 0, NULL, ukernel, gather, 1},
#include "f32-spconv-pixelvec/f32-spconv-pixelvec.inc"
#undef ONEXN_PIXELVEC_UKERNEL
};

// The kernel for block widths [n_min, n_max] with n % n_multiple == 0, on layers with fewer than
// pixels_below output pixels per image (0: any layer). The first rule of the ISA that matches wins.
typedef struct {
  onexn_isa isa;
  int n_min, n_max, n_multiple;
  size_t pixels_below;
  const char* ukernel;
} rule;

static const rule kRules[] = {
    {ONEXN_ISA_SCALAR, 1, INT_MAX, 1, 0, "f32-spconv-4xn-scalar"},  // panels as wide as the block, at most 8
#if ONEXN_ARCH_X86_64
    {ONEXN_ISA_AVX512, 1, 8, 1, ONEXN_XT_PIXELS, "f32-spconv-8x4-avx2"},
    {ONEXN_ISA_AVX512, 9, INT_MAX, 1, 0, "f32-spconv-8x16-avx512f"},
    {ONEXN_ISA_AVX512, 5, 8, 1, 0, "f32-spconv-16x8-pixelvec-avx512f"},
    {ONEXN_ISA_AVX512, 3, 4, 1, 0, "f32-spconv-16x4-pixelvec-avx512f"},
    {ONEXN_ISA_AVX512, 2, 2, 1, 0, "f32-spconv-16x2-pixelvec-avx512f"},
    {ONEXN_ISA_AVX512, 1, 1, 1, 0, "f32-spconv-16x1-pixelvec-avx512f"},
    {ONEXN_ISA_AVX2, 1, 4, 1, ONEXN_XT_PIXELS, "f32-spconv-8x4-avx2"},
    {ONEXN_ISA_AVX2, 16, INT_MAX, 16, 0, "f32-spconv-4x16-avx2"},
    {ONEXN_ISA_AVX2, 5, INT_MAX, 1, 0, "f32-spconv-8x8-avx2"},
    {ONEXN_ISA_AVX2, 3, 4, 1, 0, "f32-spconv-16x4-pixelvec-avx2"},
    {ONEXN_ISA_AVX2, 2, 2, 1, 0, "f32-spconv-16x2-pixelvec-avx2"},
    {ONEXN_ISA_AVX2, 1, 1, 1, 0, "f32-spconv-16x1-pixelvec-avx2"},
#endif
#if ONEXN_ARCH_ARM64
    {ONEXN_ISA_NEON, 8, INT_MAX, 8, 0, "f32-spconv-8x8-neon"},
    {ONEXN_ISA_NEON, 3, INT_MAX, 1, 0, "f32-spconv-8x4-neon"},
    {ONEXN_ISA_NEON, 1, 2, 1, ONEXN_XT_PIXELS, "f32-spconv-8x4-neon"},
    {ONEXN_ISA_NEON, 2, 2, 1, 0, "f32-spconv-16x2-pixelvec-neon"},
    {ONEXN_ISA_NEON, 1, 1, 1, 0, "f32-spconv-16x1-pixelvec-neon"},
#endif
};

const onexn_ukernel_config* onexn_conv_ukernel(const char* name) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (strcmp(kUkernels[i].name, name) == 0) return &kUkernels[i];
  }
  return NULL;
}

int onexn_select_ukernel(onexn_isa isa, int n, size_t out_pixels, const onexn_ukernel_config** out) {
  for (size_t i = 0; i < sizeof(kRules) / sizeof(kRules[0]); i++) {
    const rule* r = &kRules[i];
    if (r->isa == isa && n >= r->n_min && n <= r->n_max && n % r->n_multiple == 0 &&
        (r->pixels_below == 0 || out_pixels < r->pixels_below)) {
      *out = onexn_conv_ukernel(r->ukernel);
      return *out == NULL ? -1 : 0;
    }
  }
  return -1;
}

// A dense layer as a 1xN layer with every block kept: the n whose kernel spans whole vectors of output
// channels (8x16 on AVX-512, 4x16 on AVX2, 8x8 on NEON, 8-channel panels in scalar code), so no lane idles.
int onexn_dense_block_width(onexn_isa isa) {
  switch (onexn_isa_resolve(isa)) {
    case ONEXN_ISA_AVX512:
    case ONEXN_ISA_AVX2:
      return 16;
    default:
      return 8;
  }
}
