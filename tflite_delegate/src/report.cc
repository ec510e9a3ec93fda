#include "report.h"

#include <string>

#include "delegate_state.h"
#include "json_writer.h"
#include "metadata_reader.h"

namespace onexn {
namespace {

constexpr char kDelegateVersion[] = "0.1.0";

std::string Lookup(const std::map<int, std::string>& names, int node) {
  auto it = names.find(node);
  return it != names.end() ? it->second : "";
}

// "<kind>_nodes": the nodes; "<kind>_kernels": each with its operator and microkernel.
void WriteNodes(const GraphReport& g, const std::vector<int>& nodes, const std::string& kind, JsonWriter& j) {
  j.Key(kind + "_nodes").Ints(nodes);
  j.Key(kind + "_kernels").BeginArray();
  for (int node : nodes) {
    j.BeginObject().Key("node").Int(node).Key("op").String(Lookup(g.op_names, node));
    j.Key("kernel").String(Lookup(g.kernel_names, node)).EndObject();
  }
  j.EndArray();
}

void WriteGraph(const GraphReport& g, JsonWriter& j) {
  j.Key("claimed").Int(int64_t(g.claimed.size()));
  j.Key("claimed_nodes").Ints(g.claimed);
  j.Key("metadata").String(g.metadata);
  j.Key("subgraph").Int(g.subgraph);
  j.Key("declined").BeginArray();
  for (const Declined& d : g.declined) {
    j.BeginObject().Key("node").Int(d.node).Key("op").String(d.op).Key("reason").String(d.reason).EndObject();
  }
  j.EndArray();
  j.Key("kernels").BeginArray();
  for (int node : g.claimed) {
    j.BeginObject().Key("node").Int(node).Key("kernel").String(Lookup(g.kernel_names, node));
    auto densify = g.densify_nodes.find(node);
    if (densify != g.densify_nodes.end()) j.Key("densify_node").Int(densify->second);
    auto every = g.every_block.find(node);
    if (every != g.every_block.end()) j.Key("blocks").String("all").Key("why").String(every->second);
    auto estimate = g.estimates.find(node);
    if (estimate != g.estimates.end()) {  // one thread: the way chosen, the kept blocks, every block, and
      const onexn_conv_choice& c = estimate->second;  // every block at the dense block width (about stock's)
      j.Key("estimated_ms").BeginObject().Key("chosen").Double(1e-6 * c.cost_ns);
      j.Key("kept").Double(1e-6 * c.sparse_ns).Key("all").Double(1e-6 * c.dense_ns);
      j.Key("stock").Double(1e-6 * c.stock_ns).EndObject();
    }
    j.EndObject();
  }
  j.EndArray();
  // The dense layers and the other operators run next to the 1xN nodes, and the partitions all formed.
  WriteNodes(g, g.dense, "dense", j);
  WriteNodes(g, g.glue, "glue", j);
  j.Key("partitions").Int(g.partitions);
  // Depthwise blocks run as one step (option fuse), for their current shapes: lists of nodes.
  j.Key("fused").BeginArray();
  for (const auto& f : g.fused) j.Ints(f.second);
  j.EndArray();
  // Convolutions (alone or a depthwise block's projection, float or int8) that add the ADD after them as
  // their pixels finish: [conv node, add node] pairs.
  j.Key("residual").BeginArray();
  for (const auto& f : g.residual) j.Ints(f.second);
  j.EndArray();
  // PADs folded into the padding of the layer after them: [PAD node, CONV_2D or MAX_POOL_2D node] pairs.
  j.Key("folded_pads").BeginArray();
  for (const auto& f : g.folded_pads) j.Ints(std::vector<int>{f.first, f.second});
  j.EndArray();
  // Blocks that run cut by channels at this thread count (few rows): [first node, slices] pairs.
  j.Key("channel_slices").BeginArray();
  for (const auto& f : g.channel_slices) j.Ints(std::vector<int>{f.first, f.second});
  j.EndArray();
  // Blocks run as one job at two threads (option pipeline): lists of each block's first node.
  j.Key("chains").BeginArray();
  for (const auto& f : g.chains) j.Ints(f.second);
  j.EndArray();
#ifdef ONEXN_TESTING
  if (!g.probe_json.empty()) j.Key("probe").Raw(g.probe_json);
#endif
}

}  // namespace

std::string BuildReportJson(const DelegateState& state) {
  JsonWriter j;
  j.BeginObject();
  j.Key("version").String(kDelegateVersion);
  j.Key("metadata_version").Int(kMetadataVersion);
  j.Key("isa").String(onexn_isa_name(state.options.isa));
  j.Key("num_threads").Int(state.num_threads);
  j.Key("prepared").Bool(!state.graphs.empty());
  if (state.graphs.empty()) {
    j.Key("claimed").Int(0).Key("metadata").String("not prepared yet");
    j.Key("declined").BeginArray().EndArray().Key("kernels").BeginArray().EndArray();
  } else {
    // The main graph first; any other subgraph the runtime offered afterwards is listed separately.
    WriteGraph(state.graphs.front(), j);
    j.Key("other_subgraphs").BeginArray();
    for (size_t i = 1; i < state.graphs.size(); ++i) {
      j.BeginObject();
      WriteGraph(state.graphs[i], j);
      j.EndObject();
    }
    j.EndArray();
  }
  j.EndObject();
  return j.str();
}

}  // namespace onexn
