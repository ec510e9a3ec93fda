#!/usr/bin/env bash
# Builds libonexn_delegate.so outside the package, with extra compiler flags (sanitizers), the way
# setup.py does: kernels with their file-name ISA flags (kernels/build_kernels.sh), the C++ glue, the
# export list; next to it the testing variant libonexn_delegate_testing.so (the same plus src/testing/,
# compiled with ONEXN_TESTING, as Bazel's target of that name). Sourced by scripts/test_delegate_sanitized.sh
# and scripts/leak_check.sh.
#   onexn_build_delegate CC CXX OUTDIR [extra flags for compiling and linking...]
# Prints the path of libonexn_delegate.so on stdout.

ONEXN_FUZZ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$ONEXN_FUZZ_DIR/../kernels/build_kernels.sh"

onexn_build_delegate() {
  local cc="$1" cxx="$2" out="$3"
  shift 3
  local top="$ONEXN_FUZZ_DIR/.."
  local kernels=()
  mkdir -p "$out/obj"
  mapfile -t kernels < <(onexn_build_kernels "$cc" "$(uname -m)" "$out/obj" -fvisibility=hidden "$@") || return 1
  ((${#kernels[@]})) || return 1
  onexn_link_glue "$cxx" "$out/libonexn_delegate.so" "$out/obj/glue" "${kernels[@]}" -- "$@" \
    -- "$top"/src/*.cc || return 1
  onexn_link_glue "$cxx" "$out/libonexn_delegate_testing.so" "$out/obj/glue_testing" "${kernels[@]}" \
    -- -DONEXN_TESTING "$@" -- "$top"/src/*.cc "$top"/src/testing/*.cc || return 1
  echo "$out/libonexn_delegate.so"
}

# onexn_link_glue CXX LIBRARY OBJDIR KERNEL_OBJECTS... -- FLAGS... -- SOURCES...: compiles the C++ glue
# sources with FLAGS and links them with the kernel objects into LIBRARY.
onexn_link_glue() {
  local cxx="$1" lib="$2" objdir="$3" top="$ONEXN_FUZZ_DIR/.."
  shift 3
  local objs=() flags=() src obj
  while [[ "$1" != "--" ]]; do objs+=("$1"); shift; done
  shift
  while [[ "$1" != "--" ]]; do flags+=("$1"); shift; done
  shift
  mkdir -p "$objdir"
  for src in "$@"; do
    obj="$objdir/$(basename "${src%.cc}").o"
    "$cxx" -std=c++17 -O1 -fPIC -fvisibility=hidden -fvisibility-inlines-hidden -Wall "${flags[@]}" \
      -I"$top/src" -I"$top/include" -I"$top/kernels" -c "$src" -o "$obj" || return 1
    objs+=("$obj")
  done
  "$cxx" -shared "${flags[@]}" "${objs[@]}" -o "$lib" -lpthread -lm \
    -Wl,--version-script="$top/src/onexn_delegate.lds"
}

# The ASan + UBSan build (both variants) shared by scripts/test_delegate_sanitized.sh and
# scripts/leak_check.sh (clang; the ASan runtime stays a shared library that the Python process must
# LD_PRELOAD). Rebuilt only when a source is newer than the library. Prints the library path; the testing
# variant is next to it.
ONEXN_SAN_FLAGS=(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all -shared-libasan)

onexn_build_sanitized_delegate() {
  local out="$1" lib="$1/libonexn_delegate.so" top="$ONEXN_FUZZ_DIR/.."
  if [[ -f "$lib" && -f "$1/libonexn_delegate_testing.so" &&
        -z "$(find "$top/src" "$top/kernels" "$top/include" "$ONEXN_FUZZ_DIR/build_delegate.sh" \
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
