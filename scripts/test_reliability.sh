#!/usr/bin/env bash
# Reliability checks of issue 7 (docs/RELIABILITY.md), about 3 minutes on 2 cores:
#   1. libFuzzer on the delegate's C++ metadata reader (scripts/fuzz.sh, 60 s by default)
#   2. atheris on the Python reader (tests/fuzz_metadata_atheris.py, 20 s by default)
#   3. the delegate's Python tests against an ASan + UBSan build (scripts/test_delegate_sanitized.sh)
#   4. LeakSanitizer over 1,000 create/apply/destroy cycles (scripts/leak_check.sh)
# Environment: FUZZ_SECONDS, ATHERIS_SECONDS; PYTHON or ONEXN_VENV pick the Python (see
# tflite_delegate/fuzz/build_delegate.sh). Exits non-zero if any part fails; runs all parts regardless.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source tflite_delegate/fuzz/build_delegate.sh
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
ATHERIS_SECONDS="${ATHERIS_SECONDS:-20}"
failed=()
part() {
  local name="$1"
  shift
  echo "--- $name"
  "$@" || failed+=("$name")
}

atheris_run() {
  local py corpus="$ROOT/build/fuzz/atheris_corpus" log="$ROOT/build/fuzz/atheris.log"
  py="$(onexn_python)" || return 1
  "$py" -c "import atheris" 2>/dev/null || { echo "atheris not installed: pip install atheris"; return 1; }
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp tflite_delegate/fuzz/seed_corpus/* "$corpus/"
  "$py" tests/fuzz_metadata_atheris.py -max_total_time="$ATHERIS_SECONDS" -print_final_stats=1 "$corpus" \
    >"$log" 2>&1 || { tail -40 "$log"; return 1; }
  echo "atheris: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log") executions in ${ATHERIS_SECONDS}s," \
       "corpus $(find tflite_delegate/fuzz/seed_corpus -type f | wc -l) -> $(find "$corpus" -type f | wc -l) entries, no finding"
}

part "libFuzzer: C++ metadata reader" bash scripts/fuzz.sh --seconds "$FUZZ_SECONDS"
part "atheris: Python metadata reader" atheris_run
part "delegate Python tests under ASan + UBSan" bash scripts/test_delegate_sanitized.sh
part "LeakSanitizer: 1,000 delegate cycles" bash scripts/leak_check.sh
if ((${#failed[@]})); then
  printf 'reliability: FAILED: %s\n' "${failed[@]}"
  exit 1
fi
echo "reliability: all parts passed"
