// The int8 side of checking a CONV_2D / FULLY_CONNECTED node (TFLite's full integer quantization): the
// quantization of its tensors, as onexn_qconv takes it.
#ifndef ONEXN_DELEGATE_NODE_QUANT_H_
#define ONEXN_DELEGATE_NODE_QUANT_H_

#include <string>

#include "node_plan.h"
#include "onexn_tflite_abi.h"

namespace onexn {

// "" and the scales and zero points in `plan` when its input and output have one scale and an int8 zero
// point each and its weight is symmetric int8 (zero points 0) with one scale or one per output channel;
// otherwise the reason. Every scale must be a positive normal float.
std::string CheckQuantization(const TfLiteContext* context, NodePlan* plan);

// Do no harm for int8 (the delegate's dense=auto): "" when the int8 1xN kernels should beat XNNPACK's dense
// int8 kernels on this node, else why not. A rule from per-operator timings (onexn bench --per-op, Zen 4)
// rather than a cost model: the kernels' 16-pixel tiles waste most of their work on outputs of fewer than 16
// pixels (a classifier's FULLY_CONNECTED ran 3-9x slower than stock), and their 4-channel panels (N <= 4)
// ran 1.9-2.6x slower on MobileNetV2 N=4 50%.
std::string Int8SlowerThanStock(const TfLiteContext* context, const NodePlan& plan);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_NODE_QUANT_H_
