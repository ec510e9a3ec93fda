#!/usr/bin/env bash
# Builds libonexn_delegate.so outside the package, with extra compiler flags (sanitizers), the way
# setup.py does: kernels with their file-name ISA flags (kernels/build_kernels.sh), the C++ glue, the
# export list. Sourced by scripts/test_delegate_sanitized.sh and scripts/leak_check.sh.
#   onexn_build_delegate CC CXX OUTDIR [extra flags for compiling and linking...]
# Prints the library path on stdout.

ONEXN_FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$ONEXN_FUZZ_DIR/../kernels/build_kernels.sh"

onexn_build_delegate() {
  local cc="$1" cxx="$2" out="$3"
  shift 3
  local top="$ONEXN_FUZZ_DIR/.."
  local objs=() src obj
  mkdir -p "$out/obj"
  mapfile -t objs < <(onexn_build_kernels "$cc" "$(uname -m)" "$out/obj" -fvisibility=hidden "$@") || return 1
  ((${#objs[@]})) || return 1
  for src in "$top"/src/*.cc; do
    obj="$out/obj/$(basename "${src%.cc}").o"
    "$cxx" -std=c++17 -O1 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -Wall "$@" \
      -I"$top/src" -I"$top/include" -I"$top/kernels" -c "$src" -o "$obj" || return 1
    objs+=("$obj")
  done
  "$cxx" -shared "$@" "${objs[@]}" -o "$out/libonexn_delegate.so" -lpthread -lm \
    -Wl,--version-script="$top/src/onexn_delegate.lds" || return 1
  echo "$out/libonexn_delegate.so"
}

# The ASan + UBSan build shared by scripts/test_delegate_sanitized.sh and scripts/leak_check.sh (clang;
# the ASan runtime stays a shared library that the Python process must LD_PRELOAD). Rebuilt only when
# a source is newer than the library. Prints the library path.
ONEXN_SAN_FLAGS=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -shared-libasan)

onexn_build_sanitized_delegate() {
  local out="$1" lib="$1/libonexn_delegate.so" top="$ONEXN_FUZZ_DIR/.."
  if [[ -f "$lib" && -z "$(find "$top/src" "$top/kernels" "$top/include" "$ONEXN_FUZZ_DIR/build_delegate.sh" \
        -newer "$lib" -type f | head -1)" ]]; then
    echo "$lib"
    return 0
  fi
  rm -rf "$out"
  onexn_build_delegate clang clang++ "$out" "${ONEXN_SAN_FLAGS[@]}"
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
