#!/usr/bin/env bash
# Runs every test of the project: C kernels (native, sanitized, aarch64 under qemu), the Bazel build,
# then the Python suite (last, so its summary line closes the output). Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ONEXN_VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"

step() { echo; echo "=== $* ==="; }

step "kernel tests (native)";        bash scripts/test_kernels.sh
step "kernel tests (ASan + UBSan)";  bash scripts/test_kernels_sanitized.sh
step "kernel tests (aarch64, qemu)"; bash scripts/test_aarch64.sh
step "delegate unit tests";          bash scripts/test_delegate_units.sh
step "bazel build";                  bazel build //tflite_delegate:libonexn_delegate.so \
                                       //tflite_delegate:libonexn_delegate_testing.so; bazel shutdown
# The library with test hooks, for tests/test_abi.py and the cycles test (tests/testing_library.py).
export ONEXN_TESTING_DELEGATE_PATH="$PWD/bazel-bin/tflite_delegate/libonexn_delegate_testing.so"
step "reliability (fuzz, ASan, leaks)"; bash scripts/test_reliability.sh
# Everything the skipped-unless-available tests need is built above: here a skip fails (tests/conftest.py).
step "python tests";                 ONEXN_ALL_TESTS=1 python -m pytest -q "$@"
