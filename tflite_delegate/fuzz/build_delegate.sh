#!/usr/bin/env bash
# Shell helpers of the sanitizer scripts (scripts/test_delegate_sanitized.sh, scripts/leak_check.sh):
# the ASan + UBSan build of libonexn_delegate.so and of its testing variant libonexn_delegate_testing.so
# (through tflite_delegate/tools/build_delegate.py, which reads the same source list as setup.py and Bazel),
# the ASan runtime to preload, and the project's Python.

ONEXN_FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ONEXN_BUILD_TOOL="$ONEXN_FUZZ_DIR/../tools/build_delegate.py"

# The ASan + UBSan build shared by scripts/test_delegate_sanitized.sh and scripts/leak_check.sh (clang;
# the ASan runtime stays a shared library that the Python process must LD_PRELOAD). Rebuilt only when
# an input is newer than the library. Prints the library path; the testing variant is next to it.
ONEXN_SAN_FLAGS=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -shared-libasan)

onexn_build_sanitized_delegate() {
  python3 "$ONEXN_BUILD_TOOL" library --out "$1" --testing --cc clang --cxx clang++ -- "${ONEXN_SAN_FLAGS[@]}" \
    >/dev/null || return 1
  python3 "$ONEXN_BUILD_TOOL" library --out "$1" --cc clang --cxx clang++ -- "${ONEXN_SAN_FLAGS[@]}"
}

# The ASan runtime to LD_PRELOAD into an uninstrumented program (python) that loads the library.
onexn_asan_runtime() { clang -print-file-name=libclang_rt.asan-"$(uname -m)".so; }

# The Python that has the project installed: $PYTHON, else $ONEXN_VENV/bin/python (default .venv, as in
# scripts/setup.sh and scripts/test.sh), else python3 / python on PATH; the first that imports both
# onexn_tf and ai_edge_litert.
onexn_python() {
  local root="$ONEXN_FUZZ_DIR/../.." venv="${ONEXN_VENV:-.venv}" p
  [[ "$venv" == /* ]] || venv="$root/$venv"
  for p in "${PYTHON:-}" "$venv/bin/python" python3 python; do
    [[ -n "$p" ]] && command -v "$p" >/dev/null 2>&1 || continue
    if (cd "$root" && "$p" -c "import onexn_tf, ai_edge_litert") >/dev/null 2>&1; then
      command -v "$p"
      return 0
    fi
  done
  echo "no python with onexn_tf and ai_edge_litert found; set PYTHON=/path/to/venv/bin/python" >&2
  return 1
}
