#include "depthwise_fusion.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <utility>

namespace onexn {
namespace {

// At several threads each run of rows recomputes the expansion rows it shares with the previous run. On
// short images that is much of the expansion (7x7 at 2 threads: 9 rows for 7), more than the memory
// traffic fusing saves (MobileNetV2's 7x7 blocks ran 10% slower fused at 2 threads, 14x14 ones faster).
constexpr int kMaxRecomputePercent = 20;

// Without an expansion there is nothing to recompute, but at several threads the block of a depthwise
// convolution and a weight-heavy projection ran slower than the two steps apart (Intel Xeon, 2 threads,
// interleaved: MobileNetV1 N=16 50% 0.81 of stock fused vs 0.73 apart, N=4 50% 1.04 vs 0.88; at one thread
// fused stays ahead, 0.69 vs 0.72): each thread's 64-pixel chunks stream all of the projection's weights,
// where the step apart splits them. Small projections (MobileNetV2's first block, 32 -> 16) still gain.
constexpr int kSmallProjectionWeights = 64 * 64;

bool SmallProjection(const ConvStep& project) {
  return int64_t(project.shape.cin) * project.shape.cout <= kSmallProjectionWeights;
}

bool ExpansionFusionPays(const onexn_dwblock* block, const onexn_dwconv_shape& d, int threads) {
  const size_t runs = onexn_dwblock_runs(block, size_t(threads));
  const int shared = std::max(0, (d.kh - 1) * d.dilation_h + 1 - d.stride_h);
  return (runs - 1) * size_t(shared) * 100 <= size_t(kMaxRecomputePercent) * size_t(d.in_h);
}

const ConvStep* Pointwise(const std::vector<Step>& steps, int i) {
  if (i < 0 || i >= int(steps.size()) || steps[i].code != kTfLiteBuiltinConv2d) return nullptr;
  const ConvStep* c = std::get_if<ConvStep>(&steps[i].kernel);
  return c != nullptr && c->conv != nullptr && c->shape.kh == 1 && c->shape.kw == 1 ? c : nullptr;
}

const DepthwiseStep* Depthwise(const std::vector<Step>& steps, int i) {
  if (i < 0 || i >= int(steps.size())) return nullptr;
  const DepthwiseStep* d = std::get_if<DepthwiseStep>(&steps[i].kernel);
  return d != nullptr && d->dw != nullptr ? d : nullptr;
}

}  // namespace

void PlanFusion(std::vector<Step>* steps_in, const std::set<int>& outer, int threads, bool verbose) {
  std::vector<Step>& steps = *steps_in;
  std::map<int, int> readers;
  for (const Step& s : steps) {
    for (int t : s.inputs) readers[t]++;
  }
  // Step `to` reads step `from`'s output, which nothing else reads and which stays inside.
  auto feeds = [&](int from, int to) {
    const int t = steps[from].output;
    return steps[to].inputs[0] == t && readers[t] == 1 && outer.count(t) == 0;
  };
  const int n = int(steps.size());
  for (int i = 0; i < n; ++i) {
    const bool expand = Pointwise(steps, i) && Depthwise(steps, i + 1) && feeds(i, i + 1);
    const int d = expand ? i + 1 : i;
    if (!Depthwise(steps, d)) continue;
    const bool project = Pointwise(steps, d + 1) && feeds(d, d + 1);
    if (!expand && !project) continue;
    // The largest block first; if it is refused, with the expansion or the projection left apart.
    std::vector<std::pair<bool, bool>> tries = {{expand, project}};
    if (expand && project) tries.insert(tries.end(), {{true, false}, {false, true}});
    std::string refused;  // why the largest block was not made
    for (const auto& [e, p] : tries) {
      FusedBlock& fused = steps[e ? i : d].fused;
      const DepthwiseStep& dw = *Depthwise(steps, d);
      char msg[256] = {0};
      fused.block.reset(onexn_dwblock_create(e ? Pointwise(steps, i)->conv.get() : nullptr, dw.dw.get(),
                                             p ? Pointwise(steps, d + 1)->conv.get() : nullptr, msg, sizeof(msg)));
      if (fused.block != nullptr && e && !ExpansionFusionPays(fused.block.get(), dw.shape, threads)) {
        std::snprintf(msg, sizeof(msg), "at %d threads the runs of rows would recompute over %d%% of the expansion",
                      threads, kMaxRecomputePercent);
        fused.block.reset();
      } else if (fused.block != nullptr && !e && threads > 1 && !SmallProjection(*Pointwise(steps, d + 1))) {
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
