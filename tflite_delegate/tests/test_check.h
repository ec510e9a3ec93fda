// Shared by the kernel library's test programs: pass / fail counting, the ISAs to test, the summary line.
#ifndef ONEXN_TESTS_TEST_CHECK_H_
#define ONEXN_TESTS_TEST_CHECK_H_

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

}  // namespace onexn_test

#endif  // ONEXN_TESTS_TEST_CHECK_H_
