"""Importing onexn_tf does not change which Keras a program gets: each case runs as a fresh program with
TF_USE_LEGACY_KERAS unset, the way a user starts one."""

import json
import os
import subprocess
import sys

import pytest

# A small Keras 3 model pruned, stripped and converted: what a Keras 3 program does with onexn.
KERAS3_PATH = """
model = keras.Sequential([keras.Input((6, 6, 4)), keras.layers.Conv2D(16, 1), keras.layers.GlobalAveragePooling2D(),
                          keras.layers.Dense(8)])
pruned = onexn_tf.prune_1xn(model, n=4, pruning_schedule=onexn_tf.ConstantSparsity(0.5, 0, frequency=1))
pruned.compile("adam", "mse")
pruned.fit(np.ones((8, 6, 6, 4)), np.ones((8, 8)), verbose=0, callbacks=[onexn_tf.UpdatePruningStep()])
records = onexn_tf.read_metadata(onexn_tf.convert(onexn_tf.strip_1xn(pruned)))
"""

REPORT = """
import tensorflow as tf
print("RESULT " + json.dumps({
    "variable": os.environ.get("TF_USE_LEGACY_KERAS"),
    "tf.keras": tf.keras.layers.Dense.__module__.split(".")[0],  # "keras" (Keras 3) or "tf_keras"
    "loaded": sorted(m for m in ("tf_keras", "tensorflow_model_optimization") if m in sys.modules),
    "records": len(records),
}))
"""


def run_program(body, **env_changes):
    env = {k: v for k, v in os.environ.items() if k not in ("TF_USE_LEGACY_KERAS", "KERAS_BACKEND")}
    env.update(env_changes)
    script = "import json, os, sys\nimport numpy as np\n" + body
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, env=env)
    lines = [line for line in run.stdout.splitlines() if line.startswith("RESULT ")]
    assert run.returncode == 0 and len(lines) == 1, run.stdout[-2000:] + run.stderr[-4000:]
    return json.loads(lines[0][len("RESULT "):])


@pytest.mark.parametrize("imports", ["import keras\nimport onexn_tf\n", "import onexn_tf\nimport keras\n"])
def test_a_keras3_program_stays_keras3_in_either_import_order(imports):
    out = run_program(imports + KERAS3_PATH + REPORT)
    assert out["variable"] is None
    assert out["tf.keras"] == "keras"  # tf.keras, first used at the end, is still Keras 3
    assert out["loaded"] == []
    assert out["records"] == 2


def test_tf_keras_without_the_variable_is_keras3_and_supported():
    out = run_program("import onexn_tf\nimport tensorflow as tf\nkeras = tf.keras\n" + KERAS3_PATH + REPORT)
    assert out["variable"] is None and out["tf.keras"] == "keras"
    assert out["loaded"] == [] and out["records"] == 2


def test_a_tf_keras_program_needs_no_variable():
    # `import tf_keras as keras`, as the README says: onexn loads tfmot for the tf_keras model, and tfmot sets
    # TF_USE_LEGACY_KERAS=1 as it loads, so a tf.keras not used before then means tf_keras afterwards.
    out = run_program("import onexn_tf\nimport tf_keras as keras\n" + KERAS3_PATH + REPORT)
    assert out["records"] == 2
    assert out["loaded"] == ["tensorflow_model_optimization", "tf_keras"]
    assert out["variable"] == "1" and out["tf.keras"] == "tf_keras"


def test_keras3_on_another_backend_gets_an_error_naming_it(monkeypatch):
    # onexn asks Keras which backend runs (keras.backend.backend()). JAX and PyTorch are not installed here,
    # and Keras' numpy backend imports JAX, so the answer is patched: the check is what is under test.
    import keras

    import onexn_tf
    from onexn_tf.keras import flavour

    layer, model = keras.layers.Dense(8), keras.Sequential([keras.Input((4,)), keras.layers.Dense(8)])
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    for call in (lambda: onexn_tf.prune_1xn(layer, n=4), lambda: onexn_tf.convert(model),
                 lambda: onexn_tf.sparsity_report(model), lambda: onexn_tf.UpdatePruningStep().set_model(model),
                 lambda: flavour.load(flavour.KERAS3)):
        with pytest.raises(ValueError, match=r"'jax' backend \(KERAS_BACKEND='jax'\).*Keras 3 on the TensorFlow "
                                             r"backend only.*KERAS_BACKEND=tensorflow.*tf_keras"):
            call()
