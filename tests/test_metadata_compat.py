"""Format versions across releases, against the real old code: the readers of format version 1 (the Python
reader and the delegate built from the last commit that wrote version 1, taken from git) decline a version 2
entry as unknown and claim nothing, and still read the entries the new writer makes for float models, which
stay version 1 (docs/FORMAT.md, "Versions"). The new readers reading version 1 entries is tested throughout
(test_metadata.py, test_delegate_metadata.py, the seed corpus)."""

import importlib.util
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import build_varied_model, run_tflite

from onexn_tf import convert, read_metadata
from onexn_tf.runtime.delegate import PATH_ENV, load_delegate, read_report
from onexn_tf.tflite import graph, metadata, verify

ROOT = Path(__file__).resolve().parents[1]
V1_COMMIT = "85f1aa90ea3b462e54eab35c381475a0ce6c4a4c"  # main before format version 2
V1_TREE = ROOT / "build" / "compat" / V1_COMMIT[:12]


@pytest.fixture(scope="module")
def v1_tree():
    """onexn_tf/ and tflite_delegate/ as they were at V1_COMMIT (git archive, cached under build/)."""
    if not (V1_TREE / "tflite_delegate").is_dir():
        probe = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{V1_COMMIT}^{{commit}}"],
                               capture_output=True)
        if probe.returncode != 0:
            pytest.skip(f"needs the git history with commit {V1_COMMIT[:12]} (a clone of the repository)")
        V1_TREE.mkdir(parents=True, exist_ok=True)
        archive = V1_TREE / "tree.tar"
        subprocess.run(["git", "-C", str(ROOT), "archive", "-o", str(archive), V1_COMMIT, "onexn_tf",
                        "tflite_delegate"], check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(V1_TREE)
        archive.unlink()
    return V1_TREE


@pytest.fixture(scope="module")
def v1_library(v1_tree):
    """libonexn_delegate.so built from V1_COMMIT's sources with its own build tool."""
    out = v1_tree / "lib"
    result = subprocess.run([sys.executable, str(v1_tree / "tflite_delegate" / "tools" / "build_delegate.py"),
                             "library", "--out", str(out), "--jobs", "2"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out / "libonexn_delegate.so"


@pytest.fixture(scope="module")
def v1_reader(v1_tree):
    """V1_COMMIT's onexn_tf/tflite/metadata.py, imported on its own."""
    spec = importlib.util.spec_from_file_location("onexn_metadata_v1", v1_tree / "onexn_tf/tflite/metadata.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.VERSION == 1
    return module


@pytest.fixture(scope="module")
def models():
    """The varied model converted by this converter: float32 (entry version 1) and full int8 (version 2)."""
    import tensorflow as tf

    model, _ = build_varied_model()

    def dataset():
        rng = np.random.default_rng(0)
        for _ in range(16):
            yield [rng.standard_normal((1, 9, 9, 8)).astype("f4")]

    int8 = convert(model, representative_dataset=dataset, optimizations=[tf.lite.Optimize.DEFAULT],
                   target_spec=tf.lite.TargetSpec(supported_ops=[tf.lite.OpsSet.TFLITE_BUILTINS_INT8]),
                   inference_input_type=tf.int8, inference_output_type=tf.int8)
    return {"float": convert(model), "int8": int8}


def _entry(tflite):
    return verify.entry_bytes(graph.read_model(tflite))


def test_the_writer_writes_the_lowest_version(models):
    assert _entry(models["float"])[4:8] == (1).to_bytes(4, "little")
    assert _entry(models["int8"])[4:8] == (2).to_bytes(4, "little")
    records = read_metadata(models["int8"])
    with pytest.raises(ValueError, match="version 1 cannot describe"):
        metadata.encode_entry(records, version=1)
    floats = read_metadata(models["float"])
    as_v2 = metadata.encode_entry(floats, version=2)  # valid, just not what the writer picks
    assert metadata.parse_entry(as_v2) == floats and len(as_v2) == len(_entry(models["float"])) + 4 * len(floats)


def test_the_v1_python_reader_declines_version_2(models, v1_reader):
    with pytest.raises(v1_reader.MetadataError, match="version 2 is unknown .* must not be used"):
        v1_reader.parse_entry(_entry(models["int8"]))
    old = v1_reader.parse_entry(_entry(models["float"]))
    new = read_metadata(models["float"])
    assert [(r.operator, r.n, r.weight_crc32, r.num_kept) for r in old] == \
           [(r.operator, r.n, r.weight_crc32, r.num_kept) for r in new]


def _run_with(library, tflite, x, monkeypatch):
    monkeypatch.setenv(PATH_ENV, str(library))
    from ai_edge_litert.interpreter import Interpreter

    delegate = load_delegate()
    it = Interpreter(model_content=tflite, experimental_delegates=[delegate])
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return it.get_tensor(it.get_output_details()[0]["index"]), read_report(delegate)


def test_the_v1_delegate_declines_version_2_and_claims_nothing(models, v1_library, monkeypatch):
    x = np.random.default_rng(1).integers(-128, 128, (1, 9, 9, 8), dtype=np.int8)
    out, report = _run_with(v1_library, models["int8"], x, monkeypatch)
    assert report["claimed"] == 0 and report["partitions"] == 0, report
    assert "unknown format version 2" in report["metadata"], report["metadata"]
    assert len(report["declined"]) == 6
    assert all("onexn_1xn metadata not usable: unknown format version 2" in d["reason"] for d in report["declined"])
    np.testing.assert_array_equal(out, run_tflite(models["int8"], x))


def test_the_v1_delegate_runs_float_models_of_this_converter(models, v1_library, monkeypatch):
    x = np.random.default_rng(1).standard_normal((1, 9, 9, 8)).astype("f4")
    out, report = _run_with(v1_library, models["float"], x, monkeypatch)
    assert report["metadata"] == "ok" and report["claimed"] == 6, report
    np.testing.assert_allclose(out, run_tflite(models["float"], x), rtol=1e-4, atol=1e-4)


def test_this_delegate_reads_both_versions(models, monkeypatch):
    monkeypatch.delenv(PATH_ENV, raising=False)
    x = np.random.default_rng(1).integers(-128, 128, (1, 9, 9, 8), dtype=np.int8)
    delegate = load_delegate(dense="never")  # the records' kept blocks, whatever the do-no-harm rules say
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=models["int8"], experimental_delegates=[delegate])
    it.allocate_tensors()
    report = read_report(delegate)
    assert report["metadata"] == "ok" and report["metadata_version"] == 2, report
    assert report["claimed_nodes"] == [r.operator for r in read_metadata(models["int8"])], report
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), run_tflite(models["int8"], x))
