// The partition arena planner: tensors alive at the same step never share bytes, every tensor is
// 64-byte aligned and inside the arena, and a chain of layers reuses memory instead of stacking it.
#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "arena_plan.h"
#include "doctest/doctest.h"

namespace {

void Check(bool ok, const char* what, int seed) {
  CHECK_MESSAGE(ok, (std::string(what) + " (case " + std::to_string(seed) + ")"));
}

void CheckPlan(const std::vector<onexn::ArenaRequest>& req, int seed) {
  std::vector<size_t> off;
  const size_t total = onexn::PlanArena(req, &off);
  size_t sum = 0;
  bool aligned = true, inside = true, disjoint = true;
  for (size_t i = 0; i < req.size(); ++i) {
    sum += (req[i].floats + 15) / 16 * 16;
    aligned &= off[i] % 16 == 0;
    inside &= off[i] + req[i].floats <= total;
    for (size_t j = 0; j < i; ++j) {
      const bool live_together = req[i].first <= req[j].last && req[j].first <= req[i].last;
      const bool overlap = off[i] < off[j] + req[j].floats && off[j] < off[i] + req[i].floats;
      disjoint &= !(live_together && overlap && req[i].floats > 0 && req[j].floats > 0);
    }
  }
  Check(off.size() == req.size(), "one offset per request", seed);
  Check(aligned, "offsets are multiples of 16 floats", seed);
  Check(inside, "tensors inside the arena", seed);
  Check(disjoint, "tensors alive together do not overlap", seed);
  Check(total <= sum, "arena no larger than all tensors stacked", seed);
}

}  // namespace

TEST_CASE("arena: a chain of layers reuses memory") {
  // Step i produces tensor i, step i+1 reads it. Only neighbours are alive together.
  std::vector<onexn::ArenaRequest> chain;
  for (int i = 0; i < 20; ++i) chain.push_back({size_t(1000 + 160 * (i % 5)), i, i + 1});
  std::vector<size_t> off;
  const size_t total = onexn::PlanArena(chain, &off);
  // Greedy by size is not optimal (two neighbours need 3120), but must stay near it: stacked is 26,400.
  Check(total <= 3 * 1648, "a chain reuses memory (at most three of its largest tensors)", -1);
  CheckPlan(chain, -1);
}

TEST_CASE("arena: no requests, empty tensors") {
  CheckPlan({}, -2);
  CheckPlan({{0, 0, 0}, {5, 0, 3}}, -3);
}

TEST_CASE("arena: random graphs with residual connections") {
  // Long-lived tensors next to short ones, random sizes.
  std::mt19937 rng(7);
  for (int seed = 0; seed < 500; ++seed) {
    std::vector<onexn::ArenaRequest> req;
    const int n = int(rng() % 40);
    for (int i = 0; i < n; ++i) {
      const int first = int(rng() % 30);
      req.push_back({size_t(rng() % 5000), first, first + int(rng() % 8)});
    }
    CheckPlan(req, seed);
  }
}

TEST_CASE("arena: tensors of steps run as one live through all of them") {
  // Steps 2-5 a chain: tensor 1 (made at 1, read at 2), tensors of 2-4, tensor 5 (made at 5, read at 6) all
  // overlap the chain and so one another; tensors 0 (0-1) and 6 (6-7) stay as they were.
  std::vector<onexn::ArenaRequest> req;
  for (int i = 0; i < 8; ++i) req.push_back({1000, i, i + 1});
  onexn::SpanLifetimes(&req, 2, 5);
  for (int i = 0; i < 8; ++i) {
    const bool in_chain = i >= 1 && i <= 5;
    Check(req[size_t(i)].first == (in_chain ? std::min(i, 2) : i), "first step", i);
    Check(req[size_t(i)].last == (in_chain ? std::max(i + 1, 5) : i + 1), "last step", i);
  }
  std::vector<size_t> off;
  onexn::PlanArena(req, &off);
  for (int i = 1; i <= 5; ++i) {
    for (int j = 1; j < i; ++j) Check(off[size_t(i)] != off[size_t(j)], "chain tensors apart", i);
  }
  CheckPlan(req, -4);
}
