#include "partition_profile.h"

#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>

namespace onexn {

bool ProfilingEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("ONEXN_PROFILE");
    return v != nullptr && v[0] != '\0' && v[0] != '0';
  }();
  return enabled;
}

double NowSeconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

namespace {

// Under a chain's line, each block's two sides per two-thread run: rows, time computing them, time waiting
// for rows the other side had not written yet (where two threads lose: onexn_dwblock_chain_stats).
void PrintChainSides(const std::vector<Step>& steps, const Step& s) {
  const std::vector<int>& starts = s.fused.chain_starts;
  const int end = int(&s - steps.data()) + s.fused.chain_steps;
  for (size_t k = 0; k < starts.size(); k++) {
    onexn_dwblock_chain_side side[2];
    size_t runs = 0;
    if (onexn_dwblock_chain_stats(s.fused.chain.get(), k, 0, &side[0], &runs) != 0 ||
        onexn_dwblock_chain_stats(s.fused.chain.get(), k, 1, &side[1], &runs) != 0 || runs == 0) {
      return;
    }
    const double n = double(runs);
    const int last = (k + 1 < starts.size() ? starts[k + 1] : end) - 1;
    std::fprintf(stderr,
                 "onexn profile:      block %2zu (nodes %d-%d, %3.0f rows): from the top %5.1f rows %7.3f ms, waited "
                 "%6.3f ms; from the bottom %5.1f rows %7.3f ms, waited %6.3f ms\n",
                 k, steps[size_t(starts[k])].node, steps[size_t(last)].node, (side[0].rows + side[1].rows) / n,
                 side[0].rows / n, 1e3 * side[0].compute_seconds / n, 1e3 * side[0].wait_seconds / n, side[1].rows / n,
                 1e3 * side[1].compute_seconds / n, 1e3 * side[1].wait_seconds / n);
  }
}

// "   0.250 ms": a step's mean time per invoke; at several threads with how far apart they finished.
std::string StepTime(const Step& s, int threads) {
  char text[64];
  const double n = double(s.runs);
  if (threads > 1) {
    std::snprintf(text, sizeof(text), "%8.3f ms, ends %6.3f ms apart", 1e3 * s.seconds / n,
                  1e3 * s.ends_apart_seconds / n);
  } else {
    std::snprintf(text, sizeof(text), "%8.3f ms", 1e3 * s.seconds / n);
  }
  return text;
}

}  // namespace

void PrintProfile(const std::vector<Step>& steps, onexn_isa isa, int threads) {
  double total = 0;
  for (const Step& s : steps) total += s.runs ? s.seconds / double(s.runs) : 0.0;
  std::fprintf(stderr, "onexn profile: partition of %zu nodes, %.3f ms per invoke in its steps\n", steps.size(),
               1e3 * total);
  for (const Step& s : steps) {
    if (s.runs == 0) continue;
    const std::string slices =
        s.fused.split != nullptr
            ? " in " + std::to_string(onexn_dwblock_split_slices(s.fused.split.get())) + " channel slices"
            : "";
    if (s.fused.padded_conv != nullptr || s.fused.padded_pool != nullptr) {
      // The step runs the next node's layer on the PAD's input.
      const Step& layer = steps[&s - steps.data() + 1];
      std::fprintf(stderr, "onexn profile: node %4d %-18s %-34s %s (and the PAD before it, node %d)\n",
                   layer.node, BuiltinOpName(layer.code),
                   s.fused.padded_conv != nullptr ? onexn_conv_kernel_name(s.fused.padded_conv.get())
                                                  : onexn_pool_kernel_name(s.fused.padded_pool.get()),
                   StepTime(s, threads).c_str(), s.node);
      continue;
    }
    if (s.fused.chain != nullptr) {
      const Step& last = steps[size_t(&s - steps.data()) + size_t(s.fused.chain_steps) - 1];
      std::fprintf(stderr, "onexn profile: node %4d %-18s %-34s %s (chain of %zu fused blocks, nodes %d-%d)\n",
                   s.node, BuiltinOpName(s.code), StepKernelName(s.kernel, isa), StepTime(s, threads).c_str(),
                   s.fused.chain_starts.size(), s.node, last.node);
      PrintChainSides(steps, s);
      continue;
    }
    const std::string fused = s.fused.block != nullptr
                                  ? " (fused block of " + std::to_string(s.fused.steps) + " nodes" + slices + ")"
                              : s.fused.residual >= 0 ? " (and the ADD after it)"
                                                      : "";
    std::fprintf(stderr, "onexn profile: node %4d %-18s %-34s %s%s\n", s.node, BuiltinOpName(s.code),
                 StepKernelName(s.kernel, isa), StepTime(s, threads).c_str(), fused.c_str());
  }
}

}  // namespace onexn
