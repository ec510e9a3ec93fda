// A float depthwise block cut by channels at several threads (onexn_dwblock_split): each thread expands,
// runs the depthwise of and projects its own slice of the expanded channels, over the whole image.
#ifndef ONEXN_DELEGATE_CHANNEL_SPLIT_H_
#define ONEXN_DELEGATE_CHANNEL_SPLIT_H_

#include <string>

#include "partition_steps.h"

namespace onexn {

// Whether the block of expansion e, depthwise d and projection d + 1 (float steps packed for the current
// shapes) runs faster cut by channels than by rows at `threads` threads.
bool ChannelSplitPays(const ConvStep& expand, const DepthwiseStep& dw, const ConvStep& project, int threads);

// Packs a slice of each layer per thread into fused->split (fused->slice_* own their layers). "" or why not.
std::string MakeChannelSplit(const TfLiteContext* context, onexn_isa isa, const ConvStep& expand,
                             const DepthwiseStep& dw, const ConvStep& project, int threads, FusedBlock* fused);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_CHANNEL_SPLIT_H_
