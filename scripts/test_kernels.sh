#!/usr/bin/env bash
# Builds the onexn kernel tests natively (gcc/g++, -O2, file-name flag convention) and runs them.
# Usage: scripts/test_kernels.sh [random-case-count]     Exit code: 0 only if every check passed.
# Runs tests/kernel_test.cc, tests/dwconv_test.cc and tests/dwblock_test.cc.
#        scripts/test_kernels.sh --bench [--isa=NAME] [--quick] [--dwconv-only]   builds and runs tests/kernel_bench.cc
# ONEXN_QEMU_CPU=Haswell (or qemu64) runs the x86 tests under qemu-x86_64 with that CPU model, to check
# the runtime dispatch on a machine without AVX-512 (or without AVX).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tflite_delegate/kernels/build_kernels.sh"
CC="${CC:-gcc}"
CXX="${CXX:-g++}"
ARCH="$(uname -m)"
OUT="${ONEXN_BUILD_DIR:-$ROOT/build/kernel_test}"
mkdir -p "$OUT"
onexn_build_kernels "$CC" "$ARCH" "$OUT/obj" > "$OUT/objects.txt" || { echo "kernel build failed"; exit 1; }
mapfile -t OBJS < "$OUT/objects.txt"
if [[ "${1:-}" == --bench ]]; then
  shift
  "$CXX" -std=c++17 -O2 -Wall -Wextra -I"$ROOT/tflite_delegate/kernels" \
    "$ROOT/tflite_delegate/tests/kernel_bench.cc" "${OBJS[@]}" -o "$OUT/kernel_bench" -lpthread -lm
  exec "$OUT/kernel_bench" "$@"
fi
# kernel_test (1xN convolution), dwconv_test (depthwise convolution, elementwise add), dwblock_test (1x1 + depthwise + 1x1 fused).
rc=0
for prog in kernel_test dwconv_test dwblock_test; do
  "$CXX" -std=c++17 -O2 -Wall -Wextra -I"$ROOT/tflite_delegate/kernels" \
    "$ROOT/tflite_delegate/tests/$prog.cc" "${OBJS[@]}" -o "$OUT/$prog" -lpthread -lm
  if [[ -n "${ONEXN_QEMU_CPU:-}" ]]; then
    qemu-x86_64 -cpu "$ONEXN_QEMU_CPU" "$OUT/$prog" "$@" || rc=1
  else
    "$OUT/$prog" "$@" || rc=1
  fi
done
exit "$rc"
