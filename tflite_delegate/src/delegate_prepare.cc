#include "delegate_prepare.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "delegate_state.h"
#include "graph_records.h"
#include "node_claim.h"
#include "partition_kernel.h"
#include "partition_plan.h"

namespace onexn {
namespace {

// A node list as the runtime takes it: a TfLiteIntArray laid out as {count, node...}.
std::vector<int> IntArray(const std::vector<int>& nodes) {
  std::vector<int> array = {int(nodes.size())};
  array.insert(array.end(), nodes.begin(), nodes.end());
  return array;
}

const TfLiteIntArray* AsIntArray(const std::vector<int>& array) {
  return reinterpret_cast<const TfLiteIntArray*>(array.data());
}

std::vector<std::vector<int>> PreviewOnRuntime(TfLiteContext* context, const std::vector<int>& nodes) {
  std::vector<std::vector<int>> parts;
  TfLiteDelegateParams* params = nullptr;
  int count = 0;
  const std::vector<int> array = IntArray(nodes);
  if (context->PreviewDelegatePartitioning == nullptr ||
      context->PreviewDelegatePartitioning(context, AsIntArray(array), &params, &count) != kTfLiteOk ||
      params == nullptr) {
    return parts;
  }
  for (int i = 0; i < count; ++i) {
    const TfLiteIntArray* members = params[i].nodes_to_replace;
    parts.emplace_back();
    for (int k = 0; members != nullptr && k < members->size; ++k) parts.back().push_back(members->data[k]);
  }
  return parts;
}

void RecordClaims(const ClaimResult& claims, bool verbose, GraphReport* report) {
  report->claimed = claims.claimed;
  report->dense = claims.dense;
  report->glue = claims.glue;
  report->kernel_names = claims.kernel_names;
  report->op_names = claims.op_names;
  report->declined = claims.declined;
  if (!verbose) return;
  for (const Declined& d : claims.declined) {
    std::fprintf(stderr, "onexn: node %d %s declined: %s\n", d.node, d.op.c_str(), d.reason.c_str());
  }
}

void PrintClaimed(const GraphReport& report) {
  for (int node_index : report.claimed) std::fprintf(stderr, "onexn: node %d claimed\n", node_index);
  for (int node_index : report.dense) std::fprintf(stderr, "onexn: node %d claimed as a dense layer\n", node_index);
  for (int node_index : report.glue) std::fprintf(stderr, "onexn: node %d claimed as glue\n", node_index);
  std::fprintf(stderr, "onexn: %zu 1xN nodes, %zu dense nodes and %zu glue nodes claimed in %d partition(s)\n",
               report.claimed.size(), report.dense.size(), report.glue.size(), report.partitions);
}

}  // namespace

TfLiteStatus PrepareDelegate(TfLiteContext* context, TfLiteDelegate* delegate) {
  auto* state = static_cast<DelegateState*>(delegate->data_);
  int ordinal = 0;
  GraphReport& report = BeginGraphReport(state, context, &ordinal);
  ResolveThreads(state, context);

  TfLiteIntArray* plan_array = nullptr;
  if (context->GetExecutionPlan(context, &plan_array) != kTfLiteOk) return kTfLiteError;
  const std::vector<int> plan(plan_array->data, plan_array->data + plan_array->size);
  std::vector<int64_t> earlier_subgraphs;
  for (int i = 0; i < ordinal; ++i) earlier_subgraphs.push_back(state->graphs[i].subgraph);
  const GraphRecords records = ReadGraphRecords(context, plan, ordinal, earlier_subgraphs);
  report.metadata = records.status;
  report.subgraph = records.subgraph;

  ClaimResult claims;
  const TfLiteStatus claimed = ClaimNodes(context, plan, records, state->options, state->num_threads, &claims);
  RecordClaims(claims, state->options.verbose, &report);
  if (claimed != kTfLiteOk) return claimed;

  auto preview = [context](const std::vector<int>& nodes) { return PreviewOnRuntime(context, nodes); };
  std::vector<int> others = claims.dense;
  others.insert(others.end(), claims.glue.begin(), claims.glue.end());
  const PartitionPlan partitions = PlanPartitions(claims.claimed, others, claims.densify_candidates, preview);
  for (const auto& d : partitions.joined_densify) {
    state->pending_densify[{context, d.first}] = d.second;
    report.densify_nodes[d.second] = d.first;
  }
  for (auto& s : claims.steps) state->pending[{context, s.first}] = std::move(s.second);

  // The runtime's init of each partition takes its nodes' steps from `pending`.
  const TfLiteRegistration registration = KernelRegistration();
  TfLiteStatus status = kTfLiteOk;
  for (const std::vector<int>& nodes : partitions.calls) {
    report.partitions += int(std::max<size_t>(preview(nodes).size(), 1));
    status = context->ReplaceNodeSubsetsWithDelegateKernels(context, registration, AsIntArray(IntArray(nodes)),
                                                            delegate);
    if (status != kTfLiteOk) break;
  }
  if (state->options.verbose) PrintClaimed(report);
  ReleasePending(state, context);  // what no init took: only after a failed replacement
  return status;
}

}  // namespace onexn
