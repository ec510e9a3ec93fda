#!/usr/bin/env bash
# C++ unit tests of the delegate's own code (metadata reader, partition arena planner, partition
# planning), built with the system compiler under ASan + UBSan. The Bazel targets of the same names build
# them too.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${TMPDIR:-/tmp}/onexn_delegate_units"
mkdir -p "$OUT"
SRC=tflite_delegate/src
FLAGS=(-std=c++17 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -I"$SRC"
       -Itflite_delegate/kernels -Itflite_delegate/include)
g++ "${FLAGS[@]}" tflite_delegate/tests/arena_plan_test.cc "$SRC/arena_plan.cc" -o "$OUT/arena_plan_test"
g++ "${FLAGS[@]}" tflite_delegate/tests/metadata_reader_test.cc "$SRC/metadata_reader.cc" "$SRC/crc32.cc" \
    -o "$OUT/metadata_reader_test"
g++ "${FLAGS[@]}" tflite_delegate/tests/partition_plan_test.cc "$SRC/partition_plan.cc" -o "$OUT/partition_plan_test"
"$OUT/arena_plan_test"
"$OUT/metadata_reader_test"
"$OUT/partition_plan_test"
