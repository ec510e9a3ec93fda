// Residual blocks (option fuse): a CONV_2D whose output only the ADD right after it reads runs that ADD too,
// each task adding its finished pixels while they are in its core's cache (onexn_conv_run_add,
// onexn_qconv_run_add); so does a depthwise block that ends in its projection (onexn_dwblock_run_add,
// onexn_qdwblock_run_add: MobileNetV2's 10 adds). Float or int8: the int8 ADD is requantized as onexn_qadd_run
// does it apart. The ADD apart read both operands back from memory and, at several threads, from the other core's
// cache (ResNet-50's 16 adds of up to 56x56x256), and cost one more parallel job. Same values: the add is
// the same arithmetic either way.
#ifndef ONEXN_DELEGATE_RESIDUAL_FUSION_H_
#define ONEXN_DELEGATE_RESIDUAL_FUSION_H_

#include <set>
#include <vector>

#include "partition_steps.h"

namespace onexn {

// Marks the residual blocks of these steps (their `fused`): convolutions no depthwise block covers, and
// depthwise blocks, after PlanFusion. A block takes its ADD into its `steps`.
// The convolution's output must stay inside the partition (`outer`: the tensors the runtime owns).
void PlanResidualFusion(std::vector<Step>* steps, const std::set<int>& outer);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_RESIDUAL_FUSION_H_
