#include "node_quant.h"

#include <cmath>
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

}  // namespace onexn
