#include "node_claim.h"

#include <string>
#include <utility>

#include "conv_geometry.h"
#include "glue_ops.h"
#include "node_check.h"

namespace onexn {
namespace {

std::string OpName(int code) {
  const char* name = BuiltinOpName(code);
  return name != nullptr ? name : "BUILTIN_" + std::to_string(code);
}

std::string Refused(const std::string& msg) {
  return msg.empty() ? "" : "kernel library refused the node: " + msg;
}

// Packs the kernel for the current shapes; "" or the reason.
std::string PackForCurrentShapes(TfLiteContext* context, onexn_isa isa, ConvStep* step) {
  Geometry g;
  const std::string err = ComputeGeometry(step->plan, context->tensors[step->plan.input].dims, &g);
  return err.empty() ? Refused(step->Pack(context, g.shape, isa)) : err;
}

// Packs a depthwise kernel for the current shapes (ADD and MEAN need nothing); "" or the reason.
std::string PackForCurrentShapes(TfLiteContext* context, onexn_isa isa, StepKernel* step) {
  auto* dw = std::get_if<DepthwiseStep>(step);
  if (dw == nullptr) return "";
  const TfLiteIntArray* d = context->tensors[dw->plan.inputs[0]].dims;
  onexn_dwconv_shape shape;
  std::vector<int> out_dims;
  const std::string err =
      DepthwiseGeometry(dw->plan, std::vector<int>(d->data, d->data + d->size), &shape, &out_dims);
  return err.empty() ? Refused(dw->Pack(context, shape, isa)) : err;
}

class Claimer {
 public:
  Claimer(TfLiteContext* context, const GraphRecords& records, const DelegateOptions& options, ClaimResult* result)
      : context_(context), records_(records), options_(options), result_(result) {}

  // The nodes that records name, and the CONV_2D / FULLY_CONNECTED nodes that lack one (declined).
  TfLiteStatus ClaimRecorded(const std::vector<int>& plan) {
    std::map<uint32_t, const BlockRecord*> left;  // records not yet matched to a node
    for (const auto& r : records_.by_node) left[r.first] = &r.second;
    const GraphIndex graph = BuildGraphIndex(context_, plan);
    for (int node_index : plan) {
      TfLiteNode* node = nullptr;
      TfLiteRegistration* reg = nullptr;
      if (context_->GetNodeAndRegistration(context_, node_index, &node, &reg) != kTfLiteOk) return kTfLiteError;
      const int code = reg->builtin_code;
      auto found = left.find(uint32_t(node_index));
      const BlockRecord* record = found != left.end() ? found->second : nullptr;
      if (record != nullptr) left.erase(found);
      if (record == nullptr && code != kTfLiteBuiltinConv2d && code != kTfLiteBuiltinFullyConnected) continue;
      if (record == nullptr) {
        Decline(node_index, OpName(code), records_.missing_reason);
        continue;
      }
      const std::string why = TryRecorded(graph, node_index, node, code, *record);
      if (!why.empty()) Decline(node_index, OpName(code), why);
    }
    for (const auto& r : left) {
      Decline(int(r.first), "?", "metadata names an operator that is not in the execution plan");
    }
    return kTfLiteOk;
  }

  // Glue operators join the claimed nodes into partitions (glue_ops.h).
  TfLiteStatus ClaimGlue(const std::vector<int>& plan) {
    if (options_.glue == GlueOps::kOff || (options_.glue == GlueOps::kAuto && result_->claimed.empty())) {
      return kTfLiteOk;
    }
    for (int node_index : plan) {
      TfLiteNode* node = nullptr;
      TfLiteRegistration* reg = nullptr;
      if (context_->GetNodeAndRegistration(context_, node_index, &node, &reg) != kTfLiteOk) return kTfLiteError;
      const int code = reg->builtin_code;
      if (!IsGlueOp(code) || result_->steps.count(node_index) != 0) continue;
      const std::string why = TryGlue(node_index, node, code);
      if (!why.empty()) Decline(node_index, OpName(code), why);
    }
    return kTfLiteOk;
  }

 private:
  // "" when the node was taken, else why not.
  std::string TryRecorded(const GraphIndex& graph, int node_index, const TfLiteNode* node, int code,
                          const BlockRecord& record) {
    ConvStep step;
    step.dense = options_.dense;
    std::string why = CheckNode(context_, graph, node_index, node, code, record, &step.plan);
    if (why.empty()) why = PackForCurrentShapes(context_, options_.isa, &step);
    if (!why.empty()) return why;
    if (step.plan.densify_feeds_only_this_node) result_->densify_candidates[step.plan.densify_node] = node_index;
    Take(node_index, std::move(step), &result_->claimed);
    return "";
  }

  std::string TryGlue(int node_index, const TfLiteNode* node, int code) {
    GluePlan checked;
    std::string why = CheckGlueNode(context_, node_index, node, code, &checked);
    if (!why.empty()) return why;
    StepKernel step = GlueStep(std::move(checked));
    why = PackForCurrentShapes(context_, options_.isa, &step);
    if (!why.empty()) return why;
    Take(node_index, std::move(step), &result_->glue);
    return "";
  }

  void Decline(int node, const std::string& op, const std::string& reason) {
    result_->declined.push_back({node, op, reason});
  }

  void Take(int node, StepKernel step, std::vector<int>* list) {
    result_->kernel_names[node] = StepKernelName(step, options_.isa);
    result_->steps.emplace(node, std::move(step));
    list->push_back(node);
  }

  TfLiteContext* context_;
  const GraphRecords& records_;
  const DelegateOptions& options_;
  ClaimResult* result_;
};

}  // namespace

TfLiteStatus ClaimNodes(TfLiteContext* context, const std::vector<int>& plan, const GraphRecords& records,
                        const DelegateOptions& options, ClaimResult* result) {
  Claimer claimer(context, records, options, result);
  if (claimer.ClaimRecorded(plan) != kTfLiteOk) return kTfLiteError;
  return claimer.ClaimGlue(plan);
}

}  // namespace onexn
