// The onexn TFLite external delegate: plugin entry points, options and graph partitioning.
//
// Prepare reads the onexn_1xn metadata entry, verifies each record against the real node and weights
// (node_check.cc) and hands every verified CONV_2D / FULLY_CONNECTED node to its own delegate kernel
// (kernel_node.cc). Everything else stays with the stock runtime, which applies XNNPACK afterwards.
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "abi_probe.h"
#include "conv_geometry.h"
#include "delegate_state.h"
#include "metadata_reader.h"
#include "node_check.h"
#include "onexn_kernels.h"
#include "onexn_tflite_abi.h"
#include "options.h"

#define ONEXN_EXPORT extern "C" __attribute__((visibility("default")))

namespace onexn {
namespace {

std::string OpName(int code) {
  const char* name = BuiltinOpName(code);
  return name != nullptr ? name : "BUILTIN_" + std::to_string(code);
}

GraphReport& ResetReport(DelegateState* state, const TfLiteContext* context, int* ordinal) {
  for (size_t i = 0; i < state->graphs.size(); ++i) {
    if (state->graphs[i].context == context) {
      state->graphs[i] = GraphReport();
      state->graphs[i].context = context;
      *ordinal = int(i);
      return state->graphs[i];
    }
  }
  // A new graph while no kernel of the earlier ones is alive: the delegate is being reused for another
  // interpreter, so the report starts over.
  if (state->live_kernels == 0) state->graphs.clear();
  state->graphs.emplace_back();
  state->graphs.back().context = context;
  *ordinal = int(state->graphs.size()) - 1;
  return state->graphs.back();
}

void ResolveThreads(DelegateState* state, const TfLiteContext* context) {
  int n = state->options.num_threads;
  if (n <= 0) n = context->recommended_num_threads > 0 ? context->recommended_num_threads : 1;
  if (n > kMaxThreads) n = kMaxThreads;
  if (state->pool != nullptr && n == state->num_threads) return;
  if (state->pool != nullptr) onexn_threadpool_destroy(state->pool);
  state->pool = n > 1 ? onexn_threadpool_create(n) : nullptr;
  state->num_threads = state->pool != nullptr ? onexn_threadpool_size(state->pool) : 1;
}

// True if the runtime would make one partition of the nodes in `nodes` ({count, node...}) whose only
// output is `output`. A compact weight's DENSIFY joins its node's partition only then, so that its dense
// output is never allocated; otherwise it stays with the stock runtime, which is correct too.
bool OnePartition(TfLiteContext* context, const int* nodes, int output) {
  if (context->PreviewDelegatePartitioning == nullptr) return false;
  TfLiteDelegateParams* partitions = nullptr;
  int count = 0;
  if (context->PreviewDelegatePartitioning(context, reinterpret_cast<const TfLiteIntArray*>(nodes),
                                           &partitions, &count) != kTfLiteOk ||
      count != 1 || partitions == nullptr) {
    return false;
  }
  const TfLiteDelegateParams& p = partitions[0];
  return p.nodes_to_replace != nullptr && p.nodes_to_replace->size == nodes[0] &&
         p.output_tensors != nullptr && p.output_tensors->size == 1 && p.output_tensors->data[0] == output;
}

// Reads and parses the metadata entry; records its status in the report.
Metadata ReadMetadata(TfLiteContext* context, GraphReport* report, bool* present) {
  const char* data = nullptr;
  size_t bytes = 0;
  *present = context->GetModelMetadata != nullptr &&
             context->GetModelMetadata(context, kMetadataName, &data, &bytes) == kTfLiteOk;
  if (!*present) {
    report->metadata = "absent";
    return Metadata();
  }
  Metadata md = ParseMetadata(data, bytes);
  report->metadata = md.status == MetadataStatus::kOk ? "ok" : md.error;
  return md;
}

// Packs the kernel for the current shapes; "" or the kernel library's reason.
std::string CreateKernel(TfLiteContext* context, const DelegateState& state, PendingKernel* pk) {
  const NodePlan& p = pk->plan;
  Geometry g;
  std::string err = ComputeGeometry(p, context->tensors[p.input].dims, &g);
  if (!err.empty()) return err;
  const onexn_block_index index = {p.n, int(p.group_ptr.size()) - 1, p.group_ptr.data(), p.kept_cin.data()};
  const float* bias = p.bias >= 0 ? context->tensors[p.bias].data.f : nullptr;
  std::vector<float> scratch;
  const float* weights = PlanWeights(context, p, &scratch);
  char msg[256] = {0};
  pk->conv = onexn_conv_create(&g.shape, &index, weights, bias, state.options.isa, msg, sizeof(msg));
  if (pk->conv == nullptr) return std::string("kernel library refused the node: ") + msg;
  pk->shape = g.shape;
  return "";
}

TfLiteStatus Prepare(TfLiteContext* context, TfLiteDelegate* delegate) {
  auto* state = static_cast<DelegateState*>(delegate->data_);
  int ordinal = 0;
  GraphReport& report = ResetReport(state, context, &ordinal);
  const bool verbose = state->options.verbose;
  std::string probe_before;
  if (state->options.abi_probe) probe_before = ProbeGraph(context);
  if (state->options.abi_probe == 2) {
    // Proves ReportError's place in TfLiteContext and its varargs: the runtime must show this message.
    context->ReportError(context, "onexn abi probe: ReportError works (%s, %d)", "varargs", 12345);
    return kTfLiteDelegateError;
  }
  ResolveThreads(state, context);

  bool present = false;
  const Metadata md = ReadMetadata(context, &report, &present);
  std::map<uint32_t, const BlockRecord*> records;  // operator index -> record of this subgraph
  for (const BlockRecord& r : md.records) {
    if (int64_t(r.subgraph) == ordinal) records[r.op] = &r;
  }

  TfLiteIntArray* plan_array = nullptr;
  if (context->GetExecutionPlan(context, &plan_array) != kTfLiteOk) return kTfLiteError;
  const std::vector<int> plan(plan_array->data, plan_array->data + plan_array->size);
  const GraphIndex graph = BuildGraphIndex(context, plan);

  auto decline = [&](int node, const std::string& op, const std::string& reason) {
    report.declined.push_back({node, op, reason});
    if (verbose) std::fprintf(stderr, "onexn: node %d %s declined: %s\n", node, op.c_str(), reason.c_str());
  };

  for (int node_index : plan) {
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (context->GetNodeAndRegistration(context, node_index, &node, &reg) != kTfLiteOk) return kTfLiteError;
    const int code = reg->builtin_code;
    auto found = records.find(uint32_t(node_index));
    const BlockRecord* record = found != records.end() ? found->second : nullptr;
    if (record != nullptr) records.erase(found);
    if (record == nullptr && code != kTfLiteBuiltinConv2d && code != kTfLiteBuiltinFullyConnected) continue;
    if (record == nullptr) {
      std::string why = !present ? "model has no onexn_1xn metadata"
                        : md.status != MetadataStatus::kOk ? "onexn_1xn metadata not usable: " + md.error
                                                           : "no onexn_1xn record (layer not 1xN-pruned)";
      decline(node_index, OpName(code), why);
      continue;
    }
    PendingKernel pk;
    std::string why = CheckNode(context, graph, node_index, node, code, *record, &pk.plan);
    if (why.empty()) why = CreateKernel(context, *state, &pk);
    if (!why.empty()) {
      decline(node_index, OpName(code), why);
      continue;
    }
    report.kernel_names[node_index] = onexn_conv_kernel_name(pk.conv);
    state->pending[{context, node_index}] = std::move(pk);
    report.claimed.push_back(node_index);
  }
  for (const auto& left : records) {
    decline(int(left.first), "?", "metadata names an operator that is not in the execution plan");
  }

  // One delegate kernel per claimed node: each replacement call partitions only that node. Kernels do not
  // fuse across nodes, so bigger partitions would only add bookkeeping for intermediate tensors.
  const TfLiteRegistration registration = KernelRegistration();
  TfLiteStatus status = kTfLiteOk;
  for (int node_index : report.claimed) {
    const NodePlan& p = state->pending[{context, node_index}].plan;
    int single[2] = {1, node_index};
    int with_densify[3] = {2, p.densify_node, node_index};
    const int* nodes = single;
    if (p.densify_feeds_only_this_node && OnePartition(context, with_densify, p.output)) {
      nodes = with_densify;
      report.densify_nodes[node_index] = p.densify_node;
    }
    status = context->ReplaceNodeSubsetsWithDelegateKernels(
        context, registration, reinterpret_cast<const TfLiteIntArray*>(nodes), delegate);
    if (status != kTfLiteOk) break;
    if (verbose) std::fprintf(stderr, "onexn: node %d claimed\n", node_index);
  }
  // Anything init did not take (only after a failed replacement) is released here.
  for (auto it = state->pending.begin(); it != state->pending.end();) {
    if (it->first.first == context) {
      if (it->second.conv != nullptr) onexn_conv_destroy(it->second.conv);
      it = state->pending.erase(it);
    } else {
      ++it;
    }
  }
  if (state->options.abi_probe) {
    report.probe_json = "{\"before\":" + probe_before + ",\"after\":" +
                        ProbeDelegateNodes(context, delegate, registration) + "}";
  }
  return status;
}

}  // namespace

void ReleaseState(DelegateState* state) {
  if (state->refs.fetch_sub(1) != 1) return;
  for (auto& entry : state->pending) {
    if (entry.second.conv != nullptr) onexn_conv_destroy(entry.second.conv);
  }
  if (state->pool != nullptr) onexn_threadpool_destroy(state->pool);
  delete state;
}

}  // namespace onexn

// load_delegate(path, options) calls this with the option strings. On a bad option it reports the
// reason through report_error and returns NULL, which the Python runtime turns into a ValueError.
ONEXN_EXPORT TfLiteDelegate* tflite_plugin_create_delegate(char** keys, char** values, size_t num_options,
                                                           void (*report_error)(const char*)) {
  // ctypes passes the count as a C int; only its low 32 bits are meaningful.
  const uint32_t count = uint32_t(num_options);
  std::string err;
  onexn::DelegateOptions options;
  if (count > 64 || (count > 0 && (keys == nullptr || values == nullptr))) {
    err = "onexn delegate: invalid option arrays";
  } else {
    err = onexn::ParseOptions(keys, values, int(count), &options);
    if (!err.empty()) err = "onexn delegate: " + err;
  }
  if (!err.empty()) {
    if (report_error != nullptr) report_error(err.c_str());
    return nullptr;
  }
  auto* state = new onexn::DelegateState;
  state->options = options;
  state->delegate.data_ = state;
  state->delegate.Prepare = onexn::Prepare;
  // Graphs with data-dependent shapes: without this flag the runtime refuses the whole delegate (the
  // Python Interpreter then raises a bare RuntimeError). The kernels recompute their shapes in their own
  // Prepare, which the runtime calls again after a dynamic tensor was resized.
  state->delegate.flags = kTfLiteDelegateFlagsAllowDynamicTensors;
  state->delegate.opaque_delegate_builder = nullptr;
  return &state->delegate;
}

ONEXN_EXPORT void tflite_plugin_destroy_delegate(TfLiteDelegate* delegate) {
  if (delegate == nullptr) return;
  onexn::ReleaseState(static_cast<onexn::DelegateState*>(delegate->data_));
}

// The report of the last Prepare as JSON. The string stays valid until the next call or until the
// delegate is destroyed.
ONEXN_EXPORT const char* onexn_delegate_report_json(TfLiteDelegate* delegate) {
  if (delegate == nullptr || delegate->data_ == nullptr) return "{}";
  auto* state = static_cast<onexn::DelegateState*>(delegate->data_);
  state->report_json = onexn::BuildReportJson(*state);
  return state->report_json.c_str();
}
