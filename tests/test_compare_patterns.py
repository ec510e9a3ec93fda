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
COMMITTED = os.path.join(ROOT, "docs", "accuracy.json")
QUICK_METHODS = ["dense", "unstructured", "filter", "1x4", "1x4 + rearrange", "1x16", "1x16 + rearrange"]
QUICK_SPARSITY = 0.75
PRUNED = ["conv1", "conv2", "conv3"]
KEPT_DENSE = ["stem", "head"]


def load_example():
    spec = importlib.util.spec_from_file_location("compare_patterns", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# Runs the study as its own program, then says whether that program loaded tfmot or tf_keras.
RUNNER = """
import json, runpy, sys
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
print("MODULES " + json.dumps(sorted(m for m in ("tf_keras", "tensorflow_model_optimization") if m in sys.modules)))
"""


@pytest.fixture(scope="module", params=["tf_keras", "3"], ids=["tf_keras", "keras3"])
def quick(request, tmp_path_factory):
    """The --quick study in tf_keras (tfmot baselines) and in Keras 3 (--keras 3: no tfmot, a Keras 3 program)."""
    flavour = request.param
    out = tmp_path_factory.mktemp("compare_patterns")
    kernels = out / "kernels.npz"
    env = dict(os.environ)
    if flavour == "3":
        env.pop("TF_USE_LEGACY_KERAS", None)
    # The Keras 3 run also compares itself with the committed tf_keras study (docs/accuracy.json).
    extra = ["--keras", "3", "--compare-with", COMMITTED] if flavour == "3" else []
    proc = subprocess.run([sys.executable, "-c", RUNNER, SCRIPT, "--quick", *extra, "--out-dir", str(out),
                           "--save-kernels", str(kernels)], capture_output=True, text=True, timeout=900, cwd=ROOT,
                          env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    stem = "accuracy" if flavour == "tf_keras" else "accuracy_keras3"
    with open(out / f"{stem}.json") as f:
        results = json.load(f)
    with open(out / f"{stem}.md") as f:
        markdown = f.read()
    modules = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("MODULES "))[len("MODULES "):])
    return {"out": out, "stdout": proc.stdout, "results": results, "md": markdown, "kernels": dict(np.load(kernels)),
            "flavour": flavour, "stem": stem, "modules": modules}


def test_the_keras3_study_runs_without_tfmot(quick):
    if quick["flavour"] == "3":
        assert quick["modules"] == [] and quick["results"]["keras"] == "Keras 3"
        assert "no tfmot" in quick["md"] and ", Keras 3\n" in quick["md"]
    else:
        assert quick["modules"] == ["tensorflow_model_optimization", "tf_keras"]
        assert quick["results"]["keras"] == "tf_keras" and "tfmot 0.8" in quick["md"]


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


def test_the_keras3_report_compares_itself_with_the_tf_keras_study(quick):
    if quick["flavour"] == "tf_keras":
        assert "## Against the" not in quick["md"]
        return
    header, rows = table_rows(quick["md"], "## Against the tf_keras run")
    assert header == ["method", "75%"] and list(rows) == QUICK_METHODS
    with open(COMMITTED) as f:
        committed = json.load(f)
    theirs = {(r["method"], r["sparsity"]): [] for r in committed["runs"]}
    for r in committed["runs"]:
        theirs[(r["method"], r["sparsity"])].append(r["accuracy"])
    ours = {(r["method"], r["sparsity"]): r["accuracy"] for r in quick["results"]["runs"]}
    for method, (cell,) in rows.items():
        key = (method, 0.0 if method == "dense" else QUICK_SPARSITY)
        a, b, diff, _ = re.match(r"([\d.]+) ± [\d.]+ → ([\d.]+) ± [\d.]+ \(([+-][\d.]+), (within noise|differs)\)",
                                    cell).groups()
        assert float(a) == pytest.approx(100 * np.mean(theirs[key]), abs=0.051)
        assert float(b) == pytest.approx(100 * ours[key], abs=0.051)
        assert float(diff) == pytest.approx(float(b) - float(a), abs=0.11)
    assert re.search(r"\d+ of 7 \(method, sparsity\) results within noise, \d+ differ\.", quick["md"])


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

    image = matplotlib.image.imread(quick["out"] / f"{quick['stem']}.png")
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
    assert image[..., :3].std() > 0.05  # not a blank canvas
    md = quick["md"]
    assert "`python examples/compare_patterns.py --quick" in md
    assert re.search(r"runtime \d+ s", md) and "Machine:" in md and "Date:" in md
    assert f"![accuracy per method and sparsity]({quick['stem']}.png)" in md
    assert "## Against the paper" in md and "1×4 − filter" in md


def baselines(name):
    if os.path.dirname(SCRIPT) not in sys.path:
        sys.path.insert(0, os.path.dirname(SCRIPT))  # the baselines modules sit next to the script
    return importlib.import_module(name)


def test_filter_mask_zeros_the_lowest_l1_filters():
    import keras as keras3
    import tensorflow_model_optimization as tfmot

    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 4, 8)).astype(np.float32)
    l1 = np.abs(kernel).reshape(-1, 8).sum(axis=0)
    expected_dead = np.sort(np.argsort(l1)[:4])
    # tf_keras: a tfmot wrapper with the filter mask; Keras 3: onexn's wrapper with the same mask.
    wrapper = baselines("_baselines_tf_keras").PruneLowMagnitudeFilters(
        keras.layers.Conv2D(8, 3, use_bias=False), pruning_schedule=tfmot.sparsity.keras.ConstantSparsity(0.5, 0, frequency=1))
    wrapper.build((None, 6, 6, 4))
    wrapper.pruning_step.assign(1)
    _, tf_keras_mask = wrapper.pruning_obj._update_mask(kernel)
    keras3_mask = baselines("_baselines_keras3").filters(keras3.layers.Conv2D(8, 3), None).pruning_mask(kernel, 0.5)
    for mask in (tf_keras_mask.numpy(), keras3_mask.numpy()):
        dead = np.flatnonzero(np.all(mask.reshape(-1, 8) == 0, axis=0))
        np.testing.assert_array_equal(dead, expected_dead)
        assert np.all(mask.reshape(-1, 8)[:, np.setdiff1d(np.arange(8), dead)] == 1)


@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.75, 0.9])
def test_keras3_unstructured_mask_is_tfmots(sparsity):
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_impl

    rng = np.random.default_rng(1)
    kernel = rng.normal(size=(3, 3, 8, 16)).astype(np.float32)
    kernel[0, 0, 0, :4] = kernel[0, 0, 1, :4]  # ties
    tfmot_rule = pruning_impl.Pruning(training_step_fn=lambda: 1, pruning_vars=[],
                                      pruning_schedule=lambda step: (True, sparsity), block_size=(1, 1),
                                      block_pooling_type="AVG")
    _, expected = tfmot_rule._update_mask(kernel)
    got = baselines("_masks").magnitude_mask(kernel, sparsity)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())


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
