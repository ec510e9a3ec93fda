// The int8 side of checking a node (TFLite's full integer quantization): the quantization of its tensors, as
// onexn_qconv and the int8 glue operators take it.
#ifndef ONEXN_DELEGATE_NODE_QUANT_H_
#define ONEXN_DELEGATE_NODE_QUANT_H_

#include <string>
#include <vector>

#include "node_plan.h"
#include "onexn_tflite_abi.h"

namespace onexn {

// "" with the tensor's one scale and int8 zero point, or why it has not exactly one of each (`what` names it).
std::string PerTensorQuantization(const TfLiteTensor& t, const char* what, float* scale, int* zero_point);

// "" with `count` scales of a symmetric int8 weight (zero points 0) that has one scale or one per index of
// `dimension` (count of them); otherwise the reason.
std::string WeightScales(const TfLiteTensor& w, int count, int dimension, std::vector<float>* scales);

// "" and the scales and zero points in `plan` when its input and output have one scale and an int8 zero
// point each and its weight is symmetric int8 (zero points 0) with one scale or one per output channel;
// otherwise the reason. Every scale must be a positive normal float.
std::string CheckQuantization(const TfLiteContext* context, NodePlan* plan);

// Do no harm for int8 (the delegate's dense=auto): "" when the int8 1xN kernels should beat XNNPACK's dense
// int8 kernels on this node, else why not. A rule from per-operator timings (onexn bench --per-op, Zen 4)
// rather than a cost model: the kernels' 16-pixel tiles waste most of their work on outputs of fewer than 16
// pixels (a classifier's FULLY_CONNECTED ran 3-9x slower than stock), and their 4-channel panels (N <= 4)
// ran 1.9-2.6x slower on MobileNetV2 N=4 50% (AVX2 and baseline NEON run such blocks on 8-channel panels,
// wasting more: the same rule).
// On a CPU with AMX the node is also estimated against XNNPACK's dense int8 on the tiles; `estimate` (may be
// null) then gets both estimates for one image, in nanoseconds, whether the node is taken or not. `option` is
// the delegate option that takes the node anyway, for the reason's text.
struct Int8Estimate {
  double onexn_ns = -1.0, stock_ns = -1.0;  // -1: not estimated
};
std::string Int8SlowerThanStock(const TfLiteContext* context, const NodePlan& plan, Int8Estimate* estimate,
                                const char* option);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_NODE_QUANT_H_
