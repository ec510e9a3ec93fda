#include "channel_split.h"

#include <cmath>
#include <memory>
#include <vector>

#include "node_plan.h"

namespace onexn {
namespace {

// Row shares pay for recomputed expansion rows and for uneven shares; channel slices pay for adding up the
// partial sums (one more pass over the output, half of it from the other core). Slices run faster where
// the rows do not split evenly: MobileNetV2's 7x7 blocks at 2 threads (one thread 4 rows, the other 3, and
// 9 expansion rows computed for 7) ran 1.5% faster as slices (N=16 50%, Zen 4, both host modes); its 14x14
// blocks, whose rows split evenly, 0.5% faster in the fast host mode and 3% slower in the slow one.
// A projection's clamp applies to the sum (MobileNetV1's last block, relu6 after each layer).
constexpr int kMaxExcessPercent = 10;  // the longest share's rows over the mean

bool RowsSplitUnevenly(int rows, int threads) {
  const int longest = (rows + threads - 1) / threads;
  return (longest * threads - rows) * 100 > kMaxExcessPercent * rows;
}

// The slice's groups of the expansion: [g0, g1) of `groups`.
void SliceGroups(int groups, int slice, int slices, int* g0, int* g1) {
  *g0 = slice * groups / slices;
  *g1 = (slice + 1) * groups / slices;
}

}  // namespace

bool ChannelSplitPays(const ConvStep& expand, const DepthwiseStep& dw, const ConvStep& project, int threads) {
  if (threads < 2 || dw.shape.batch >= threads) return false;
  const int groups = int(expand.plan.group_ptr.size()) - 1;
  // Equal slices of whole groups, each at least a few groups wide.
  if (groups % threads != 0 || groups / threads < 2) return false;
  return RowsSplitUnevenly(dw.shape.out_h, threads);
}

std::string MakeChannelSplit(const TfLiteContext* context, onexn_isa isa, const ConvStep& expand,
                             const DepthwiseStep& dw, const ConvStep& project, int threads, FusedBlock* fused) {
  std::vector<float> e_dense, p_dense;  // compact weights densified (PlanWeights), one buffer each
  const float* ew = PlanWeights(context, expand.plan, &e_dense);
  const float* eb = expand.plan.bias >= 0 ? context->tensors[expand.plan.bias].data.f : nullptr;
  const float* pw = PlanWeights(context, project.plan, &p_dense);
  const float* pb = project.plan.bias >= 0 ? context->tensors[project.plan.bias].data.f : nullptr;
  const float* dww = context->tensors[dw.plan.weights].data.f;
  const float* dwb = dw.plan.bias >= 0 ? context->tensors[dw.plan.bias].data.f : nullptr;
  const int n = expand.plan.n, groups = int(expand.plan.group_ptr.size()) - 1;
  const int channels = expand.shape.cout, cout = project.shape.cout, taps = dw.shape.kh * dw.shape.kw;
  std::vector<onexn_dwblock*> slices;
  auto fail = [&](const std::string& why) {
    for (onexn_dwblock* b : slices) onexn_dwblock_destroy(b);
    fused->slice_convs.clear();
    fused->slice_dws.clear();
    return why;
  };
  char msg[256] = {0};
  for (int t = 0; t < threads; ++t) {
    int g0, g1;
    SliceGroups(groups, t, threads, &g0, &g1);
    const int c0 = g0 * n, c1 = std::min(g1 * n, channels), width = c1 - c0;
    // The expansion's output channels [c0, c1): its groups g0..g1 and their rows of weights.
    onexn_conv_shape es = expand.shape;
    es.cout = width;
    const uint32_t* gp = expand.plan.group_ptr.data();
    std::vector<uint32_t> e_ptr;
    for (int g = g0; g <= g1; ++g) e_ptr.push_back(gp[g] - gp[g0]);
    const onexn_block_index e_index = {n, g1 - g0, e_ptr.data(), expand.plan.kept_cin.data() + gp[g0]};
    onexn_conv* e = onexn_conv_create_planned(&es, &e_index, ew + size_t(c0) * size_t(es.cin),
                                              eb != nullptr ? eb + c0 : nullptr, isa, expand.dense, msg, sizeof(msg));
    if (e == nullptr) return fail(std::string("expansion slice: ") + msg);
    fused->slice_convs.emplace_back(e);
    // The depthwise's channels [c0, c1).
    onexn_dwconv_shape ds = dw.shape;
    ds.channels = width;
    std::vector<float> dwt(size_t(taps) * size_t(width));
    for (int k = 0; k < taps; ++k) {
      for (int c = 0; c < width; ++c) dwt[size_t(k) * width + c] = dww[size_t(k) * channels + c0 + c];
    }
    onexn_dwconv* d = onexn_dwconv_create(&ds, dwt.data(), dwb != nullptr ? dwb + c0 : nullptr, isa, msg, sizeof(msg));
    if (d == nullptr) return fail(std::string("depthwise slice: ") + msg);
    fused->slice_dws.emplace_back(d);
    // The projection's input channels [c0, c1): the kept blocks among them; the bias in slice 0 only.
    onexn_conv_shape ps = project.shape;
    ps.cin = width;
    ps.out_min = -INFINITY;
    ps.out_max = INFINITY;
    std::vector<uint32_t> p_ptr = {0}, p_kept;
    const int pgroups = int(project.plan.group_ptr.size()) - 1;
    for (int g = 0; g < pgroups; ++g) {
      for (uint32_t k = project.plan.group_ptr[g]; k < project.plan.group_ptr[g + 1]; ++k) {
        const uint32_t ci = project.plan.kept_cin[k];
        if (ci >= uint32_t(c0) && ci < uint32_t(c1)) p_kept.push_back(ci - uint32_t(c0));
      }
      p_ptr.push_back(uint32_t(p_kept.size()));
    }
    std::vector<float> pwt(size_t(cout) * size_t(width));
    for (int o = 0; o < cout; ++o) {
      for (int c = 0; c < width; ++c) pwt[size_t(o) * width + c] = pw[size_t(o) * channels + c0 + c];
    }
    const onexn_block_index p_index = {project.plan.n, pgroups, p_ptr.data(), p_kept.data()};
    onexn_conv* p = onexn_conv_create_planned(&ps, &p_index, pwt.data(), t == 0 ? pb : nullptr, isa, project.dense,
                                              msg, sizeof(msg));
    if (p == nullptr) return fail(std::string("projection slice: ") + msg);
    fused->slice_convs.emplace_back(p);
    onexn_dwblock* b = onexn_dwblock_create(e, d, p, msg, sizeof(msg));
    if (b == nullptr) return fail(std::string("slice block: ") + msg);
    slices.push_back(b);
  }
  onexn_dwblock_split* split = onexn_dwblock_split_create(slices.data(), slices.size(), project.shape.out_min,
                                                          project.shape.out_max, msg, sizeof(msg));
  if (split == nullptr) return fail(msg);
  fused->split.reset(split);
  return "";
}

}  // namespace onexn
