// State of one onexn delegate instance: options, thread pool, the verified nodes waiting for their
// partition's kernel, and the report.
#ifndef ONEXN_DELEGATE_DELEGATE_STATE_H_
#define ONEXN_DELEGATE_DELEGATE_STATE_H_

#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"
#include "options.h"
#include "partition_steps.h"
#include "report.h"

namespace onexn {

// (graph, node index): nodes are numbered per subgraph, and one delegate may prepare several graphs.
using GraphNode = std::pair<const TfLiteContext*, int>;

struct DelegateState {
  TfLiteDelegate delegate{};  // first member: the runtime's TfLiteDelegate* is this object's address
  DelegateOptions options;
  onexn_threadpool* pool = nullptr;
  int num_threads = 1;
  std::vector<GraphReport> graphs;  // in the order the runtime prepared the subgraphs
  // Verified nodes, packed for the shapes seen at delegate Prepare time, until their partition's init
  // takes them.
  std::map<GraphNode, StepKernel> pending;
  std::map<GraphNode, int> pending_densify;  // DENSIFY node -> its 1xN node, replaced together
  int live_kernels = 0;  // kernel nodes not yet freed
  // The plugin handle plus one per live kernel node. Python may finalize a delegate before the interpreter
  // that uses it (both in one garbage cycle): the state then lives until the last kernel node is freed.
  std::atomic<int> refs{1};
  std::string report_json;  // storage behind onexn_delegate_report_json()

  ~DelegateState();

  GraphReport* ReportFor(const TfLiteContext* context);
};

// Drops one reference (the plugin handle's or a kernel node's); the last one frees the state.
void ReleaseState(DelegateState* state);

// A fresh report for this graph; `ordinal` is its place among the graphs this delegate prepared.
GraphReport& BeginGraphReport(DelegateState* state, const TfLiteContext* context, int* ordinal);

// Sizes the thread pool: the num_threads option, else the interpreter's count.
void ResolveThreads(DelegateState* state, const TfLiteContext* context);

// Frees what this graph's partitions did not take (only after a failed replacement).
void ReleasePending(DelegateState* state, const TfLiteContext* context);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_DELEGATE_STATE_H_
