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

}  // namespace onexn

#endif  // ONEXN_DELEGATE_NODE_QUANT_H_
