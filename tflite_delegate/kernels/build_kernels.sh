#!/usr/bin/env bash
# Compiles the kernel library sources following the file-name flag convention (see README.md) into
# object files. Sourced by scripts/test_kernels*.sh and scripts/test_aarch64.sh.
#   onexn_build_kernels CC ARCH OUTDIR [extra CFLAGS...]   ARCH: x86_64 or aarch64
# Prints the object paths, one per line, on stdout.

ONEXN_KERNELS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Extra flags for one source file, or "skip" if it must not be built for ARCH.
onexn_kernel_flags() {
  local file="$1" arch="$2"
  case "$file" in
    *-avx512f.c) [[ "$arch" == x86_64 ]] && echo "-mavx512f -mavx512vl -mavx512dq -mavx512bw -mfma -mavx2" || echo skip ;;
    *-avx2.c)    [[ "$arch" == x86_64 ]] && echo "-mavx2 -mfma" || echo skip ;;
    *-sse2.c)    [[ "$arch" == x86_64 ]] && echo "-msse2" || echo skip ;;
    *-neon.c)    [[ "$arch" == aarch64 ]] && echo "" || echo skip ;;
    *)           echo "" ;;
  esac
}

onexn_build_kernels() {
  local cc="$1" arch="$2" outdir="$3"
  shift 3
  mkdir -p "$outdir"
  local src flags obj
  for src in "$ONEXN_KERNELS_DIR"/*.c; do
    flags="$(onexn_kernel_flags "$src" "$arch")"
    [[ "$flags" == skip ]] && continue
    obj="$outdir/$(basename "${src%.c}").o"
    # shellcheck disable=SC2086
    "$cc" -std=c11 -O2 -Wall -Wextra -fPIC "$@" $flags -I"$ONEXN_KERNELS_DIR" -c "$src" -o "$obj" || return 1
    echo "$obj"
  done
}
