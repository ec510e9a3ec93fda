// Offsets of a partition's internal tensors in one buffer: tensors whose lifetimes overlap never share
// bytes, the others reuse them (greedy by size, as TFLite's own arena planner does), so the working set
// of a long chain of layers stays as small as the two largest neighbours.
#ifndef ONEXN_DELEGATE_ARENA_PLAN_H_
#define ONEXN_DELEGATE_ARENA_PLAN_H_

#include <cstddef>
#include <vector>

namespace onexn {

struct ArenaRequest {
  size_t floats = 0;
  int first = 0, last = 0;  // steps that produce / last read the tensor (inclusive)
};

// Steps [first, last] run as one (a chain of blocks whose threads may be steps apart): a request alive at
// any of them lives through all of them.
void SpanLifetimes(std::vector<ArenaRequest>* requests, int first, int last);

// Fills offsets (in floats, multiples of 16 so every tensor is 64-byte aligned) and returns the total.
size_t PlanArena(const std::vector<ArenaRequest>& requests, std::vector<size_t>* offsets);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_ARENA_PLAN_H_
