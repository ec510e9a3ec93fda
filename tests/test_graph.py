"""onexn_tf.tflite.graph: .tflite bytes <-> the schema's object tree without TensorFlow, byte for byte as
TensorFlow's flatbuffer_utils does it, and the bytes it writes run in both runtimes."""

import numpy as np
import pytest

from onexn_tf.tflite import graph

from conftest import run_tflite


@pytest.mark.parametrize("key", ["plain", "compact"])
def test_round_trip_equals_flatbuffer_utils(varied, key):
    from tensorflow.lite.tools import flatbuffer_utils

    data = varied[key]
    theirs = flatbuffer_utils.convert_object_to_bytearray(flatbuffer_utils.read_model_from_bytearray(bytearray(data)))
    assert graph.write_model(graph.read_model(data)) == bytes(theirs)


def test_written_model_runs_in_both_runtimes(varied):
    import tensorflow as tf

    model = graph.read_model(varied["compact"])
    model.description = b"rewritten by onexn_tf.tflite.graph"
    data = graph.write_model(model)
    assert graph.read_model(data).description == model.description
    x = varied["x"]
    np.testing.assert_allclose(run_tflite(data, x), varied["expected"], atol=1e-4, rtol=1e-4)
    interpreter = tf.lite.Interpreter(model_content=data)
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    np.testing.assert_allclose(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]),
                               varied["expected"], atol=1e-4, rtol=1e-4)


def test_names_and_codes_without_tensorflow(varied):
    model = graph.read_model(varied["compact"])
    names = [graph.OPERATOR_NAMES[graph.builtin_code(model, op)] for op in model.subgraphs[0].operators]
    assert names[0] == "DENSIFY" and "CONV_2D" in names and "FULLY_CONNECTED" in names
    assert {graph.TYPE_NAMES[t.type] for t in model.subgraphs[0].tensors} == {"FLOAT32", "INT32"}  # + reshape shape
    assert any(graph.name_of(t).endswith("/onexn_1xn_sparse") for t in model.subgraphs[0].tensors)
    assert "onexn_1xn" in [graph.name_of(m) for m in model.metadata]


def test_as_bytes_errors(tmp_path):
    with pytest.raises(ValueError, match="TFL3"):
        graph.as_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="cannot read"):
        graph.as_bytes(tmp_path / "missing.tflite")
    with pytest.raises(ValueError, match="bytes"):
        graph.as_bytes(12)
    with pytest.raises(ValueError, match="TFL3"):
        graph.read_model(b"\0" * 64)
