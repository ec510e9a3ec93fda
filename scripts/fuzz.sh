#!/usr/bin/env bash
# Builds the libFuzzer target of the delegate's C++ metadata reader (clang, -fsanitize=fuzzer,address,
# undefined) and runs it for a bounded time on the seed corpus of real converted entries.
#   scripts/fuzz.sh [--seconds N] [--keep-corpus] [--coverage] [extra libFuzzer flags...]
# Default 60 s. --coverage afterwards replays the corpus through a coverage build and prints the line
# and branch coverage of metadata_reader.cc (llvm-cov). The working corpus (build/fuzz/corpus) starts from tflite_delegate/fuzz/seed_corpus on
# every run unless --keep-corpus is given. Prints executions and corpus size; exits non-zero on a crash,
# a sanitizer report or a broken contract (crash inputs land in build/fuzz/artifacts/).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SECONDS_TO_RUN=60
KEEP=0
COVERAGE=0
EXTRA=()
while (($#)); do
  case "$1" in
    --seconds) SECONDS_TO_RUN="$2"; shift 2 ;;
    --seconds=*) SECONDS_TO_RUN="${1#*=}"; shift ;;
    --keep-corpus) KEEP=1; shift ;;
    --coverage) COVERAGE=1; shift ;;
    *) EXTRA+=("$1"); shift ;;
  esac
done
CXX="${FUZZ_CXX:-clang++}"
OUT="${ONEXN_FUZZ_DIR:-$ROOT/build/fuzz}"
SRC="$ROOT/tflite_delegate/src"
FUZZ="$ROOT/tflite_delegate/fuzz"
mkdir -p "$OUT/artifacts"
# The fuzzer's sources: tflite_delegate/sources.json, fuzzers.metadata_reader_fuzzer.
mapfile -t SOURCES < <(python3 "$ROOT/tflite_delegate/tools/build_delegate.py" sources fuzzers.metadata_reader_fuzzer)

"$CXX" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -fno-omit-frame-pointer -I"$SRC" "${SOURCES[@]}" -o "$OUT/metadata_reader_fuzzer"

if [[ $KEEP == 0 || ! -d "$OUT/corpus" ]]; then
  rm -rf "$OUT/corpus"
  mkdir -p "$OUT/corpus"
  cp "$FUZZ"/seed_corpus/* "$OUT/corpus/"
fi
SEEDS=$(find "$FUZZ/seed_corpus" -type f | wc -l)
echo "fuzz: metadata_reader_fuzzer for ${SECONDS_TO_RUN}s, $SEEDS seed entries, corpus $OUT/corpus"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
LOG="$OUT/fuzz.log"
status=0
"$OUT/metadata_reader_fuzzer" "$OUT/corpus" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
  -dict="$FUZZ/metadata.dict" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$OUT/artifacts/" "${EXTRA[@]}" >"$LOG" 2>&1 || status=$?

grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|SUMMARY|Test unit written|deadly signal" "$LOG" || true
EXECS=$(sed -n 's/^stat::number_of_executed_units: *//p' "$LOG" | tail -1)
CORPUS=$(find "$OUT/corpus" -type f | wc -l)
echo "fuzz: ${EXECS:-?} executions in ${SECONDS_TO_RUN}s, corpus $SEEDS -> $CORPUS entries, exit status $status"
if ((status == 0 && COVERAGE)); then
  "$CXX" -std=c++17 -O0 -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping -I"$SRC" \
    "${SOURCES[@]}" -o "$OUT/metadata_reader_cov"
  LLVM_PROFILE_FILE="$OUT/cov.profraw" "$OUT/metadata_reader_cov" -runs=0 "$OUT/corpus" >/dev/null 2>&1
  llvm-profdata merge -sparse "$OUT/cov.profraw" -o "$OUT/cov.profdata"
  llvm-cov report "$OUT/metadata_reader_cov" -instr-profile="$OUT/cov.profdata" "$SRC/metadata_reader.cc" \
    "$SRC/crc32.cc" | sed 's/^/coverage: /'
fi
if ((status != 0)); then
  echo "fuzz: FAILED (full log: $LOG; reproduce: $OUT/metadata_reader_fuzzer <artifact>)"
  exit "$status"
fi
