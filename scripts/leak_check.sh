#!/usr/bin/env bash
# LeakSanitizer over 1,000 create/apply/destroy cycles of the delegate in the real runtime
# (tflite_delegate/fuzz/delegate_cycles.py), with the ASan + UBSan build of libonexn_delegate.so (and of
# its testing variant, for the scenario that makes Prepare fail through a test hook).
#   scripts/leak_check.sh [--cycles N]
# CPython and the runtime leave memory behind at exit that is not the delegate's; every leak LSan reports
# is attributed by its allocation stack, and the check requires 0 bytes whose stack passes through
# libonexn_delegate.so. A positive control first leaks 3 delegates on purpose and must be caught, so a
# "0" cannot come from a blind parser. Exits non-zero on a delegate leak, an ASan/UBSan error, a cycle
# that misbehaved, or a control that was not caught.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source tflite_delegate/fuzz/build_delegate.sh
CYCLES=1000
while (($#)); do
  case "$1" in
    --cycles) CYCLES="$2"; shift 2 ;;
    --cycles=*) CYCLES="${1#*=}"; shift ;;
    *) echo "usage: $0 [--cycles N]"; exit 2 ;;
  esac
done
PY="$(onexn_python)"
OUT="${ONEXN_ASAN_BUILD_DIR:-$ROOT/build/delegate_asan}"
WORK="$ROOT/build/leak_check"
LIB="$(onexn_build_sanitized_delegate "$OUT")"
RUNTIME="$(onexn_asan_runtime)"
DRIVER=tflite_delegate/fuzz/delegate_cycles.py
rm -rf "$WORK"
mkdir -p "$WORK"
# The models are built by a normal process (TensorFlow); the sanitized one imports only the runtime.
"$PY" "$DRIVER" --save "$WORK/scenarios" >/dev/null 2>"$WORK/save.log" || { cat "$WORK/save.log"; exit 1; }

# symbolize=0: module+offset is enough to attribute a leak and keeps the exit-time report fast.
# exitcode=0: leaks alone do not fail the process; this script decides from the report.
sanitized() {
  local log="$1"
  shift
  LD_PRELOAD="$RUNTIME" ONEXN_DELEGATE_PATH="$LIB" ONEXN_TESTING_DELEGATE_PATH="$(dirname "$LIB")/libonexn_delegate_testing.so" \
    TF_CPP_MIN_LOG_LEVEL=3 \
    ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:detect_odr_violation=0:alloc_dealloc_mismatch=0:symbolize=0" \
    LSAN_OPTIONS="exitcode=0:max_leaks=0" UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "$PY" "$DRIVER" --load "$WORK/scenarios" "$@" >"$log" 2>&1
}
leaked() { "$PY" "$DRIVER" --lsan-report "$1" | tail -1; }

sanitized "$WORK/control.log" --cycles 10 --leak-on-purpose 3 || { tail -30 "$WORK/control.log"; exit 1; }
read -r _ control_bytes control_objects <<<"$(leaked "$WORK/control.log")"
if ((control_objects < 3)); then
  echo "leak_check: the positive control (3 delegates leaked on purpose) was not caught; check is blind"
  exit 1
fi
echo "leak_check: positive control caught: $control_bytes bytes in $control_objects objects from the delegate"

status=0
sanitized "$WORK/cycles.log" --cycles "$CYCLES" || status=$?
grep "^delegate_cycles:" "$WORK/cycles.log" || { tail -40 "$WORK/cycles.log"; exit 1; }
if ((status != 0)); then
  grep -m1 -A30 "ERROR: AddressSanitizer\|runtime error" "$WORK/cycles.log" || tail -30 "$WORK/cycles.log"
  echo "leak_check: FAILED (exit status $status, log $WORK/cycles.log)"
  exit 1
fi
read -r _ bytes objects <<<"$(leaked "$WORK/cycles.log")"
other="$(sed -n 's/^SUMMARY: AddressSanitizer: \([0-9]*\) byte(s) leaked in \([0-9]*\) allocation(s).*/\1 bytes in \2 allocations/p' "$WORK/cycles.log")"
echo "leak_check: $CYCLES cycles, leaked by the delegate: $bytes bytes in $objects objects" \
     "(whole process at exit, CPython + runtime: ${other:-0 bytes})"
if ((bytes != 0)); then
  "$PY" "$DRIVER" --lsan-report "$WORK/cycles.log"
  echo "leak_check: FAILED (symbolize: llvm-symbolizer --obj=$LIB <offset>)"
  exit 1
fi
