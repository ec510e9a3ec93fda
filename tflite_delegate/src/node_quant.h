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

}  // namespace onexn

#endif  // ONEXN_DELEGATE_NODE_QUANT_H_
