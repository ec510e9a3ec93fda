#!/usr/bin/env bash
# Runs every test of the project: generated sources current, the C++ tests through Bazel (ASan + UBSan,
# ThreadSanitizer, aarch64 under qemu, the x86 dispatch on a Haswell CPU model, native), the reliability
# checks, then the Python suite (last, so its summary line closes the output; with the delegate in an aarch64
# LiteRT under qemu, tests/test_aarch64.py). Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${ONEXN_VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"

step() { echo; echo "=== $* ==="; }

step "generated sources (kernels, sources.bzl)"
python tflite_delegate/tools/generate_kernels.py --check
python tflite_delegate/tools/build_delegate.py bzl --check
step "C++ tests, ASan + UBSan";              bazel test --config=asan //tflite_delegate/...
step "C++ tests, ThreadSanitizer";           bazel test --config=tsan //tflite_delegate/...
# Instrumented for real (a flag lost from .bazelrc would let every test pass unchecked): the chain's atomics
# go through TSan's runtime. grep without -q reads all of nm's output (no SIGPIPE under pipefail).
nm "$(bazel info --config=tsan bazel-bin)/tflite_delegate/dwblock_chain_test" | grep "U __tsan_atomic64_load" >/dev/null
step "C++ tests, aarch64 under qemu";        bazel test --config=aarch64_linux //tflite_delegate/...
step "C++ int8 kernel tests, aarch64 without the dot product (Cortex-A53)"
bazel test --config=aarch64_a53 //tflite_delegate:qconv_test
# The aarch64 library from Bazel, for tests/test_aarch64.py (copied out: bazel-bin follows the last configuration).
bazel build --config=aarch64_linux //tflite_delegate:libonexn_delegate.so
mkdir -p build/aarch64/bazel
install -m 644 bazel-bin/tflite_delegate/libonexn_delegate.so build/aarch64/bazel/
export ONEXN_AARCH64_BAZEL_DELEGATE_PATH="$PWD/build/aarch64/bazel/libonexn_delegate.so"
step "C++ kernel tests, Haswell CPU model";  bazel test --config=qemu_haswell //tflite_delegate:kernel_test \
                                               //tflite_delegate:dwconv_test //tflite_delegate:pool_test \
                                               //tflite_delegate:qconv_test
# Native last: bazel-bin/ then holds the host's libonexn_delegate.so, which a Python test loads.
step "C++ tests, native";                    bazel test //tflite_delegate/...
# The library with test hooks, for tests/test_abi.py and the cycles test (tests/testing_library.py).
bazel build //tflite_delegate:libonexn_delegate_testing.so
export ONEXN_TESTING_DELEGATE_PATH="$PWD/bazel-bin/tflite_delegate/libonexn_delegate_testing.so"
bazel shutdown
step "reliability (fuzz, ASan, leaks)";      bash scripts/test_reliability.sh
# The first use builds the aarch64 CPython, wheels and delegate under build/aarch64 (tests/test_aarch64.py).
step "aarch64 Python under qemu";            bash scripts/aarch64_python.sh -c \
  'import onexn_tf, platform; print(platform.machine(), onexn_tf.delegate_path())'
# Everything the skipped-unless-available tests need is built above: here a skip fails (tests/conftest.py).
# The Keras flavour is fixed per process: the tf_keras suite (tests/), then the Keras 3 suite (tests/keras3/).
step "python tests, tf_keras";               ONEXN_ALL_TESTS=1 python -m pytest -q "$@"
step "python tests, Keras 3";                ONEXN_ALL_TESTS=1 python -m pytest -q tests/keras3 "$@"
