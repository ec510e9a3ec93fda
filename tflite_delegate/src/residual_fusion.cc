#include "residual_fusion.h"

#include <map>
#include <variant>

namespace onexn {

namespace {

// Which input of the ADD at add_step (0 or 1) is the other operand when it adds the output t of a
// convolution of this shape, which nothing else reads and which stays inside; -1 if the ADD cannot run
// inside the convolution. int8: a QAddStep, else an AddStep.
int OtherOperand(const Step& add_step, bool int8, int t, const onexn_conv_shape& c, std::map<int, int>& readers,
                 const std::set<int>& outer) {
  const AddStep* add = std::get_if<AddStep>(&add_step.kernel);
  const QAddStep* qadd = std::get_if<QAddStep>(&add_step.kernel);
  const size_t count = int8 ? (qadd != nullptr ? qadd->count : 0) : (add != nullptr ? add->count : 0);
  if (count == 0 || readers[t] != 1 || outer.count(t) != 0 || add_step.inputs.size() != 2) return -1;
  const int r = add_step.inputs[0] == t ? 1 : add_step.inputs[1] == t ? 0 : -1;
  // Same element count as the convolution's output: no broadcast (the ADD steps' shapes are equal).
  if (r < 0 || count != size_t(c.batch) * size_t(c.out_h) * size_t(c.out_w) * size_t(c.cout)) return -1;
  return r;
}

}  // namespace

void PlanResidualFusion(std::vector<Step>* steps_in, const std::set<int>& outer) {
  std::vector<Step>& steps = *steps_in;
  std::map<int, int> readers = ReaderCounts(steps);
  for (size_t i = 0; i < steps.size(); i += steps[i].Span()) {
    FusedBlock& fused = steps[i].fused;
    // A depthwise block that ends in its projection, or a convolution alone; float or int8.
    const size_t last = i + size_t(steps[i].Span()) - 1;
    if (last + 1 >= steps.size() || fused.residual >= 0) continue;
    if (fused.steps > 1 && fused.block == nullptr) continue;
    const onexn_conv_shape* shape = nullptr;
    bool int8 = false;
    if (const ConvStep* conv = std::get_if<ConvStep>(&steps[last].kernel); conv != nullptr && conv->conv != nullptr) {
      shape = &conv->shape;
    } else if (const QConvStep* q = std::get_if<QConvStep>(&steps[last].kernel); q != nullptr && q->conv != nullptr) {
      shape = &q->shape;
      int8 = true;
    }
    if (shape == nullptr) continue;
    const int r = OtherOperand(steps[last + 1], int8, steps[last].output, *shape, readers, outer);
    if (r < 0) continue;
    fused.residual = r;
    fused.steps = int(last - i) + 2;
  }
}

}  // namespace onexn
