"""``onexn inspect``: table and JSON report, exit status on damaged / mismatched / invalid files."""

import json

import numpy as np
import pytest

from onexn_tf import read_metadata
from onexn_tf.cli import inspect
from onexn_tf.tflite import graph, metadata


def _run(capsys, path, *extra):
    code = inspect.main([str(path), *extra])
    return code, capsys.readouterr().out


@pytest.fixture(scope="module")
def files(tmp_path_factory, varied):
    root = tmp_path_factory.mktemp("inspect")
    paths = {}
    for key in ("plain", "compact"):
        paths[key] = root / f"{key}.tflite"
        paths[key].write_bytes(varied[key])
    model = graph.read_model(varied["plain"])
    (entry,) = [m for m in model.metadata if graph.name_of(m) == metadata.ENTRY_NAME]
    model.buffers[entry.buffer].data = model.buffers[entry.buffer].data[:-4]  # truncated entry
    paths["damaged"] = root / "damaged.tflite"
    paths["damaged"].write_bytes(graph.write_model(model))
    model = graph.read_model(varied["plain"])
    r = read_metadata(varied["plain"])[2]
    tensor = model.subgraphs[0].tensors[r.weight_tensor]
    weight = graph.constant_float32(model, tensor) + 1.0  # every block non-zero now
    model.buffers[tensor.buffer].data = np.frombuffer(weight.astype("<f4").tobytes(), np.uint8)
    paths["mismatch"] = root / "mismatch.tflite"
    paths["mismatch"].write_bytes(graph.write_model(model))
    paths["garbage"] = root / "garbage.tflite"
    paths["garbage"].write_bytes(b"\0" * 64)
    return paths


def test_plain_table(capsys, files):
    code, out = _run(capsys, files["plain"])
    assert code == 0
    assert "onexn metadata: 6 records" in out
    rows = [line for line in out.splitlines() if "CONV_2D" in line or "FULLY_CONNECTED" in line]
    assert len(rows) == 6 and all(row.rstrip().endswith("yes") for row in rows)
    assert rows[0].split()[:5] == ["0", "CONV_2D", "32x3x3x8", "16", "50.0%"]
    assert "total: 6 layers, 6 with 1xN records" in out


def test_json_plain_vs_compact(capsys, files, varied):
    reports = {}
    for key in ("plain", "compact"):
        code, out = _run(capsys, files[key], "--json")
        assert code == 0
        reports[key] = json.loads(out)
    plain, compact = reports["plain"], reports["compact"]
    assert plain["ok"] and compact["ok"] and plain["error"] is None
    assert [row["n"] for row in plain["layers"]] == [16, 8, 4, 8, 2, 1]
    assert [row["encoding"] for row in compact["layers"]] == ["sparse"] * 3 + ["dense", "sparse", "sparse"]
    for p, c in zip(plain["layers"], compact["layers"]):
        assert p["dense_bytes"] == c["dense_bytes"] == 4 * int(np.prod(p["shape"]))
        assert p["stored_bytes"] == p["dense_bytes"]
        assert (c["stored_bytes"] < c["dense_bytes"]) == (c["encoding"] == "sparse")
        assert p["block_sparsity"] == c["block_sparsity"] and p["matches"] and c["matches"]
    assert compact["totals"]["file_bytes"] == len(varied["compact"])
    assert compact["totals"]["stored_bytes"] < 0.7 * plain["totals"]["stored_bytes"]


def test_damaged_entry_exit_1_and_still_lists_layers(capsys, files):
    code, out = _run(capsys, files["damaged"])
    assert code == 1
    assert "onexn metadata: DAMAGED" in out and "total_bytes" in out
    assert out.count("CONV_2D") == 4
    code, out = _run(capsys, files["damaged"], "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"] and "total_bytes" in report["error"]
    assert len(report["layers"]) == 6 and all(row["n"] is None for row in report["layers"])


def test_mismatch_exit_1(capsys, files):
    code, out = _run(capsys, files["mismatch"], "--json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    assert [row["matches"] for row in report["layers"]] == [True, True, False, True, True, True]
    assert any("CRC-32" in p for p in report["layers"][2]["problems"])
    code, out = _run(capsys, files["mismatch"])
    assert "NO: weight CRC-32" in out


def test_not_a_model_exit_2(capsys, files, tmp_path):
    code, out = _run(capsys, files["garbage"])
    assert code == 2 and "not a TFLite model" in out
    code, out = _run(capsys, tmp_path / "missing.tflite", "--json")
    assert code == 2 and "cannot read" in json.loads(out)["error"]


def test_model_without_metadata(capsys, tmp_path, varied):
    import tensorflow as tf

    path = tmp_path / "bare.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(varied["model"]).convert())
    code, out = _run(capsys, path)
    assert code == 0 and "onexn metadata: none" in out
    assert "6 layers, 0 with 1xN records" in out
