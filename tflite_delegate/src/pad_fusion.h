// A float PAD of zeros around the image, and the CONV_2D or MAX_POOL_2D that alone reads its output, run as
// one step: that layer reads the PAD's input with the padding added to its own, so the padded copy never
// exists (ResNet-50's stem: a 230x230x3 and a 114x114x64 copy, 3.3 MB). XNNPACK folds such pads as well.
#ifndef ONEXN_DELEGATE_PAD_FUSION_H_
#define ONEXN_DELEGATE_PAD_FUSION_H_

#include <set>
#include <vector>

#include "partition_steps.h"

namespace onexn {

// Marks those pairs among the steps (the PAD step's `fused`), packing the layer for the PAD's input dims.
// A convolution's taps outside its image read zero, as the padded copy's would. A max pool's leave the
// padding out, which equals the zeros only for inputs that are never negative: its input must be the
// output of a convolution whose activation clamps at 0 or above. Intermediates must not leave the
// partition (`outer`).
void PlanPadFusion(const TfLiteContext* context, onexn_isa isa, std::vector<Step>* steps, const std::set<int>& outer);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_PAD_FUSION_H_
