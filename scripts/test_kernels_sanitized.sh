#!/usr/bin/env bash
# Builds the onexn kernel tests natively with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# them (tests/kernel_test.cc, tests/dwconv_test.cc, tests/dwblock_test.cc), halting on the first error. Usage: scripts/test_kernels_sanitized.sh [random-case-count]
# CC/CXX may be set to clang/clang++ (default gcc/g++).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tflite_delegate/kernels/build_kernels.sh"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"
ARCH="$(uname -m)"
OUT="${ONEXN_BUILD_DIR:-$ROOT/build/kernel_test_sanitized}"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g"
mkdir -p "$OUT"
# shellcheck disable=SC2086
onexn_build_kernels "$CC" "$ARCH" "$OUT/obj" $SAN > "$OUT/objects.txt" || { echo "kernel build failed"; exit 1; }
mapfile -t OBJS < "$OUT/objects.txt"
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
rc=0
for prog in kernel_test dwconv_test dwblock_test; do
  # shellcheck disable=SC2086
  "$CXX" -std=c++17 -O1 $SAN -I"$ROOT/tflite_delegate/kernels" \
    "$ROOT/tflite_delegate/tests/$prog.cc" "${OBJS[@]}" -o "$OUT/$prog" -lpthread -lm
  "$OUT/$prog" "$@" || rc=1
done
exit "$rc"
