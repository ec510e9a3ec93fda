#include "arena_plan.h"

#include <algorithm>
#include <numeric>

namespace onexn {

void ChainLifetimes(std::vector<ArenaRequest>* requests, const std::vector<std::pair<int, int>>& blocks) {
  if (blocks.empty()) return;
  const int first = blocks.front().first, last = blocks.back().second;
  auto block_of = [&](int step) {  // the block that holds a step of the chain
    size_t k = 0;
    while (k + 1 < blocks.size() && blocks[k].second < step) k++;
    return k;
  };
  for (ArenaRequest& r : *requests) {
    if (r.last < first || r.first > last) continue;
    if (r.first >= first) r.first = blocks[block_of(r.first)].first;
    if (r.last <= last) r.last = std::max(r.last, blocks[std::min(block_of(r.last) + 1, blocks.size() - 1)].second);
  }
}

size_t PlanArena(const std::vector<ArenaRequest>& req, std::vector<size_t>* offsets) {
  const size_t n = req.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return req[a].floats > req[b].floats; });
  offsets->assign(n, 0);
  std::vector<size_t> placed;
  size_t total = 0;
  for (size_t i : order) {
    const size_t need = (req[i].floats + 15) & ~size_t(15);
    // Placed tensors alive at the same time as this one, by offset.
    std::vector<size_t> busy;
    for (size_t j : placed) {
      if (req[j].first <= req[i].last && req[i].first <= req[j].last) busy.push_back(j);
    }
    std::sort(busy.begin(), busy.end(), [&](size_t a, size_t b) { return (*offsets)[a] < (*offsets)[b]; });
    size_t at = 0;
    for (size_t j : busy) {
      if ((*offsets)[j] >= at + need) break;  // the gap before j fits
      at = std::max(at, (*offsets)[j] + ((req[j].floats + 15) & ~size_t(15)));
    }
    (*offsets)[i] = at;
    total = std::max(total, at + need);
    placed.push_back(i);
  }
  return total;
}

}  // namespace onexn
