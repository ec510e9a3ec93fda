#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine for onexn: system packages (when root), then a virtualenv with
# the package installed editable (this also builds libonexn_delegate.so).
# Environment: ONEXN_VENV (default .venv), ONEXN_SKIP_APT=1 to skip system packages.
#
# The aarch64 end-to-end tests (scripts/aarch64_python.sh, tests/test_aarch64.py) need two system-wide
# changes on Debian, made here: the arm64 architecture, so that `apt-get download` finds the arm64 CPython
# packages, and a qemu-user that emulates /proc/cpuinfo for aarch64 guests (8.1 or newer). Debian 12's
# qemu 7.2 passes the host's x86 /proc/cpuinfo through, and ai-edge-litert 2.3's aarch64 build crashes on
# it (cpuinfo's parser in its ARM init, reached from ruy and XNNPACK); Debian 12 gets qemu-user 10 from
# bookworm-backports (docs/ARM.md).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential            # gcc/g++ for the delegate
  bazel-bootstrap bazel-rules-java bazel-platforms   # offline Bazel 4.2.3 build
  g++-aarch64-linux-gnu qemu-user                     # NEON kernels and the aarch64 runtime, under emulation
  clang libclang-rt-14-dev                            # sanitizers / fuzzing
  llvm                                                # llvm-symbolizer for sanitizer stacks; llvm-cov, llvm-profdata (fuzz.sh --coverage)
)
QEMU_MIN_VERSION="1:8.1"  # the first qemu-user that emulates /proc/cpuinfo for aarch64 guests

# Debian 12: qemu-user from bookworm-backports. The suite is added (if no source names it yet) for apt to
# see; backports are pinned below the release by Debian, so only what is asked for with -t comes from there.
add_backports() {
  if ! grep -rqsE "^[^#]*bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "setup: adding the bookworm-backports suite (/etc/apt/sources.list.d/onexn-backports.sources)"
    $SUDO tee /etc/apt/sources.list.d/onexn-backports.sources >/dev/null <<'SOURCES'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
  fi
}

qemu_recent() {
  local version
  version=$(dpkg-query -W -f='${Version}' qemu-user 2>/dev/null) || return 1
  dpkg --compare-versions "$version" ge "$QEMU_MIN_VERSION"
}

if [[ "${ONEXN_SKIP_APT:-0}" != 1 ]] && command -v apt-get >/dev/null; then
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  distro=$(. /etc/os-release && echo "${ID:-}")
  codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
  update=0
  backports_qemu=0
  if [[ $codename == bookworm ]] && ! qemu_recent; then
    add_backports
    backports_qemu=1
    update=1
  fi
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    [[ $p == qemu-user ]] && ((backports_qemu)) && continue
    dpkg -s "$p" >/dev/null 2>&1 || { missing+=("$p"); update=1; }
  done
  if [[ $distro == debian ]] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    echo "setup: adding the arm64 architecture (for the aarch64 CPython packages of scripts/aarch64_python.sh)"
    $SUDO dpkg --add-architecture arm64
    update=1
  fi
  if ((update)); then
    $SUDO apt-get update -qq
  fi
  if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ((backports_qemu)); then
    echo "setup: installing qemu-user from bookworm-backports"
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq -t bookworm-backports qemu-user >/dev/null
  fi
  if [[ $distro != debian ]] || ! qemu_recent; then
    echo "setup: note: the aarch64 end-to-end tests need Debian with the arm64 architecture and" \
         "qemu-user ${QEMU_MIN_VERSION#1:} or newer (docs/ARM.md)" >&2
  fi
fi

VENV="${ONEXN_VENV:-.venv}"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q -e ".[dev]"
echo "setup: ready ($VENV/bin/onexn, $VENV/bin/pytest)"
