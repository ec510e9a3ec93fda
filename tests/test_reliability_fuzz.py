"""The fuzzing assets stay usable: the committed seed corpus is real converter output, and the atheris
target of the Python reader runs (briefly) without finding anything. Long runs: scripts/fuzz.sh (C++
reader, libFuzzer) and ``python tests/fuzz_metadata_atheris.py -max_total_time=N`` (Python reader)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from onexn_tf.tflite import metadata as onexn_metadata

ROOT = Path(__file__).resolve().parents[1]
SEEDS = sorted((ROOT / "tflite_delegate" / "fuzz" / "seed_corpus").glob("*.onexn_1xn"))


def test_seed_corpus_is_small_valid_and_varied():
    assert len(SEEDS) >= 6
    assert sum(p.stat().st_size for p in SEEDS) < 200 * 1024
    records = [r for p in SEEDS for r in onexn_metadata.parse_entry(p.read_bytes(), keep_unknown=True)]
    assert all(r.known for r in records)
    assert {int.from_bytes(p.read_bytes()[4:8], "little") for p in SEEDS} == {1, 2}  # both format versions
    assert {r.weight_type for r in records} == {onexn_metadata.WEIGHT_FLOAT32, onexn_metadata.WEIGHT_INT8}
    assert {r.builtin_op for r in records} == {onexn_metadata.CONV_2D, onexn_metadata.FULLY_CONNECTED}
    assert {r.encoding for r in records} == {onexn_metadata.ENCODING_DENSE, onexn_metadata.ENCODING_SPARSE}
    assert {1, 2, 4, 8, 16, 32, 64} <= {r.n for r in records}
    assert any(r.cout % r.n for r in records) and any(r.kh > 1 for r in records)


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed (pip install atheris)")
def test_atheris_target_runs_clean(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in SEEDS:
        (corpus / seed.name).write_bytes(seed.read_bytes())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz_metadata_atheris.py"), "-atheris_runs=4000", "-seed=1",
         str(corpus)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert re.search(r"^Done 4000 (runs )?in", result.stderr, re.M), result.stderr[-2000:]
    assert len(list(corpus.iterdir())) > len(SEEDS)  # it found new coverage, so it really explored
