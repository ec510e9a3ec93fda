#include "partition_arena.h"

#include "arena_plan.h"

namespace onexn {
namespace {

// Scratch of the block that starts at step i, keyed below every tensor index.
int ScratchKey(int step) { return -2 - step; }

ptrdiff_t OffsetOf(const ArenaLayout& layout, int key) {
  auto it = layout.offsets.find(key);
  return it != layout.offsets.end() ? it->second : ptrdiff_t(-1);
}

}  // namespace

ArenaLayout PlanPartitionArena(std::vector<Step>* steps_in, const std::set<int>& outer,
                               const std::map<int, std::vector<int>>& dims, int threads) {
  std::vector<Step>& steps = *steps_in;
  const int n = int(steps.size());
  // Inside a block only its last step's output exists, from the block's first step on.
  std::vector<bool> inside_block(n, false);
  std::vector<int> block_start(n);
  for (int i = 0; i < n; ++i) block_start[i] = i;
  for (int i = 0; i < n; ++i) {
    const int k = steps[i].fused.steps;
    for (int j = i; j < i + k - 1; ++j) inside_block[j] = true;
    if (k > 0) block_start[i + k - 1] = i;
  }
  std::map<int, ArenaRequest> requests;
  for (int i = 0; i < n; ++i) {
    const Step& s = steps[i];
    for (int t : s.inputs) {
      if (requests.count(t) != 0) requests[t].last = i;
    }
    if (outer.count(s.output) == 0 && !inside_block[i]) {
      size_t floats = 1;
      for (int v : dims.at(s.output)) floats *= size_t(v);
      // A block writes its last step's output while it still reads its first step's input.
      requests[s.output] = ArenaRequest{floats, block_start[i], i};
    }
  }
  std::vector<bool> chained(n, false);  // blocks of a chain run on the chain's own scratch
  for (int i = 0; i < n; ++i) {
    for (int j = i; j < i + steps[i].fused.chain_steps; ++j) chained[j] = true;
  }
  for (int i = 0; i < n; ++i) {
    FusedBlock& f = steps[i].fused;
    if (chained[i]) continue;
    f.scratch_floats = f.split != nullptr   ? onexn_dwblock_split_scratch_floats(f.split.get())
                       : f.block != nullptr ? onexn_dwblock_scratch_floats(f.block.get(), size_t(threads))
                                            : 0;
    if (f.scratch_floats != 0) requests[ScratchKey(i)] = ArenaRequest{f.scratch_floats, i, i};
  }
  std::vector<ArenaRequest> list;
  for (const auto& r : requests) list.push_back(r.second);
  // A chain's two threads may be a block apart: a tensor a block reads lives through the block after it.
  for (int i = 0; i < n; ++i) {
    const FusedBlock& f = steps[i].fused;
    if (f.chain == nullptr) continue;
    std::vector<std::pair<int, int>> blocks;
    for (int s : f.chain_starts) blocks.push_back({s, s + steps[size_t(s)].fused.steps - 1});
    ChainLifetimes(&list, blocks);
  }
  std::vector<size_t> offsets;
  ArenaLayout layout;
  layout.floats = PlanArena(list, &offsets);
  size_t k = 0;
  for (const auto& r : requests) layout.offsets[r.first] = ptrdiff_t(offsets[k++]);
  return layout;
}

void UseArenaLayout(const ArenaLayout& layout, std::vector<Step>* steps) {
  for (int i = 0; i < int(steps->size()); ++i) {
    Step& s = (*steps)[i];
    s.fused.scratch_offset = OffsetOf(layout, ScratchKey(i));
    s.input_offsets.clear();
    for (int t : s.inputs) s.input_offsets.push_back(OffsetOf(layout, t));
    s.output_offset = OffsetOf(layout, s.output);
  }
}

}  // namespace onexn
