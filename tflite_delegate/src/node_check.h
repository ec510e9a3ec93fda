// Checks a CONV_2D / FULLY_CONNECTED node for the onexn kernels: against its metadata record before the
// delegate trusts the record, or as a dense layer (every block kept) when it has none.
#ifndef ONEXN_DELEGATE_NODE_CHECK_H_
#define ONEXN_DELEGATE_NODE_CHECK_H_

#include <map>
#include <string>
#include <vector>

#include "metadata_reader.h"
#include "node_plan.h"
#include "onexn_tflite_abi.h"

namespace onexn {

// Who produces and who reads each tensor of the execution plan.
struct TensorUse {
  int producer = -1;  // node index, -1 for graph inputs and constants
  int producer_code = -1;
  int producer_input = -1;  // the producer's input 0 (a DENSIFY's sparse constant)
  int consumers = 0;
};
using GraphIndex = std::map<int, TensorUse>;

GraphIndex BuildGraphIndex(TfLiteContext* context, const std::vector<int>& execution_plan);

// Returns "" and fills `plan` when the node can run on the 1xN kernels exactly as the stock runtime
// would run it; otherwise the reason it must be left to the stock runtime. Reads weights (CRC and the
// zero check), so it costs one pass over them.
std::string CheckNode(const TfLiteContext* context, const GraphIndex& graph, int node_index,
                      const TfLiteNode* node, int builtin_code, const BlockRecord& record, NodePlan* plan);

// Returns "" and fills `plan` when the node, which has no record, can run on the 1xN kernels as a dense
// layer: every block of width n kept (onexn_dense_block_width). Its weight must be a dense float32
// constant, or an int8 one (per-channel symmetric) on int8 activations; otherwise the reason it stays with
// the stock runtime.
std::string CheckDenseNode(const TfLiteContext* context, int node_index, const TfLiteNode* node, int builtin_code,
                           int n, NodePlan* plan);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_NODE_CHECK_H_
