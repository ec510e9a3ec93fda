// The arena of one partition: the tensors produced and consumed inside it (no node of the runtime's
// execution plan touches them any more, so the runtime does not allocate them) and the scratch of its
// fused blocks, placed by lifetime over the steps (arena_plan.h).
#ifndef ONEXN_DELEGATE_PARTITION_ARENA_H_
#define ONEXN_DELEGATE_PARTITION_ARENA_H_

#include <cstddef>
#include <map>
#include <set>
#include <vector>

#include "partition_steps.h"

namespace onexn {

struct ArenaLayout {
  size_t floats = 0;                 // the arena's size
  std::map<int, ptrdiff_t> offsets;  // internal tensor, or ScratchKey(step), -> its offset in floats
};

// Plans the arena for the current dims (tensor -> dims, every tensor the steps touch) and the steps'
// blocks, whose scratch is sized for `threads`. Sets each step's scratch_floats.
ArenaLayout PlanPartitionArena(std::vector<Step>* steps, const std::set<int>& outer,
                               const std::map<int, std::vector<int>>& dims, int threads);

// Gives every step the offsets of its tensors and scratch (-1: the runtime's tensor, no scratch).
void UseArenaLayout(const ArenaLayout& layout, std::vector<Step>* steps);

}  // namespace onexn

#endif  // ONEXN_DELEGATE_PARTITION_ARENA_H_
