"""Builds and runs the delegate's C++ metadata-reader test under AddressSanitizer + UBSan.

tflite_delegate/tests/metadata_reader_test.cc feeds the reader valid entries, every broken rule of
docs/FORMAT.md, every truncation and thousands of random corruptions: the sanitizers turn any
out-of-bounds read or undefined behaviour into a failure.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "tflite_delegate"


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
def test_metadata_reader_under_sanitizers(tmp_path):
    exe = tmp_path / "metadata_reader_test"
    build = subprocess.run(
        ["g++", "-std=c++17", "-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all",
         f"-I{ROOT / 'src'}", f"-I{ROOT / 'include'}", f"-I{ROOT / 'kernels'}",
         str(ROOT / "tests" / "metadata_reader_test.cc"), str(ROOT / "src" / "metadata_reader.cc"),
         str(ROOT / "src" / "crc32.cc"), "-o", str(exe)],
        capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")
