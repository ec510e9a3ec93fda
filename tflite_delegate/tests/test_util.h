// Shared by the kernel library's tests: named checks, the ISAs to test, how many random cases to run, runs
// into guarded buffers, TFLite's output size and padding of one axis.
#ifndef ONEXN_TESTS_TEST_UTIL_H_
#define ONEXN_TESTS_TEST_UTIL_H_

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "onexn_kernels.h"

namespace onexn_test {

// One doctest assertion; `what` names the case when it fails.
inline void Check(bool ok, const std::string& what) { CHECK_MESSAGE(ok, what); }

// A 14x14 1x1 layer of 32 -> 48 channels (Case: a test's own case type): 25 tiles of 8 pixels, 13 of 16 or 49
// of 4, which the threads of a pool cannot share evenly (onexn_conv_plan_tasks splits the panels too).
template <typename Case>
Case UnevenTilesCase(int n, unsigned seed) {
  Case c;
  c.in_h = c.in_w = 14;
  c.cin = 32;
  c.cout = 48;
  c.n = n;
  c.seed = seed;
  return c;
}

// Every ISA compiled in and supported by this CPU.
inline std::vector<onexn_isa> AvailableIsas() {
  std::vector<onexn_isa> isas;
  for (onexn_isa isa : {ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    if (onexn_isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

// What a test runs: the kernel an ISA dispatches to (uk == nullptr), or one microkernel of a kernel list
// (Config: the operator's config of a list row, e.g. onexn_ukernel_config).
template <typename Config>
struct Kernel {
  std::string label;
  onexn_isa isa;
  const Config* uk;
};

template <typename Config>
std::vector<Kernel<Config>> Dispatched(const std::vector<onexn_isa>& isas) {
  std::vector<Kernel<Config>> kernels;
  for (onexn_isa isa : isas) kernels.push_back({onexn_isa_name(isa), isa, nullptr});
  return kernels;
}

// Random cases per test: ONEXN_TEST_RANDOM_CASES, else `fallback`
// (bazel test --test_env=ONEXN_TEST_RANDOM_CASES=2000 ... for a longer run).
inline int RandomCaseCount(int fallback) {
  const char* v = std::getenv("ONEXN_TEST_RANDOM_CASES");
  return v != nullptr ? std::atoi(v) : fallback;
}

// The ISA of a kernel list row is available here: MESSAGE says so when it is not (the test case passes
// empty, as on a CPU without that ISA).
inline bool Runs(onexn_isa isa, const char* kernel) {
  if (onexn_isa_supported(isa)) return true;
  MESSAGE((std::string(kernel) + ": this CPU lacks " + onexn_isa_name(isa) + ", not run"));
  return false;
}

// Runs run(float* out) into `total` NaNs between guard bands and copies them to *out; false if the run
// wrote into a guard band.
template <typename Run>
bool RunGuarded(size_t total, Run run, std::vector<float>* out) {
  constexpr size_t kGuard = 64;
  constexpr float kSentinel = -12345.0f;
  std::vector<float> buf(total + 2 * kGuard, kSentinel);
  std::fill(buf.begin() + kGuard, buf.begin() + kGuard + total, std::numeric_limits<float>::quiet_NaN());
  run(buf.data() + kGuard);
  bool guards_ok = true;
  for (size_t i = 0; i < kGuard; i++) guards_ok &= buf[i] == kSentinel && buf[kGuard + total + i] == kSentinel;
  out->assign(buf.begin() + kGuard, buf.begin() + kGuard + total);
  return guards_ok;
}

enum class Pad { kSame, kValid, kExplicit };

// A 1x1 convolution of stride 1 over h x w pixels (the blocks' expansions and projections), clamped to
// [0, 6] (relu6) or not at all.
inline onexn_conv_shape PointwiseShape(int batch, int h, int w, int cin, int cout, bool relu6) {
  onexn_conv_shape s{};
  s.batch = batch;
  s.in_h = s.out_h = h;
  s.in_w = s.out_w = w;
  s.cin = cin;
  s.cout = cout;
  s.kh = s.kw = s.stride_h = s.stride_w = s.dilation_h = s.dilation_w = 1;
  s.out_min = relu6 ? 0.0f : -std::numeric_limits<float>::infinity();
  s.out_max = relu6 ? 6.0f : std::numeric_limits<float>::infinity();
  return s;
}

// Output size and leading padding of one axis, TFLite-style (kExplicit: pad_lo before, pad_hi after);
// false if the output would be empty.
inline bool Axis(Pad pad, int in, int k, int stride, int dilation, int pad_lo, int pad_hi, int* out, int* lead) {
  const int ek = (k - 1) * dilation + 1;
  if (pad == Pad::kSame) {
    *out = (in + stride - 1) / stride;
    *lead = std::max(0, (*out - 1) * stride + ek - in) / 2;
  } else if (pad == Pad::kValid) {
    *out = in >= ek ? (in - ek) / stride + 1 : 0;
    *lead = 0;
  } else {
    *out = in + pad_lo + pad_hi >= ek ? (in + pad_lo + pad_hi - ek) / stride + 1 : 0;
    *lead = pad_lo;
  }
  return *out >= 1;
}

}  // namespace onexn_test

#endif  // ONEXN_TESTS_TEST_UTIL_H_
