#include "depthwise_fusion.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

#include "channel_split.h"

namespace onexn {
namespace {

// At several threads each share of rows recomputes the expansion rows it shares with the previous one. On
// short images that is much of the expansion (7x7 at 2 threads: 9 rows for 7), more than the memory
// traffic fusing saves (MobileNetV2's 7x7 blocks ran 10% slower fused at 2 threads, 14x14 ones faster).
constexpr int kMaxRecomputePercent = 20;

// Without an expansion there is nothing to recompute, but at several threads the block of a depthwise
// convolution and a weight-heavy projection ran slower than the two steps apart (Intel Xeon, 2 threads,
// interleaved: MobileNetV1 N=16 50% 0.81 of stock fused vs 0.73 apart, N=4 50% 1.04 vs 0.88; at one thread
// fused stays ahead, 0.69 vs 0.72): each thread's 64-pixel chunks stream all of the projection's weights,
// where the step apart splits them. Small projections (MobileNetV2's first block, 32 -> 16) still gain, and
// so do the depthwise and projection of a block whose expansion runs apart for its recomputation
// (MobileNetV2's 7x7 blocks at 2 threads, whose ADD then runs in the block too: N=16 50% 0.5-0.9% faster in
// the fast host mode, 3.6% in the slow one, Zen 4; N=4 unchanged).
constexpr int kSmallProjectionWeights = 64 * 64;

bool SmallProjection(const onexn_conv_shape& project) {
  return int64_t(project.cin) * project.cout <= kSmallProjectionWeights;
}

bool ExpansionFusionPays(const onexn_dwblock* block, const onexn_dwconv_shape& d, int threads) {
  const size_t shares = onexn_dwblock_runs(block, size_t(threads));
  const int shared = std::max(0, (d.kh - 1) * d.dilation_h + 1 - d.stride_h);
  return (shares - 1) * size_t(shared) * 100 <= size_t(kMaxRecomputePercent) * size_t(d.in_h);
}

// The 1x1 CONV_2D at step i of the given kind (int8: a QConvStep, whose block is an onexn_qdwblock).
const onexn_conv_shape* Pointwise(const std::vector<Step>& steps, int i, bool int8) {
  if (i < 0 || i >= int(steps.size()) || steps[i].code != kTfLiteBuiltinConv2d) return nullptr;
  const onexn_conv_shape* shape = nullptr;
  const ConvStep* c = std::get_if<ConvStep>(&steps[i].kernel);
  const QConvStep* q = std::get_if<QConvStep>(&steps[i].kernel);
  if (c != nullptr && !int8 && c->conv != nullptr) {
    shape = &c->shape;
  } else if (q != nullptr && int8 && q->conv != nullptr) {
    shape = &q->shape;
  }
  return shape != nullptr && shape->kh == 1 && shape->kw == 1 ? shape : nullptr;
}

// The depthwise step at i (float or int8, in *int8), or nullptr.
const onexn_dwconv_shape* Depthwise(const std::vector<Step>& steps, int i, bool* int8) {
  if (i < 0 || i >= int(steps.size())) return nullptr;
  if (const DepthwiseStep* d = std::get_if<DepthwiseStep>(&steps[i].kernel); d != nullptr && d->dw != nullptr) {
    *int8 = false;
    return &d->shape;
  }
  if (const QDepthwiseStep* d = std::get_if<QDepthwiseStep>(&steps[i].kernel); d != nullptr && d->dw != nullptr) {
    *int8 = true;
    return &d->shape;
  }
  return nullptr;
}

onexn_dwblock* MakeBlock(const std::vector<Step>& steps, int e, int d, int p, bool int8, char* msg, size_t len) {
  if (int8) {
    onexn_qconv* expand = e >= 0 ? std::get<QConvStep>(steps[e].kernel).conv.get() : nullptr;
    onexn_qconv* project = p >= 0 ? std::get<QConvStep>(steps[p].kernel).conv.get() : nullptr;
    return onexn_qdwblock_create(expand, std::get<QDepthwiseStep>(steps[d].kernel).dw.get(), project, msg, len);
  }
  onexn_conv* expand = e >= 0 ? std::get<ConvStep>(steps[e].kernel).conv.get() : nullptr;
  onexn_conv* project = p >= 0 ? std::get<ConvStep>(steps[p].kernel).conv.get() : nullptr;
  return onexn_dwblock_create(expand, std::get<DepthwiseStep>(steps[d].kernel).dw.get(), project, msg, len);
}

// A float block of expansion i, depthwise i + 1 and projection i + 2 cut by channels when that pays; "" or
// why not (nothing to say when it would not pay).
std::string TrySplit(const TfLiteContext* context, onexn_isa isa, const std::vector<Step>& steps, int i, int threads,
                     FusedBlock* fused) {
  const ConvStep& expand = std::get<ConvStep>(steps[i].kernel);
  const DepthwiseStep& dw = std::get<DepthwiseStep>(steps[i + 1].kernel);
  const ConvStep& project = std::get<ConvStep>(steps[i + 2].kernel);
  if (!ChannelSplitPays(expand, dw, project, threads)) return "";
  // Slices add up before the projection's clamp, so an ADD after a clamped projection could not run inside
  // them (onexn_dwblock_split_run_add): such a block keeps its rows, whose runs take the ADD in.
  const bool clamps = !(std::isinf(project.shape.out_min) && std::isinf(project.shape.out_max));
  for (const Step& s : steps) {
    if (clamps && s.code == kTfLiteBuiltinAdd && std::count(s.inputs.begin(), s.inputs.end(), steps[i + 2].output)) {
      return "";
    }
  }
  return MakeChannelSplit(context, isa, expand, dw, project, threads, fused);
}

}  // namespace

void PlanFusion(const TfLiteContext* context, onexn_isa isa, std::vector<Step>* steps_in,
                const std::set<int>& outer, int threads, bool channel_slices, bool verbose) {
  std::vector<Step>& steps = *steps_in;
  std::map<int, int> readers = ReaderCounts(steps);
  // Step `to` reads step `from`'s output, which nothing else reads and which stays inside.
  auto feeds = [&](int from, int to) {
    const int t = steps[from].output;
    return steps[to].inputs[0] == t && readers[t] == 1 && outer.count(t) == 0;
  };
  const int n = int(steps.size());
  for (int i = 0; i < n; ++i) {
    bool int8 = false;
    const bool expand = Depthwise(steps, i + 1, &int8) && Pointwise(steps, i, int8) && feeds(i, i + 1);
    const int d = expand ? i + 1 : i;
    const onexn_dwconv_shape* dw = Depthwise(steps, d, &int8);
    if (dw == nullptr) continue;
    const onexn_conv_shape* projection = Pointwise(steps, d + 1, int8);
    const bool project = projection != nullptr && feeds(d, d + 1);
    if (!expand && !project) continue;
    // The largest block first; if it is refused, with the expansion or the projection left apart.
    std::vector<std::pair<bool, bool>> tries = {{expand, project}};
    if (expand && project) tries.insert(tries.end(), {{true, false}, {false, true}});
    std::string refused;  // why the largest block was not made
    bool recompute = false;
    for (const auto& [e, p] : tries) {
      FusedBlock& fused = steps[e ? i : d].fused;
      char msg[256] = {0};
      fused.block.reset(MakeBlock(steps, e ? i : -1, d, p ? d + 1 : -1, int8, msg, sizeof(msg)));
      fused.int8 = int8;
      if (fused.block != nullptr && e && p && !int8 && channel_slices) {
        const std::string why = TrySplit(context, isa, steps, i, threads, &fused);
        if (!why.empty() && verbose) {
          std::fprintf(stderr, "onexn: depthwise node %d: not cut by channels: %s\n", steps[d].node, why.c_str());
        }
      }
      if (fused.split != nullptr) {
        // Cut by channels: no expansion row is computed twice.
      } else if (fused.block != nullptr && e && !ExpansionFusionPays(fused.block.get(), *dw, threads)) {
        recompute = true;
        std::snprintf(msg, sizeof(msg), "at %d threads the runs of rows would recompute over %d%% of the expansion",
                      threads, kMaxRecomputePercent);
        fused.block.reset();
      } else if (fused.block != nullptr && !e && threads > 1 && !SmallProjection(*projection) && !recompute) {
        std::snprintf(msg, sizeof(msg), "at %d threads a depthwise convolution and its projection run faster apart",
                      threads);
        fused.block.reset();
      }
      if (refused.empty()) refused = msg;
      if (fused.block == nullptr) continue;
      fused.steps = 1 + int(e) + int(p);
      i = (e ? i : d) + fused.steps - 1;  // continue after the block
      break;
    }
    if (!refused.empty() && verbose) {
      std::fprintf(stderr, "onexn: depthwise node %d: a 1x1 convolution next to it runs apart: %s\n", steps[d].node,
                   refused.c_str());
    }
  }
}

}  // namespace onexn
