#include "partition_plan.h"

#include <cstddef>
#include <set>

namespace onexn {
namespace {

// Each round only drops DENSIFYs or moves them into calls of their own, so the plan settles within a
// few rounds; the cap bounds the preview calls on unusual graphs.
constexpr int kMaxRounds = 8;

struct Joining {
  std::map<int, int> densify_of;  // DENSIFY node -> its 1xN node, for those that (still) join
  std::set<int> alone;            // 1xN nodes replaced together with their DENSIFY in calls of their own
};

// The call for everything not alone: joining DENSIFYs, 1xN nodes, the others.
std::vector<int> MainCall(const Joining& j, const std::vector<int>& claimed, const std::vector<int>& others) {
  std::vector<int> nodes;
  for (const auto& d : j.densify_of) {
    if (j.alone.count(d.second) == 0) nodes.push_back(d.first);
  }
  for (int n : claimed) {
    if (j.alone.count(n) == 0) nodes.push_back(n);
  }
  nodes.insert(nodes.end(), others.begin(), others.end());
  return nodes;
}

// One round: every DENSIFY the runtime would separate from its 1xN node either goes alone with it (when
// that node would be a partition of its own and the two form one) or stays with the stock runtime.
// Returns whether anything changed.
bool SettleRound(Joining* j, const std::vector<std::vector<int>>& parts, const PreviewPartitions& preview) {
  std::map<int, size_t> partition_of;
  for (size_t i = 0; i < parts.size(); ++i) {
    for (int n : parts[i]) partition_of[n] = i;
  }
  bool changed = false;
  for (auto it = j->densify_of.begin(); it != j->densify_of.end();) {
    const int densify = it->first, conv = it->second;
    const auto d = partition_of.find(densify), c = partition_of.find(conv);
    if (j->alone.count(conv) != 0 || (d != partition_of.end() && c != partition_of.end() && d->second == c->second)) {
      ++it;
      continue;
    }
    changed = true;
    size_t others = 0;  // members of the 1xN node's partition besides DENSIFYs and itself
    if (c != partition_of.end()) {
      for (int n : parts[c->second]) others += n != conv && j->densify_of.count(n) == 0;
    }
    if (c != partition_of.end() && others == 0 && preview({densify, conv}).size() == 1) {
      j->alone.insert(conv);
      ++it;
    } else {
      it = j->densify_of.erase(it);
    }
  }
  return changed;
}

}  // namespace

PartitionPlan PlanPartitions(const std::vector<int>& claimed, const std::vector<int>& others,
                             const std::map<int, int>& densify_candidates, const PreviewPartitions& preview) {
  Joining j{densify_candidates, {}};
  for (int round = 0; round < kMaxRounds && !j.densify_of.empty(); ++round) {
    const std::vector<std::vector<int>> parts = preview(MainCall(j, claimed, others));
    if (parts.empty()) {  // the runtime cannot preview: every DENSIFY stays with the stock runtime
      j = Joining();
      break;
    }
    if (!SettleRound(&j, parts, preview)) break;
  }
  PartitionPlan plan;
  plan.joined_densify = j.densify_of;
  for (const auto& d : j.densify_of) {
    if (j.alone.count(d.second) != 0) plan.calls.push_back({d.first, d.second});
  }
  std::vector<int> main_call = MainCall(j, claimed, others);
  if (!main_call.empty()) plan.calls.push_back(std::move(main_call));
  return plan;
}

}  // namespace onexn
