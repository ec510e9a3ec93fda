#!/usr/bin/env bash
# Runs every test of the project: generated sources current, the C++ tests through Bazel (ASan + UBSan,
# aarch64 under qemu, the x86 dispatch on a Haswell CPU model, native), the reliability checks, then the
# Python suite (last, so its summary line closes the output). Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ONEXN_VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"

step() { echo; echo "=== $* ==="; }

step "generated sources (kernels, sources.bzl)"
python tflite_delegate/tools/generate_kernels.py --check
python tflite_delegate/tools/build_delegate.py bzl --check
step "C++ tests, ASan + UBSan";              bazel test --config=asan //tflite_delegate/...
step "C++ tests, aarch64 under qemu";        bazel test --config=aarch64_linux //tflite_delegate/...
step "C++ int8 kernel tests, aarch64 without the dot product (Cortex-A53)"
bazel test --config=aarch64_a53 //tflite_delegate:qconv_test
step "C++ kernel tests, Haswell CPU model";  bazel test --config=qemu_haswell //tflite_delegate:kernel_test \
                                               //tflite_delegate:dwconv_test //tflite_delegate:qconv_test
# Native last: bazel-bin/ then holds the host's libonexn_delegate.so, which a Python test loads.
step "C++ tests, native";                    bazel test //tflite_delegate/...
# The library with test hooks, for tests/test_abi.py and the cycles test (tests/testing_library.py).
bazel build //tflite_delegate:libonexn_delegate_testing.so
export ONEXN_TESTING_DELEGATE_PATH="$PWD/bazel-bin/tflite_delegate/libonexn_delegate_testing.so"
bazel shutdown
step "reliability (fuzz, ASan, leaks)";      bash scripts/test_reliability.sh
# Everything the skipped-unless-available tests need is built above: here a skip fails (tests/conftest.py).
step "python tests";                         ONEXN_ALL_TESTS=1 python -m pytest -q "$@"
