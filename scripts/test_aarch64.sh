#!/usr/bin/env bash
# Cross-compiles the onexn kernel tests (kernel_test, dwconv_test, dwblock_test) for aarch64 (scalar + NEON kernels)
# and runs them under qemu.
# Needs: apt-get install -y g++-aarch64-linux-gnu qemu-user
# Usage: scripts/test_aarch64.sh [random-case-count]
# Exit code: 0 only if every check passed; the summed "N passed, M failed" line is printed last.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/tflite_delegate/kernels/build_kernels.sh"
CC="${AARCH64_CC:-aarch64-linux-gnu-gcc}"
CXX="${AARCH64_CXX:-aarch64-linux-gnu-g++}"
QEMU="${QEMU:-qemu-aarch64}"
SYSROOT="${AARCH64_SYSROOT:-/usr/aarch64-linux-gnu}"
for tool in "$CC" "$CXX" "$QEMU"; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y g++-aarch64-linux-gnu qemu-user)"; echo "0 passed, 1 failed"; exit 1; }
done
OUT="${ONEXN_BUILD_DIR:-$ROOT/build/kernel_test_aarch64}"
mkdir -p "$OUT"
if ! onexn_build_kernels "$CC" aarch64 "$OUT/obj" > "$OUT/objects.txt" ||
   ! mapfile -t OBJS < "$OUT/objects.txt"; then
  echo "aarch64 build failed"
  echo "0 passed, 1 failed"
  exit 1
fi
set +e
rc=0
passed=0
failed=0
for prog in kernel_test dwconv_test dwblock_test; do
  if ! "$CXX" -std=c++17 -O2 -Wall -Wextra -I"$ROOT/tflite_delegate/kernels" \
       "$ROOT/tflite_delegate/tests/$prog.cc" "${OBJS[@]}" -o "$OUT/$prog" -lpthread -lm; then
    echo "aarch64 build of $prog failed"
    rc=1
    failed=$((failed + 1))
    continue
  fi
  "$QEMU" -L "$SYSROOT" "$OUT/$prog" "$@" | tee "$OUT/$prog.log"
  prc=${PIPESTATUS[0]}
  last="$(tail -n 1 "$OUT/$prog.log")"
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    passed=$((passed + BASH_REMATCH[1]))
    failed=$((failed + BASH_REMATCH[2]))
  else
    echo "$prog died with exit code $prc"
    failed=$((failed + 1))
    prc=1
  fi
  [[ "$prc" -ne 0 ]] && rc=1
done
echo "$passed passed, $failed failed"
exit "$rc"
