// Chains of depthwise blocks at two threads (option pipeline): consecutive blocks, all float or all int8,
// each reading the one before's output, run as one parallel job (onexn_dwblock_chain): no block waits for
// its slower thread. A depthwise layer that no fusion took is a block of its own for this. MobileNetV2's
// blocks from 112x112 down to 14x14 (float blocks cut by channels end a chain), int8 MobileNetV2's from
// 112x112 to 7x7; MobileNetV1's from its first depthwise to the one that takes 14x14 to 7x7.
#ifndef ONEXN_DELEGATE_BLOCK_CHAIN_H_
#define ONEXN_DELEGATE_BLOCK_CHAIN_H_

#include <vector>

#include "partition_steps.h"

namespace onexn {

// Marks the chains of these steps after the fusions (their first step's `fused.chain`); none unless
// threads == 2. A depthwise step left alone becomes a block where a chain takes it. A tensor a chain's
// block reads must then live through the block after it (PlanPartitionArena, ChainLifetimes).
void PlanBlockChains(std::vector<Step>* steps, int threads, onexn_isa isa, bool verbose);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_BLOCK_CHAIN_H_
