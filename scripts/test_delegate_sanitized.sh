#!/usr/bin/env bash
# Runs the delegate's Python tests against a libonexn_delegate.so built with AddressSanitizer +
# UndefinedBehaviorSanitizer (clang), loaded through ONEXN_DELEGATE_PATH into the real runtimes
# (ai_edge_litert and tf.lite), with the ASan runtime LD_PRELOADed into python; tests/test_abi.py loads
# the sanitized testing variant through ONEXN_TESTING_DELEGATE_PATH.
#   scripts/test_delegate_sanitized.sh [extra pytest args]
# The library goes to build/delegate_asan (rebuilt when a source changes). Any ASan or UBSan report
# aborts the run (halt_on_error, -fno-sanitize-recover=all), so the exit code is non-zero.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source tflite_delegate/fuzz/build_delegate.sh
PY="$(onexn_python)"
OUT="${ONEXN_ASAN_BUILD_DIR:-$ROOT/build/delegate_asan}"

LIB="$(onexn_build_sanitized_delegate "$OUT")"
TESTING_LIB="$OUT/libonexn_delegate_testing.so"
RUNTIME="$(onexn_asan_runtime)"
# Proof that the libraries really are instrumented (not stale plain builds).
for lib in "$LIB" "$TESTING_LIB"; do
  nm -D --undefined-only "$lib" | grep "__asan_report_load" >/dev/null || { echo "sanitized: $lib has no ASan checks"; exit 1; }
  nm -D --undefined-only "$lib" | grep "__ubsan_handle_" >/dev/null || { echo "sanitized: $lib has no UBSan checks"; exit 1; }
done
echo "sanitized: $LIB and $TESTING_LIB (ASan + UBSan), runtime $RUNTIME"

TESTS=(tests/test_delegate.py tests/test_delegate_glue.py tests/test_delegate_metadata.py tests/test_delegate_models.py
       tests/test_delegate_dense.py tests/test_delegate_tensor_ops.py
       tests/test_delegate_options.py tests/test_abi.py tests/test_reliability_inputs.py
       tests/test_reliability_threads.py tests/test_reliability_lifetime.py tests/test_delegate_int8.py)
# Not meaningful here: the first asserts that the library is the pip-installed one; the second swaps in
# the (uninstrumented) Bazel build. The RSS cycle test is left out because ASan's quarantine holds freed
# memory on purpose; scripts/leak_check.sh runs those cycles under LeakSanitizer instead.
DESELECT=(--deselect tests/test_delegate_options.py::test_delegate_path_is_the_installed_library
          --deselect tests/test_delegate_options.py::test_bazel_built_library_works_the_same)

# detect_leaks=0: CPython and TensorFlow/LiteRT do not free their module-level state at exit, so LSan
# would report megabytes of leaks that are not the delegate's and fail every run. Leaks are checked by
# scripts/leak_check.sh, which attributes each leak to the module that allocated it.
# detect_odr_violation=0, alloc_dealloc_mismatch=0: the prebuilt TensorFlow wheels trip these checks in
# their own code; the delegate does not depend on either being on.
# log_path: pytest captures stderr and loses it when the process aborts; reports go to files instead.
LOGS="$OUT/reports"
rm -rf "$LOGS"
mkdir -p "$LOGS"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:detect_odr_violation=0:alloc_dealloc_mismatch=0:log_path=$LOGS/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export TF_CPP_MIN_LOG_LEVEL=3
status=0
LD_PRELOAD="$RUNTIME" ONEXN_DELEGATE_PATH="$LIB" ONEXN_TESTING_DELEGATE_PATH="$TESTING_LIB" "$PY" -m pytest -q -p no:cacheprovider -p no:warnings \
  "${TESTS[@]}" "${DESELECT[@]}" "$@" || status=$?
# The tests above must have run inside an ASan process: the runtime answers from python itself.
LD_PRELOAD="$RUNTIME" "$PY" -c "import ctypes; ctypes.CDLL(None).__asan_address_is_poisoned" \
  || { echo "sanitized: the ASan runtime was not active in python"; exit 1; }
reports=$(find "$LOGS" -type f | wc -l)
if ((reports)); then
  head -60 "$LOGS"/*
  status=1
fi
echo "sanitized: delegate Python tests under ASan + UBSan: $reports sanitizer reports, exit status $status"
exit "$status"
