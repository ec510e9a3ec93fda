// What the delegate learned about one claimed node: its tensors, its TFLite parameters and the 1xN
// block index from the (verified) metadata record.
#ifndef ONEXN_DELEGATE_NODE_PLAN_H_
#define ONEXN_DELEGATE_NODE_PLAN_H_

#include <cstdint>
#include <vector>

#include "onexn_tflite_abi.h"

namespace onexn {

struct NodePlan {
  int node = -1;
  int builtin_code = 0;  // kTfLiteBuiltinConv2d or kTfLiteBuiltinFullyConnected
  int input = -1, weights = -1, bias = -1, output = -1;  // tensor indices; bias -1 when absent
  // CONV_2D
  TfLitePadding padding = kTfLitePaddingValid;
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  // FULLY_CONNECTED
  bool keep_num_dims = false;
  // The input's shape is set only while the graph runs (it comes from a RESHAPE whose shape a stock
  // SHAPE/PACK computes, as TensorFlow converts a Dense on a 3-D input with an unknown batch): the shape
  // check and the kernel wait for the partition's Prepare, which the runtime calls once the shape is known.
  bool shape_at_run_time = false;
  TfLiteFusedActivation activation = kTfLiteActNone;
  // Encoding 1 (docs/FORMAT.md): `weights` is the output of DENSIFY node `densify_node`, which reads the
  // block-sparse constant `sparse_weights`. Both -1 for dense weights (encoding 0).
  int densify_node = -1;
  int sparse_weights = -1;
  bool densify_feeds_only_this_node = false;
  // Weights (OHWI) and their 1xN block index.
  int n = 1, cout = 0, kh = 1, kw = 1, cin = 0;
  std::vector<uint32_t> group_ptr;
  std::vector<uint32_t> kept_cin;
  // int8 (a record of weight type int8, TFLite's full integer quantization): int8 activations and weights,
  // int32 bias; the activations' scale and zero point and the weight's scale per output channel.
  bool int8 = false;
  float input_scale = 0, output_scale = 0;
  int input_zero_point = 0, output_zero_point = 0;
  std::vector<float> weight_scales;  // cout (a per-tensor scale repeated)
};

const char* BuiltinOpName(int builtin_code);

// The node's dense float32 OHWI weights: the constant weight tensor itself (encoding 0), or the block-sparse
// constant densified into `scratch` (encoding 1). (int8 weights are always the constant itself.)
const float* PlanWeights(const TfLiteContext* context, const NodePlan& plan, std::vector<float>* scratch);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_NODE_PLAN_H_
