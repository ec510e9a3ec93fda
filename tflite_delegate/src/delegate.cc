// The onexn TFLite external delegate: plugin entry points, options and graph partitioning.
//
// Prepare reads the onexn_1xn metadata entry, verifies each record against the real node and weights
// (node_check.cc) and claims every verified CONV_2D / FULLY_CONNECTED node, plus the DEPTHWISE_CONV_2D /
// ADD glue between them (glue_ops.h); connected claimed nodes form partitions, each run by one delegate
// kernel (partition_kernel.cc). Everything else stays with the stock runtime, which applies XNNPACK
// afterwards.
#include <cstdint>
#include <cstdio>
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "abi_probe.h"
#include "conv_geometry.h"
#include "delegate_state.h"
#include "glue_ops.h"
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

// Erases this graph's entries of a pending map, destroying what each holds.
template <typename Map, typename Destroy>
void ErasePending(Map* pending, const TfLiteContext* context, Destroy destroy) {
  for (auto it = pending->begin(); it != pending->end();) {
    if (it->first.first == context) {
      destroy(it->second);
      it = pending->erase(it);
    } else {
      ++it;
    }
  }
}

void ReleasePending(DelegateState* state, const TfLiteContext* context) {
  ErasePending(&state->pending, context, [](PendingKernel& k) {
    if (k.conv != nullptr) onexn_conv_destroy(k.conv);
  });
  ErasePending(&state->pending_glue, context, [](PendingGlue& g) {
    if (g.dw != nullptr) onexn_dwconv_destroy(g.dw);
  });
  ErasePending(&state->pending_densify, context, [](int) {});
}

// The partitions (node lists) the runtime would form from `nodes` ({count, node...}); empty if it cannot say.
std::vector<std::vector<int>> Preview(TfLiteContext* context, const std::vector<int>& nodes) {
  std::vector<std::vector<int>> parts;
  TfLiteDelegateParams* params = nullptr;
  int count = 0;
  if (context->PreviewDelegatePartitioning == nullptr ||
      context->PreviewDelegatePartitioning(context, reinterpret_cast<const TfLiteIntArray*>(nodes.data()),
                                           &params, &count) != kTfLiteOk || params == nullptr) {
    return parts;
  }
  for (int i = 0; i < count; ++i) {
    const TfLiteIntArray* members = params[i].nodes_to_replace;
    parts.emplace_back();
    for (int k = 0; members != nullptr && k < members->size; ++k) parts.back().push_back(members->data[k]);
  }
  return parts;
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

// Whether metadata subgraph s has usable records and each names one of these nodes (the execution plan)
// with the recorded builtin op and weight tensor (its input 1).
bool RecordsFit(TfLiteContext* context, const std::set<int>& nodes, const Metadata& md, uint32_t s) {
  bool any = false;
  for (const BlockRecord& r : md.records) {
    if (r.subgraph != s || !r.unusable.empty()) continue;
    any = true;
    TfLiteNode* node = nullptr;
    TfLiteRegistration* reg = nullptr;
    if (nodes.count(int(r.op)) == 0 ||
        context->GetNodeAndRegistration(context, int(r.op), &node, &reg) != kTfLiteOk ||
        uint32_t(reg->builtin_code) != r.builtin_op || node->inputs == nullptr || node->inputs->size < 2 ||
        node->inputs->data[1] != int(r.weight_tensor)) {
      return false;
    }
  }
  return any;
}

// The metadata subgraph this graph is. The runtime prepares an interpreter's subgraphs in index order,
// so the ordinal of the graph among those this delegate has seen is its index, unless an earlier
// interpreter on the same delegate is still alive: then the ordinal continues after that one's graphs.
// So when the ordinal's records do not fit this graph, it may take the subgraph of an earlier graph
// whose records fit it: the same model in another interpreter. Only subgraphs an earlier graph took are
// candidates, so a record naming a subgraph the model does not have is never used (test_reliability_
// inputs.py mutates records); CheckNode still verifies every record against the node and its weights.
int64_t MetadataSubgraph(TfLiteContext* context, const std::vector<int>& plan, const Metadata& md, int ordinal,
                         const DelegateState& state) {
  const std::set<int> nodes(plan.begin(), plan.end());
  if (RecordsFit(context, nodes, md, uint32_t(ordinal))) return ordinal;
  std::set<int64_t> earlier;
  for (int i = 0; i < ordinal && size_t(i) < state.graphs.size(); ++i) earlier.insert(state.graphs[i].subgraph);
  for (int64_t s : earlier) {
    if (s != ordinal && s >= 0 && RecordsFit(context, nodes, md, uint32_t(s))) return s;
  }
  return ordinal;
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

// Packs a depthwise kernel for the current shapes (ADD needs nothing); "" or the reason.
std::string CreateGlueKernel(TfLiteContext* context, const DelegateState& state, PendingGlue* pg) {
  if (pg->plan.builtin_code != kTfLiteBuiltinDepthwiseConv2d) return "";
  const TfLiteIntArray* d = context->tensors[pg->plan.inputs[0]].dims;
  std::vector<int> out_dims;
  std::string err = DepthwiseGeometry(pg->plan, std::vector<int>(d->data, d->data + d->size), &pg->shape, &out_dims);
  if (!err.empty()) return err;
  const float* bias = pg->plan.bias >= 0 ? context->tensors[pg->plan.bias].data.f : nullptr;
  char msg[256] = {0};
  pg->dw = onexn_dwconv_create(&pg->shape, context->tensors[pg->plan.weights].data.f, bias, state.options.isa, msg,
                               sizeof(msg));
  if (pg->dw == nullptr) return std::string("kernel library refused the node: ") + msg;
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
  TfLiteIntArray* plan_array = nullptr;
  if (context->GetExecutionPlan(context, &plan_array) != kTfLiteOk) return kTfLiteError;
  const std::vector<int> plan(plan_array->data, plan_array->data + plan_array->size);
  report.subgraph = MetadataSubgraph(context, plan, md, ordinal, *state);
  std::map<uint32_t, const BlockRecord*> records;  // operator index -> record of this subgraph
  for (const BlockRecord& r : md.records) {
    if (int64_t(r.subgraph) == report.subgraph) records[r.op] = &r;
  }

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

  // Glue operators join the claimed nodes into partitions (glue_ops.h).
  const GlueOps glue_mode = state->options.glue;
  if (glue_mode == GlueOps::kAll || (glue_mode == GlueOps::kAuto && !report.claimed.empty())) {
    for (int node_index : plan) {
      TfLiteNode* node = nullptr;
      TfLiteRegistration* reg = nullptr;
      if (context->GetNodeAndRegistration(context, node_index, &node, &reg) != kTfLiteOk) return kTfLiteError;
      const int code = reg->builtin_code;
      if (!IsGlueOp(code)) continue;
      if (state->pending.count({context, node_index}) != 0) continue;
      PendingGlue pg;
      std::string why = CheckGlueNode(context, node_index, node, code, &pg.plan);
      if (why.empty()) why = CreateGlueKernel(context, *state, &pg);
      if (!why.empty()) {
        decline(node_index, OpName(code), why);
        continue;
      }
      report.kernel_names[node_index] = GlueKernelName(code, pg.dw, state->options.isa);
      state->pending_glue[{context, node_index}] = std::move(pg);
      report.glue.push_back(node_index);
    }
  }

  // One replacement call for everything: the runtime groups connected claimed nodes into partitions, each
  // run by one delegate kernel. A compact weight's DENSIFY joins when its only reader is claimed and the
  // runtime puts both into the same partition (DENSIFYs run first, so unclaimed nodes may separate them);
  // a 1xN node that would be a partition of its own gets a replacement call with its DENSIFY instead, as
  // before glue existed. The dense output of a joined DENSIFY is never allocated; an unjoined DENSIFY
  // stays with the stock runtime, which is correct too.
  std::map<int, int> densify_of;  // DENSIFY node -> its 1xN node, for those that join
  for (int node_index : report.claimed) {
    const NodePlan& p = state->pending[{context, node_index}].plan;
    if (p.densify_feeds_only_this_node) densify_of[p.densify_node] = node_index;
  }
  std::set<int> alone;  // 1xN nodes replaced together with their DENSIFY in calls of their own
  auto main_list = [&]() {
    std::vector<int> list = {0};
    for (const auto& d : densify_of) {
      if (alone.count(d.second) == 0) list.push_back(d.first);
    }
    for (int n : report.claimed) {
      if (alone.count(n) == 0) list.push_back(n);
    }
    list.insert(list.end(), report.glue.begin(), report.glue.end());
    list[0] = int(list.size()) - 1;
    return list;
  };
  for (int round = 0; round < 8 && !densify_of.empty(); ++round) {
    const std::vector<std::vector<int>> parts = Preview(context, main_list());
    if (parts.empty()) {  // the runtime cannot preview: keep every DENSIFY with the stock runtime
      densify_of.clear();
      alone.clear();
      break;
    }
    std::map<int, size_t> partition_of;
    for (size_t i = 0; i < parts.size(); ++i) {
      for (int n : parts[i]) partition_of[n] = i;
    }
    bool changed = false;
    for (auto it = densify_of.begin(); it != densify_of.end();) {
      if (alone.count(it->second) != 0) {
        ++it;
        continue;
      }
      const auto d = partition_of.find(it->first), c = partition_of.find(it->second);
      if (d != partition_of.end() && c != partition_of.end() && d->second == c->second) {
        ++it;
        continue;
      }
      changed = true;
      size_t others = 0;  // members of the 1xN node's partition besides DENSIFYs and itself
      if (c != partition_of.end()) {
        for (int n : parts[c->second]) others += n != it->second && densify_of.count(n) == 0;
      }
      const int pair[3] = {2, it->first, it->second};
      const std::vector<std::vector<int>> own = Preview(context, std::vector<int>(pair, pair + 3));
      if (c != partition_of.end() && others == 0 && own.size() == 1) {
        alone.insert(it->second);
        ++it;
      } else {
        it = densify_of.erase(it);
      }
    }
    if (!changed) break;
  }
  for (const auto& d : densify_of) {
    state->pending_densify[{context, d.first}] = d.second;
    report.densify_nodes[d.second] = d.first;
  }
  const TfLiteRegistration registration = KernelRegistration();
  TfLiteStatus status = kTfLiteOk;
  std::vector<std::vector<int>> calls;
  for (const auto& d : densify_of) {
    if (alone.count(d.second) != 0) calls.push_back({2, d.first, d.second});
  }
  calls.push_back(main_list());
  for (const std::vector<int>& nodes : calls) {
    if (nodes[0] == 0) continue;
    report.partitions += int(std::max<size_t>(Preview(context, nodes).size(), 1));
    status = context->ReplaceNodeSubsetsWithDelegateKernels(
        context, registration, reinterpret_cast<const TfLiteIntArray*>(nodes.data()), delegate);
    if (status != kTfLiteOk) break;
  }
  if (verbose) {
    for (int node_index : report.claimed) std::fprintf(stderr, "onexn: node %d claimed\n", node_index);
    for (int node_index : report.glue) std::fprintf(stderr, "onexn: node %d claimed as glue\n", node_index);
    std::fprintf(stderr, "onexn: %zu 1xN nodes and %zu glue nodes claimed in %d partition(s)\n",
                 report.claimed.size(), report.glue.size(), report.partitions);
  }
  // Anything init did not take (only after a failed replacement) is released here.
  ReleasePending(state, context);
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
  for (auto& entry : state->pending_glue) {
    if (entry.second.dw != nullptr) onexn_dwconv_destroy(entry.second.dw);
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
