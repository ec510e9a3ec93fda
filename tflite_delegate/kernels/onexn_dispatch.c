// Chooses the microkernel for a resolved ISA and block width n. Compiled without ISA flags; the
// ISA-specific rows exist only on the architecture whose files are built.
//
// Blocks at least as wide as a vector use "indirection" kernels whose vector spans output channels
// (a block of n is split into panels of NR channels; a partial panel stores under a mask). Narrower
// blocks use "pixel-vector" kernels: the vector spans 16 output pixels whose inputs are gathered
// channel-major once per tile, so no lane is wasted on padding channels. Layers with fewer output
// pixels than a pixel-vector tile (FULLY_CONNECTED at batch 1) would waste those lanes instead: they use a
// 4-channel indirection kernel, which streams only the kept weights (such layers are weight-bound).
#include "onexn_internal.h"

static onexn_ukernel_config ind_config(const char* name, uint32_t mr, uint32_t nr, onexn_ind_ukernel fn) {
  onexn_ukernel_config c = {name, ONEXN_KIND_IND, mr, nr, fn, NULL, NULL, 1};
  return c;
}

#if defined(__x86_64__) || defined(__aarch64__)
static onexn_ukernel_config pixelvec_config(const char* name, uint32_t nr, onexn_xt_ukernel fn,
                                            onexn_xt_gather gather) {
  onexn_ukernel_config c = {name, ONEXN_KIND_XT, ONEXN_XT_PIXELS, nr, NULL, fn, gather, 1};
  return c;
}
#endif

#if defined(__x86_64__)
static onexn_ukernel_config few_pixels_x86(void) {
  onexn_ukernel_config c = ind_config("f32-spconv-8x4-avx2", 8, 4, onexn_f32_spconv_8x4_avx2);
  c.tile_invariant = 0;  // a lone pixel sums over four accumulators
  return c;
}

static void select_avx2(int n, size_t out_pixels, onexn_ukernel_config* out) {
  if (n < 5 && out_pixels < ONEXN_XT_PIXELS) {
    *out = few_pixels_x86();
  } else if (n % 16 == 0) {
    *out = ind_config("f32-spconv-4x16-avx2", 4, 16, onexn_f32_spconv_4x16_avx2);
  } else if (n >= 5) {
    *out = ind_config("f32-spconv-8x8-avx2", 8, 8, onexn_f32_spconv_8x8_avx2);
  } else if (n >= 3) {
    *out = pixelvec_config("f32-spconv-16x4-pixelvec-avx2", 4, onexn_f32_spconv_16x4_pixelvec_avx2,
                           onexn_f32_pixelvec_gather_16_avx2);
  } else if (n == 2) {
    *out = pixelvec_config("f32-spconv-16x2-pixelvec-avx2", 2, onexn_f32_spconv_16x2_pixelvec_avx2,
                           onexn_f32_pixelvec_gather_16_avx2);
  } else {
    *out = pixelvec_config("f32-spconv-16x1-pixelvec-avx2", 1, onexn_f32_spconv_16x1_pixelvec_avx2,
                           onexn_f32_pixelvec_gather_16_avx2);
  }
}

static void select_avx512(int n, size_t out_pixels, onexn_ukernel_config* out) {
  if (n < 9 && out_pixels < ONEXN_XT_PIXELS) {
    *out = few_pixels_x86();
  } else if (n >= 9) {
    *out = ind_config("f32-spconv-8x16-avx512f", 8, 16, onexn_f32_spconv_8x16_avx512f);
  } else if (n >= 5) {
    *out = pixelvec_config("f32-spconv-16x8-pixelvec-avx512f", 8, onexn_f32_spconv_16x8_pixelvec_avx512f,
                           onexn_f32_pixelvec_gather_16_avx512f);
  } else if (n >= 3) {
    *out = pixelvec_config("f32-spconv-16x4-pixelvec-avx512f", 4, onexn_f32_spconv_16x4_pixelvec_avx512f,
                           onexn_f32_pixelvec_gather_16_avx512f);
  } else if (n == 2) {
    *out = pixelvec_config("f32-spconv-16x2-pixelvec-avx512f", 2, onexn_f32_spconv_16x2_pixelvec_avx512f,
                           onexn_f32_pixelvec_gather_16_avx512f);
  } else {
    *out = pixelvec_config("f32-spconv-16x1-pixelvec-avx512f", 1, onexn_f32_spconv_16x1_pixelvec_avx512f,
                           onexn_f32_pixelvec_gather_16_avx512f);
  }
}
#endif

#if defined(__aarch64__)
static void select_neon(int n, size_t out_pixels, onexn_ukernel_config* out) {
  if (n % 8 == 0) {
    *out = ind_config("f32-spconv-8x8-neon", 8, 8, onexn_f32_spconv_8x8_neon);
  } else if (n >= 3 || out_pixels < ONEXN_XT_PIXELS) {
    *out = ind_config("f32-spconv-8x4-neon", 8, 4, onexn_f32_spconv_8x4_neon);
  } else if (n == 2) {
    *out = pixelvec_config("f32-spconv-16x2-pixelvec-neon", 2, onexn_f32_spconv_16x2_pixelvec_neon,
                           onexn_f32_pixelvec_gather_16_scalar);
  } else {
    *out = pixelvec_config("f32-spconv-16x1-pixelvec-neon", 1, onexn_f32_spconv_16x1_pixelvec_neon,
                           onexn_f32_pixelvec_gather_16_scalar);
  }
}
#endif

int onexn_select_ukernel(onexn_isa isa, int n, size_t out_pixels, onexn_ukernel_config* out) {
  switch (isa) {
    case ONEXN_ISA_SCALAR:
      // Panels as wide as the block (at most 8) so small blocks waste no work.
      *out = ind_config("f32-spconv-4xn-scalar", 4, n < 8 ? (uint32_t)n : 8, onexn_f32_spconv_4xn_scalar);
      return 0;
#if defined(__x86_64__)
    case ONEXN_ISA_AVX2:
      select_avx2(n, out_pixels, out);
      return 0;
    case ONEXN_ISA_AVX512:
      select_avx512(n, out_pixels, out);
      return 0;
#endif
#if defined(__aarch64__)
    case ONEXN_ISA_NEON:
      select_neon(n, out_pixels, out);
      return 0;
#endif
    default:
      return -1;
  }
}
