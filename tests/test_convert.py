"""onexn_tf.convert: stock-runtime outputs, records that match the applied masks, N detection, options."""

import numpy as np
import pytest
from conftest import VARIED_PLAN, prune_layers, run_tflite

import onexn_tf
from onexn_tf import blocks, convert, read_metadata
from onexn_tf.keras.compat import keras
from onexn_tf.keras.layers import mark_pruned_n, pruned_n
from onexn_tf.tflite import graph, metadata


def _by_layer(records, model_bytes):
    """{Keras layer name: record}, through the weight tensor name TensorFlow gives (model/<layer>/...)."""
    model = graph.read_model(model_bytes)
    found = {}
    for r in records:
        name = graph.name_of(model.subgraphs[r.subgraph].tensors[r.weight_tensor])
        layer = [k for k in VARIED_PLAN if f"/{k}/" in name]
        assert len(layer) == 1, name
        found[layer[0]] = r
    return found


@pytest.mark.parametrize("delegates", [True, False], ids=["xnnpack", "builtin"])
def test_plain_outputs_equal_keras(varied, delegates):
    out = run_tflite(varied["plain"], varied["x"], delegates=delegates)
    np.testing.assert_allclose(out, varied["expected"], atol=1e-4, rtol=1e-4)


def test_records_match_the_applied_masks(varied):
    records = _by_layer(read_metadata(varied["plain"]), varied["plain"])
    assert sorted(records) == sorted(VARIED_PLAN)
    for name, (n, sparsity) in VARIED_PLAN.items():
        r, kernel = records[name], varied["kernels"][name]
        layer = varied["model"].get_layer(name)
        expected_op = metadata.CONV_2D if isinstance(layer, keras.layers.Conv2D) else metadata.FULLY_CONNECTED
        assert (r.n, r.builtin_op, r.encoding) == (n, expected_op, metadata.ENCODING_DENSE), name
        hwio = kernel if kernel.ndim == 4 else kernel[None, None]
        assert (r.kh, r.kw, r.cin, r.cout) == hwio.shape, name
        # kept_cin per group is exactly the set of blocks the mask left non-zero (BatchNorm folding included).
        np.testing.assert_array_equal(r.kept_blocks(), blocks.kept_blocks(kernel, n), err_msg=name)
        kept = blocks.kept_blocks(kernel, n)
        for g in range(r.num_groups):
            np.testing.assert_array_equal(r.kept_cin[g], np.flatnonzero(kept[:, g]))
        assert r.block_sparsity == pytest.approx(blocks.num_pruned_blocks(kept.size, sparsity) / kept.size)


def test_record_indices_point_at_the_operator_and_weight(varied):
    model = graph.read_model(varied["plain"])
    for r in read_metadata(varied["plain"]):
        op = model.subgraphs[r.subgraph].operators[r.operator]
        assert graph.builtin_code(model, op) == r.builtin_op
        assert int(op.inputs[1]) == r.weight_tensor
        weight = graph.constant_float32(model, model.subgraphs[r.subgraph].tensors[r.weight_tensor])
        assert list(weight.shape) == r.weight_shape()
        assert metadata.weight_crc32(weight) == r.weight_crc32


def test_batchnorm_was_folded_into_the_conv_weights(varied):
    """The recorded c2 weight is the Keras kernel times the BatchNorm scale (TFLite OHWI), zeros kept."""
    r = _by_layer(read_metadata(varied["plain"]), varied["plain"])["c2"]
    model = graph.read_model(varied["plain"])
    weight = graph.constant_float32(model, model.subgraphs[0].tensors[r.weight_tensor])
    gamma, _, _, var = varied["model"].get_layer("bn").get_weights()
    bn = varied["model"].get_layer("bn")
    scale = gamma / np.sqrt(var + bn.epsilon)
    expected = np.transpose(varied["kernels"]["c2"] * scale, (3, 0, 1, 2))
    np.testing.assert_allclose(weight, expected, rtol=1e-5, atol=1e-6)


def _small_conv(cout=16, n=4, sparsity=0.5, seed=3):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 8))
    outputs = keras.layers.Conv2D(cout, 3, padding="same", name="conv")(inputs)
    model = keras.Model(inputs, outputs)
    prune_layers(model, {"conv": (n, sparsity)})
    return model


def test_nothing_pruned_gives_no_entry():
    keras.utils.set_random_seed(0)
    model = _small_conv(sparsity=0.0)
    tflite = convert(model)
    assert read_metadata(tflite) == []
    names = [graph.name_of(m) for m in graph.read_model(tflite).metadata]
    assert not [name for name in names if name.startswith("onexn")]
    assert convert(model, compact=True) == tflite


def test_int_n_overrides_detection():
    model = _small_conv(n=8)  # pruned at 8, so any divisor also describes it
    (auto,) = read_metadata(convert(model))
    (forced,) = read_metadata(convert(model, n=2))
    assert (auto.n, forced.n) == (8, 2)
    np.testing.assert_array_equal(forced.kept_blocks(), np.repeat(auto.kept_blocks(), 4, axis=1))
    assert read_metadata(convert(_small_conv(cout=8, n=8), n=16)) == []  # n > cout: no record


def test_the_n_a_layer_was_pruned_with_is_preferred_when_it_explains_the_zeros():
    model = _small_conv(n=8)  # pruned at 8: its zeros also lie in all-zero 1x4 blocks
    layer = model.get_layer("conv")
    assert pruned_n(layer) is None  # set by hand here, not by apply_1xn / strip_1xn
    mark_pruned_n(layer, 4)
    assert read_metadata(convert(model))[0].n == 4
    mark_pruned_n(layer, 16)  # its zeros do not lie in all-zero 1x16 blocks: detection decides
    assert read_metadata(convert(model))[0].n == 8


def test_apply_and_strip_note_the_n_on_the_plain_layers():
    model = _small_conv(sparsity=0.0)
    applied = onexn_tf.apply_1xn(model, n=4, sparsity=0.75)
    assert pruned_n(applied.get_layer("conv")) == 4
    assert pruned_n(model.get_layer("conv")) is None  # apply_1xn works on a copy
    stripped = onexn_tf.strip_1xn(onexn_tf.prune_1xn(model, n=2))
    assert pruned_n(stripped.get_layer("conv")) == 2


def test_layer_name_mapping(varied):
    tflite = convert(varied["model"], n={"c1": 8, "d1": 1})
    records = _by_layer(read_metadata(tflite), tflite)
    assert (records["c1"].n, records["d1"].n, records["c2"].n) == (8, 1, 8)
    with pytest.raises(ValueError, match="no_such_layer"):
        convert(varied["model"], n={"no_such_layer": 4})
    with pytest.raises(ValueError, match="c1.*no all-zero 1x64"):
        convert(varied["model"], n={"c1": 64})  # cout 32 < 64


@pytest.mark.parametrize("bad", [0, 65, 2.0, True, "4"])
def test_bad_n_raises(varied, bad):
    with pytest.raises(ValueError, match="n.*1..64"):
        convert(varied["plain"], n=bad)


def test_annotating_bytes_gives_the_same_records(varied):
    import tensorflow as tf

    bare = tf.lite.TFLiteConverter.from_keras_model(varied["model"]).convert()
    assert read_metadata(bare) == []
    assert read_metadata(convert(bare)) == read_metadata(varied["plain"])
    with pytest.raises(ValueError, match="already has onexn metadata"):
        convert(varied["plain"])
    with pytest.raises(ValueError, match="need a Keras model"):
        convert(bare, optimizations=[tf.lite.Optimize.DEFAULT])


def test_unstripped_wrappers_and_bad_options_raise():
    import tensorflow_model_optimization as tfmot

    model = _small_conv()
    with pytest.raises(ValueError, match="unknown TFLiteConverter option 'no_such_option'"):
        convert(model, no_such_option=1)
    wrapped = tfmot.sparsity.keras.prune_low_magnitude(model)
    with pytest.raises(ValueError, match="strip_1xn"):
        convert(wrapped)
    with pytest.raises(ValueError, match="tf_keras Model or .tflite bytes"):
        convert(object())


def test_int8_quantization_gets_int8_records():
    import tensorflow as tf

    model = _small_conv()
    rng = np.random.default_rng(0)

    def dataset():
        for _ in range(4):
            yield [rng.standard_normal((1, 6, 6, 8)).astype("f4")]

    tflite = convert(model, representative_dataset=dataset, optimizations=[tf.lite.Optimize.DEFAULT])
    model_obj = graph.read_model(tflite)
    (conv,) = [w for w in graph.weight_ops(model_obj)]
    assert model_obj.subgraphs[0].tensors[conv.weight_tensor].type == graph.schema.TensorType.INT8
    (record,) = read_metadata(tflite)  # tests/test_convert_int8.py has the details
    assert (record.operator, record.weight_type) == (conv.operator, metadata.WEIGHT_INT8)


def test_grouped_conv_gets_no_record():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 8))
    outputs = keras.layers.Conv2D(16, 3, groups=2, name="conv")(inputs)
    model = keras.Model(inputs, outputs)
    prune_layers(model, {"conv": (4, 0.5)})
    tflite = convert(model)
    model_obj = graph.read_model(tflite)
    assert [w.op_name for w in graph.weight_ops(model_obj)] == ["CONV_2D"]  # still one grouped CONV_2D
    assert read_metadata(tflite) == []
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 8)).astype("f4")
    np.testing.assert_allclose(run_tflite(tflite, x, delegates=False), model(x).numpy(), atol=1e-4, rtol=1e-4)


def test_apply_1xn_model_converts():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6, 6, 8)), keras.layers.Conv2D(16, 3, name="a"),
                              keras.layers.Conv2D(32, 1, activation="relu", name="b"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(8, name="d")])
    pruned = onexn_tf.apply_1xn(model, n=4, sparsity={"b": 0.75, "d": 0.5})
    tflite = convert(pruned, compact=True)
    records = read_metadata(tflite)
    assert [(r.n, r.cout, r.encoding) for r in records] == [(4, 32, 1), (4, 8, 1)]
    assert [round(r.block_sparsity, 2) for r in records] == [0.75, 0.5]
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 8)).astype("f4")
    np.testing.assert_allclose(run_tflite(tflite, x), pruned(x).numpy(), atol=1e-4, rtol=1e-4)


def test_convert_is_callable_whichever_way_it_was_imported(varied):
    import importlib

    module = importlib.import_module("onexn_tf.tflite.convert")  # importing it leaves the package name alone
    assert onexn_tf.convert is module.convert
    assert read_metadata(onexn_tf.convert(varied["model"])) == read_metadata(varied["plain"])
    assert read_metadata(module.convert(varied["model"], compact=True)) == read_metadata(varied["compact"])
