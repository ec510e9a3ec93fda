"""The sdist carries everything the delegate's build reads, so that `pip install onexn` from it builds the
library on the target machine (on an Arm board: natively, with the NEON kernels; docs/ARM.md)."""

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tflite_delegate" / "tools"))
import build_delegate  # noqa: E402


def _clean_copy(target):
    """The files of a clone with this tree's changes: no build outputs, and no egg-info from an earlier
    build, whose file list setuptools would merge into the sdist."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)


def test_sdist_holds_every_input_of_the_delegate_build(tmp_path):
    source, dist = tmp_path / "source", tmp_path / "dist"
    _clean_copy(source)
    built = subprocess.run([sys.executable, "-c", "import setuptools.build_meta as b, sys; print(b.build_sdist(sys.argv[1]))",
                            str(dist)], cwd=source, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    name = built.stdout.strip().splitlines()[-1]
    with tarfile.open(dist / name) as sdist:
        members = {m.split("/", 1)[1] for m in sdist.getnames() if "/" in m}
    needed = {str(f.relative_to(ROOT)) for f in build_delegate.inputs()}
    assert "tflite_delegate/sources.json" in needed and "setup.py" in members
    assert sorted(needed - members) == []
    assert not [m for m in members if m.endswith((".so", ".o", ".pyc"))]
