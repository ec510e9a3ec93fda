// Which nodes of a graph the delegate takes: every node a metadata record describes truthfully
// (node_check.h) and the onexn kernels accept; then, in a graph where it took such a node (or with
// glue=all), the CONV_2D / FULLY_CONNECTED nodes without a record as dense layers and the glue operators
// (glue_ops.h), so that the graph becomes one partition.
#ifndef ONEXN_DELEGATE_NODE_CLAIM_H_
#define ONEXN_DELEGATE_NODE_CLAIM_H_

#include <map>
#include <string>
#include <vector>

#include "graph_records.h"
#include "onexn_tflite_abi.h"
#include "options.h"
#include "partition_steps.h"
#include "report.h"

namespace onexn {

struct ClaimResult {
  std::vector<int> claimed;                  // 1xN CONV_2D / FULLY_CONNECTED nodes, in execution order
  std::vector<int> dense;                    // CONV_2D / FULLY_CONNECTED nodes without a record, run dense
  std::vector<int> glue;                     // glue nodes, in execution order
  std::map<int, StepKernel> steps;           // claimed, dense or glue node -> its verified, packed step
  std::map<int, std::string> kernel_names;   // claimed, dense or glue node -> its microkernel
  std::map<int, std::string> op_names;       // claimed, dense or glue node -> its operator ("MAX_POOL_2D")
  std::map<int, int> densify_candidates;     // DENSIFY node -> the claimed node that alone reads its output
  std::vector<Declined> declined;            // in the order decided
};

// Claims the nodes of the execution plan `plan` as `options` allow (glue, isa, dense), for a delegate that
// runs them on `threads` threads. Fails only when the runtime cannot give a node of its own plan.
TfLiteStatus ClaimNodes(TfLiteContext* context, const std::vector<int>& plan, const GraphRecords& records,
                        const DelegateOptions& options, int threads, ClaimResult* result);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_NODE_CLAIM_H_
