"""examples/compare_patterns.py: the --quick study runs every method and its outputs say what they should."""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from onexn_tf import blocks
from onexn_tf.keras.compat import keras

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "compare_patterns.py")
QUICK_METHODS = ["dense", "unstructured", "filter", "1x4", "1x4 + rearrange", "1x16", "1x16 + rearrange"]
QUICK_SPARSITY = 0.75
PRUNED = ["conv1", "conv2", "conv3"]
KEPT_DENSE = ["stem", "head"]


def load_example():
    spec = importlib.util.spec_from_file_location("compare_patterns", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare_patterns")
    kernels = out / "kernels.npz"
    proc = subprocess.run([sys.executable, SCRIPT, "--quick", "--out-dir", str(out), "--save-kernels", str(kernels)],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    with open(out / "accuracy.json") as f:
        results = json.load(f)
    with open(out / "accuracy.md") as f:
        markdown = f.read()
    return {"out": out, "stdout": proc.stdout, "results": results, "md": markdown, "kernels": dict(np.load(kernels))}


def table_rows(markdown, heading):
    """The header cells and {first cell: other cells} of the first markdown table after `heading`."""
    lines = markdown.split(heading, 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return table[0], {row[0]: row[1:] for row in table[2:]}


def test_progress_is_printed_for_every_run(quick):
    for method in QUICK_METHODS:
        assert re.search(rf"\[seed 0\]\s+\d+% {re.escape(method)}\s+top-1 ", quick["stdout"]), method
    assert "dense trained" in quick["stdout"]


def test_accuracy_table_has_every_method_and_matches_the_json(quick):
    header, rows = table_rows(quick["md"], "## Top-1 accuracy")
    assert header == ["method", "pattern", "75%"]
    assert list(rows) == QUICK_METHODS
    runs = {(r["method"], r["sparsity"]): r for r in quick["results"]["runs"]}
    for method, cells in rows.items():
        mean, std = map(float, re.match(r"([\d.]+) ± ([\d.]+)", cells[1]).groups())
        assert 0.0 <= mean <= 100.0 and std == 0.0  # one seed
        run = runs[(method, 0.0 if method == "dense" else QUICK_SPARSITY)]
        assert mean == pytest.approx(100 * run["accuracy"], abs=0.051)
    _, loss_rows = table_rows(quick["md"], "## Test cross-entropy")
    assert list(loss_rows) == QUICK_METHODS


def test_every_run_is_recorded_with_sane_metrics(quick):
    results = quick["results"]
    assert results["pruned_layers"] == PRUNED and results["dense_layers"] == KEPT_DENSE
    assert sorted((r["method"], r["sparsity"]) for r in results["runs"]) == sorted(
        (m, 0.0 if m == "dense" else QUICK_SPARSITY) for m in QUICK_METHODS)
    test_size = results["test_size"]
    assert results["train_size"] + test_size == 1797 and test_size == 599
    for run in results["runs"]:
        assert 0.0 <= run["accuracy"] <= 1.0
        assert math.isclose(run["accuracy"] * test_size, round(run["accuracy"] * test_size), abs_tol=1e-6)
        assert math.isfinite(run["loss"]) and run["loss"] > 0
        target = 0.0 if run["method"] == "dense" else QUICK_SPARSITY
        assert run["weight_sparsity"] == pytest.approx({name: target for name in PRUNED}, abs=1e-3)
    # Even the tiny budget trains a real classifier (10 classes: chance is 10%).
    assert results["dense_pretrained"][0]["accuracy"] > 0.8


def test_kernels_have_the_intended_pattern_and_sparsity(quick):
    kernels = quick["kernels"]
    methods = {m["name"]: m for m in quick["results"]["methods"]}
    assert sorted(methods) == sorted(QUICK_METHODS)
    for name, method in methods.items():
        target = 0.0 if name == "dense" else QUICK_SPARSITY
        for layer in KEPT_DENSE:
            assert np.count_nonzero(kernels[f"{name}|{target}|{layer}"] == 0) == 0, (name, layer)
        for layer in PRUNED:
            kernel = kernels[f"{name}|{target}|{layer}"]
            cout = kernel.shape[-1]
            zeros = kernel == 0
            if method["pattern"] == "dense":
                assert not zeros.any()
            elif method["pattern"] == "unstructured":
                assert abs(zeros.mean() - target) <= 1.0 / kernel.size
                assert not blocks.blocks_explain_zeros(kernel, 2)  # scattered zeros, not blocks
            elif method["pattern"] == "filter":
                dead = np.all(zeros.reshape(-1, cout), axis=0)
                assert dead.sum() == round(target * cout)
                assert zeros.sum() == dead.sum() * kernel.size // cout  # every zero lies in a dead filter
            else:
                n = method["n"]
                assert name.startswith(f"1x{n}") and method["rearrange"] == name.endswith("rearrange")
                assert blocks.blocks_explain_zeros(kernel, n)
                kept = blocks.kept_blocks(kernel, n)
                assert kept.shape == (kernel.shape[-2], cout // n)
                assert 1.0 - kept.mean() == pytest.approx(target)
                assert zeros.mean() == pytest.approx(target)


def test_rearrangement_kept_the_dense_function(quick):
    diffs = quick["results"]["rearrange_max_abs_diff"]
    assert sorted(d["n"] for d in diffs) == [4, 16]
    assert all(d["max_abs_diff"] < 1e-3 for d in diffs)


def test_plot_and_report_are_written(quick):
    import matplotlib.image

    image = matplotlib.image.imread(quick["out"] / "accuracy.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # not a blank canvas
    md = quick["md"]
    assert "`python examples/compare_patterns.py --quick" in md
    assert re.search(r"runtime \d+ s", md) and "Machine:" in md and "Date:" in md
    assert "![accuracy per method and sparsity](accuracy.png)" in md
    assert "## Against the paper" in md and "1×4 − filter" in md


def test_filter_mask_zeros_the_lowest_l1_filters():
    import tensorflow_model_optimization as tfmot

    example = load_example()
    layer = keras.layers.Conv2D(8, 3, use_bias=False)
    wrapper = example.PruneLowMagnitudeFilters(
        layer, pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0, frequency=1))
    wrapper.build((None, 6, 6, 4))
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 4, 8)).astype(np.float32)
    l1 = np.abs(kernel).reshape(-1, 8).sum(axis=0)
    wrapper.pruning_step.assign(1)
    _, mask = wrapper.pruning_obj._update_mask(kernel)
    mask = mask.numpy()
    expected_dead = np.sort(np.argsort(l1)[:4])
    dead = np.flatnonzero(np.all(mask.reshape(-1, 8) == 0, axis=0))
    np.testing.assert_array_equal(dead, expected_dead)
    assert np.all(mask.reshape(-1, 8)[:, np.setdiff1d(np.arange(8), dead)] == 1)


@pytest.mark.parametrize("argv, message", [
    (["--sparsities", "1.5"], "not in (0, 1)"),
    (["--sparsities", "0"], "not in (0, 1)"),
    (["--ns", "3"], "does not divide 16"),
])
def test_bad_arguments_are_refused(argv, message, capsys):
    example = load_example()
    with pytest.raises(SystemExit) as raised:
        example.parse_args(argv)
    assert raised.value.code == 2
    assert message in capsys.readouterr().err
