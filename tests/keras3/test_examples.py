"""examples/keras3_quickstart.py --quick: a Keras 3 program that never loads tf_keras or tfmot gets a pruned,
converted model the delegate claims, with outputs equal to the stock runtime's and Keras'."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import onexn_tf
import onexn_tf.keras3  # noqa: F401  (registers the wrapper: how a program loads a saved pruned model)
from onexn_tf import blocks
from onexn_tf.runtime import bench
from onexn_tf.tflite.verify import verify

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(ROOT, "examples", "keras3_quickstart.py")
DELEGATE_OK, DELEGATE_WHY = bench.delegate_status()

# Runs the example as its own program, then says which Kerases that program loaded.
RUNNER = """
import json, runpy, sys
sys.argv = [sys.argv[1], "--quick", "--out", sys.argv[2]]
runpy.run_path(sys.argv[0], run_name="__main__")
print("MODULES " + json.dumps(sorted(m for m in ("tf_keras", "tensorflow_model_optimization", "keras")
                                     if m in sys.modules)))
"""


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    run = subprocess.run([sys.executable, "-c", RUNNER, QUICKSTART, str(out)], capture_output=True, text=True,
                         timeout=900, env=env, cwd=ROOT)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    return {"out": out, "stdout": run.stdout}


def test_the_program_loads_keras3_only(quickstart):
    line = next(l for l in quickstart["stdout"].splitlines() if l.startswith("MODULES "))
    assert json.loads(line[len("MODULES "):]) == ["keras"]
    for step in ("[1/5]", "[2/5]", "[3/5]", "[4/5]", "[5/5]"):
        assert step in quickstart["stdout"]


@pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")
def test_the_tflite_is_1x16_and_the_delegate_claims_it(quickstart):
    with open(quickstart["out"] / "digits_1xn.tflite", "rb") as f:
        tflite = f.read()
    records = onexn_tf.read_metadata(tflite)
    assert len(records) == 6 and {r.n for r in records} == {16}  # every expand and project conv
    assert all(check.ok for check in verify(tflite))
    assert onexn_tf.delegate_report(tflite)["claimed"] == 6
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("f4")
    pruned = keras.models.load_model(quickstart["out"] / "pruned.keras")  # no custom scope
    final = onexn_tf.strip_1xn(pruned)
    for name in ("block1_expand", "block3_project"):
        kernel = final.get_layer(name).kernel.numpy()
        assert blocks.blocks_explain_zeros(kernel, 16) and 1 - blocks.kept_blocks(kernel, 16).mean() == 0.5
    for image in x:
        stock = bench.run_once(tflite, image[None], delegate=False)
        np.testing.assert_allclose(stock, np.asarray(final(image[None])), atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(bench.run_once(tflite, image[None], delegate=True), stock, atol=1e-5)
