// State of one onexn delegate instance: options, thread pool, the nodes it claimed and why it declined
// others (the report).
#ifndef ONEXN_DELEGATE_DELEGATE_STATE_H_
#define ONEXN_DELEGATE_DELEGATE_STATE_H_

#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "glue_ops.h"
#include "node_plan.h"
#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"
#include "options.h"

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
  int64_t subgraph = 0;  // the metadata subgraph whose records this graph used (see MetadataSubgraph)
  std::vector<int> claimed;
  std::map<int, std::string> kernel_names;  // claimed node -> microkernel chosen for its current shapes
  std::map<int, int> densify_nodes;         // claimed node -> the DENSIFY node its kernel replaced too
  std::vector<int> glue;                    // DEPTHWISE_CONV_2D / ADD nodes run next to the 1xN nodes
  int partitions = 0;                       // delegate kernels (partitions) the claimed nodes formed
  std::map<int, std::vector<int>> fused;    // first node of a fused depthwise block -> all its nodes
  std::vector<Declined> declined;
  std::string probe_json;  // abi_probe=1 only: what was read through the ABI
};

// A verified node waiting for ReplaceNodeSubsetsWithDelegateKernels to call the kernel's init.
struct PendingKernel {
  NodePlan plan;
  onexn_conv* conv = nullptr;  // packed for the shapes seen at delegate Prepare time
  onexn_conv_shape shape{};
};

// A verified DEPTHWISE_CONV_2D / ADD waiting for its partition's init.
struct PendingGlue {
  GluePlan plan;
  onexn_dwconv* dw = nullptr;  // depthwise only, packed for `shape`
  onexn_dwconv_shape shape{};
};

struct DelegateState {
  TfLiteDelegate delegate{};  // first member: the runtime's TfLiteDelegate* is this object's address
  DelegateOptions options;
  onexn_threadpool* pool = nullptr;
  int num_threads = 1;
  std::vector<GraphReport> graphs;  // in the order the runtime prepared the subgraphs
  std::map<std::pair<const TfLiteContext*, int>, PendingKernel> pending;
  std::map<std::pair<const TfLiteContext*, int>, PendingGlue> pending_glue;
  std::map<std::pair<const TfLiteContext*, int>, int> pending_densify;  // DENSIFY node -> its 1xN node
  int live_kernels = 0;  // kernel nodes not yet freed
  // The plugin handle plus one per live kernel node. Python may finalize a delegate before the interpreter
  // that uses it (both in one garbage cycle): the state then lives until the last kernel node is freed.
  std::atomic<int> refs{1};
  std::string report_json;  // storage behind onexn_delegate_report_json()

  GraphReport* ReportFor(const TfLiteContext* context) {
    for (GraphReport& g : graphs) {
      if (g.context == context) return &g;
    }
    return nullptr;
  }
};

// Drops one reference (the plugin handle's or a kernel node's); the last one frees the state (delegate.cc).
void ReleaseState(DelegateState* state);

// The delegate kernel that runs one partition of claimed nodes (partition_kernel.cc).
TfLiteRegistration KernelRegistration();

// The report as JSON (report.cc).
std::string BuildReportJson(const DelegateState& state);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_DELEGATE_STATE_H_
