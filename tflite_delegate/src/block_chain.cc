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

// A depthwise step that no fusion took becomes a block of its own, so that a chain can run through it
// (MobileNetV1 at 2 threads: each stride-2 depthwise sits alone between two blocks); false if it cannot.
bool WrapDepthwise(Step* s) {
  FusedBlock& f = s->fused;
  if (f.block != nullptr || f.steps > 1) return false;
  char err[256];
  if (const auto* d = std::get_if<DepthwiseStep>(&s->kernel); d != nullptr && d->dw != nullptr) {
    f.block.reset(onexn_dwblock_create(nullptr, d->dw.get(), nullptr, err, sizeof(err)));
    f.int8 = false;
  } else if (const auto* q = std::get_if<QDepthwiseStep>(&s->kernel); q != nullptr && q->dw != nullptr) {
    f.block.reset(onexn_qdwblock_create(nullptr, q->dw.get(), nullptr, err, sizeof(err)));
    f.int8 = true;
  }
  if (f.block == nullptr) return false;
  f.steps = 1;
  return true;
}

}  // namespace

void PlanBlockChains(std::vector<Step>* steps_in, int threads, onexn_isa isa, bool verbose) {
  std::vector<Step>& steps = *steps_in;
  if (threads != 2) return;
  std::vector<bool> wrapped(steps.size(), false), chained(steps.size(), false);
  for (size_t i = 0; i < steps.size(); i += size_t(steps[i].Span())) wrapped[i] = WrapDepthwise(&steps[i]);
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
    for (size_t j = i; j < end; ++j) chained[j] = true;
    i = end;
  }
  // A depthwise wrapped for a chain that was not made runs as its own step again.
  for (size_t i = 0; i < steps.size(); ++i) {
    if (wrapped[i] && !chained[i]) {
      steps[i].fused.block.reset();
      steps[i].fused.steps = 0;
    }
  }
}

}  // namespace onexn
