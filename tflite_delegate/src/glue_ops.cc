#include "glue_ops.h"

#include <climits>
#include <cstdint>
#include <cstring>
#include <string>

#include "conv_geometry.h"

namespace onexn {
namespace {

const TfLiteTensor* TensorAt(const TfLiteContext* context, int index) {
  if (index < 0 || size_t(index) >= context->tensors_size) return nullptr;
  return &context->tensors[index];
}

bool IsConstant(const TfLiteTensor* t) { return t->allocation_type == kTfLiteMmapRo; }

std::string CheckActivationTensor(const TfLiteTensor* t, const char* what) {
  if (t == nullptr) return std::string(what) + " tensor index out of range";
  if (t->type != kTfLiteFloat32) return std::string(what) + " is not float32";
  if (t->allocation_type == kTfLiteDynamic) return std::string(what) + " has a dynamic shape";
  if (IsConstant(t)) return std::string(what) + " is a constant (only activations are taken)";
  if (t->dims == nullptr || t->dims->size < 1) return std::string(what) + " has no shape";
  for (int i = 0; i < t->dims->size; ++i) {
    if (t->dims->data[i] <= 0) return std::string(what) + " shape is not static";
  }
  return "";
}

std::vector<int> Dims(const TfLiteTensor* t) { return std::vector<int>(t->dims->data, t->dims->data + t->dims->size); }

std::string CheckDepthwise(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size < 2 || in->size > 3) return "unexpected number of inputs";
  p->inputs = {in->data[0]};
  p->weights = in->data[1];
  p->bias = in->size == 3 ? in->data[2] : kTfLiteOptionalTensor;
  const TfLiteTensor* w = TensorAt(context, p->weights);
  if (w == nullptr || w->type != kTfLiteFloat32 || !IsConstant(w) || w->data.raw == nullptr || w->sparsity != nullptr) {
    return "filter is not a dense float32 constant";
  }
  const TfLiteIntArray* wd = w->dims;
  if (wd == nullptr || wd->size != 4 || wd->data[0] != 1 || wd->data[1] < 1 || wd->data[2] < 1 || wd->data[3] < 1) {
    return "filter is not [1, kh, kw, C]";
  }
  p->kh = wd->data[1];
  p->kw = wd->data[2];
  p->channels = wd->data[3];
  if (w->bytes != size_t(p->kh) * p->kw * p->channels * sizeof(float)) return "filter byte size does not match its shape";
  if (p->bias != kTfLiteOptionalTensor) {
    const TfLiteTensor* b = TensorAt(context, p->bias);
    if (b == nullptr || b->type != kTfLiteFloat32 || !IsConstant(b) || b->data.raw == nullptr ||
        b->bytes != size_t(p->channels) * sizeof(float)) {
      return "bias is not a float32 constant of C values";
    }
  }
  const auto* params = static_cast<const TfLiteDepthwiseConvParams*>(node->builtin_data);
  if (params->padding != kTfLitePaddingSame && params->padding != kTfLitePaddingValid) return "unknown padding";
  if (params->stride_height < 1 || params->stride_width < 1 || params->dilation_height_factor < 1 ||
      params->dilation_width_factor < 1) {
    return "stride or dilation < 1";
  }
  p->padding = params->padding;
  p->stride_h = params->stride_height;
  p->stride_w = params->stride_width;
  p->dilation_h = params->dilation_height_factor;
  p->dilation_w = params->dilation_width_factor;
  p->activation = params->activation;
  const TfLiteTensor* input = TensorAt(context, p->inputs[0]);
  if (input->dims->size != 4) return "input is not 4-D";
  if (input->dims->data[3] != p->channels) return "depth multiplier != 1 (output channels != input channels)";
  return "";
}

std::string CheckAdd(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size != 2) return "unexpected number of inputs";
  p->inputs = {in->data[0], in->data[1]};
  const TfLiteTensor* a = TensorAt(context, in->data[0]);
  const TfLiteTensor* b = TensorAt(context, in->data[1]);
  std::string err;
  if (!(err = CheckActivationTensor(a, "input 0")).empty()) return err;
  if (!(err = CheckActivationTensor(b, "input 1")).empty()) return err;
  if (Dims(a) != Dims(b)) return "inputs differ in shape (broadcasting is left to the stock runtime)";
  p->activation = static_cast<const TfLiteAddParams*>(node->builtin_data)->activation;
  return "";
}

std::string CheckMean(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size != 2) return "unexpected number of inputs";
  p->inputs = {in->data[0]};
  const TfLiteTensor* input = TensorAt(context, in->data[0]);
  if (input->dims->size != 4) return "input is not 4-D";
  const TfLiteTensor* axis = TensorAt(context, in->data[1]);
  if (axis == nullptr || axis->type != kTfLiteInt32 || !IsConstant(axis) || axis->data.raw == nullptr) {
    return "axes are not an int32 constant";
  }
  const size_t count = axis->bytes / sizeof(int32_t);
  bool h = false, w = false, other = false;
  for (size_t i = 0; i < count; ++i) {
    int32_t v;
    std::memcpy(&v, static_cast<const char*>(axis->data.raw) + i * sizeof(v), sizeof(v));
    const int a = v < 0 ? v + 4 : v;
    h |= a == 1;
    w |= a == 2;
    other |= a != 1 && a != 2;
  }
  if (!h || !w || other) return "not a mean over height and width (global average pooling) only";
  p->keep_dims = static_cast<const TfLiteReducerParams*>(node->builtin_data)->keep_dims;
  return "";
}

}  // namespace

bool IsGlueOp(int code) {
  return code == kTfLiteBuiltinDepthwiseConv2d || code == kTfLiteBuiltinAdd || code == kTfLiteBuiltinMean;
}

std::vector<int> MeanOutputDims(const std::vector<int>& d, bool keep_dims) {
  if (keep_dims) return {d[0], 1, 1, d[3]};
  return {d[0], d[3]};
}

std::string CheckGlueNode(const TfLiteContext* context, int node_index, const TfLiteNode* node, int builtin_code,
                          GluePlan* plan) {
  if (!IsGlueOp(builtin_code)) return "not a glue operator";
  const TfLiteIntArray* in = node->inputs;
  const TfLiteIntArray* out = node->outputs;
  if (in == nullptr || in->size < 1 || out == nullptr || out->size != 1) return "unexpected number of inputs/outputs";
  if (node->builtin_data == nullptr) return "node has no parameters";
  GluePlan p;
  p.node = node_index;
  p.builtin_code = builtin_code;
  p.output = out->data[0];
  std::string err;
  if (!(err = CheckActivationTensor(TensorAt(context, in->data[0]), "input")).empty()) return err;
  if (!(err = CheckActivationTensor(TensorAt(context, p.output), "output")).empty()) return err;
  if (builtin_code == kTfLiteBuiltinAdd) {
    err = CheckAdd(context, node, &p);
  } else if (builtin_code == kTfLiteBuiltinMean) {
    err = CheckMean(context, node, &p);
  } else {
    err = CheckDepthwise(context, node, &p);
  }
  if (!err.empty()) return err;
  float lo, hi;
  if (!ActivationRange(p.activation, &lo, &hi)) {
    return "fused activation " + std::to_string(p.activation) + " is not NONE, RELU, RELU6 or RELU_N1_TO_1";
  }
  // Shapes as they are now must be consistent; the kernel recomputes them after any input resize.
  const std::vector<int> in_dims = Dims(TensorAt(context, p.inputs[0]));
  std::vector<int> out_dims = in_dims;
  if (builtin_code == kTfLiteBuiltinDepthwiseConv2d) {
    onexn_dwconv_shape shape;
    if (!(err = DepthwiseGeometry(p, in_dims, &shape, &out_dims)).empty()) return err;
  } else if (builtin_code == kTfLiteBuiltinMean) {
    out_dims = MeanOutputDims(in_dims, p.keep_dims);
  }
  if (Dims(TensorAt(context, p.output)) != out_dims) return "output shape differs from the one computed from the input";
  *plan = std::move(p);
  return "";
}

std::string DepthwiseGeometry(const GluePlan& p, const std::vector<int>& d, onexn_dwconv_shape* s,
                              std::vector<int>* output_dims) {
  if (d.size() != 4) return "DEPTHWISE_CONV_2D input is not 4-D";
  int64_t elements = 1;
  for (int v : d) {
    if (v <= 0) return "input shape is not static";
    elements *= v;
    if (elements > INT_MAX) return "input tensor too large";
  }
  if (d[3] != p.channels) return "input channels != filter channels (depth multiplier != 1)";
  onexn_dwconv_shape g{};
  if (!ActivationRange(p.activation, &g.out_min, &g.out_max)) return "unsupported fused activation";
  g.batch = d[0];
  g.in_h = d[1];
  g.in_w = d[2];
  g.channels = d[3];
  g.kh = p.kh;
  g.kw = p.kw;
  g.stride_h = p.stride_h;
  g.stride_w = p.stride_w;
  g.dilation_h = p.dilation_h;
  g.dilation_w = p.dilation_w;
  g.out_h = OutputSize(p.padding, g.in_h, g.kh, g.stride_h, g.dilation_h);
  g.out_w = OutputSize(p.padding, g.in_w, g.kw, g.stride_w, g.dilation_w);
  if (g.out_h <= 0 || g.out_w <= 0) return "the filter is larger than the input (empty output)";
  if (int64_t(g.batch) * g.out_h * g.out_w * g.channels > INT_MAX) return "output tensor too large";
  g.pad_top = LeadingPadding(g.in_h, g.out_h, g.kh, g.stride_h, g.dilation_h);
  g.pad_left = LeadingPadding(g.in_w, g.out_w, g.kw, g.stride_w, g.dilation_w);
  *s = g;
  *output_dims = {g.batch, g.out_h, g.out_w, g.channels};
  return "";
}

bool SameDwShape(const onexn_dwconv_shape& a, const onexn_dwconv_shape& b) {
  return a.batch == b.batch && a.in_h == b.in_h && a.in_w == b.in_w && a.channels == b.channels &&
         a.out_h == b.out_h && a.out_w == b.out_w && a.kh == b.kh && a.kw == b.kw && a.stride_h == b.stride_h &&
         a.stride_w == b.stride_w && a.dilation_h == b.dilation_h && a.dilation_w == b.dilation_w &&
         a.pad_top == b.pad_top && a.pad_left == b.pad_left && a.out_min == b.out_min && a.out_max == b.out_max;
}

}  // namespace onexn
