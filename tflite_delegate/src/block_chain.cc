#include "block_chain.h"

#include <cstdio>

#include "partition_profile.h"

namespace onexn {
namespace {

// A depthwise block run by rows (not cut by channels), whose residual ADD, if any, adds its input.
bool Chainable(const std::vector<Step>& steps, size_t i) {
  const FusedBlock& f = steps[i].fused;
  if (f.block == nullptr || f.split != nullptr || steps[i].inputs.empty()) return false;
  if (f.residual < 0) return true;
  const Step& add = steps[i + size_t(f.steps) - 1];
  return add.inputs[size_t(f.residual)] == steps[i].inputs[0];
}

// The link of the block that starts at step i (isa: the partition's, which an int8 ADD runs on).
onexn_dwblock_link Link(const std::vector<Step>& steps, size_t i, onexn_isa isa) {
  const FusedBlock& f = steps[i].fused;
  onexn_dwblock_link l{f.block.get(), 0, 0.0f, 0.0f, nullptr, 0, isa};
  if (f.residual >= 0 && f.int8) {
    const QAddStep& add = std::get<QAddStep>(steps[i + size_t(f.steps) - 1].kernel);
    l.residual = 1;
    l.qadd = &add.params;
    l.block_operand = 1 - f.residual;  // the ADD's other input is the block's output
  } else if (f.residual >= 0) {
    const AddStep& add = std::get<AddStep>(steps[i + size_t(f.steps) - 1].kernel);
    l.residual = 1;
    l.add_min = add.out_min;
    l.add_max = add.out_max;
  }
  return l;
}

}  // namespace

void PlanBlockChains(std::vector<Step>* steps_in, int threads, onexn_isa isa, bool verbose) {
  std::vector<Step>& steps = *steps_in;
  if (threads != 2) return;
  for (size_t i = 0; i < steps.size();) {
    // The blocks from step i on that each read the one before's output.
    std::vector<size_t> starts;
    for (size_t j = i; j < steps.size() && Chainable(steps, j); j += size_t(steps[j].fused.steps)) {
      const bool reads_previous = starts.empty() || steps[j].inputs[0] == steps[j - 1].output;
      if (!reads_previous || steps[j].fused.int8 != steps[i].fused.int8) break;
      starts.push_back(j);
    }
    if (starts.size() < 2) {
      i += size_t(steps[i].Span());
      continue;
    }
    std::vector<onexn_dwblock_link> links;
    for (size_t s : starts) links.push_back(Link(steps, s, isa));
    char err[256];
    onexn_dwblock_chain* chain = onexn_dwblock_chain_create(links.data(), links.size(), err, sizeof(err));
    const size_t end = starts.back() + size_t(steps[starts.back()].fused.steps);
    if (chain == nullptr) {
      if (verbose) std::fprintf(stderr, "onexn: blocks of nodes %d-%d not chained: %s\n", steps[i].node,
                                steps[end - 1].node, err);
      i = end;
      continue;
    }
    FusedBlock& f = steps[i].fused;
    f.chain.reset(chain);
    if (ProfilingEnabled()) onexn_dwblock_chain_profile(chain, 1);  // out of memory: the chain's line alone
    f.chain_steps = int(end - i);
    for (size_t s : starts) f.chain_starts.push_back(int(s));
    i = end;
  }
}

}  // namespace onexn
