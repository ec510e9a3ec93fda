#include "node_quant.h"

#include "onexn_kernels.h"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace onexn {
namespace {

const TfLiteAffineQuantization* Affine(const TfLiteTensor& t) {
  if (t.quantization.type != kTfLiteAffineQuantization) return nullptr;
  const auto* q = static_cast<const TfLiteAffineQuantization*>(t.quantization.params);
  return q != nullptr && q->scale != nullptr && q->zero_point != nullptr ? q : nullptr;
}

bool GoodScale(float s) { return std::isnormal(s) && s > 0.0f; }

// With AMX-INT8, XNNPACK's dense int8 convolutions run on tiles at about 1 multiply-add per picosecond, and
// the VNNI 1xN kernels win only where XNNPACK pays per output more than per multiply-add: few input
// channels, or sparse enough layers. Both are estimated in nanoseconds per output pixel, a least-squares
// fit (relative error: median 13% and 9%, worst 43% and 32%) to onexn bench --per-op --dense never on an
// Intel Xeon with AMX (MobileNetV2 N=16 50% and 75%, ResNet-50 N=16 50%, 1 thread, 120 layers, 2026-12-03):
// XNNPACK 10.5 + 0.129 a channel out + 0.867e-3 a multiply-add; onexn 0.2 + 0.097 a channel out + 4.64e-3 a
// kept multiply-add + 0.047 a channel in per tap (its gather). Taken under 0.9 of XNNPACK's estimate: on
// those layers 23 were, one of them slower than stock (1.02), and the convolutions took 0.880 of stock's
// time where picking each layer's faster side would give 0.873.
std::string SlowerThanAmx(const NodePlan& p, size_t pixels, Int8Estimate* estimate, const char* option) {
  const double taps = double(p.kh) * double(p.kw);
  const double kept_pairs = p.group_ptr.empty() ? 0.0 : double(p.group_ptr.back());
  const double kept_macs = kept_pairs * double(p.n) * taps;
  const double dense_macs = double(p.cout) * double(p.cin) * taps;
  const double onexn_ns = 0.2 + 0.097 * double(p.cout) + 4.64e-3 * kept_macs + 0.047 * double(p.cin) * taps;
  const double stock_ns = 10.5 + 0.129 * double(p.cout) + 0.867e-3 * dense_macs;
  if (estimate != nullptr) *estimate = {onexn_ns * double(pixels), stock_ns * double(pixels)};
  if (onexn_ns < 0.9 * stock_ns) return "";
  char why[360];
  std::snprintf(why, sizeof(why),
                "int8 on a CPU with AMX, where the stock runtime's dense int8 kernels use the tiles: estimated %.0f ns "
                "a pixel for the kept blocks against %.0f ns for XNNPACK (taken under 0.9 of it; options "
                "%s takes the node anyway)",
                onexn_ns, stock_ns, option);
  return why;
}

}  // namespace

std::string PerTensorQuantization(const TfLiteTensor& t, const char* what, float* scale, int* zero_point) {
  const TfLiteAffineQuantization* q = Affine(t);
  if (q == nullptr) return std::string(what) + " is not quantized (no affine quantization)";
  if (q->scale->size != 1 || q->zero_point->size != 1) {
    return std::string(what) + " has " + std::to_string(q->scale->size) + " scales; one is taken";
  }
  if (!GoodScale(q->scale->data[0])) return std::string(what) + " scale is not a positive normal number";
  const int zp = q->zero_point->data[0];
  if (zp < -128 || zp > 127) return std::string(what) + " zero point " + std::to_string(zp) + " is not int8";
  *scale = q->scale->data[0];
  *zero_point = zp;
  return "";
}

std::string WeightScales(const TfLiteTensor& w, int cout, int dimension, std::vector<float>* scales) {
  const TfLiteAffineQuantization* q = Affine(w);
  if (q == nullptr) return "weight is not quantized (no affine quantization)";
  const int n = q->scale->size;
  if (n != 1 && (n != cout || q->quantized_dimension != dimension)) {
    return "weight has " + std::to_string(n) + " scales along dimension " + std::to_string(q->quantized_dimension) +
           "; one, or one per output channel, is taken";
  }
  if (q->zero_point->size != n && q->zero_point->size != 1) return "weight zero points do not match its scales";
  for (int i = 0; i < q->zero_point->size; ++i) {
    if (q->zero_point->data[i] != 0) return "weight is not symmetric (a zero point is not 0)";
  }
  scales->resize(size_t(cout));
  for (int o = 0; o < cout; ++o) {
    const float s = q->scale->data[n == 1 ? 0 : o];
    if (!GoodScale(s)) return "weight scale of channel " + std::to_string(o) + " is not a positive normal number";
    (*scales)[size_t(o)] = s;
  }
  return "";
}

std::string CheckQuantization(const TfLiteContext* context, NodePlan* p) {
  std::string err =
      PerTensorQuantization(context->tensors[p->input], "input", &p->input_scale, &p->input_zero_point);
  if (err.empty()) {
    err = PerTensorQuantization(context->tensors[p->output], "output", &p->output_scale, &p->output_zero_point);
  }
  if (err.empty()) err = WeightScales(context->tensors[p->weights], p->cout, 0, &p->weight_scales);
  return err;
}

std::string Int8SlowerThanStock(const TfLiteContext* context, const NodePlan& p, Int8Estimate* estimate,
                                const char* option) {
  if (p.n <= 4) {
    return "int8 blocks of N = " + std::to_string(p.n) +
           " are too narrow: the int8 kernels ran them slower than the stock runtime's dense int8 kernels "
           "(4-channel panels with VNNI or the dot product, 8 with AVX2 and NEON; options " + option +
           " takes the node anyway)";
  }
  if (p.shape_at_run_time) return "";
  const TfLiteIntArray* dims = context->tensors[p.output].dims;
  if (dims == nullptr || dims->size < 1 || p.cout <= 0) return "";
  size_t elements = 1;
  for (int i = 0; i < dims->size; ++i) elements *= size_t(dims->data[i] > 0 ? dims->data[i] : 0);
  // Pixels of one image for a convolution (NHWC), rows for a fully connected layer.
  const size_t batch = p.builtin_code == kTfLiteBuiltinConv2d && dims->data[0] > 0 ? size_t(dims->data[0]) : 1;
  const size_t pixels = elements / size_t(p.cout) / batch;
  if (pixels < 16) {
    return "int8 output of " + std::to_string(pixels) +
           " pixels: the 16-pixel tiles would be mostly padding, slower than the stock runtime's dense int8 "
           "kernels (options " + option + " takes the node anyway)";
  }
  if (onexn_cpu_has_amx_int8()) return SlowerThanAmx(p, pixels, estimate, option);
  return "";
}

}  // namespace onexn
