// The operators the delegate runs between its 1xN nodes so that a network becomes one partition instead of
// dozens: DEPTHWISE_CONV_2D (depth multiplier 1), same-shape ADD, MEAN over height and width (global
// average pooling), MAX_POOL_2D, AVERAGE_POOL_2D, PAD / PADV2 with zeros, CONCATENATION, RESHAPE and
// SOFTMAX over the last axis on float32 activations; DEPTHWISE_CONV_2D, ADD, MEAN, RESHAPE, PAD and MAX_POOL_2D
// on int8 ones (TFLite's full integer quantization, computed as XNNPACK computes them).
// Each hand-off between the delegate and the stock runtime costs a thread wake-up and cold caches on
// both sides; on MobileNetV2 the 1xN nodes alone cut the graph into ~30 XNNPACK partitions.
#ifndef ONEXN_DELEGATE_GLUE_OPS_H_
#define ONEXN_DELEGATE_GLUE_OPS_H_

#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"

namespace onexn {

using Dims = std::vector<int>;

struct GluePlan {
  int node = -1;
  int builtin_code = 0;
  std::vector<int> inputs;  // activation tensors: 2 for ADD, 1 or more for CONCATENATION, else 1
  int output = -1;
  TfLiteFusedActivation activation = kTfLiteActNone;
  // DEPTHWISE_CONV_2D; the window of MAX_POOL_2D / AVERAGE_POOL_2D (kh, kw, padding, strides)
  int weights = -1, bias = -1;
  int kh = 1, kw = 1, channels = 0;
  TfLitePadding padding = kTfLitePaddingValid;
  int stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  // MEAN
  bool keep_dims = false;
  // PAD / PADV2: zeros before and after each dimension
  std::vector<int> pad_before, pad_after;
  // CONCATENATION: the axis, in [0, rank)
  int axis = 0;
  // RESHAPE: the new shape; at most one -1, resolved from the input's size
  Dims new_shape;
  // SOFTMAX
  float beta = 1.0f;
  // int8 activations: each input's and the output's scale and zero point; DEPTHWISE_CONV_2D's weight scales
  bool int8 = false;
  std::vector<float> input_scales;
  std::vector<int> input_zero_points;
  float output_scale = 0;
  int output_zero_point = 0;
  std::vector<float> weight_scales;
};

bool IsGlueOp(int builtin_code);

// "" and a filled plan when the node can run on the onexn kernels exactly as the stock runtime would run
// it; otherwise the reason it stays with the stock runtime.
std::string CheckGlueNode(const TfLiteContext* context, int node_index, const TfLiteNode* node, int builtin_code,
                          GluePlan* plan);

// The output dims of a glue node for the dims of its activation inputs (one entry per plan.inputs); "" or
// why those inputs do not fit the node (after a resize).
std::string GlueOutputDims(const GluePlan& plan, const std::vector<Dims>& inputs, Dims* output);

// The kernel library's depthwise shape and the output dims for the given input dims.
std::string DepthwiseGeometry(const GluePlan& plan, const Dims& input_dims, onexn_dwconv_shape* shape,
                              Dims* output_dims);

bool SameDwShape(const onexn_dwconv_shape& a, const onexn_dwconv_shape& b);

// The kernel library's pooling shape and the output dims for the given input dims.
std::string PoolGeometry(const GluePlan& plan, const Dims& input_dims, onexn_pool_shape* shape, Dims* output_dims);

bool SamePoolShape(const onexn_pool_shape& a, const onexn_pool_shape& b);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_GLUE_OPS_H_
