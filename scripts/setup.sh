#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for onexn: system packages (when root), then a virtualenv with
# the package installed editable (this also builds libonexn_delegate.so).
# Environment: ONEXN_VENV (default .venv), ONEXN_SKIP_APT=1 to skip system packages.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential            # gcc/g++ for the delegate
  bazel-bootstrap bazel-rules-java bazel-platforms   # offline Bazel 4.2.3 build
  g++-aarch64-linux-gnu qemu-user                     # NEON kernels, run under emulation
  clang libclang-rt-14-dev                            # sanitizers / fuzzing
  llvm                                                # llvm-symbolizer for sanitizer stacks; llvm-cov, llvm-profdata (fuzz.sh --coverage)
)

if [[ "${ONEXN_SKIP_APT:-0}" != 1 ]] && command -v apt-get >/dev/null; then
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
    echo "setup: installing ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

VENV="${ONEXN_VENV:-.venv}"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e ".[dev]"
echo "setup: ready ($VENV/bin/onexn, $VENV/bin/pytest)"
