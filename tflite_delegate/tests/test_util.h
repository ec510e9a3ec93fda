// Shared by the kernel library's test programs: pass / fail counting, the ISAs to test, the summary line,
// TFLite's output size and padding of one axis.
#ifndef ONEXN_TESTS_TEST_UTIL_H_
#define ONEXN_TESTS_TEST_UTIL_H_

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "onexn_kernels.h"

namespace onexn_test {

inline int g_passed = 0;
inline int g_failed = 0;

inline void Check(bool ok, const std::string& what) {
  if (ok) {
    g_passed++;
  } else {
    g_failed++;
    std::printf("FAIL: %s\n", what.c_str());
  }
}

// Every ISA compiled in and supported by this CPU.
inline std::vector<onexn_isa> AvailableIsas() {
  std::vector<onexn_isa> isas;
  for (onexn_isa isa : {ONEXN_ISA_SCALAR, ONEXN_ISA_AVX2, ONEXN_ISA_AVX512, ONEXN_ISA_NEON}) {
    if (onexn_isa_supported(isa)) isas.push_back(isa);
  }
  return isas;
}

// Prints "N passed, M failed" (the scripts read this last line) and returns the exit code.
inline int Summary() {
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

enum class Pad { kSame, kValid, kExplicit };

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
