"""keras.applications networks, pruned the way a user prunes them (``apply_1xn(model, 16, 0.5)``, the default
policy, the 1000-class softmax head), run on the delegate as ONE partition: the dense layers the policy
leaves (stems, MobileNetV2's 24-channel projections, classifiers) and every operator between the 1xN
layers included, nothing declined, nothing left to the stock runtime, and the stock runtime's results.

Small inputs (64x64) keep the conversions and runs short; the graphs are those of the 224x224 models.
"""

import functools

import pytest

from test_delegate_models import assert_close, random_inputs, run

INPUT = 64
GLUE_OPS = {
    "MobileNet": {"DEPTHWISE_CONV_2D", "MEAN", "RESHAPE", "SOFTMAX"},
    "MobileNetV2": {"DEPTHWISE_CONV_2D", "ADD", "MEAN", "SOFTMAX"},
    "ResNet50": {"PAD", "MAX_POOL_2D", "ADD", "MEAN", "SOFTMAX"},
}


@functools.lru_cache(maxsize=None)
def _converted(name, fixed_batch=False):
    """The network pruned and converted as a user does it (``onexn_tf.convert``); with ``fixed_batch`` from
    a batch-1 conversion (as deployed; benchmarks/models.py converts so)."""
    import onexn_tf
    from onexn_tf.keras.compat import keras

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(INPUT, INPUT, 3))
    pruned = onexn_tf.apply_1xn(model, 16, 0.5)
    if fixed_batch:
        from benchmarks.models import tf_convert

        return onexn_tf.convert(tf_convert(pruned))
    return onexn_tf.convert(pruned)


def _stock_delegate_nodes(tflite, delegate):
    """DELEGATE nodes of the interpreter: onexn's partitions and any the stock runtime (XNNPACK) made."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=tflite, experimental_delegates=[delegate])
    interpreter.allocate_tensors()
    return sum(op["op_name"] == "DELEGATE" for op in interpreter._get_ops_details())


@pytest.mark.parametrize("name, fixed_batch", [("MobileNetV2", False), ("ResNet50", False), ("MobileNet", True)])
def test_pruned_network_is_one_partition(name, fixed_batch):
    from onexn_tf.runtime.delegate import load_delegate, read_report

    tflite = _converted(name, fixed_batch)
    inputs = random_inputs(tflite)
    want = run(tflite, inputs)
    for threads in (1, 2):
        delegate = load_delegate()
        got = run(tflite, inputs, [delegate], num_threads=threads)
        report = read_report(delegate)
        assert report["partitions"] == 1 and report["declined"] == [], report["declined"]
        assert report["claimed"] > 10 and report["dense_nodes"], report
        assert {k["op"] for k in report["glue_kernels"]} == GLUE_OPS[name]
        assert_close(got, want)
    assert _stock_delegate_nodes(tflite, load_delegate()) == 1  # onexn's partition, no XNNPACK one
    if name == "MobileNetV2":  # the policy leaves the 24-channel projections dense at N=16
        assert len(report["dense_nodes"]) >= 3


def test_mobilenet_v1_open_batch_declines_only_the_computed_reshape():
    # With an open batch TensorFlow's converter computes Reshape((1000,))'s new shape in the graph (SHAPE ->
    # STRIDED_SLICE -> PACK from the classifier's output): the RESHAPE, and the SOFTMAX after it, form a
    # second partition behind those int32 nodes.
    from onexn_tf.runtime.delegate import load_delegate, read_report

    tflite = _converted("MobileNet")
    inputs = random_inputs(tflite)
    delegate = load_delegate()
    assert_close(run(tflite, inputs, [delegate]), run(tflite, inputs))
    report = read_report(delegate)
    (declined,) = report["declined"]
    assert declined["op"] == "RESHAPE" and "computed in the graph" in declined["reason"]
    assert report["partitions"] == 2 and "SOFTMAX" in {k["op"] for k in report["glue_kernels"]}
