// How a 1xN convolution runs fastest: on the microkernel its block width dispatches to, over the kept
// blocks; on another microkernel that serves that width; or over every block on the dense kernel (the
// zeros multiplied), which wins where the kept-block kernels are slower than the work they skip: N = 1 and
// 2 at moderate sparsity, and layers with few input or output channels, whose pixel-vector tiles spend
// more on gathering and storing than on multiply-adds.
//
// The estimate is a cost model fitted to single-thread timings of every kernel on MobileNetV2 and ResNet-50
// shapes (N 1-16, 50-90%; the fit is within about 10% median, 30% worst case, on the machine it was fitted
// on) rather than timing at create: it costs nothing, gives the same choice on every run, and the choice
// only has to be right where the candidates differ by more than that error. Per tile of MR pixels:
//   indirection kernels:  sum over panels of (fma * kept channels * taps + panel)
//   pixel-vector kernels: gather * taps * cin  +  sum over panels of (fma * kept channels * taps + panel)
// in nanoseconds, plus a cost per byte of weights past L2 for every pass over them (once per tile, or
// once where the panels run in blocks).
// AVX-512 has two tables, one per kind of core: the relative speeds differ (AMD Zen 4 executes 512-bit
// operations on 256-bit units, so the 8x16 kernel's ymm panels run at the zmm rate per channel there; an
// Intel Xeon loads at most two 512-bit vectors per cycle, so the 32-pixel kernels, whose broadcasts each
// feed two FMAs, win on wide layers). Other CPUs with full-width AVX-512 use the Xeon's.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "operators/operators.h"

typedef struct {
  const char* ukernel;
  int ymm_panels;  // the row is for the 8x16 kernel's panels of <= 8 channels
  double gather, fma, panel;
} coefficients;

// Fitted on an Intel Xeon with full-width AVX-512 units (family 6 model 167: AVX-512, VNNI, AMX), one
// thread: bazel run //tflite_delegate:conv_cost_bench, then benchmarks/fit_conv_cost.py.
// The 8x4 AVX2 kernel serves only layers under 16 output pixels on x86 (FULLY_CONNECTED at batch 1), where
// this model prices a one-pixel tile of the dense kernel as a full one; such layers wait on the weights they
// stream. Its rows are fitted to those layers' timings as ratios to the dense kernel's estimate, so that the
// kept blocks win where they stream fewer weights fast enough (1280->1000 at N=4 50%: 0.54 of the dense
// time on that Xeon, 0.71 on Zen 4; at N=2 50% 1.4 on Zen 4).
static const coefficients kAvx512[] = {
    {"f32-spconv-8x16-avx512f", 0, 0.0, 1.68, 15.07},
    {"f32-spconv-8x16-avx512f", 1, 0.0, 1.46, 7.05},
    // Fitted by hand to dense layers timed against the 8x16 kernel (112x112x32->64 1x1, 28x28x192->32 1x1;
    // checked on 14x14x96->576, 7x7x960->160 and the stems): 0.75-0.92 of the 8x16 kernel's time.
    {"f32-spconv-8x32-avx512f", 0, 0.0, 2.73, 28.3},
    {"f32-spconv-32x8-pixelvec-avx512f", 0, 5.58, 2.80, 34.21},
    {"f32-spconv-32x4-pixelvec-avx512f", 0, 5.32, 1.65, 20.59},
    {"f32-spconv-16x8-pixelvec-avx512f", 0, 2.62, 1.68, 16.31},
    {"f32-spconv-16x4-pixelvec-avx512f", 0, 2.66, 0.95, 9.70},
    {"f32-spconv-16x2-pixelvec-avx512f", 0, 2.47, 0.61, 8.43},
    {"f32-spconv-16x1-pixelvec-avx512f", 0, 2.51, 0.44, 10.92},
    {"f32-spconv-8x4-avx2", 0, 0.0, 0.45, 0.0},  // layers under 16 pixels, see above
};

// Fitted the same way on an AMD EPYC (Zen 4), which executes AVX-512 on 256-bit units; refitted there on
// 2026-12-04 after the 8x16 kernel's 8-pixel tiles for rows 4 KB apart (the old rows priced MobileNetV2's
// 112x112x16->96 at N = 4 50% at 0.48 ms on the 16x4 pixel-vector kernel, timed at 0.38, and ran it on
// every block instead, 0.47). Without rows for the 32-pixel kernels: the fit prices them near the others
// with larger errors (worst 60%), so Zen 4 keeps the kernels it was fitted on.
static const coefficients kAvx512On256BitUnits[] = {
    {"f32-spconv-8x16-avx512f", 0, 0.0, 2.08, 11.05},
    {"f32-spconv-8x16-avx512f", 1, 0.0, 1.46, 6.26},
    {"f32-spconv-16x8-pixelvec-avx512f", 0, 3.06, 2.01, 15.90},
    {"f32-spconv-16x4-pixelvec-avx512f", 0, 2.95, 0.98, 10.87},
    {"f32-spconv-16x2-pixelvec-avx512f", 0, 2.93, 0.67, 9.21},
    {"f32-spconv-16x1-pixelvec-avx512f", 0, 2.91, 0.54, 14.27},
    {"f32-spconv-8x4-avx2", 0, 0.0, 0.75, 4.6},  // layers under 16 pixels, see above
};

// Fitted the same way with ONEXN_ISA_AVX2 on the Zen 4 machine.
static const coefficients kAvx2[] = {
    {"f32-spconv-4x16-avx2", 0, 0.0, 1.30, 7.3},
    {"f32-spconv-8x8-avx2", 0, 0.0, 1.82, 12.8},
    {"f32-spconv-8x4-avx2", 0, 0.0, 0.42, 2.4},  // layers under 16 pixels, see above
    {"f32-spconv-16x4-pixelvec-avx2", 0, 3.45, 1.41, 12.7},
    {"f32-spconv-16x2-pixelvec-avx2", 0, 4.47, 0.85, 8.8},
    {"f32-spconv-16x1-pixelvec-avx2", 0, 4.78, 0.59, 14.5},
};

// Not measured on Arm hardware (emulation times mean nothing): the AVX2 fit scaled by vector width (a
// 128-bit NEON FMA does half the work of a 256-bit AVX2 one). It decides little more than running N = 1 and
// 2 densely at moderate sparsity.
static const coefficients kNeon[] = {
    {"f32-spconv-8x8-neon", 0, 0.0, 3.64, 12.8},
    {"f32-spconv-8x4-neon", 0, 0.0, 1.82, 11.4},
    {"f32-spconv-16x2-pixelvec-neon", 0, 8.9, 1.70, 8.8},
    {"f32-spconv-16x1-pixelvec-neon", 0, 9.6, 1.18, 14.5},
};

// Nanoseconds per byte of weights read from beyond L2, measured in the graph on the Xeon: ResNet-50's
// 7x7x512->2048 N=16 50% (2 MB of kept weights) on the 32x8 pixel-vector kernel, 2 tiles: 0.73 ms against
// 0.42 warm; MobileNetV2's 7x7x320->1280 N=4 50% with every block on the 8x32 kernel (1.6 MB): 0.37 ms
// against 0.25 estimated warm.
static const double kStreamNsPerByte = 0.1;

static const coefficients* find(const coefficients* table, size_t count, const char* ukernel, int ymm_panels) {
  for (size_t i = 0; i < count; i++) {
    if (strcmp(table[i].ukernel, ukernel) == 0 && table[i].ymm_panels == ymm_panels) return &table[i];
  }
  return NULL;
}

#define FIND(table, ukernel, ymm) find(table, sizeof(table) / sizeof(table[0]), ukernel, ymm)

static const coefficients* coefficients_of(onexn_isa isa, const char* ukernel, int ymm_panels) {
  switch (isa) {
    case ONEXN_ISA_AVX512: {
      const coefficients* c = onexn_cpu_avx512_on_256bit_units() ? FIND(kAvx512On256BitUnits, ukernel, ymm_panels)
                                                                  : FIND(kAvx512, ukernel, ymm_panels);
      return c != NULL || ymm_panels ? c : FIND(kAvx2, ukernel, 0);  // AVX2 kernels serve AVX-512 too
    }
    case ONEXN_ISA_AVX2:
      return FIND(kAvx2, ukernel, 0);
    case ONEXN_ISA_NEON:
      return FIND(kNeon, ukernel, 0);
    default:
      return NULL;
  }
}

// Estimated nanoseconds of one run on one thread; `index` NULL: every block of width n kept. A negative
// result: the model has no coefficients for this kernel.
static double estimate(const onexn_ukernel_config* uk, onexn_isa isa, const onexn_conv_shape* s, int n,
                       const onexn_block_index* index) {
  const int xt = uk->kind == ONEXN_KIND_XT;
  const uint32_t nr = uk->nr_fits_block && (uint32_t)n < uk->nr ? (uint32_t)n : uk->nr;
  const double taps = (double)s->kh * s->kw;
  double per_tile = 0.0;
  if (xt) {
    const coefficients* c = coefficients_of(isa, uk->name, 0);
    if (c == NULL) return -1.0;
    per_tile += c->gather * taps * s->cin;
  }
  const int groups = (s->cout + n - 1) / n;
  double weight_bytes = 0.0;
  for (int g = 0; g < groups; g++) {
    const uint32_t width = (uint32_t)(s->cout - g * n < n ? s->cout - g * n : n);
    const double kept = index != NULL ? (double)(index->group_ptr[g + 1] - index->group_ptr[g]) : (double)s->cin;
    for (uint32_t oc = 0; oc < width; oc += nr) {
      const uint32_t nc = width - oc < nr ? width - oc : nr;
      // The 8x16 AVX-512 kernel runs panels of at most 8 channels in ymm registers.
      const int ymm = !xt && uk->isa == ONEXN_ISA_AVX512 && uk->nr == 16 && nc <= 8;
      const coefficients* c = coefficients_of(isa, uk->name, ymm);
      if (c == NULL) return -1.0;
      per_tile += c->fma * kept * taps + c->panel;
      weight_bytes += (kept * taps + 1.0) * uk->nr * sizeof(float);
    }
  }
  const double pixels = (double)s->out_h * s->out_w, tiles = ceil(pixels / uk->mr);
  // Large weights come from beyond L2 (the fit timed warm caches, and a graph's layers evict each other's
  // weights): once for a kernel that blocks its panels (conv.c, weight_blocking), or where the
  // weights and the input fit in L2 together; once per tile otherwise. Every block kept reads more of them
  // than the kept blocks do. (Each tile was charged the stream before: on Zen 4's 1 MB of L2 MobileNetV2's
  // 7x7x320->1280 at N = 4 50% then ran every block, 1.01 of XNNPACK, where its 0.8 MB of kept blocks
  // run in 0.64.) Fitted at one thread; at several, each chunk of panels is read twice per image (two
  // tasks of half an image, conv-args.c), the second time mostly from L2: not charged.
  double stream = 0.0;
  if (weight_bytes > 2.0 * ONEXN_WEIGHT_BLOCK_BYTES) {
    const size_t input = onexn_conv_input_bytes(s), l2 = onexn_cpu_l2_bytes();
    size_t gathered = 0;
    const int blocks =
        xt ? !onexn_conv_gathered_bytes((size_t)tiles, uk->mr, (size_t)taps, (size_t)s->cin, &gathered) &&
                 onexn_conv_xt_blocks_weights((size_t)weight_bytes, gathered, (size_t)tiles, l2)
           : onexn_conv_blocks_weights((size_t)weight_bytes, input, (size_t)tiles);
    const int once = blocks || (double)l2 >= weight_bytes + (double)input;
    stream = (once ? 1.0 : tiles) * weight_bytes * kStreamNsPerByte;
  }
  return (per_tile * tiles + stream) * s->batch;
}

// Kernels that serve every block width on AVX-512, tried on the kept blocks against the dispatched one
// where the active table has their coefficients: the 8x16 kernel for narrow blocks on Zen 4 (it runs
// panels of <= 8 channels at the zmm rate per channel there), the 32-pixel kernels on the Xeon (e.g.
// MobileNetV2's expansions at N = 16: 14x14 96->576 50% 0.079 ms against 0.088 on the 8x16 kernel).
static const char* const kAvx512Alternatives[] = {"f32-spconv-8x16-avx512f", "f32-spconv-32x8-pixelvec-avx512f",
                                                  "f32-spconv-32x4-pixelvec-avx512f"};
// The dense layers' kernel on AVX-512 (blocks of 32, one kept list); also tried on blocks of a multiple of 32.
static const char* const kDense32 = "f32-spconv-8x32-avx512f";

int onexn_conv_plan_for(const onexn_conv_shape* s, const onexn_block_index* index, onexn_isa isa,
                        onexn_dense_policy policy, onexn_conv_plan* out) {
  const size_t pixels = (size_t)s->out_h * (size_t)s->out_w;
  int dense_n = onexn_dense_block_width(isa);
  const onexn_ukernel_config *sparse_uk = NULL, *dense_uk = NULL;
  if (onexn_select_ukernel(isa, index->n, pixels, &sparse_uk) || onexn_select_ukernel(isa, dense_n, pixels, &dense_uk)) {
    return -1;
  }
  memset(out, 0, sizeof(*out));
  out->uk = sparse_uk;
  out->choice.sparse_ns = estimate(sparse_uk, isa, s, index->n, index);
  out->choice.dense_ns = estimate(dense_uk, isa, s, dense_n, NULL);
  out->choice.stock_ns = out->choice.dense_ns;
  // Every block kept, one kept list spans 32 channels: where the table has its row (full-width AVX-512
  // units), the 8x32 kernel feeds two FMAs per broadcast. Not for a few pixels (classifier heads), whose
  // two FMA chains per pixel wait on each other.
  const onexn_ukernel_config* dense32 =
      isa == ONEXN_ISA_AVX512 && pixels >= ONEXN_XT_PIXELS ? onexn_conv_ukernel(kDense32) : NULL;
  const double dense32_ns = dense32 != NULL ? estimate(dense32, isa, s, 32, NULL) : -1.0;
  if (dense32_ns >= 0.0 && (out->choice.dense_ns < 0.0 || dense32_ns < out->choice.dense_ns)) {
    dense_uk = dense32;
    dense_n = 32;
    out->choice.dense_ns = dense32_ns;
  }
  out->choice.cost_ns = out->choice.sparse_ns;
  if (policy == ONEXN_DENSE_NEVER) return 0;
  if (policy == ONEXN_DENSE_ALWAYS ||
      (out->choice.dense_ns >= 0.0 && out->choice.sparse_ns >= 0.0 && out->choice.dense_ns < out->choice.sparse_ns)) {
    out->uk = dense_uk;
    out->dense_n = dense_n;
    out->choice.dense = 1;
    out->choice.cost_ns = out->choice.dense_ns;
  }
  if (policy == ONEXN_DENSE_AUTO && isa == ONEXN_ISA_AVX512 && pixels >= ONEXN_XT_PIXELS) {
    const size_t count = sizeof(kAvx512Alternatives) / sizeof(kAvx512Alternatives[0]);
    for (size_t i = 0; i <= count; i++) {
      if (i == count && index->n % 32 != 0) break;
      const onexn_ukernel_config* alt = onexn_conv_ukernel(i < count ? kAvx512Alternatives[i] : kDense32);
      const double ns = alt != NULL && alt != out->uk ? estimate(alt, isa, s, index->n, index) : -1.0;
      if (ns >= 0.0 && ns < out->choice.cost_ns) {
        out->uk = alt;
        out->dense_n = 0;
        out->choice.dense = 0;
        out->choice.cost_ns = ns;
      }
    }
  }
  return 0;
}
