// Chooses the int8 1xN microkernel for an ISA and block width n. The kernels come from the kernel list
// (qs8-qc8w-spconv.inc); this file only says which serves which n. Compiled without ISA flags; the list holds
// only the rows of the architecture being compiled.
//
// The vector runs over a panel's output channels, so a block narrower than the vector wastes lanes: the
// AVX512-VNNI kernels come in zmm, ymm and xmm widths (16, 8, 4 channels; on Zen 4 and Intel cores a ymm
// vpdpbusd issues twice as often as a zmm one, so 8-channel panels lose nothing), the dot-product NEON ones
// in 8 and 4. The AMX kernel (16 channels) runs only where asked for (ONEXN_ISA_AVX512AMX: the delegate's
// option amx=1); the narrower blocks and the stems stay with AVX512-VNNI there.
#include <limits.h>
#include <string.h>

#include "operators/operators.h"

static const onexn_qs8_ukernel_config kUkernels[] = {
#define ONEXN_QS8_SPCONV_UKERNEL(isa, name, ukernel, nr, kr, w_int16, input_offset, x_bytes, gather, strip) \
  {name, isa, nr, kr, w_int16, input_offset, x_bytes, ukernel, gather, strip},
#include "qs8-qc8w-spconv/qs8-qc8w-spconv.inc"
#undef ONEXN_QS8_SPCONV_UKERNEL
};

// The kernel for block widths [n_min, n_max] on an ISA; the first rule of the ISA that matches wins.
typedef struct {
  onexn_isa isa;
  int n_min, n_max;
  const char* ukernel;
} rule;

static const rule kRules[] = {
    {ONEXN_ISA_SCALAR, 1, INT_MAX, "qs8-qc8w-spconv-16x8-scalar"},
#if ONEXN_ARCH_X86_64
    {ONEXN_ISA_AVX512AMX, 9, INT_MAX, "qs8-qc8w-spconv-16x16-avx512amx"},
    {ONEXN_ISA_AVX512VNNI, 9, INT_MAX, "qs8-qc8w-spconv-16x16-avx512vnni"},
    {ONEXN_ISA_AVX512VNNI, 5, 8, "qs8-qc8w-spconv-16x8-avx512vnni"},
    {ONEXN_ISA_AVX512VNNI, 1, 4, "qs8-qc8w-spconv-16x4-avx512vnni"},
    {ONEXN_ISA_AVX2, 1, INT_MAX, "qs8-qc8w-spconv-16x8-avx2"},
#endif
#if ONEXN_ARCH_ARM64
    {ONEXN_ISA_NEONDOT, 5, INT_MAX, "qs8-qc8w-spconv-16x8-neondot"},
    {ONEXN_ISA_NEONDOT, 1, 4, "qs8-qc8w-spconv-16x4-neondot"},
    {ONEXN_ISA_NEON, 1, INT_MAX, "qs8-qc8w-spconv-16x8-neon"},
#endif
};

static const struct {
  onexn_isa isa;
  onexn_x8_gather fn;
  int blocked, max_cin;
} kGathers[] = {
#define ONEXN_X8_GATHER_UKERNEL(isa, name, ukernel, blocked, max_cin) {isa, ukernel, blocked, max_cin},
#include "x8-pixelvec-gather/x8-pixelvec-gather.inc"
#undef ONEXN_X8_GATHER_UKERNEL
};

int onexn_x8_gather_blocked(onexn_x8_gather gather) {
  for (size_t i = 0; i < sizeof(kGathers) / sizeof(kGathers[0]); i++) {
    if (kGathers[i].fn == gather) return kGathers[i].blocked;
  }
  return 0;
}

onexn_x8_gather onexn_x8_gather_narrow(onexn_x8_gather gather, size_t cin) {
  for (size_t i = 0; i < sizeof(kGathers) / sizeof(kGathers[0]); i++) {
    if (kGathers[i].fn != gather || kGathers[i].max_cin != 0) continue;
    for (size_t j = 0; j < sizeof(kGathers) / sizeof(kGathers[0]); j++) {
      if (kGathers[j].isa == kGathers[i].isa && kGathers[j].max_cin != 0 && cin <= (size_t)kGathers[j].max_cin) {
        return kGathers[j].fn;
      }
    }
  }
  return NULL;
}

const onexn_qs8_ukernel_config* onexn_qconv_ukernel(const char* name) {
  for (size_t i = 0; i < sizeof(kUkernels) / sizeof(kUkernels[0]); i++) {
    if (strcmp(kUkernels[i].name, name) == 0) return &kUkernels[i];
  }
  return NULL;
}

int onexn_qconv_select_ukernel(onexn_isa isa, int n, const onexn_qs8_ukernel_config** out) {
  // The levels' int8 kernels: AVX512 without VNNI has none of its own and runs the AVX2 ones.
  if (isa == ONEXN_ISA_AVX512) {
    isa = onexn_isa_supported(ONEXN_ISA_AVX512VNNI) ? ONEXN_ISA_AVX512VNNI : ONEXN_ISA_AVX2;
  } else if (isa == ONEXN_ISA_NEON && onexn_isa_supported(ONEXN_ISA_NEONDOT)) {
    isa = ONEXN_ISA_NEONDOT;
  } else if (isa == ONEXN_ISA_AVX512AMX && n <= 8) {
    isa = ONEXN_ISA_AVX512VNNI;
  }
  for (size_t i = 0; i < sizeof(kRules) / sizeof(kRules[0]); i++) {
    const rule* r = &kRules[i];
    if (r->isa == isa && n >= r->n_min && n <= r->n_max) {
      *out = onexn_qconv_ukernel(r->ukernel);
      return *out == NULL ? -1 : 0;
    }
  }
  return -1;
}

#if ONEXN_ARCH_X86_64
// The 16-channel AVX512-VNNI kernel interleaves each group's kept channels from the tile its gather
// transposed channel-major; its VBMI twin compacts them from the input rows with one vpermb per pixel and
// 64-channel input chunk, and needs no gather, but sets up every 64-kept-channel chunk of every group for
// each tile. The twin wins where few groups share the gather: 16 or 32 output channels at N = 16, and 3x3
// layers of few input channels. Both are estimated per tile in nanoseconds, fitted to qconv_bench and perf
// profiles on Zen 4 (the multiply-adds and the requantization are the same in both): per tap, the gather's
// transposition costs 0.86 a channel in whole 64-channel blocks, 3.6 in 16-channel blocks and 8 one by one,
// the interleave 2 a quad of kept channels (4 before its ymm unpacks); the twin 64 a chunk, plus per tap 4 and
// 7.2 a pair of chunk and input chunk it reads (its masks are set up once for all taps). Over several taps
// the twin is taken only where each chunk reads one input chunk (ResNet-50's 3x3 56x56x64->64 at N = 16:
// 0.94-0.97 of the VNNI kernel's time); its 3x3 layers of 128 or more input channels ran 1.25-1.3x.
static int direct_is_cheaper(const onexn_conv_shape* s, const onexn_block_index* ix) {
  const size_t cin = (size_t)s->cin;
  const double taps = (double)s->kh * (double)s->kw;
  double gathered = 0.86 * (double)(cin / 64 * 64) + 3.6 * (double)(cin % 64 / 16 * 16) + 8.0 * (double)(cin % 16);
  double direct = 0.0;
  for (int g = 0; g < ix->num_groups; g++) {
    const uint32_t* kc = ix->kept_cin + ix->group_ptr[g];
    const size_t kept = ix->group_ptr[g + 1] - ix->group_ptr[g];
    gathered += 2.0 * (double)((kept + 3) / 4);
    for (size_t k = 0; k < kept; k += 64) {  // the kept lists increase: a chunk reads the input chunks between
      const size_t end = k + 64 < kept ? k + 64 : kept;
      const size_t inputs = kc[end - 1] / 64 - kc[k] / 64 + 1;
      if (taps > 1.0 && inputs > 1) return 0;
      direct += 64.0 / taps + 4.0 + 7.2 * (double)inputs;
    }
  }
  return direct < gathered;
}
#endif

int onexn_qconv_runs_rows(onexn_isa isa, const onexn_conv_shape* shape, int n) {
  const onexn_qs8_ukernel_config* uk = NULL;
  if (isa == ONEXN_ISA_AVX512AMX) isa = ONEXN_ISA_AVX512VNNI;  // its stems
  return onexn_qconv_select_ukernel(onexn_isa_resolve(isa), n, &uk) == 0 && uk->strip != NULL &&
         onexn_qconv_rows_shape(shape) && (size_t)shape->kw * (size_t)shape->cin <= 64;
}

int onexn_qconv_choose_ukernel(onexn_isa isa, const onexn_conv_shape* shape, const onexn_block_index* index,
                               const onexn_qs8_ukernel_config** out) {
#if ONEXN_ARCH_X86_64
  // Rows hold a stem's quads as they lie in memory, the tiles would pad its few channels to 64.
  if (isa == ONEXN_ISA_AVX512AMX && onexn_qconv_runs_rows(isa, shape, index->n)) isa = ONEXN_ISA_AVX512VNNI;
#endif
  if (onexn_qconv_select_ukernel(isa, index->n, out)) return -1;
#if ONEXN_ARCH_X86_64
  // A stride-1 KxK layer runs from strips (qconv.c): each input pixel gathered and interleaved once, not once
  // per tap; ResNet-50's 3x3 layers at N = 16 50% in 0.65-0.8x the time of either kernel's tiles. A KxK layer
  // of at most 4 input channels runs rows (the stems).
  if (strcmp((*out)->name, "qs8-qc8w-spconv-16x16-avx512vnni") == 0 && !onexn_qconv_strip_shape(shape) &&
      !onexn_qconv_rows_shape(shape) &&
      onexn_isa_supported(ONEXN_ISA_AVX512VNNIVBMI) && direct_is_cheaper(shape, index)) {
    *out = onexn_qconv_ukernel("qs8-qc8w-spconv-16x16-avx512vnnivbmi");
  }
#else
  (void)shape;
#endif
  return *out == NULL ? -1 : 0;
}
