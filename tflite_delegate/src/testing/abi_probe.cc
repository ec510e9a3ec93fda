#include "testing/abi_probe.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "crc32.h"
#include "json_writer.h"
#include "metadata_reader.h"

namespace onexn {
namespace {

std::vector<int> ExecutionPlan(TfLiteContext* context) {
  TfLiteIntArray* plan = nullptr;
  if (context->GetExecutionPlan(context, &plan) != kTfLiteOk || plan == nullptr) return {};
  return std::vector<int>(plan->data, plan->data + plan->size);
}

void WriteDims(JsonWriter& j, const TfLiteIntArray* dims) {
  if (dims == nullptr) {
    j.Raw("null");
  } else {
    j.Ints(dims->data, dims->size);
  }
}

void WriteTensor(JsonWriter& j, const TfLiteTensor& t) {
  j.BeginObject();
  j.Key("name").NullableString(t.name);
  j.Key("type").Int(t.type);
  j.Key("dims");
  WriteDims(j, t.dims);
  j.Key("dims_signature");
  WriteDims(j, t.dims_signature);
  j.Key("allocation_type").Int(t.allocation_type);
  j.Key("bytes").Int(int64_t(t.bytes));
  j.Key("is_variable").Bool(t.is_variable);
  j.Key("has_sparsity").Bool(t.sparsity != nullptr);
  if (t.allocation_type == kTfLiteMmapRo && t.data.raw != nullptr) {
    j.Key("crc32").Int(Crc32(t.data.raw_const, t.bytes));
  }
  if (t.quantization.type == kTfLiteAffineQuantization && t.quantization.params != nullptr) {
    const auto& q = *static_cast<const TfLiteAffineQuantization*>(t.quantization.params);
    j.Key("quantization").BeginObject().Key("scale_bits").BeginArray();  // exact: the floats' bit patterns
    for (int i = 0; q.scale != nullptr && i < q.scale->size; ++i) {
      uint32_t bits;
      std::memcpy(&bits, &q.scale->data[i], sizeof(bits));
      j.Int(bits);
    }
    j.EndArray().Key("zero_point");
    WriteDims(j, q.zero_point);
    j.Key("quantized_dimension").Int(q.quantized_dimension).EndObject();
  }
  if (t.sparsity != nullptr) {
    const TfLiteSparsity& sp = *t.sparsity;
    j.Key("sparsity").BeginObject();
    j.Key("traversal_order");
    WriteDims(j, sp.traversal_order);
    j.Key("block_map");
    WriteDims(j, sp.block_map);
    j.Key("dim_metadata").BeginArray();
    for (int d = 0; d < sp.dim_metadata_size; ++d) {
      const TfLiteDimensionMetadata& m = sp.dim_metadata[d];
      j.BeginObject().Key("format").Int(m.format).Key("dense_size").Int(m.dense_size);
      j.Key("segments");
      WriteDims(j, m.array_segments);
      j.Key("indices");
      WriteDims(j, m.array_indices);
      j.EndObject();
    }
    j.EndArray().EndObject();
  }
  j.EndObject();
}

void WriteParams(JsonWriter& j, int code, const void* data) {
  if (data == nullptr) return;
  if (code == kTfLiteBuiltinConv2d) {
    const auto* p = static_cast<const TfLiteConvParams*>(data);
    j.Key("conv").BeginObject();
    j.Key("padding").Int(p->padding).Key("stride_width").Int(p->stride_width);
    j.Key("stride_height").Int(p->stride_height).Key("activation").Int(p->activation);
    j.Key("dilation_width_factor").Int(p->dilation_width_factor);
    j.Key("dilation_height_factor").Int(p->dilation_height_factor);
    j.EndObject();
  } else if (code == kTfLiteBuiltinFullyConnected) {
    const auto* p = static_cast<const TfLiteFullyConnectedParams*>(data);
    j.Key("fully_connected").BeginObject();
    j.Key("activation").Int(p->activation).Key("weights_format").Int(p->weights_format);
    j.Key("keep_num_dims").Bool(p->keep_num_dims);
    j.Key("asymmetric_quantize_inputs").Bool(p->asymmetric_quantize_inputs);
    j.EndObject();
  } else if (code == kTfLiteBuiltinDepthwiseConv2d) {
    const auto* p = static_cast<const TfLiteDepthwiseConvParams*>(data);
    j.Key("depthwise").BeginObject();
    j.Key("padding").Int(p->padding).Key("stride_width").Int(p->stride_width);
    j.Key("stride_height").Int(p->stride_height).Key("depth_multiplier").Int(p->depth_multiplier);
    j.Key("activation").Int(p->activation);
    j.Key("dilation_width_factor").Int(p->dilation_width_factor);
    j.Key("dilation_height_factor").Int(p->dilation_height_factor);
    j.EndObject();
  } else if (code == kTfLiteBuiltinAdd) {
    const auto* p = static_cast<const TfLiteAddParams*>(data);
    j.Key("add").BeginObject().Key("activation").Int(p->activation).EndObject();
  } else if (code == kTfLiteBuiltinMaxPool2d || code == kTfLiteBuiltinAveragePool2d) {
    const auto* p = static_cast<const TfLitePoolParams*>(data);
    j.Key("pool").BeginObject();
    j.Key("padding").Int(p->padding).Key("stride_width").Int(p->stride_width);
    j.Key("stride_height").Int(p->stride_height).Key("filter_width").Int(p->filter_width);
    j.Key("filter_height").Int(p->filter_height).Key("activation").Int(p->activation);
    j.EndObject();
  } else if (code == kTfLiteBuiltinSoftmax) {
    uint32_t bits;  // the float's bits: exact in JSON
    std::memcpy(&bits, &static_cast<const TfLiteSoftmaxParams*>(data)->beta, sizeof(bits));
    j.Key("softmax").BeginObject().Key("beta_bits").Int(bits).EndObject();
  } else if (code == kTfLiteBuiltinConcatenation) {
    const auto* p = static_cast<const TfLiteConcatenationParams*>(data);
    j.Key("concatenation").BeginObject().Key("axis").Int(p->axis).Key("activation").Int(p->activation).EndObject();
  } else if (code == kTfLiteBuiltinReshape) {
    const auto* p = static_cast<const TfLiteReshapeParams*>(data);
    const int count = std::min(std::max(p->num_dimensions, 0), TFLITE_RESHAPE_PARAMS_MAX_DIMENSION_COUNT);
    j.Key("reshape").BeginObject().Key("num_dimensions").Int(p->num_dimensions);
    j.Key("shape").Ints(p->shape, count).EndObject();
  }
}

}  // namespace

std::string ProbeGraph(TfLiteContext* context) {
  JsonWriter j;
  j.BeginObject();
  j.Key("sizeof").BeginObject();
  j.Key("TfLiteTensor").Int(sizeof(TfLiteTensor)).Key("TfLiteNode").Int(sizeof(TfLiteNode));
  j.Key("TfLiteRegistration").Int(sizeof(TfLiteRegistration));
  j.Key("TfLiteDelegate").Int(sizeof(TfLiteDelegate));
  j.EndObject();
  j.Key("tensors_size").Int(int64_t(context->tensors_size));
  j.Key("recommended_num_threads").Int(context->recommended_num_threads);
  const std::vector<int> plan = ExecutionPlan(context);
  j.Key("execution_plan").Ints(plan);

  j.Key("tensors").BeginArray();
  for (size_t i = 0; i < context->tensors_size; ++i) WriteTensor(j, context->tensors[i]);
  j.EndArray();

  // Node i and its registration live in the runtime's vector<pair<TfLiteNode, TfLiteRegistration>>:
  // the distance node->registration is the runtime's sizeof(TfLiteNode) and the distance between
  // consecutive nodes is sizeof(TfLiteNode) + sizeof(TfLiteRegistration).
  j.Key("nodes").BeginArray();
  const char* prev_node = nullptr;
  int prev_index = -2;
  for (int index : plan) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, index, &node, &reg) != kTfLiteOk) continue;
    j.BeginObject();
    j.Key("index").Int(index);
    j.Key("builtin_code").Int(reg->builtin_code);
    j.Key("version").Int(reg->version);
    j.Key("custom_name").NullableString(reg->custom_name);
    j.Key("invoke_set").Bool(reg->invoke != nullptr);
    j.Key("inplace_operator").Int(int64_t(reg->inplace_operator));
    j.Key("inputs").Ints(node->inputs->data, node->inputs->size);
    j.Key("outputs").Ints(node->outputs->data, node->outputs->size);
    j.Key("delegate_is_null").Bool(node->delegate == nullptr);
    j.Key("registration_minus_node").Int(reinterpret_cast<const char*>(reg) -
                                         reinterpret_cast<const char*>(node));
    if (prev_index == index - 1) {
      j.Key("node_stride").Int(reinterpret_cast<const char*>(node) - prev_node);
    }
    prev_node = reinterpret_cast<const char*>(node);
    prev_index = index;
    WriteParams(j, reg->builtin_code, node->builtin_data);
    j.EndObject();
  }
  j.EndArray();

  const char* md = nullptr;
  size_t md_bytes = 0;
  const bool found = context->GetModelMetadata(context, kMetadataName, &md, &md_bytes) == kTfLiteOk;
  j.Key("metadata").BeginObject().Key("found").Bool(found);
  if (found) j.Key("bytes").Int(int64_t(md_bytes)).Key("crc32").Int(Crc32(md, md_bytes));
  j.EndObject();
  j.EndObject();
  return j.str();
}

std::string ProbeDelegateNodes(TfLiteContext* context, TfLiteDelegate* delegate,
                               const TfLiteRegistration& passed) {
  JsonWriter j;
  j.BeginObject();
  const std::vector<int> plan = ExecutionPlan(context);
  j.Key("execution_plan").Ints(plan);
  j.Key("delegate_nodes").BeginArray();
  for (int index : plan) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, index, &node, &reg) != kTfLiteOk) continue;
    if (node->delegate != delegate) continue;
    const auto* params = static_cast<const TfLiteDelegateParams*>(node->builtin_data);
    j.BeginObject();
    j.Key("index").Int(index);
    j.Key("builtin_code").Int(reg->builtin_code);
    j.Key("custom_name_same").Bool(reg->custom_name == passed.custom_name);
    j.Key("version").Int(reg->version);
    j.Key("init_same").Bool(reg->init == passed.init);
    j.Key("free_same").Bool(reg->free == passed.free);
    j.Key("prepare_same").Bool(reg->prepare == passed.prepare);
    j.Key("invoke_same").Bool(reg->invoke == passed.invoke);
    j.Key("profiling_string_same").Bool(reg->profiling_string == passed.profiling_string);
    j.Key("registration_external_null").Bool(reg->registration_external == nullptr);
    j.Key("async_kernel_null").Bool(reg->async_kernel == nullptr);
    j.Key("inplace_operator").Int(int64_t(reg->inplace_operator));
    j.Key("user_data_set").Bool(node->user_data != nullptr);
    j.Key("params_delegate_same").Bool(params != nullptr && params->delegate == delegate);
    if (params != nullptr) {
      j.Key("nodes_to_replace").Ints(params->nodes_to_replace->data, params->nodes_to_replace->size);
      j.Key("input_tensors").Ints(params->input_tensors->data, params->input_tensors->size);
      j.Key("output_tensors").Ints(params->output_tensors->data, params->output_tensors->size);
    }
    j.Key("node_inputs").Ints(node->inputs->data, node->inputs->size);
    j.Key("node_outputs").Ints(node->outputs->data, node->outputs->size);
    j.EndObject();
  }
  j.EndArray();
  j.EndObject();
  return j.str();
}

}  // namespace onexn
