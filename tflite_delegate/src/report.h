// What the delegate decided for each graph it prepared, and the JSON report built from it.
#ifndef ONEXN_DELEGATE_REPORT_H_
#define ONEXN_DELEGATE_REPORT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"

namespace onexn {

struct Declined {
  int node;
  std::string op;
  std::string reason;
};

// What one Prepare call (one subgraph's TfLiteContext) decided.
struct GraphReport {
  const TfLiteContext* context = nullptr;
  std::string metadata;  // "ok", "absent", or why the entry was rejected
  int64_t subgraph = 0;  // the metadata subgraph whose records this graph used (graph_records.h)
  std::vector<int> claimed;                 // 1xN nodes: a verified record
  std::vector<int> dense;                   // CONV_2D / FULLY_CONNECTED nodes without a record, run dense
  std::vector<int> glue;                    // the other operators run next to them (glue_ops.h)
  std::map<int, std::string> kernel_names;  // node -> microkernel chosen for its current shapes
  std::map<int, std::string> op_names;      // dense or glue node -> its operator
  std::map<int, int> densify_nodes;         // claimed node -> the DENSIFY node its kernel replaced too
  std::map<int, std::string> every_block;   // claimed node that runs every block -> why (option dense)
  std::map<int, onexn_conv_choice> estimates;  // claimed node -> the cost model's (one thread) choice
  int partitions = 0;                       // delegate kernels (partitions) the claimed nodes formed
  std::map<int, std::vector<int>> fused;    // first node of a fused depthwise block -> all its nodes
  std::map<int, std::vector<int>> residual;  // CONV_2D node -> it and the ADD run with it (residual_fusion.h)
  std::map<int, int> folded_pads;     // PAD node -> the CONV_2D / MAX_POOL_2D whose padding it became (pad_fusion.h)
  std::map<int, int> channel_slices;  // first node of a fused block cut by channels -> slices (channel_split.h)
  std::map<int, std::vector<int>> chains;  // first node of a chain of blocks -> each block's first node (block_chain.h)
  std::vector<Declined> declined;
#ifdef ONEXN_TESTING
  std::string probe_json;  // abi_probe only: what was read through the ABI (testing/abi_probe.h)
#endif
};

struct DelegateState;

// The report as JSON: the main graph first, then any other graph the runtime offered.
std::string BuildReportJson(const DelegateState& state);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_REPORT_H_
