#include "graph_records.h"

#include <set>

namespace onexn {
namespace {

// Whether metadata subgraph s has usable records and each names one of these nodes with the recorded
// builtin op and weight tensor (its input 1).
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

int64_t MetadataSubgraph(TfLiteContext* context, const std::vector<int>& plan, const Metadata& md, int ordinal,
                         const std::vector<int64_t>& earlier_subgraphs) {
  const std::set<int> nodes(plan.begin(), plan.end());
  if (RecordsFit(context, nodes, md, uint32_t(ordinal))) return ordinal;
  const std::set<int64_t> earlier(earlier_subgraphs.begin(), earlier_subgraphs.end());
  for (int64_t s : earlier) {
    if (s != ordinal && s >= 0 && RecordsFit(context, nodes, md, uint32_t(s))) return s;
  }
  return ordinal;
}

}  // namespace

GraphRecords ReadGraphRecords(TfLiteContext* context, const std::vector<int>& plan, int ordinal,
                              const std::vector<int64_t>& earlier_subgraphs) {
  GraphRecords out;
  const char* data = nullptr;
  size_t bytes = 0;
  const bool present = context->GetModelMetadata != nullptr &&
                       context->GetModelMetadata(context, kMetadataName, &data, &bytes) == kTfLiteOk;
  const Metadata md = present ? ParseMetadata(data, bytes) : Metadata();
  if (!present) {
    out.status = "absent";
    out.missing_reason = "model has no onexn_1xn metadata";
  } else if (md.status != MetadataStatus::kOk) {
    out.status = md.error;
    out.missing_reason = "onexn_1xn metadata not usable: " + md.error;
  } else {
    out.status = "ok";
    out.missing_reason = "no onexn_1xn record (layer not 1xN-pruned)";
  }
  out.subgraph = MetadataSubgraph(context, plan, md, ordinal, earlier_subgraphs);
  for (const BlockRecord& r : md.records) {
    if (int64_t(r.subgraph) == out.subgraph) out.by_node[r.op] = r;
  }
  return out;
}

}  // namespace onexn
