"""examples/mobilenet_v2_1xn.py and examples/resnet_1xn.py: the --quick runs really produce what they say.

Each example runs once per module, in this process (its own argparse ``main``), with a tiny budget. The
checks below redo the example's claims independently: the files on disk, their metadata, the kernels of the
stripped Keras model, the stock runtime against Keras, and the onexn delegate against the stock runtime.
"""

import contextlib
import importlib.util
import io
import json
import os
import sys

import numpy as np
import pytest

import onexn_tf
from onexn_tf import blocks, datasets
from onexn_tf.keras.compat import keras
from onexn_tf.runtime import bench
from onexn_tf.tflite.metadata import ENCODING_SPARSE
from onexn_tf.tflite.verify import verify

from conftest import run_tflite

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")
N = 16
SPARSITY = 0.5


def load_example(name):
    if EXAMPLES not in sys.path:
        sys.path.insert(0, EXAMPLES)  # the examples import their shared _pipeline module
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_example(name, out, *extra):
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        result = load_example(name).main(["--quick", "--out", str(out), *extra])
    result["stdout"] = stdout.getvalue()
    result["out"] = out
    return result


@pytest.fixture(scope="module")
def mobilenet(tmp_path_factory):
    return run_example("mobilenet_v2_1xn", tmp_path_factory.mktemp("mobilenet"))


@pytest.fixture(scope="module")
def resnet(tmp_path_factory):
    # --rearrange and --compact on the cheap model, so the optional paths run too.
    return run_example("resnet_1xn", tmp_path_factory.mktemp("resnet"), "--compact", "--rearrange")


@pytest.fixture(params=["mobilenet", "resnet"])
def example(request):
    return request.getfixturevalue(request.param)


def prunable(layer):
    return onexn_tf.Prune1xNPolicy(N, allow_partial_blocks=True).allow_pruning(layer)


def test_tflite_written_with_records_at_the_chosen_n(example):
    summary = example["summary"]
    path = summary["files"]["plain"]["path"]
    assert os.path.dirname(path) == str(example["out"])
    with open(path, "rb") as f:
        data = f.read()
    assert data == example["tflite"]["plain"]
    records = onexn_tf.read_metadata(data)
    pruned = [layer for layer in example["model"].layers if prunable(layer)]
    assert len(records) == len(pruned) == summary["pruned_layers"] > 0
    assert {r.n for r in records} == {N}
    assert all(check.ok for check in verify(data)), [c.problems for c in verify(data) if not c.ok]


def test_stripped_kernels_are_1xn_at_the_target_sparsity(example):
    checked = 0
    for layer in example["model"].layers:
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)) \
                or isinstance(layer, keras.layers.DepthwiseConv2D):
            continue
        kernel = layer.kernel.numpy()
        kept = blocks.kept_blocks(kernel, N)
        if prunable(layer):
            assert (~kept).sum() == blocks.num_pruned_blocks(kept.size, SPARSITY), layer.name
            assert blocks.blocks_explain_zeros(kernel, N), layer.name  # zeros come in whole 1xN blocks only
            checked += 1
        else:  # the RGB stem and the 10-class head stay dense
            assert kept.all(), layer.name
    assert checked == example["summary"]["pruned_layers"]
    assert example["summary"]["block_sparsity"] == pytest.approx(SPARSITY, abs=0.01)


def test_stock_runtime_matches_keras(example):
    images = example["images"]
    expected = example["model"](images, training=False).numpy()
    for kind, data in example["tflite"].items():
        np.testing.assert_allclose(run_tflite(data, images), expected, atol=1e-4, err_msg=kind)


def test_delegate_claims_nodes_and_matches_stock_runtime(example):
    for kind, data in example["tflite"].items():
        report = onexn_tf.delegate_report(data)
        assert report["claimed"] > 0, (kind, report)
        for image in example["images"][:2]:
            stock = bench.run_once(data, image[None], delegate=False)
            onexn = bench.run_once(data, image[None], delegate=True)
            np.testing.assert_allclose(onexn, stock, atol=1e-5, err_msg=kind)


def test_summary_is_printed_and_saved(example):
    with open(os.path.join(example["out"], "summary.json")) as f:
        saved = json.load(f)
    summary = example["summary"]
    assert saved == json.loads(json.dumps(summary))
    b = summary["bench"]
    assert b["runs"] == 3 and b["baseline_ms"] > 0 and b["onexn_ms"] > 0
    assert b["ratio"] == pytest.approx(b["onexn_ms"] / b["baseline_ms"])
    assert b["claimed"] > 0
    assert 0 < summary["macs_after"] < summary["macs"]
    assert 0.0 <= summary["accuracy_before"] <= 1.0 and 0.0 <= summary["accuracy_after"] <= 1.0
    assert os.path.isfile(summary["keras_model"])
    for check in summary["checks"].values():
        assert check["stock_vs_keras"] <= 1e-4 and check["onexn_vs_stock"] <= 1e-5 and check["claimed"] > 0
    out = example["stdout"]
    for step in range(1, 8):
        assert f"[{step}/7]" in out
    assert f"summary: {summary['model']}, 1x{N} blocks" in out
    assert f"ratio              {b['ratio']:.2f}" in out
    assert f"accuracy           dense {summary['accuracy_before']:.1%}" in out


def test_resnet_compact_file_and_rearrangement(resnet):
    files = resnet["summary"]["files"]
    assert files["compact"]["bytes"] < files["plain"]["bytes"]
    with open(files["compact"]["path"], "rb") as f:
        compact = f.read()
    records = onexn_tf.read_metadata(compact)
    assert records and all(r.encoding == ENCODING_SPARSE for r in records)  # every small-ResNet cout % 16 == 0
    np.testing.assert_allclose(run_tflite(compact, resnet["images"]), run_tflite(resnet["tflite"]["plain"],
                               resnet["images"]), atol=1e-6)
    assert "rearrange_filters(n=16):" in resnet["stdout"]
    assert resnet["summary"]["rearrange"] is True


def test_mobilenet_prunes_layers_with_a_short_last_block(mobilenet):
    # MobileNetV2 has 24-channel layers: pruned with a last block of 8 channels (cout % 16 != 0).
    partial = [r for r in onexn_tf.read_metadata(mobilenet["tflite"]["plain"]) if r.cout % N]
    assert partial and {r.cout for r in partial} == {24}


def test_bad_arguments_are_parser_errors(tmp_path, capsys):
    example = load_example("resnet_1xn")
    for argv, message in [(["--sparsity", "1.5"], "--sparsity must be in (0, 1)"),
                          (["--size", "16"], "--size must be >= 32"),
                          (["--steps", "1"], "--steps must be >= 2"),
                          (["--n", "0"], "--n must be >= 1"),
                          (["--weights", str(tmp_path / "missing.h5")], "no such file"),
                          (["--data-dir", str(tmp_path / "nowhere")], "is not a directory"),
                          (["--arch", "resnet18"], "invalid choice")]:
        with pytest.raises(SystemExit):
            example.main(argv)
        assert message in capsys.readouterr().err, argv


def test_weights_file_loads_by_name_and_skips_the_mismatched_head(tmp_path):
    example = load_example("resnet_1xn")
    import _pipeline

    source = example.small_resnet((32, 32, 3), 5)
    source.get_layer("stage1_conv1").set_weights([np.full((3, 3, 32, 32), 0.25, np.float32)])
    path = str(tmp_path / "source.h5")
    source.save_weights(path)
    target = example.small_resnet((32, 32, 3), 10)
    head = target.get_layer("predictions").get_weights()
    _pipeline.load_weights(target, path)
    np.testing.assert_array_equal(target.get_layer("stage1_conv1").kernel.numpy(), 0.25)
    np.testing.assert_array_equal(target.get_layer("stem_conv").kernel.numpy(),
                                  source.get_layer("stem_conv").kernel.numpy())
    for got, before in zip(target.get_layer("predictions").get_weights(), head):  # 5 vs 10 classes: skipped
        np.testing.assert_array_equal(got, before)


def test_digits_data_set():
    data = datasets.digits(40, 8, preprocess=keras.applications.mobilenet_v2.preprocess_input)
    assert (data.num_classes, data.num_train + data.num_test) == (10, 1797)
    images, labels = next(iter(data.train))
    assert images.shape == (8, 40, 40, 3) and labels.shape == (8,)
    assert -1.0 <= float(np.min(images)) and float(np.max(images)) <= 1.0 and float(np.max(images)) > 0.5
    assert sum(int(y.shape[0]) for _, y in data.test) == data.num_test
    with pytest.raises(ValueError, match="size"):
        datasets.digits(0, 8)


def test_image_directory_data_set(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for name in ("cats", "dogs", "owls"):
        os.makedirs(tmp_path / name)
        for i in range(5):
            pixels = rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)
            tf.io.write_file(str(tmp_path / name / f"{i}.png"), tf.io.encode_png(pixels))
    data = datasets.image_directory(str(tmp_path), 32, 4, test_fraction=0.2)
    assert (data.num_classes, data.num_train, data.num_test) == (3, 12, 3)
    images, labels = next(iter(data.train))
    assert images.shape == (4, 32, 32, 3) and images.dtype == tf.float32
    assert float(np.max(images)) > 1.0 and set(labels.numpy()) <= {0, 1, 2}
    with pytest.raises(ValueError, match="one sub-directory of images per class"):
        datasets.image_directory(str(tmp_path / "cats"), 32, 4)
    with pytest.raises(ValueError, match="does not exist"):
        datasets.image_directory(str(tmp_path / "none"), 32, 4)


def test_saved_keras_model_is_the_stripped_model(resnet):
    loaded = keras.models.load_model(resnet["summary"]["keras_model"])
    for got, want in zip(loaded.get_weights(), resnet["model"].get_weights()):
        np.testing.assert_array_equal(got, want)
