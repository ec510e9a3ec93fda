// main() of the delegate's C++ tests (doctest). Bazel passes --test_filter as TESTBRIDGE_TEST_ONLY; here it
// selects test cases by name, with doctest's wildcards and commas:
//   bazel test //tflite_delegate:kernel_test --test_filter='f32-spconv-8x16*'
// Run directly, a test binary takes doctest's own options (--test-case=..., --list-test-cases, -s).
#define DOCTEST_CONFIG_IMPLEMENT
#include <cstdlib>

#include "doctest/doctest.h"

int main(int argc, char** argv) {
  doctest::Context context;
  if (const char* filter = std::getenv("TESTBRIDGE_TEST_ONLY")) context.addFilter("test-case", filter);
  context.applyCommandLine(argc, argv);
  return context.run();
}
