"""Object lifetimes the runtime does not order for us (issue 7).

ai_edge_litert's Interpreter keeps its delegates alive, but when an interpreter and its delegate sit in
one garbage cycle (an exception traceback holding the frame is enough), Python finalizes them in any
order: ``tflite_plugin_destroy_delegate`` can run before the interpreter frees the delegate's kernel
nodes. The delegate must stay valid for those nodes. These tests are exact under
scripts/test_delegate_sanitized.sh (ASan reports any use after free); in a plain build they check that
the process survives and the next interpreters still answer right.
"""

import gc

import numpy as np
import pytest

from onexn_tf.runtime.delegate import load_delegate, read_report

from test_delegate_metadata import COMPACT
from test_delegate_models import assert_close, conv_model, interpreter_class, random_inputs, run

MODELS = {
    "conv_threads": (conv_model(k=(3, 3), n=8, cin=16, cout=32), {"num_threads": 2}, 1),
    "compact": (COMPACT, {}, 3),
}


def _interpreter(tflite, options):
    delegate = load_delegate(**{"dense": "never", **options})
    it = interpreter_class("litert")(model_content=tflite, experimental_delegates=[delegate])
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], np.ones(d["shape"], np.float32))
    it.invoke()
    return it, delegate


@pytest.mark.parametrize("name", MODELS)
def test_delegate_destroyed_before_its_interpreter(name):
    tflite, options, claimed = MODELS[name]
    it, delegate = _interpreter(tflite, options)
    assert read_report(delegate)["claimed"] == claimed
    delegate.__del__()  # what the garbage collector may do first: tflite_plugin_destroy_delegate
    del it  # now the runtime frees the kernel nodes of the destroyed delegate
    inputs = random_inputs(tflite)
    assert_close(run(tflite, inputs, [load_delegate(**{"dense": "never", **options})]), run(tflite, inputs))


def test_interpreter_and_delegate_in_one_garbage_cycle():
    tflite, options, claimed = MODELS["conv_threads"]
    gc.collect()
    gc.disable()  # collect exactly when we say so
    try:
        for _ in range(20):
            it, delegate = _interpreter(tflite, options)
            cycle = {"interpreter": it, "delegate": delegate}
            cycle["self"] = cycle
            del it, delegate, cycle
        assert gc.collect() > 0
    finally:
        gc.enable()
    inputs = random_inputs(tflite)
    assert_close(run(tflite, inputs, [load_delegate(**{"dense": "never", **options})]), run(tflite, inputs))
