// Partition planning without TFLite: a scripted runtime answers the previews, and the plan must put each
// DENSIFY with its 1xN node exactly when the runtime would keep them together (or give them a call of
// their own), and leave it to the stock runtime otherwise.
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "doctest/doctest.h"
#include "partition_plan.h"

namespace {

using Calls = std::vector<std::vector<int>>;

void Check(bool ok, const std::string& what) { CHECK_MESSAGE(ok, what); }

// A runtime that groups the previewed nodes by a fixed partition label per node (a node without one is
// a partition of its own) and previews a DENSIFY with its 1xN node as one partition when the pair is
// listed in `pairs`. `previews` counts the calls.
struct ScriptedRuntime {
  std::map<int, int> label;
  std::set<std::pair<int, int>> pairs;
  bool can_preview = true;
  int previews = 0;

  std::vector<std::vector<int>> Preview(const std::vector<int>& nodes) {
    ++previews;
    if (!can_preview) return {};
    if (nodes.size() == 2 && pairs.count({nodes[0], nodes[1]}) != 0) return {nodes};
    std::map<int, std::vector<int>> groups;
    for (int n : nodes) groups[label.count(n) != 0 ? label[n] : 1000 + n].push_back(n);
    std::vector<std::vector<int>> parts;
    for (auto& g : groups) parts.push_back(g.second);
    return parts;
  }

  onexn::PartitionPlan Plan(const std::vector<int>& claimed, const std::vector<int>& glue,
                            const std::map<int, int>& densify) {
    return onexn::PlanPartitions(claimed, glue, densify,
                                 [this](const std::vector<int>& nodes) { return Preview(nodes); });
  }
};

}  // namespace

TEST_CASE("partition plan: no densify is one call without preview") {
  ScriptedRuntime rt;
  const onexn::PartitionPlan p = rt.Plan({3, 7}, {5}, {});
  Check(p.calls == Calls{{3, 7, 5}}, "1xN nodes then glue in one call");
  Check(p.joined_densify.empty(), "no DENSIFY joins");
  Check(rt.previews == 0, "nothing to decide: no preview");
}

TEST_CASE("partition plan: nothing claimed is no call") {
  ScriptedRuntime rt;
  Check(rt.Plan({}, {}, {}).calls.empty(), "no claimed node: no replacement call");
}

TEST_CASE("partition plan: densify in the same partition joins") {
  ScriptedRuntime rt;
  rt.label = {{0, 1}, {1, 1}, {3, 1}, {4, 1}, {5, 1}};
  const onexn::PartitionPlan p = rt.Plan({3, 5}, {4}, {{0, 3}, {1, 5}});
  Check(p.calls == Calls{{0, 1, 3, 5, 4}}, "DENSIFYs first, then 1xN nodes, then glue, in one call");
  Check(p.joined_densify == std::map<int, int>{{0, 3}, {1, 5}}, "both DENSIFYs join");
  Check(rt.previews == 1, "settled after one preview");
}

TEST_CASE("partition plan: densify separated from a busy partition stays with the runtime") {
  // DENSIFY 0 runs first, an unclaimed node 2 separates it from 1xN node 3, whose partition holds glue 4.
  ScriptedRuntime rt;
  rt.label = {{0, 1}, {3, 2}, {4, 2}};
  rt.pairs = {{0, 3}};
  const onexn::PartitionPlan p = rt.Plan({3}, {4}, {{0, 3}});
  Check(p.calls == Calls{{3, 4}}, "the DENSIFY leaves the call");
  Check(p.joined_densify.empty(), "the DENSIFY stays with the stock runtime");
}

TEST_CASE("partition plan: densify of a lone node gets a call of its own") {
  // 1xN node 5 would be a partition of its own (apart from 1xN node 3 and its DENSIFY 0); with its
  // DENSIFY 1 it previews as one partition, so the pair is replaced by a call of its own.
  ScriptedRuntime rt;
  rt.label = {{0, 1}, {1, 1}, {3, 1}, {5, 2}};
  rt.pairs = {{1, 5}};
  const onexn::PartitionPlan p = rt.Plan({3, 5}, {}, {{0, 3}, {1, 5}});
  Check(p.calls == Calls({{1, 5}, {0, 3}}), "the pair's call first, then everything else");
  Check(p.joined_densify == std::map<int, int>{{0, 3}, {1, 5}}, "both DENSIFYs join");
}

TEST_CASE("partition plan: lone node whose pair splits leaves its densify") {
  ScriptedRuntime rt;
  rt.label = {{0, 1}, {1, 1}, {3, 1}, {5, 2}};
  const onexn::PartitionPlan p = rt.Plan({3, 5}, {}, {{0, 3}, {1, 5}});
  Check(p.calls == Calls{{0, 3, 5}}, "one call, DENSIFY 1 left out");
  Check(p.joined_densify == std::map<int, int>{{0, 3}}, "only DENSIFY 0 joins");
}

TEST_CASE("partition plan: no preview keeps every densify with the runtime") {
  ScriptedRuntime rt;
  rt.can_preview = false;
  const onexn::PartitionPlan p = rt.Plan({3, 5}, {4}, {{0, 3}, {1, 5}});
  Check(p.calls == Calls{{3, 5, 4}}, "1xN nodes and glue only");
  Check(p.joined_densify.empty(), "no DENSIFY joins when the runtime cannot preview");
}

TEST_CASE("partition plan: every node alone empties the main call") {
  // Both 1xN nodes go alone with their DENSIFY, which leaves the main call empty; an empty preview reads
  // as "cannot preview", so both DENSIFYs stay with the runtime (the behaviour this unit was cut from).
  ScriptedRuntime rt;
  rt.label = {{0, 1}, {1, 1}, {3, 2}, {5, 3}};
  rt.pairs = {{0, 3}, {1, 5}};
  const onexn::PartitionPlan p = rt.Plan({3, 5}, {}, {{0, 3}, {1, 5}});
  Check(p.calls == Calls{{3, 5}}, "the 1xN nodes in one call");
  Check(p.joined_densify.empty(), "their DENSIFYs stay with the runtime");
}

TEST_CASE("partition plan: rounds are capped") {
  // A runtime that separates one more DENSIFY (from a busy partition) in every round: the planner stops
  // after eight rounds and keeps the DENSIFYs it has not seen separated.
  std::vector<int> claimed;
  std::map<int, int> densify;
  for (int i = 0; i < 10; ++i) {
    densify[i] = 100 + i;
    claimed.push_back(100 + i);
  }
  int rounds = 0;
  const onexn::PartitionPlan p = onexn::PlanPartitions(claimed, {}, densify, [&](const std::vector<int>& nodes) {
    const int separated = rounds++;
    std::vector<std::vector<int>> parts(2);
    for (int n : nodes) parts[n == separated].push_back(n);
    return parts;
  });
  Check(rounds == 8, "eight rounds");
  Check(p.joined_densify == std::map<int, int>{{8, 108}, {9, 109}}, "the DENSIFYs of the last two still join");
}
