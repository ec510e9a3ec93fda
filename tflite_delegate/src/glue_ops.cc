#include "glue_ops.h"

#include <climits>
#include <cstdint>
#include <cstring>
#include <string>

#include "conv_geometry.h"
#include "node_quant.h"

namespace onexn {
namespace {

const TfLiteTensor* TensorAt(const TfLiteContext* context, int index) {
  if (index < 0 || size_t(index) >= context->tensors_size) return nullptr;
  return &context->tensors[index];
}

bool IsConstant(const TfLiteTensor* t) { return t->allocation_type == kTfLiteMmapRo; }

std::string CheckActivationTensor(const TfLiteTensor* t, const std::string& what, bool int8) {
  if (t == nullptr) return what + " tensor index out of range";
  if (t->type != (int8 ? kTfLiteInt8 : kTfLiteFloat32)) return what + (int8 ? " is not int8" : " is not float32");
  if (t->allocation_type == kTfLiteDynamic) return what + " has a dynamic shape";
  if (IsConstant(t)) return what + " is a constant (only activations are taken)";
  if (t->dims == nullptr || t->dims->size < 1) return what + " has no shape";
  for (int i = 0; i < t->dims->size; ++i) {
    if (t->dims->data[i] <= 0) return what + " shape is not static";
  }
  return "";
}

Dims TensorDims(const TfLiteTensor* t) { return Dims(t->dims->data, t->dims->data + t->dims->size); }

// The values of a constant int32 (or, where TFLite allows it, int64) tensor.
bool ConstantInts(const TfLiteTensor* t, bool allow_int64, std::vector<int64_t>* values) {
  if (t == nullptr || !IsConstant(t) || t->data.raw == nullptr) return false;
  const size_t size = t->type == kTfLiteInt32 ? sizeof(int32_t) : allow_int64 && t->type == kTfLiteInt64 ? 8 : 0;
  if (size == 0) return false;
  values->resize(t->bytes / size);
  for (size_t i = 0; i < values->size(); ++i) {
    const char* at = static_cast<const char*>(t->data.raw) + i * size;
    if (size == sizeof(int32_t)) {
      int32_t v;
      std::memcpy(&v, at, sizeof(v));
      (*values)[i] = v;
    } else {
      int64_t v;
      std::memcpy(&v, at, sizeof(v));
      (*values)[i] = v;
    }
  }
  return true;
}

std::string CheckDepthwise(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size < 2 || in->size > 3) return "unexpected number of inputs";
  if (node->builtin_data == nullptr) return "node has no parameters";
  p->inputs = {in->data[0]};
  p->weights = in->data[1];
  p->bias = in->size == 3 ? in->data[2] : kTfLiteOptionalTensor;
  const TfLiteTensor* w = TensorAt(context, p->weights);
  const TfLiteType weight_type = p->int8 ? kTfLiteInt8 : kTfLiteFloat32;
  const TfLiteType bias_type = p->int8 ? kTfLiteInt32 : kTfLiteFloat32;
  const size_t weight_bytes = p->int8 ? 1 : sizeof(float);
  if (w == nullptr || w->type != weight_type || !IsConstant(w) || w->data.raw == nullptr || w->sparsity != nullptr) {
    return p->int8 ? "filter is not a dense int8 constant" : "filter is not a dense float32 constant";
  }
  const TfLiteIntArray* wd = w->dims;
  if (wd == nullptr || wd->size != 4 || wd->data[0] != 1 || wd->data[1] < 1 || wd->data[2] < 1 || wd->data[3] < 1) {
    return "filter is not [1, kh, kw, C]";
  }
  p->kh = wd->data[1];
  p->kw = wd->data[2];
  p->channels = wd->data[3];
  if (w->bytes != size_t(p->kh) * p->kw * p->channels * weight_bytes) {
    return "filter byte size does not match its shape";
  }
  if (p->bias != kTfLiteOptionalTensor) {
    const TfLiteTensor* b = TensorAt(context, p->bias);
    if (b == nullptr || b->type != bias_type || !IsConstant(b) || b->data.raw == nullptr ||
        b->bytes != size_t(p->channels) * 4) {
      return p->int8 ? "bias is not an int32 constant of C values" : "bias is not a float32 constant of C values";
    }
  }
  if (p->int8) {
    const std::string err = WeightScales(*w, p->channels, 3, &p->weight_scales);
    if (!err.empty()) return err;
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
  if (input != nullptr && input->dims != nullptr && input->dims->size == 4 && input->dims->data[3] != p->channels) {
    return "depth multiplier != 1 (output channels != input channels)";
  }
  return "";
}

std::string CheckAdd(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size != 2) return "unexpected number of inputs";
  if (node->builtin_data == nullptr) return "node has no parameters";
  p->inputs = {in->data[0], in->data[1]};
  const TfLiteTensor* a = TensorAt(context, in->data[0]);
  const TfLiteTensor* b = TensorAt(context, in->data[1]);
  std::string err;
  if (!(err = CheckActivationTensor(a, "input 0", p->int8)).empty()) return err;
  if (!(err = CheckActivationTensor(b, "input 1", p->int8)).empty()) return err;
  if (TensorDims(a) != TensorDims(b)) return "inputs differ in shape (broadcasting is left to the stock runtime)";
  p->activation = static_cast<const TfLiteAddParams*>(node->builtin_data)->activation;
  return "";
}

std::string CheckMean(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size != 2) return "unexpected number of inputs";
  if (node->builtin_data == nullptr) return "node has no parameters";
  p->inputs = {in->data[0]};
  std::vector<int64_t> axes;
  if (!ConstantInts(TensorAt(context, in->data[1]), false, &axes)) return "axes are not an int32 constant";
  bool h = false, w = false, other = false;
  for (int64_t v : axes) {
    const int64_t a = v < 0 ? v + 4 : v;
    h |= a == 1;
    w |= a == 2;
    other |= a != 1 && a != 2;
  }
  if (!h || !w || other) return "not a mean over height and width (global average pooling) only";
  p->keep_dims = static_cast<const TfLiteReducerParams*>(node->builtin_data)->keep_dims;
  return "";
}

std::string CheckPool(const TfLiteNode* node, GluePlan* p) {
  if (node->inputs->size != 1) return "unexpected number of inputs";
  if (node->builtin_data == nullptr) return "node has no parameters";
  p->inputs = {node->inputs->data[0]};
  const auto* params = static_cast<const TfLitePoolParams*>(node->builtin_data);
  if (params->padding != kTfLitePaddingSame && params->padding != kTfLitePaddingValid) return "unknown padding";
  if (params->stride_height < 1 || params->stride_width < 1) return "stride < 1";
  if (params->filter_height < 1 || params->filter_width < 1) return "filter size < 1";
  p->padding = params->padding;
  p->stride_h = params->stride_height;
  p->stride_w = params->stride_width;
  p->kh = params->filter_height;
  p->kw = params->filter_width;
  p->activation = params->activation;
  return "";
}

// PAD, and PADV2 whose constant is +0.0: TFLite pads with the constant's bits.
std::string CheckPad(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size < 2 || in->size > 3) return "unexpected number of inputs";
  p->inputs = {in->data[0]};
  const TfLiteTensor* paddings = TensorAt(context, in->data[1]);
  std::vector<int64_t> values;
  if (!ConstantInts(paddings, true, &values)) return "paddings are not an int32/int64 constant";
  const TfLiteTensor* input = TensorAt(context, in->data[0]);
  const int rank = input != nullptr && input->dims != nullptr ? input->dims->size : 0;
  if (paddings->dims == nullptr || paddings->dims->size != 2 || paddings->dims->data[0] != rank ||
      paddings->dims->data[1] != 2 || values.size() != size_t(2 * rank)) {
    return "paddings are not [rank, 2]";
  }
  if (rank > 5) return "input rank above 5";
  for (int i = 0; i < rank; ++i) {
    if (values[2 * i] < 0 || values[2 * i + 1] < 0 || values[2 * i] > INT_MAX || values[2 * i + 1] > INT_MAX) {
      return "negative or too large padding";
    }
    p->pad_before.push_back(int(values[2 * i]));
    p->pad_after.push_back(int(values[2 * i + 1]));
  }
  if (in->size == 3 && in->data[2] != kTfLiteOptionalTensor) {
    const TfLiteTensor* c = TensorAt(context, in->data[2]);
    uint32_t bits = 1;
    if (c != nullptr && c->type == kTfLiteFloat32 && IsConstant(c) && c->data.raw != nullptr && c->bytes == 4) {
      std::memcpy(&bits, c->data.raw, sizeof(bits));
    }
    if (bits != 0) return "the pad value is not a float32 constant +0.0 (only zero padding is taken)";
  }
  return "";
}

std::string CheckConcat(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (node->builtin_data == nullptr) return "node has no parameters";
  p->inputs.assign(in->data, in->data + in->size);
  const TfLiteTensor* first = TensorAt(context, in->data[0]);
  const int rank = first != nullptr && first->dims != nullptr ? first->dims->size : 0;
  const auto* params = static_cast<const TfLiteConcatenationParams*>(node->builtin_data);
  p->axis = params->axis < 0 ? params->axis + rank : params->axis;
  if (p->axis < 0 || p->axis >= rank) return "axis " + std::to_string(params->axis) + " out of range";
  // TFLite's CONCATENATION kernel refuses a fused activation (and XNNPACK ignores it): no result to match.
  if (params->activation != kTfLiteActNone) return "fused activation on CONCATENATION (TFLite's kernel refuses it)";
  return "";
}

// The new shape: the shape input when it is a 1-D int32 tensor, else the node's options (TFLite's order).
std::string CheckReshape(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  if (in->size < 1 || in->size > 2) return "unexpected number of inputs";
  p->inputs = {in->data[0]};
  const TfLiteTensor* shape = in->size == 2 ? TensorAt(context, in->data[1]) : nullptr;
  std::vector<int64_t> values;
  if (shape != nullptr && shape->type == kTfLiteInt32 && shape->dims != nullptr && shape->dims->size == 1) {
    if (!ConstantInts(shape, false, &values)) return "the new shape is computed in the graph, not a constant";
  } else {
    const auto* params = static_cast<const TfLiteReshapeParams*>(node->builtin_data);
    if (params == nullptr || params->num_dimensions < 0 ||
        params->num_dimensions > TFLITE_RESHAPE_PARAMS_MAX_DIMENSION_COUNT) {
      return "no new shape (neither a shape input nor options)";
    }
    values.assign(params->shape, params->shape + params->num_dimensions);
    if (values.size() == 1 && values[0] == 0) values.clear();  // TFLite's legacy spelling of a scalar
  }
  if (values.empty()) return "reshape to a scalar";
  int stretch = 0;
  for (int64_t v : values) {
    if (v == -1) {
      stretch++;
    } else if (v < 1 || v > INT_MAX) {
      return "new shape has a dimension " + std::to_string(v);
    }
    p->new_shape.push_back(int(v));
  }
  if (stretch > 1) return "new shape has more than one -1";
  return "";
}

std::string CheckSoftmax(const TfLiteNode* node, GluePlan* p) {
  if (node->inputs->size != 1) return "unexpected number of inputs";
  if (node->builtin_data == nullptr) return "node has no parameters";
  p->inputs = {node->inputs->data[0]};
  p->beta = static_cast<const TfLiteSoftmaxParams*>(node->builtin_data)->beta;
  if (!(p->beta > 0.0f) || p->beta > 1e30f) return "beta is not a positive finite number";
  return "";
}

std::string CheckOp(const TfLiteContext* context, const TfLiteNode* node, GluePlan* p) {
  switch (p->builtin_code) {
    case kTfLiteBuiltinDepthwiseConv2d: return CheckDepthwise(context, node, p);
    case kTfLiteBuiltinAdd: return CheckAdd(context, node, p);
    case kTfLiteBuiltinMean: return CheckMean(context, node, p);
    case kTfLiteBuiltinMaxPool2d:
    case kTfLiteBuiltinAveragePool2d: return CheckPool(node, p);
    case kTfLiteBuiltinPad:
    case kTfLiteBuiltinPadv2: return CheckPad(context, node, p);
    case kTfLiteBuiltinConcatenation: return CheckConcat(context, node, p);
    case kTfLiteBuiltinReshape: return CheckReshape(context, node, p);
    case kTfLiteBuiltinSoftmax: return CheckSoftmax(node, p);
    default: return "not a glue operator";
  }
}

bool IsInt8GlueOp(int code) {
  return code == kTfLiteBuiltinDepthwiseConv2d || code == kTfLiteBuiltinAdd || code == kTfLiteBuiltinMean ||
         code == kTfLiteBuiltinReshape || code == kTfLiteBuiltinPad || code == kTfLiteBuiltinPadv2 ||
         code == kTfLiteBuiltinMaxPool2d;
}

// Each activation's one scale and zero point; RESHAPE, PAD and MAX_POOL_2D must keep them (they move bytes).
std::string CheckInt8Quantization(const TfLiteContext* context, GluePlan* p) {
  for (size_t i = 0; i < p->inputs.size(); ++i) {
    float scale;
    int zero_point;
    const std::string what = "input " + std::to_string(i);
    const std::string err = PerTensorQuantization(context->tensors[p->inputs[i]], what.c_str(), &scale, &zero_point);
    if (!err.empty()) return err;
    p->input_scales.push_back(scale);
    p->input_zero_points.push_back(zero_point);
  }
  std::string err = PerTensorQuantization(context->tensors[p->output], "output", &p->output_scale,
                                          &p->output_zero_point);
  if (!err.empty()) return err;
  const bool moves_bytes = p->builtin_code != kTfLiteBuiltinDepthwiseConv2d && p->builtin_code != kTfLiteBuiltinAdd &&
                           p->builtin_code != kTfLiteBuiltinMean;
  if (moves_bytes && (p->input_scales[0] != p->output_scale || p->input_zero_points[0] != p->output_zero_point)) {
    return "int8 input and output quantization differ (the operator would have to rescale)";
  }
  return "";
}

}  // namespace

bool IsGlueOp(int code) {
  switch (code) {
    case kTfLiteBuiltinDepthwiseConv2d:
    case kTfLiteBuiltinAdd:
    case kTfLiteBuiltinMean:
    case kTfLiteBuiltinMaxPool2d:
    case kTfLiteBuiltinAveragePool2d:
    case kTfLiteBuiltinPad:
    case kTfLiteBuiltinPadv2:
    case kTfLiteBuiltinConcatenation:
    case kTfLiteBuiltinReshape:
    case kTfLiteBuiltinSoftmax:
      return true;
    default:
      return false;
  }
}

std::string CheckGlueNode(const TfLiteContext* context, int node_index, const TfLiteNode* node, int builtin_code,
                          GluePlan* plan) {
  if (!IsGlueOp(builtin_code)) return "not a glue operator";
  const TfLiteIntArray* in = node->inputs;
  const TfLiteIntArray* out = node->outputs;
  if (in == nullptr || in->size < 1 || out == nullptr || out->size != 1) return "unexpected number of inputs/outputs";
  GluePlan p;
  p.node = node_index;
  p.builtin_code = builtin_code;
  p.output = out->data[0];
  const TfLiteTensor* first = TensorAt(context, in->data[0]);
  p.int8 = first != nullptr && first->type == kTfLiteInt8;
  std::string err;
  if (p.int8 && !IsInt8GlueOp(builtin_code)) return "int8 activations (onexn has no int8 kernel for this operator)";
  if (!(err = CheckActivationTensor(first, "input", p.int8)).empty()) return err;
  if (!(err = CheckActivationTensor(TensorAt(context, p.output), "output", p.int8)).empty()) return err;
  if (!(err = CheckOp(context, node, &p)).empty()) return err;
  for (size_t i = 1; i < p.inputs.size(); ++i) {
    err = CheckActivationTensor(TensorAt(context, p.inputs[i]), "input " + std::to_string(i), p.int8);
    if (!err.empty()) return err;
  }
  if (p.int8 && !(err = CheckInt8Quantization(context, &p)).empty()) return err;
  float lo, hi;
  if (!ActivationRange(p.activation, &lo, &hi)) {
    return "fused activation " + std::to_string(p.activation) + " is not NONE, RELU, RELU6 or RELU_N1_TO_1";
  }
  // Shapes as they are now must be consistent; the kernel recomputes them after any input resize.
  std::vector<Dims> in_dims;
  for (int t : p.inputs) in_dims.push_back(TensorDims(TensorAt(context, t)));
  Dims out_dims;
  if (!(err = GlueOutputDims(p, in_dims, &out_dims)).empty()) return err;
  if (TensorDims(TensorAt(context, p.output)) != out_dims) {
    return "output shape differs from the one computed from the input";
  }
  *plan = std::move(p);
  return "";
}

}  // namespace onexn
