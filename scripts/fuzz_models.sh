#!/usr/bin/env bash
# Differential fuzzing campaign (issue 18, tests/fuzz_models.py): random tf_keras models, each run on the onexn
# delegate and on the stock runtime, which must agree.
#   scripts/fuzz_models.sh --minutes M [--start SEED] [--out DIR]
# Runs consecutive seeds from SEED (default: a fresh range from the clock) for M minutes, in processes of
# FUZZ_CHUNK seeds (default 200, so memory stays bounded). A process that dies (a crash, or a case the
# watchdog aborts after 600 s) is logged with the seed it was running, and the campaign goes on after it.
# Every failure goes to DIR/failures.log with its seed and its shrunk reproduction (a crash: its full
# script); every case to DIR/results.jsonl. DIR defaults to runs/fuzz_models/<start seed>. Prints the
# campaign summary at the end; exits 1 if any case failed. On a shared machine: nice -n 10 scripts/fuzz_models.sh
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MINUTES=""
START=""
OUT=""
while (($#)); do
  case "$1" in
    --minutes) MINUTES="$2"; shift 2 ;;
    --start) START="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    *) echo "usage: $0 --minutes M [--start SEED] [--out DIR]" >&2; exit 2 ;;
  esac
done
[[ -n $MINUTES ]] || { echo "usage: $0 --minutes M [--start SEED] [--out DIR]" >&2; exit 2; }
START="${START:-$(( $(date +%s) % 100000 * 100 ))}"
OUT="${OUT:-$ROOT/runs/fuzz_models/$START}"
CHUNK="${FUZZ_CHUNK:-200}"
PY="${PYTHON:-$ROOT/${ONEXN_VENV:-.venv}/bin/python}"
mkdir -p "$OUT"
LOG="$OUT/failures.log"
RESULTS="$OUT/results.jsonl"
PROGRESS="$OUT/progress"
echo "fuzz_models: $MINUTES min from seed $START; failures: $LOG"

end=$((SECONDS + $(awk "BEGIN { printf \"%d\", $MINUTES * 60 }")))
seed=$START
failed=0
while ((SECONDS < end)); do
  left=$(awk "BEGIN { printf \"%.2f\", ($end - $SECONDS) / 60 }")
  rm -f "$PROGRESS"
  "$PY" "$ROOT/tests/fuzz_models.py" --seeds "$seed-$((seed + CHUNK - 1))" --until "$left" --log "$LOG" \
    --results "$RESULTS" --progress "$PROGRESS" 2>>"$OUT/stderr.log" | grep -v '^fuzz_models: '
  status=${PIPESTATUS[0]}
  state="$(cat "$PROGRESS" 2>/dev/null || echo "")"
  if [[ $state == done* ]]; then
    seed=${state#done }
    ((status == 0)) || failed=1
  elif [[ -n $state ]]; then
    # The process died inside a case: the hang watchdog exits with status 1, a crash with 128 + signal.
    read -r dead category <<<"$state"
    kind=crash
    ((status == 1)) && kind=hang
    line="FAIL seed=$dead $category $kind: the process exited with status $status (stderr: $OUT/stderr.log)"
    echo "$line"
    { echo "$line"; echo "# full script:"; "$PY" "$ROOT/tests/fuzz_models.py" --script "$dead" 2>/dev/null; echo; } >>"$LOG"
    echo "{\"seed\": $dead, \"category\": \"$category\", \"kind\": \"$kind\", \"message\": \"status $status\"," \
      "\"worst\": null, \"seconds\": 0, \"tags\": []}" >>"$RESULTS"
    seed=$((dead + 1))
    failed=1
  else
    echo "fuzz_models: $PY tests/fuzz_models.py did not start (status $status; $OUT/stderr.log)" >&2
    exit 2
  fi
done
"$PY" "$ROOT/tests/fuzz_models.py" --report "$RESULTS" 2>/dev/null
exit $failed
