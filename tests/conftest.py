"""Shared test fixtures: small tf_keras models pruned 1xN by hand, converted once per session.

This suite runs as a tf_keras process (``tf.keras`` is tf_keras). tests/keras3/ is the Keras 3 suite: it runs
in a process of its own (``python -m pytest tests/keras3``, as scripts/test.sh does), so it is not collected here.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
collect_ignore = ["keras3"]

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Skips are only for a partial setup (no delegate built, no Bazel library, no g++, no atheris).
    scripts/test.sh builds all of those first and sets ONEXN_ALL_TESTS=1: there a skip is a failure."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("ONEXN_ALL_TESTS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, but scripts/test.sh runs every test: {report.longrepr}"


def run_tflite(model_bytes, x, *, delegates=True):
    """Runs .tflite bytes on the stock runtime (ai_edge_litert); `delegates=False` also turns off XNNPACK."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if delegates else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(model_content=model_bytes, experimental_op_resolver_type=resolver)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def prune_layers(model, plan, seed=0):
    """Zeroes 1xN blocks in place: plan = {layer name: (n, sparsity)}. Returns {name: pruned kernel}."""
    from onexn_tf import blocks

    kernels = {}
    for name, (n, sparsity) in plan.items():
        layer = model.get_layer(name)
        weights = layer.get_weights()
        weights[0] = weights[0] * blocks.block_mask(weights[0], n, sparsity)
        layer.set_weights(weights)
        kernels[name] = weights[0]
    return kernels


# Layer name -> (N, block sparsity) of the varied model: every N in {1, 2, 4, 8, 16}, cout % N != 0 on c4.
VARIED_PLAN = {"c1": (16, 0.5), "c2": (8, 0.6), "c3": (4, 0.7), "c4": (8, 0.5), "d1": (2, 0.6), "d2": (1, 0.5)}


def build_varied_model(seed=0):
    """Conv 3x3 SAME ReLU, 1x1 no-bias + BatchNorm (folded) + ReLU6, 3x3 stride 2 VALID, cout % N != 0, Dense."""
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input((9, 9, 8))
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(24, 1, use_bias=False, name="c2")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(6.0, name="relu6")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="valid", activation="relu6", name="c3")(x)
    x = keras.layers.Conv2D(12, 1, name="c4")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(20, activation="relu", name="d1")(x)
    outputs = keras.layers.Dense(10, use_bias=False, name="d2")(x)
    model = keras.Model(inputs, outputs)
    # Non-trivial BatchNorm statistics, so the folded scale really changes the conv weights.
    model.get_layer("bn").set_weights([rng.uniform(0.5, 1.5, 24).astype("f4"), rng.normal(size=24).astype("f4"),
                                       rng.normal(size=24).astype("f4"), rng.uniform(0.5, 1.5, 24).astype("f4")])
    kernels = prune_layers(model, VARIED_PLAN)
    return model, kernels


@pytest.fixture(scope="session")
def varied():
    """The varied pruned model, an input batch, its Keras output and its plain and compact .tflite bytes."""
    from onexn_tf import convert

    model, kernels = build_varied_model()
    x = np.random.default_rng(1).standard_normal((2, 9, 9, 8)).astype("f4")
    return {"model": model, "kernels": kernels, "x": x, "expected": model(x).numpy(),
            "plain": convert(model), "compact": convert(model, compact=True)}
