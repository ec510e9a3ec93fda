// The operators the delegate runs between its 1xN nodes so that a network becomes one partition
// instead of dozens: DEPTHWISE_CONV_2D (depth multiplier 1), same-shape ADD and MEAN over height and
// width (global average pooling), float32 only.
// Each hand-off between the delegate and the stock runtime costs a thread wake-up and cold caches on
// both sides; on MobileNetV2 the 1xN nodes alone cut the graph into ~30 XNNPACK partitions.
#ifndef ONEXN_DELEGATE_GLUE_OPS_H_
#define ONEXN_DELEGATE_GLUE_OPS_H_

#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"

namespace onexn {

struct GluePlan {
  int node = -1;
  int builtin_code = 0;  // kTfLiteBuiltinDepthwiseConv2d, kTfLiteBuiltinAdd or kTfLiteBuiltinMean
  std::vector<int> inputs;  // activation tensors: 1 (depthwise) or 2 (add)
  int output = -1;
  TfLiteFusedActivation activation = kTfLiteActNone;
  // DEPTHWISE_CONV_2D
  int weights = -1, bias = -1;
  int kh = 1, kw = 1, channels = 0;
  TfLitePadding padding = kTfLitePaddingValid;
  int stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  // MEAN
  bool keep_dims = false;
};

bool IsGlueOp(int builtin_code);

// Output dims of a MEAN over axes 1 and 2 of a 4-D input.
std::vector<int> MeanOutputDims(const std::vector<int>& input_dims, bool keep_dims);

// "" and a filled plan when the node can run on the onexn kernels exactly as the stock runtime would run
// it; otherwise the reason it stays with the stock runtime.
std::string CheckGlueNode(const TfLiteContext* context, int node_index, const TfLiteNode* node, int builtin_code,
                          GluePlan* plan);

// The kernel library's depthwise shape and the output dims for the given input dims.
std::string DepthwiseGeometry(const GluePlan& plan, const std::vector<int>& input_dims, onexn_dwconv_shape* shape,
                              std::vector<int>* output_dims);

bool SameDwShape(const onexn_dwconv_shape& a, const onexn_dwconv_shape& b);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_GLUE_OPS_H_
