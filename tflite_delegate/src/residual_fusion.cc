#include "residual_fusion.h"

#include <map>
#include <variant>

namespace onexn {

void PlanResidualFusion(std::vector<Step>* steps_in, const std::set<int>& outer) {
  std::vector<Step>& steps = *steps_in;
  std::map<int, int> readers = ReaderCounts(steps);
  for (size_t i = 0; i + 1 < steps.size(); i += steps[i].Span()) {
    const Step& s = steps[i];
    const Step& next = steps[i + 1];
    const ConvStep* conv = std::get_if<ConvStep>(&s.kernel);
    const AddStep* add = std::get_if<AddStep>(&next.kernel);
    if (s.fused.steps > 1 || conv == nullptr || conv->conv == nullptr || add == nullptr) continue;
    const int t = s.output;
    if (readers[t] != 1 || outer.count(t) != 0 || next.inputs.size() != 2) continue;
    const int r = next.inputs[0] == t ? 1 : next.inputs[1] == t ? 0 : -1;  // the other operand
    // Same element count as the convolution's output: no broadcast (AddStep's shapes are equal).
    const onexn_conv_shape& c = conv->shape;
    if (r < 0 || add->count != size_t(c.batch) * size_t(c.out_h) * size_t(c.out_w) * size_t(c.cout)) continue;
    steps[i].fused.residual = r;
    steps[i].fused.steps = 2;
  }
}

}  // namespace onexn
