#include "pad_fusion.h"

#include <map>
#include <string>

namespace onexn {
namespace {

// The rows and columns a float PAD adds before and after an NHWC image, or false when it pads anything
// else (the batch, the channels, another rank) or is int8.
bool ImagePadding(const PadStep& pad, int* top, int* left, int* bottom, int* right) {
  const std::vector<size_t>& b = pad.before;
  const std::vector<size_t>& a = pad.after;
  if (pad.plan.int8 || pad.in_dims.size() != 4 || b.size() != 4 || a.size() != 4) return false;
  if (b[0] != 0 || a[0] != 0 || b[3] != 0 || a[3] != 0) return false;
  *top = int(b[1]), *bottom = int(a[1]), *left = int(b[2]), *right = int(a[2]);
  return true;
}

// The step that writes tensor t, or -1.
int Writer(const std::vector<Step>& steps, int t) {
  for (int i = 0; i < int(steps.size()); ++i) {
    if (steps[i].output == t) return i;
  }
  return -1;
}

}  // namespace

void PlanPadFusion(const TfLiteContext* context, onexn_isa isa, std::vector<Step>* steps_in,
                   const std::set<int>& outer) {
  std::vector<Step>& steps = *steps_in;
  std::map<int, int> readers = ReaderCounts(steps);
  for (int i = 0; i + 1 < int(steps.size()); i += steps[i].Span()) {
    const PadStep* pad = std::get_if<PadStep>(&steps[i].kernel);
    Step& next = steps[i + 1];
    const int t = steps[i].output;
    int top, left, bottom, right;
    if (pad == nullptr || steps[i].fused.steps > 1 || next.fused.steps > 1 || next.inputs.size() != 1 ||
        next.inputs[0] != t || readers[t] != 1 || outer.count(t) != 0 ||
        !ImagePadding(*pad, &top, &left, &bottom, &right)) {
      continue;
    }
    FusedBlock& fused = steps[i].fused;
    if (const ConvStep* conv = std::get_if<ConvStep>(&next.kernel); conv != nullptr && conv->conv != nullptr) {
      onexn_conv_shape s = conv->shape;
      s.in_h -= top + bottom;
      s.in_w -= left + right;
      s.pad_top += top;
      s.pad_left += left;
      std::string err;
      fused.padded_conv.reset(conv->PackedFor(context, s, isa, &err));
    } else if (const PoolStep* pool = std::get_if<PoolStep>(&next.kernel);
               pool != nullptr && pool->pool != nullptr && next.code == kTfLiteBuiltinMaxPool2d) {
      const int w = Writer(steps, steps[i].inputs[0]);
      const ConvStep* before = w >= 0 ? std::get_if<ConvStep>(&steps[w].kernel) : nullptr;
      if (before == nullptr || steps[w].fused.steps > 1 || !(before->shape.out_min >= 0.0f)) continue;
      onexn_pool_shape s = pool->shape;
      s.in_h -= top + bottom;
      s.in_w -= left + right;
      s.pad_top += top;
      s.pad_left += left;
      char msg[256] = {0};
      // NULL where a window would hold only padding (its zero has no valid tap to come from).
      fused.padded_pool.reset(onexn_pool_create(ONEXN_POOL_MAX, &s, isa, msg, sizeof(msg)));
    }
    if (fused.padded_conv != nullptr || fused.padded_pool != nullptr) fused.steps = 2;
  }
}

}  // namespace onexn
