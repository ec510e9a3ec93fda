#include "node_check.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "conv_geometry.h"
#include "crc32.h"
#include "node_quant.h"
#include "sparse_weights.h"

namespace onexn {
namespace {

std::string Str(int64_t v) { return std::to_string(v); }

// The converter left the tensor's last dimension unknown (-1 in its shape signature): its dims are a
// placeholder until the operator that writes it has run.
bool ShapeSetAtRunTime(const TfLiteTensor& t) {
  const TfLiteIntArray* s = t.dims_signature;
  return s != nullptr && s->size >= 1 && s->data[s->size - 1] == -1;
}

const TfLiteTensor* TensorAt(const TfLiteContext* context, int index) {
  if (index < 0 || size_t(index) >= context->tensors_size) return nullptr;
  return &context->tensors[index];
}

const char* TypeName(TfLiteType type) {
  switch (type) {
    case kTfLiteFloat32: return "float32";
    case kTfLiteInt8: return "int8";
    case kTfLiteInt32: return "int32";
    default: return "?";
  }
}

std::string CheckActivation(const TfLiteTensor* t, const char* what, TfLiteType type) {
  if (t == nullptr) return std::string(what) + " tensor index out of range";
  if (t->type != type) return std::string(what) + " is not " + TypeName(type);
  if (t->allocation_type == kTfLiteDynamic) return std::string(what) + " has a dynamic shape";
  return "";
}

std::string CheckConstant(const TfLiteTensor* t, const char* what, TfLiteType type) {
  if (t == nullptr) return std::string(what) + " tensor index out of range";
  if (t->type != type) return std::string(what) + " is not " + TypeName(type);
  if (t->allocation_type != kTfLiteMmapRo || t->data.raw == nullptr) {
    return std::string(what) + " is not a constant tensor of the model";
  }
  if (t->sparsity != nullptr) return std::string(what) + " uses TFLite sparse storage";
  return "";
}

// The weight's dims must be the record's (cout, kh, kw, cin) in TFLite's layout for the op.
std::string CheckWeightShape(const TfLiteTensor* w, const BlockRecord& r, int builtin_code, size_t element_bytes) {
  const TfLiteIntArray* d = w->dims;
  bool ok;
  if (builtin_code == kTfLiteBuiltinConv2d) {
    ok = d != nullptr && d->size == 4 && uint32_t(d->data[0]) == r.cout && uint32_t(d->data[1]) == r.kh &&
         uint32_t(d->data[2]) == r.kw && uint32_t(d->data[3]) == r.cin;
  } else {
    ok = d != nullptr && d->size == 2 && uint32_t(d->data[0]) == r.cout && uint32_t(d->data[1]) == r.cin &&
         r.kh == 1 && r.kw == 1;
  }
  if (!ok) {
    std::string s = "weight shape [";
    for (int i = 0; d != nullptr && i < d->size; ++i) s += (i ? ", " : "") + Str(d->data[i]);
    return s + "] does not match the metadata (cout=" + Str(r.cout) + ", kh=" + Str(r.kh) +
           ", kw=" + Str(r.kw) + ", cin=" + Str(r.cin) + ")";
  }
  const uint64_t count = uint64_t(r.cout) * r.kh * r.kw * r.cin;
  if (w->bytes != count * element_bytes) return "weight byte size does not match its shape";
  return "";
}

// Encoding 1: the weight tensor is the output of a DENSIFY of a block-sparse constant matching the record.
std::string CheckCompactWeight(const TfLiteContext* context, const GraphIndex& graph, const TfLiteTensor* w,
                               const BlockRecord& r, int builtin_code, NodePlan* p) {
  if (w == nullptr) return "weight tensor index out of range";
  if (w->type != kTfLiteFloat32) return "weight is not float32";
  auto use = graph.find(p->weights);
  if (use == graph.end() || use->second.producer < 0 || use->second.producer_code != kTfLiteBuiltinDensify) {
    return "compact weight (encoding 1) is not the output of a DENSIFY operator";
  }
  const TfLiteTensor* sparse = TensorAt(context, use->second.producer_input);
  if (sparse == nullptr) return "DENSIFY input tensor index out of range";
  const TfLiteIntArray* wd = w->dims;
  const TfLiteIntArray* sd = sparse->dims;
  if (wd == nullptr || sd == nullptr || wd->size != sd->size ||
      !std::equal(wd->data, wd->data + wd->size, sd->data)) {
    return "DENSIFY input and output shapes differ";
  }
  std::string err = CheckSparseWeights(*sparse, r, builtin_code == kTfLiteBuiltinFullyConnected);
  if (!err.empty()) return err;
  p->densify_node = use->second.producer;
  p->sparse_weights = use->second.producer_input;
  p->densify_feeds_only_this_node = use->second.consumers == 1;
  return "";
}

// The bits that make a weight nonzero, in the weight's own width: all but float32's sign (+0.0 and -0.0
// are zero; a NaN is not).
uint32_t NonzeroBits(float) { return 0x7FFFFFFFu; }
uint8_t NonzeroBits(int8_t) { return 0xFFu; }

// Whether any of `bytes` bytes of row has a bit under mask: 8 bytes a step (a branch per weight was a fifth
// of ResNet-50's delegate setup).
bool AnyUnderMask(const unsigned char* row, const unsigned char* mask, size_t bytes) {
  uint64_t any = 0;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t r, m;
    std::memcpy(&r, row + i, 8);
    std::memcpy(&m, mask + i, 8);
    any |= r & m;
  }
  for (; i < bytes; ++i) any |= uint64_t(row[i] & mask[i]);
  return any != 0;
}

// Every weight outside the kept blocks must be zero (+0.0 or -0.0 for float32), otherwise skipping it
// changes the result. A row is tested under a mask of its pruned weights' nonzero bits; only a row that
// fails is searched for the weight to name.
template <typename T>
std::string CheckPrunedBlocksAreZero(const T* w, const BlockRecord& r) {
  const size_t taps = size_t(r.kh) * r.kw;
  const auto bits = NonzeroBits(T(0));
  static_assert(sizeof(bits) == sizeof(T), "a mask per weight");
  std::vector<unsigned char> mask(size_t(r.cin) * sizeof(T));
  for (uint32_t g = 0; g < r.num_groups; ++g) {
    for (uint32_t c = 0; c < r.cin; ++c) std::memcpy(&mask[size_t(c) * sizeof(T)], &bits, sizeof(T));
    for (uint32_t k = r.group_ptr[g]; k < r.group_ptr[g + 1]; ++k) {
      std::memset(&mask[size_t(r.kept_cin[k]) * sizeof(T)], 0, sizeof(T));
    }
    const uint32_t o_end = std::min(r.cout, (g + 1) * r.n);
    for (uint32_t o = g * r.n; o < o_end; ++o) {
      for (size_t t = 0; t < taps; ++t) {
        const T* row = w + (size_t(o) * taps + t) * r.cin;
        if (!AnyUnderMask(reinterpret_cast<const unsigned char*>(row), mask.data(), mask.size())) continue;
        for (uint32_t c = 0; c < r.cin; ++c) {
          if (!AnyUnderMask(reinterpret_cast<const unsigned char*>(row + c), &mask[size_t(c) * sizeof(T)], sizeof(T))) {
            continue;
          }
          char buf[160];
          std::snprintf(buf, sizeof(buf),
                        "metadata lies: weight [%u, %zu, %zu, %u] = %g is in a pruned block but not zero", o,
                        t / r.kw, t % r.kw, c, double(row[c]));
          return buf;
        }
      }
    }
  }
  return "";
}

// The node's tensors: an activation input and output, a weight, an optional bias.
std::string CheckConvTensors(const TfLiteContext* context, int node_index, const TfLiteNode* node, int builtin_code,
                             NodePlan* p) {
  const TfLiteIntArray* in = node->inputs;
  const TfLiteIntArray* out = node->outputs;
  if (in == nullptr || in->size < 2 || in->size > 3 || out == nullptr || out->size != 1) {
    return "unexpected number of inputs/outputs";
  }
  p->node = node_index;
  p->builtin_code = builtin_code;
  p->input = in->data[0];
  p->weights = in->data[1];
  p->bias = in->size == 3 ? in->data[2] : kTfLiteOptionalTensor;
  p->output = out->data[0];
  const TfLiteType type = p->int8 ? kTfLiteInt8 : kTfLiteFloat32;
  std::string err;
  if (!(err = CheckActivation(TensorAt(context, p->input), "input", type)).empty()) return err;
  return CheckActivation(TensorAt(context, p->output), "output", type);
}

// Bias, parameters, activation and shapes, for the weight geometry (cout, kh, kw, cin) in p.
std::string CheckConvParams(const TfLiteContext* context, const TfLiteNode* node, NodePlan* p) {
  std::string err;
  if (p->builtin_code == kTfLiteBuiltinConv2d && p->bias == kTfLiteOptionalTensor) {
    return "CONV_2D without a bias input (the stock CONV_2D kernel rejects it too)";
  }
  if (p->bias != kTfLiteOptionalTensor) {
    const TfLiteTensor* b = TensorAt(context, p->bias);
    if (!(err = CheckConstant(b, "bias", p->int8 ? kTfLiteInt32 : kTfLiteFloat32)).empty()) return err;
    if (b->bytes != size_t(p->cout) * 4) return "bias size != cout";  // float32 or int32
  }
  if (node->builtin_data == nullptr) return "node has no parameters";
  if (p->builtin_code == kTfLiteBuiltinConv2d) {
    const auto* params = static_cast<const TfLiteConvParams*>(node->builtin_data);
    if (params->padding != kTfLitePaddingSame && params->padding != kTfLitePaddingValid) {
      return "unknown padding";
    }
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
  } else {
    const auto* params = static_cast<const TfLiteFullyConnectedParams*>(node->builtin_data);
    if (params->weights_format != kTfLiteFullyConnectedWeightsFormatDefault) {
      return "shuffled FULLY_CONNECTED weights format";
    }
    p->keep_num_dims = params->keep_num_dims;
    p->activation = params->activation;
  }
  float lo, hi;
  if (!ActivationRange(p->activation, &lo, &hi)) {
    return "fused activation " + Str(p->activation) + " is not NONE, RELU, RELU6 or RELU_N1_TO_1";
  }
  // Shapes as they are now: static and consistent with the filter. The output shape is recomputed in
  // the kernel's Prepare, after the runtime propagated any input resize.
  if (p->builtin_code == kTfLiteBuiltinFullyConnected && ShapeSetAtRunTime(context->tensors[p->input])) {
    p->shape_at_run_time = true;
    return "";
  }
  Geometry geometry;
  if (!(err = ComputeGeometry(*p, context->tensors[p->input].dims, &geometry)).empty()) return err;
  const TfLiteIntArray* od = context->tensors[p->output].dims;
  if (od == nullptr || od->size < 1 || od->data[od->size - 1] != p->cout) {
    return "output channels do not match the weight's cout";
  }
  return "";
}

}  // namespace

const char* BuiltinOpName(int code) {
  switch (code) {
    case kTfLiteBuiltinAdd: return "ADD";
    case kTfLiteBuiltinAveragePool2d: return "AVERAGE_POOL_2D";
    case kTfLiteBuiltinConcatenation: return "CONCATENATION";
    case kTfLiteBuiltinConv2d: return "CONV_2D";
    case kTfLiteBuiltinDepthwiseConv2d: return "DEPTHWISE_CONV_2D";
    case kTfLiteBuiltinFullyConnected: return "FULLY_CONNECTED";
    case kTfLiteBuiltinMaxPool2d: return "MAX_POOL_2D";
    case kTfLiteBuiltinReshape: return "RESHAPE";
    case kTfLiteBuiltinSoftmax: return "SOFTMAX";
    case kTfLiteBuiltinPad: return "PAD";
    case kTfLiteBuiltinMean: return "MEAN";
    case kTfLiteBuiltinDelegate: return "DELEGATE";
    case kTfLiteBuiltinPadv2: return "PADV2";
    case kTfLiteBuiltinDensify: return "DENSIFY";
    default: return nullptr;
  }
}

GraphIndex BuildGraphIndex(TfLiteContext* context, const std::vector<int>& execution_plan) {
  GraphIndex graph;
  for (int index : execution_plan) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, index, &node, &reg) != kTfLiteOk) continue;
    for (int i = 0; node->inputs != nullptr && i < node->inputs->size; ++i) {
      if (node->inputs->data[i] >= 0) graph[node->inputs->data[i]].consumers++;
    }
    for (int i = 0; node->outputs != nullptr && i < node->outputs->size; ++i) {
      TensorUse& use = graph[node->outputs->data[i]];
      use.producer = index;
      use.producer_code = reg->builtin_code;
      use.producer_input = node->inputs != nullptr && node->inputs->size > 0 ? node->inputs->data[0] : -1;
    }
  }
  return graph;
}

std::string CheckNode(const TfLiteContext* context, const GraphIndex& graph, int node_index,
                      const TfLiteNode* node, int builtin_code, const BlockRecord& r, NodePlan* plan) {
  if (!r.unusable.empty()) return r.unusable;
  if (uint32_t(builtin_code) != r.builtin_op) {
    return "metadata says builtin op " + Str(r.builtin_op) + " but node " + Str(node_index) + " is op " +
           Str(builtin_code);
  }
  NodePlan p;
  p.int8 = r.weight_type == kWeightInt8;
  std::string err = CheckConvTensors(context, node_index, node, builtin_code, &p);
  if (!err.empty()) return err;
  if (p.weights < 0 || uint32_t(p.weights) != r.weight_tensor) {
    return "metadata weight tensor " + Str(r.weight_tensor) + " is not the node's input 1 (tensor " +
           Str(p.weights) + ")";
  }
  const TfLiteTensor* w = TensorAt(context, p.weights);
  p.n = int(r.n);
  p.cout = int(r.cout);
  p.kh = int(r.kh);
  p.kw = int(r.kw);
  p.cin = int(r.cin);
  p.group_ptr = r.group_ptr;
  p.kept_cin = r.kept_cin;
  if (r.encoding == kEncodingDense) {
    err = CheckConstant(w, "weight", p.int8 ? kTfLiteInt8 : kTfLiteFloat32);
  } else {
    err = CheckCompactWeight(context, graph, w, r, builtin_code, &p);
  }
  if (!err.empty()) return err;
  if (!(err = CheckWeightShape(w, r, builtin_code, p.int8 ? 1 : sizeof(float))).empty()) return err;
  if (!(err = CheckConvParams(context, node, &p)).empty()) return err;
  if (p.int8 && !(err = CheckQuantization(context, &p)).empty()) return err;

  std::vector<float> scratch;
  const void* weights = p.int8 ? static_cast<const void*>(w->data.raw_const) : PlanWeights(context, p, &scratch);
  const uint32_t crc = Crc32(weights, w->bytes);
  if (crc != r.weight_crc32) {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "weight CRC-32 mismatch (metadata %08" PRIx32 ", model %08" PRIx32 ")",
                  r.weight_crc32, crc);
    return buf;
  }
  err = p.int8 ? CheckPrunedBlocksAreZero(static_cast<const int8_t*>(weights), r)
               : CheckPrunedBlocksAreZero(static_cast<const float*>(weights), r);
  if (!err.empty()) return err;
  *plan = std::move(p);
  return "";
}

std::string CheckDenseNode(const TfLiteContext* context, int node_index, const TfLiteNode* node, int builtin_code,
                           int n, NodePlan* plan) {
  NodePlan p;
  // int8 activations (full integer quantization): an int8 layer on onexn_qconv with every block kept.
  const TfLiteTensor* input = node->inputs != nullptr && node->inputs->size > 0 ? TensorAt(context, node->inputs->data[0])
                                                                               : nullptr;
  p.int8 = input != nullptr && input->type == kTfLiteInt8;
  std::string err = CheckConvTensors(context, node_index, node, builtin_code, &p);
  if (!err.empty()) return err;
  const TfLiteTensor* w = TensorAt(context, p.weights);
  if (!(err = CheckConstant(w, "weight", p.int8 ? kTfLiteInt8 : kTfLiteFloat32)).empty()) return err;
  const TfLiteIntArray* d = w->dims;
  const int rank = builtin_code == kTfLiteBuiltinConv2d ? 4 : 2;
  if (d == nullptr || d->size != rank) {
    return std::string("weight is not ") + (rank == 4 ? "[cout, kh, kw, cin]" : "[cout, cin]");
  }
  for (int i = 0; i < rank; ++i) {
    if (d->data[i] < 1) return "weight has an empty dimension";
  }
  p.cout = d->data[0];
  p.kh = rank == 4 ? d->data[1] : 1;
  p.kw = rank == 4 ? d->data[2] : 1;
  p.cin = d->data[rank - 1];
  if (w->bytes != uint64_t(p.cout) * p.kh * p.kw * p.cin * (p.int8 ? 1 : sizeof(float))) {
    return "weight byte size does not match its shape";
  }
  if (!(err = CheckConvParams(context, node, &p)).empty()) return err;
  if (p.int8 && !(err = CheckQuantization(context, &p)).empty()) return err;
  // Every block kept: group g holds all cin input channels.
  p.n = n;
  const int groups = (p.cout + n - 1) / n;
  p.group_ptr.resize(size_t(groups) + 1);
  p.kept_cin.resize(size_t(groups) * p.cin);
  for (int g = 0; g <= groups; ++g) p.group_ptr[g] = uint32_t(g) * uint32_t(p.cin);
  for (size_t k = 0; k < p.kept_cin.size(); ++k) p.kept_cin[k] = uint32_t(k % size_t(p.cin));
  *plan = std::move(p);
  return "";
}

}  // namespace onexn
