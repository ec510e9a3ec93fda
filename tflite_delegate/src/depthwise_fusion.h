// Depthwise blocks (option fuse): a DEPTHWISE_CONV_2D runs as one step with the 1x1 CONV_2D before it
// (whose output only the depthwise reads) and/or the 1x1 CONV_2D after it (reading only the depthwise's
// output), so that their intermediate tensors never go to memory. Float layers make an onexn_dwblock, int8
// ones (QConvStep, QDepthwiseStep) an onexn_qdwblock.
#ifndef ONEXN_DELEGATE_DEPTHWISE_FUSION_H_
#define ONEXN_DELEGATE_DEPTHWISE_FUSION_H_

#include <set>
#include <vector>

#include "partition_steps.h"

namespace onexn {

// Makes the blocks of these steps (their `fused`), whose kernels are packed for the current shapes.
// Intermediates must not leave the partition (`outer`: the tensors the runtime owns). A block the
// kernel library refuses is tried smaller; with `verbose` the reason is printed.
// With channel_slices, a float block whose rows split unevenly over the threads is cut by channels instead
// (channel_split.h), packing slices of its layers for `isa`.
void PlanFusion(const TfLiteContext* context, onexn_isa isa, std::vector<Step>* steps, const std::set<int>& outer,
                int threads, bool channel_slices, bool verbose);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_DEPTHWISE_FUSION_H_
