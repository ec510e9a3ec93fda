#!/usr/bin/env bash
# scripts/aarch64_python.sh SCRIPT [ARGS...]
#
# Runs an aarch64 CPython under qemu-aarch64, with numpy, ai_edge_litert and onexn_tf's runtime side
# importable and onexn_tf.delegate_path() naming the aarch64 libonexn_delegate.so: the ARM path without a
# board. The arguments go to python unchanged, so `-c CODE` and `-m MODULE` work too, e.g.
#   scripts/aarch64_python.sh -m onexn_tf.cli bench model.tflite --runs 3
# Times measured under emulation mean nothing (`onexn bench` says so); results and what the delegate
# claims do.
#
# The first use builds what is missing, under build/aarch64/ (ONEXN_AARCH64_DIR), and later uses reuse it:
#   python/  the arm64 Debian packages of CPython 3.X, X as in the virtualenv (apt-get download, unpacked)
#   site/    aarch64 wheels of onexn's runtime requirements at the virtualenv's versions, and pytest to run
#            the project's tests there (pip install --target --platform; redone when a version changes)
#   lib/     libonexn_delegate.so cross-built from tflite_delegate/sources.json (build_delegate.py)
#   onexn/   onexn_tf's Python files with that library next to them, as `pip install` lays them out
#            (copied afresh on every run, so edits to onexn_tf/ take effect)
# Needs scripts/setup.sh first: the virtualenv (ONEXN_VENV, default .venv), aarch64-linux-gnu-gcc, the
# arm64 apt architecture and qemu-user 8.1 or newer (older ones give the guest the host's /proc/cpuinfo,
# and ai-edge-litert 2.2+ crashes on it; docs/ARM.md). The guest sees this environment; if
# ONEXN_DELEGATE_PATH is set, it must name an aarch64 library.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
OUT="${ONEXN_AARCH64_DIR:-$ROOT/build/aarch64}"
VENV="${ONEXN_VENV:-.venv}"
[[ $VENV == /* ]] || VENV="$ROOT/$VENV"
HOST_PY="$VENV/bin/python"
QEMU="${QEMU_AARCH64:-qemu-aarch64}"
SYSROOT=/usr/aarch64-linux-gnu  # libc6-arm64-cross and libstdc++6-arm64-cross, from g++-aarch64-linux-gnu

die() { echo "aarch64_python.sh: $*" >&2; exit 1; }
log() { echo "aarch64_python.sh: $*" >&2; }

[[ $# -ge 1 ]] || die "usage: $0 SCRIPT [ARGS...] (arguments of python3)"
[[ -x $HOST_PY ]] || die "no virtualenv at $VENV: run scripts/setup.sh first"
command -v "$QEMU" >/dev/null || die "$QEMU not found: install qemu-user 8.1 or newer (scripts/setup.sh)"
[[ -d $SYSROOT/lib ]] || die "$SYSROOT missing: install g++-aarch64-linux-gnu (scripts/setup.sh)"
qemu_version=$("$QEMU" --version | sed -n '1s/.*version \([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p')
if ! printf '8.1\n%s\n' "$qemu_version" | sort -C -V; then
  die "$QEMU is version ${qemu_version:-unknown}; 8.1 or newer is needed (it emulates /proc/cpuinfo for" \
      "aarch64 guests; ai-edge-litert crashes on the host's). On Debian 12: scripts/setup.sh as root" \
      "installs qemu-user from bookworm-backports (docs/ARM.md)"
fi
PYVER=$("$HOST_PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
PYROOT="$OUT/python"
SITE="$OUT/site"

guest() {
  "$QEMU" -L "$SYSROOT" \
    -E LD_LIBRARY_PATH="$PYROOT/usr/lib/aarch64-linux-gnu:$PYROOT/lib/aarch64-linux-gnu" \
    -E PYTHONHOME="$PYROOT/usr" -E PYTHONPATH="$OUT/onexn:$SITE" -E PYTHONNOUSERSITE=1 \
    -E PYTHONPYCACHEPREFIX="$OUT/pycache" \
    "$PYROOT/usr/bin/python$PYVER" "$@"
}

# CPython: Debian's arm64 packages, unpacked (nothing is installed).
packages=("python$PYVER-minimal" "libpython$PYVER-minimal" "libpython$PYVER-stdlib" libffi8 libexpat1 zlib1g)
if [[ "$(cat "$PYROOT/.packages" 2>/dev/null)" != "${packages[*]}" ]]; then
  dpkg --print-foreign-architectures | grep -qx arm64 ||
    die "apt does not know the arm64 architecture: run scripts/setup.sh as root (dpkg --add-architecture arm64)"
  log "unpacking an aarch64 CPython $PYVER into $PYROOT"
  rm -rf "$PYROOT" "$OUT/debs"
  mkdir -p "$PYROOT" "$OUT/debs"
  (cd "$OUT/debs" && apt-get download -qq "${packages[@]/%/:arm64}" 2>&1 | grep -v "unsandboxed as root" >&2 || true)
  debs=("$OUT"/debs/*.deb)
  [[ ${#debs[@]} -eq ${#packages[@]} ]] || die "apt-get download gave ${#debs[@]} of ${#packages[@]} packages"
  for deb in "${debs[@]}"; do dpkg-deb -x "$deb" "$PYROOT"; done
  rm -rf "$OUT/debs"
  echo "${packages[*]}" >"$PYROOT/.packages"
fi

# Wheels: onexn's runtime requirements (setup.py's install_requires, read from the installed package) at the
# virtualenv's versions, so that both architectures run the same ai-edge-litert; pytest for the tests.
requirements=$("$HOST_PY" - <<'EOF'
import importlib.metadata as md
import re
names = [re.match(r"[A-Za-z0-9_.-]+", r).group(0) for r in md.requires("onexn") if "extra ==" not in r]
print(" ".join(f"{name}=={md.version(name)}" for name in names + ["pytest"]))
EOF
)
if [[ "$(cat "$SITE/.requirements" 2>/dev/null)" != "$requirements" ]]; then
  glibc_minor=$(guest -c 'import os; print(os.confstr("CS_GNU_LIBC_VERSION").split(".")[1])')
  platforms=(--platform manylinux2014_aarch64)
  for ((minor = 17; minor <= glibc_minor; minor++)); do platforms+=(--platform "manylinux_2_${minor}_aarch64"); done
  log "installing aarch64 wheels into $SITE: $requirements"
  rm -rf "$SITE"
  # shellcheck disable=SC2086  # the requirements are words
  "$HOST_PY" -m pip install -q --disable-pip-version-check --target "$SITE" --only-binary=:all: \
    --implementation cp --python-version "$PYVER" "${platforms[@]}" $requirements
  echo "$requirements" >"$SITE/.requirements"
fi

# The delegate, from the one build description (skipped when up to date), and the package around it.
library=$("$HOST_PY" "$ROOT/tflite_delegate/tools/build_delegate.py" library --out "$OUT/lib" --arch aarch64 \
  --cc aarch64-linux-gnu-gcc --cxx aarch64-linux-gnu-g++)
rm -rf "$OUT/onexn"
mkdir -p "$OUT/onexn"
(cd "$ROOT" && find onexn_tf -name '*.py' -exec cp -p --parents -t "$OUT/onexn" {} +)
cp -p "$library" "$OUT/onexn/onexn_tf/"

guest "$@"
