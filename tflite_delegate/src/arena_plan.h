// Offsets of a partition's internal tensors in one buffer: tensors whose lifetimes overlap never share
// bytes, the others reuse them (greedy by size, as TFLite's own arena planner does), so the working set
// of a long chain of layers stays as small as the two largest neighbours.
#ifndef ONEXN_DELEGATE_ARENA_PLAN_H_
#define ONEXN_DELEGATE_ARENA_PLAN_H_

#include <cstddef>
#include <utility>
#include <vector>

namespace onexn {

struct ArenaRequest {
  size_t floats = 0;
  int first = 0, last = 0;  // steps that produce / last read the tensor (inclusive)
};

// Blocks of steps (first, last), in order, that run as one chain at two threads (onexn_dwblock_chain). A
// thread starts block k only once every row of block k - 2 is written, so while one thread writes block k's
// output the other may still read what block k - 1 reads, but nothing that only blocks up to k - 2 read. A
// request read in block k therefore lives through block k + 1, and one made in a block from its first step.
void ChainLifetimes(std::vector<ArenaRequest>* requests, const std::vector<std::pair<int, int>>& blocks);

// Fills offsets (in floats, multiples of 16 so every tensor is 64-byte aligned) and returns the total.
size_t PlanArena(const std::vector<ArenaRequest>& requests, std::vector<size_t>* offsets);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_ARENA_PLAN_H_
