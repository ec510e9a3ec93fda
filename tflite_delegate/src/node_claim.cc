#include "node_claim.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <utility>

#include "glue_ops.h"
#include "node_check.h"
#include "node_quant.h"

namespace onexn {
namespace {

constexpr char kTooLittleToGain[] = "the 1xN nodes of the graph gain too little";

// The estimated saving over every block that the 1xN nodes must exceed. The cost model is fitted for one
// thread; the graph pays for more than it sees (glue, hand-offs, at several threads kernels that scale
// worse than XNNPACK's). One thread: on an Intel Xeon (AVX-512, AMX), MobileNetV2 estimated at 8% saved ran
// 1.10x the stock runtime's time, MobileNetV1 N=1 75% at 24% 0.93x, MobileNetV2 at 46% 0.74x. Two threads:
// on Zen 4 the sweep's graphs (MobileNetV1/V2, ResNet-50, N 1-16, 50-90%) estimated at 5-20% ran
// 1.01-1.21x, those above 21% 0.59-1.00x; on the Xeon MobileNetV1 N=1 75% at 24% ran 1.03x, ResNet-50 N=1
// 75% at 29% 0.78x, MobileNetV2 N=2 75% at 32% 0.88x (2026-12-03). On Zen 4 MobileNetV1 N=1 75% ran
// 1.00-1.04x at two threads and, at one, 0.88 undisturbed but 1.01 in the disturbed passes of a sweep (its
// kernels lose more than XNNPACK's to another tenant), ResNet-50 N=2 50% 0.89 (2026-12-04, estimated at 27%
// and 26%). Since a pixel-vector layer's weights past L2 are read once (conv.c, weight_blocking), they are
// estimated at 30% and 29%, and ran 0.95-0.99 and 0.87-0.93 at one thread (2026-12-07): 32%, at any thread
// count, so that both stay with the stock runtime and not by a hair; the next graphs in the sweep are
// estimated at 36% and more (N=4 50%).
constexpr double kMinimumSaving = 0.32;

// int8 layers without a record run on the int8 1xN kernels with every block kept, 1.6-7x the time of XNNPACK's
// dense int8 ones on Zen 4: taken on request only, except on a CPU with AMX with dense=auto, where each is
// estimated against XNNPACK on the tiles like a recorded node (MobileNetV2's stem, 3 input channels, is taken
// there; dense=never, which turns the estimates off, leaves it opt-in as elsewhere).
// Except a stem of at most 4 input channels and 9 taps or more (3x3 to 7x7) that runs rows (qconv.c,
// plan_rows) with dense=auto: there XNNPACK pads each tap's 3 channels to 8 bytes, the rows kernel a tap row's
// kw * 3 bytes to a multiple of 4. Zen 4, in the graph: int8 ResNet-50's 7x7/2 stem 0.74 ms against 1.5-2.0,
// MobileNetV2's 3x3/2 0.11 against 0.18 (0.21 before run_rows wrote its padded copy once, 8 bytes a step;
// then it stayed). Smaller windows are not measured.
constexpr int kInt8RowsMinTaps = 9;
const char kInt8DenseOptIn[] =
    "int8 layer without a record: runnable as a dense int8 layer, taken with option glue=all only (slower than "
    "the stock runtime's int8 kernels)";
// The int8 glue (depthwise, ADD, MEAN, MAX_POOL_2D, PAD, RESHAPE) is taken by default where it touches the delegate's
// nodes: it joins them into fewer partitions. Away from them it would only add hand-offs, except, with
// dense=auto (a speed decision, which dense=never turns off) at 1 thread, an int8 3x3 depthwise that onexn runs
// on its complete-window kernel (VNNI + VBMI: twice XNNPACK's speed; int8 MobileNetV2 N=16 50% 0.654 ->
// 0.619 of stock taking its last stage's apart, Intel Xeon). At 2 threads the extra hand-offs cost more than
// that saves (0.78 -> 0.87).
const char kInt8GlueApart[] =
    "int8 operator neither reads what a node onexn runs writes nor writes what one reads: left to the stock "
    "runtime (option glue=all takes it anyway)";

std::string OpName(int code) {
  const char* name = BuiltinOpName(code);
  return name != nullptr ? name : "BUILTIN_" + std::to_string(code);
}

// Makes the step's kernel for the shapes the tensors have now; "" or the reason.
std::string PrepareForCurrentShapes(TfLiteContext* context, onexn_isa isa, StepKernel* step) {
  const StepNode node = std::visit([](const auto& k) { return k.Node(); }, *step);
  InputDims in;
  for (int t : node.inputs) {
    const TfLiteIntArray* d = context->tensors[t].dims;
    in.push_back(Dims(d->data, d->data + d->size));
  }
  Dims out;
  return std::visit([&](auto& k) { return k.Prepare(context, isa, in, &out); }, *step);
}

class Claimer {
 public:
  Claimer(TfLiteContext* context, const GraphRecords& records, const DelegateOptions& options, int threads,
          ClaimResult* result)
      : context_(context), records_(records), options_(options), threads_(threads), result_(result) {}

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
        unrecorded_.insert(node_index);
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

  // Dense CONV_2D / FULLY_CONNECTED nodes and the glue operators (glue_ops.h) join the claimed nodes into
  // partitions; without them (glue=off, or a graph with no 1xN node) the nodes without a record are declined.
  TfLiteStatus ClaimOthers(const std::vector<int>& plan) {
    const bool others =
        options_.glue == GlueOps::kAll || (options_.glue == GlueOps::kAuto && !result_->claimed.empty());
    // What the int8 glue rule looks at: the tensors the nodes taken so far write (TryTake adds the others'
    // as they are taken, in execution order) and those the claimed 1xN nodes read.
    written_.clear();
    read_by_claimed_.clear();
    for (const auto& entry : result_->steps) {
      const StepNode n = std::visit([](const auto& k) { return k.Node(); }, entry.second);
      written_.insert(n.output);
    }
    for (int node : result_->claimed) {
      const StepNode n = std::visit([](const auto& k) { return k.Node(); }, result_->steps.at(node));
      read_by_claimed_.insert(n.inputs.begin(), n.inputs.end());
    }
    for (int node_index : plan) {
      TfLiteNode* node = nullptr;
      TfLiteRegistration* reg = nullptr;
      if (context_->GetNodeAndRegistration(context_, node_index, &node, &reg) != kTfLiteOk) return kTfLiteError;
      const int code = reg->builtin_code;
      if (unrecorded_.count(node_index) != 0) {
        const std::string why = others ? TryDense(node_index, node, code) : records_.missing_reason;
        if (!why.empty()) Decline(node_index, OpName(code), why);
      } else if (others && IsGlueOp(code) && result_->steps.count(node_index) == 0) {
        const std::string why = TryGlue(node_index, node, code);
        if (!why.empty()) Decline(node_index, OpName(code), why);
      }
    }
    if (others && options_.glue == GlueOps::kAuto) return TakeGlueBeforeTaken(plan);
    return kTfLiteOk;
  }

  // Backwards, the int8 glue left apart whose output a taken node reads: taking it moves the partition's edge
  // instead of adding one (ResNet-50's PAD in front of its max pool, which the stock runtime ran in 0.3 ms).
  TfLiteStatus TakeGlueBeforeTaken(const std::vector<int>& plan) {
    std::set<int> read_by_taken;
    for (const auto& entry : result_->steps) {
      const StepNode n = std::visit([](const auto& k) { return k.Node(); }, entry.second);
      read_by_taken.insert(n.inputs.begin(), n.inputs.end());
    }
    for (auto at = plan.rbegin(); at != plan.rend(); ++at) {
      const int node_index = *at;
      auto declined = std::find_if(result_->declined.begin(), result_->declined.end(), [&](const Declined& d) {
        return d.node == node_index && d.reason == kInt8GlueApart;
      });
      if (declined == result_->declined.end()) continue;
      TfLiteNode* node = nullptr;
      TfLiteRegistration* reg = nullptr;
      if (context_->GetNodeAndRegistration(context_, node_index, &node, &reg) != kTfLiteOk) return kTfLiteError;
      GluePlan checked;
      if (!CheckGlueNode(context_, node_index, node, reg->builtin_code, &checked).empty() ||
          read_by_taken.count(checked.output) == 0) {
        continue;
      }
      const std::vector<int> inputs = checked.inputs;
      if (TryTake(node_index, GlueStep(std::move(checked)), &result_->glue).empty()) {
        result_->declined.erase(declined);
        read_by_taken.insert(inputs.begin(), inputs.end());
      }
    }
    return kTfLiteOk;
  }

 private:
  // "" when the node was taken, else why not.
  std::string TryRecorded(const GraphIndex& graph, int node_index, const TfLiteNode* node, int code,
                          const BlockRecord& record) {
    NodePlan plan;
    std::string why = CheckNode(context_, graph, node_index, node, code, record, &plan);
    if (!why.empty()) return why;
    if (plan.int8) {
      Int8Estimate estimate;
      if (options_.dense == ONEXN_DENSE_AUTO) why = Int8SlowerThanStock(context_, plan, &estimate, "dense=never");
      if (estimate.stock_ns >= 0.0) int8_stock_ns_ += estimate.stock_ns;
      if (!why.empty()) return why;
      QConvStep checked;
      checked.plan = std::move(plan);
      checked.amx = options_.amx;
      why = TryTake(node_index, std::move(checked), &result_->claimed);
      if (why.empty() && estimate.stock_ns >= 0.0) int8_saved_ns_ += estimate.stock_ns - estimate.onexn_ns;
      return why;
    }
    const bool joins_densify = plan.densify_feeds_only_this_node;
    const int densify = plan.densify_node;
    ConvStep checked;
    checked.dense = options_.dense;
    checked.plan = std::move(plan);
    why = TryTake(node_index, std::move(checked), &result_->claimed);
    if (why.empty() && joins_densify) result_->densify_candidates[densify] = node_index;
    return why;
  }

  // An int8 stem that runs rows faster than the stock runtime (kInt8RowsMinTaps), with dense=auto.
  bool Int8StemOnRows(const NodePlan& plan) const {
    if (plan.builtin_code != kTfLiteBuiltinConv2d || options_.dense != ONEXN_DENSE_AUTO ||
        plan.kh * plan.kw < kInt8RowsMinTaps) {
      return false;
    }
    onexn_conv_shape shape{};
    shape.kh = plan.kh;
    shape.kw = plan.kw;
    shape.cin = plan.cin;
    shape.stride_h = plan.stride_h;
    shape.stride_w = plan.stride_w;
    shape.dilation_h = plan.dilation_h;
    shape.dilation_w = plan.dilation_w;
    return onexn_qconv_runs_rows(options_.isa, &shape, plan.n) != 0;
  }

  // A CONV_2D / FULLY_CONNECTED without a record, as a 1xN layer with every block kept.
  std::string TryDense(int node_index, const TfLiteNode* node, int code) {
    NodePlan plan;
    const int n = onexn_dense_block_width(options_.isa);
    std::string why = CheckDenseNode(context_, node_index, node, code, n, &plan);
    if (why.empty() && plan.int8 && options_.glue != GlueOps::kAll) {
      const bool estimated = onexn_cpu_has_amx_int8() && options_.dense == ONEXN_DENSE_AUTO;
      why = estimated ? Int8SlowerThanStock(context_, plan, nullptr, "glue=all")
                      : Int8StemOnRows(plan) ? "" : kInt8DenseOptIn;
    }
    if (why.empty() && plan.int8) {
      QConvStep checked;
      checked.plan = std::move(plan);
      checked.amx = options_.amx;
      why = TryTake(node_index, std::move(checked), &result_->dense);
    } else if (why.empty()) {
      ConvStep checked;
      checked.plan = std::move(plan);
      why = TryTake(node_index, std::move(checked), &result_->dense);
    }
    return why.empty() ? "" : records_.missing_reason + "; not run as a dense layer: " + why;
  }

  std::string TryGlue(int node_index, const TfLiteNode* node, int code) {
    GluePlan checked;
    std::string why = CheckGlueNode(context_, node_index, node, code, &checked);
    if (why.empty() && checked.int8 && options_.glue != GlueOps::kAll) why = Int8GlueByDefault(checked);
    return why.empty() ? TryTake(node_index, GlueStep(std::move(checked)), &result_->glue) : why;
  }

  // "" when the default (glue=auto) takes this int8 glue node: an input written by a node the delegate runs
  // (taken so far, in execution order) or the output read by a claimed 1xN node; or a 3x3 depthwise on the
  // complete-window kernel (dense=auto, 1 thread).
  std::string Int8GlueByDefault(const GluePlan& plan) const {
    if (plan.builtin_code == kTfLiteBuiltinDepthwiseConv2d && threads_ == 1 &&
        options_.dense == ONEXN_DENSE_AUTO &&
        onexn_qdwconv_has_3x3_kernel(plan.kh, plan.kw, plan.dilation_h, plan.dilation_w, options_.isa)) {
      return "";
    }
    for (int t : plan.inputs) {
      if (written_.count(t) != 0) return "";
    }
    return read_by_claimed_.count(plan.output) != 0 ? "" : kInt8GlueApart;
  }

  void Decline(int node, const std::string& op, const std::string& reason) {
    result_->declined.push_back({node, op, reason});
  }

  // Takes the node when its kernel can be made for the current shapes (or, for an input shape set only at
  // run time, when the partition's Prepare learns it); "" or why not.
  std::string TryTake(int node, StepKernel step, std::vector<int>* list) {
    const auto* conv = std::get_if<ConvStep>(&step);
    const std::string why =
        conv != nullptr && conv->plan.shape_at_run_time ? "" : PrepareForCurrentShapes(context_, options_.isa, &step);
    if (!why.empty()) return why;
    const StepNode taken = std::visit([](const auto& k) { return k.Node(); }, step);
    result_->kernel_names[node] = StepKernelName(step, options_.isa);
    result_->op_names[node] = OpName(taken.builtin_code);
    written_.insert(taken.output);
    result_->steps.emplace(node, std::move(step));
    list->push_back(node);
    return "";
  }

 public:
  // Do no harm for the whole graph. Run outside the stock runtime, a graph pays for what the cost model does
  // not see: the delegate's depthwise and glue operators next to XNNPACK's, and at several threads its
  // pixel-vector kernels, which scale worse than XNNPACK's (benchmarks: the whole-model ratio at 2 threads
  // was 0.03-0.29 above the 1-thread one). So the graph is taken only when the cost model's estimate of the
  // 1xN nodes as chosen saves at least a margin over running every block at the dense block width (stock_ns:
  // the margins below were measured against it), which is about what the stock runtime would take;
  // otherwise it is left there, unless the options ask for it.
  void DeclineWhenTooLittleToGain() {
    const int threads = threads_;
    if (options_.dense != ONEXN_DENSE_AUTO || options_.glue != GlueOps::kAuto || result_->claimed.empty()) return;
    if (int8_stock_ns_ > 0.0) {
      DeclineInt8WhenTooLittleToGain();
      return;
    }
    double chosen_ns = 0.0, every_block_ns = 0.0;
    for (int node : result_->claimed) {
      const auto* conv = std::get_if<ConvStep>(&result_->steps.at(node));
      // int8, a shape known only at run time, or a kernel without coefficients: no estimate, the graph stays.
      if (conv == nullptr || conv->conv == nullptr || conv->choice.sparse_ns < 0.0 || conv->choice.stock_ns < 0.0) {
        return;
      }
      chosen_ns += conv->choice.cost_ns;
      every_block_ns += conv->choice.stock_ns;
    }
    const double saving = every_block_ns > 0.0 ? 1.0 - chosen_ns / every_block_ns : 0.0;
    if (saving > kMinimumSaving) return;
    char why[480];
    std::snprintf(why, sizeof(why),
                  "%s (cost model, %d thread(s)): as chosen they are estimated at %.3g ms against %.3g ms for "
                  "the stock runtime (every block at the dense block width), %.0f%% saved where the graph needs "
                  "more than %.0f%% to beat it: the "
                  "graph is left to the stock runtime (options dense=always or glue=all take it anyway)",
                  kTooLittleToGain, threads, 1e-6 * chosen_ns, 1e-6 * every_block_ns, 100.0 * saving,
                  100.0 * kMinimumSaving);
    DeclineClaimed(why);
  }

 private:
  // The int8 counterpart on a CPU with AMX, where each int8 node has both estimates: the nodes taken must save
  // at least kInt8MinimumSaving of the stock runtime's estimated time for every recorded int8 node, or the
  // hand-offs between the stock runtime's partitions and the delegate's cost more (ResNet-50 N=16 50%: one
  // node taken, 0.1% saved, 1.01-1.03x stock on an Intel Xeon).
  void DeclineInt8WhenTooLittleToGain() {
    constexpr double kInt8MinimumSaving = 0.05;
    const double saving = int8_saved_ns_ / int8_stock_ns_;
    if (saving >= kInt8MinimumSaving) return;
    char why[400];
    std::snprintf(why, sizeof(why),
                  "%s (int8 against XNNPACK on AMX tiles): the nodes taken are estimated to save %.1f%% of the "
                  "stock runtime's %.3g ms for the recorded int8 nodes, under the %.0f%% that pays for the "
                  "hand-offs: the graph is left to the stock runtime (options dense=never or glue=all take it anyway)",
                  kTooLittleToGain, 100.0 * saving, 1e-6 * int8_stock_ns_, 100.0 * kInt8MinimumSaving);
    DeclineClaimed(why);
  }

  void DeclineClaimed(const std::string& why) {
    for (int node : result_->claimed) {
      Decline(node, result_->op_names[node], why);
      result_->steps.erase(node);
      result_->kernel_names.erase(node);
      result_->op_names.erase(node);
    }
    result_->claimed.clear();
    result_->densify_candidates.clear();
  }

 private:
  TfLiteContext* context_;
  const GraphRecords& records_;
  const DelegateOptions& options_;
  const int threads_;
  ClaimResult* result_;
  std::set<int> unrecorded_;  // CONV_2D / FULLY_CONNECTED nodes without a record
  std::set<int> written_;          // tensors written by the nodes taken (set up by ClaimOthers)
  std::set<int> read_by_claimed_;  // tensors the claimed 1xN nodes read (set up by ClaimOthers)
  double int8_stock_ns_ = 0.0;  // AMX: the stock runtime's estimate for every recorded int8 node
  double int8_saved_ns_ = 0.0;  // what the int8 nodes taken save by their estimates
};

}  // namespace

TfLiteStatus ClaimNodes(TfLiteContext* context, const std::vector<int>& plan, const GraphRecords& records,
                        const DelegateOptions& options, int threads, ClaimResult* result) {
  Claimer claimer(context, records, options, threads, result);
  if (claimer.ClaimRecorded(plan) != kTfLiteOk) return kTfLiteError;
  claimer.DeclineWhenTooLittleToGain();
  return claimer.ClaimOthers(plan);
}

}  // namespace onexn
