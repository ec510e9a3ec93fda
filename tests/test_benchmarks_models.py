"""benchmarks/models.py: pruned variants made by transplanting zeros equal a real conversion; trained-like
zeros keep the N the layers were pruned with."""

import numpy as np
import pytest

import onexn_tf
from benchmarks import models as bench_models
from onexn_tf import blocks
from onexn_tf.keras.compat import keras
from onexn_tf.keras.layers import layer_kernel, leaf_layers, pruned_n
from onexn_tf.runtime import bench
from onexn_tf.tflite import graph


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="stem")(inputs)
    x = keras.layers.Conv2D(32, 1, use_bias=False, name="expand")(x)
    x = keras.layers.BatchNormalization(name="expand_bn")(x)
    x = keras.layers.ReLU(6.0)(x)
    x = keras.layers.Conv2D(24, 1, name="project")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(12, name="head")(x))
    bn = model.get_layer("expand_bn")
    bn.set_weights([rng.uniform(0.5, 1.5, 32).astype("f4"), rng.normal(size=32).astype("f4"),
                    rng.normal(size=32).astype("f4"), rng.uniform(0.5, 1.5, 32).astype("f4")])
    return model


def _weights(data):
    model = graph.read_model(data)
    return [graph.constant_float32(model, model.subgraphs[0].tensors[w.weight_tensor])
            for w in graph.weight_ops(model)]


@pytest.fixture(scope="module")
def converted():
    model = _model()
    pruned = onexn_tf.apply_1xn(model, 8, 0.5)  # the default policy, as the sweep prunes
    return model, pruned, bench_models.tf_convert(model), bench_models.tf_convert(pruned)


def test_transplant_equals_converting_the_pruned_model(converted):
    model, pruned, dense, direct = converted
    transplanted = bench_models.transplant_zeros(dense, pruned)
    got, want = _weights(transplanted), _weights(direct)
    assert len(got) == len(want) == 4
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)
    assert sum(int((w == 0).sum()) for w in got) > 0  # something was pruned (expand, project, head)
    x = np.random.default_rng(3).standard_normal((1, 8, 8, 3)).astype("f4")
    np.testing.assert_array_equal(bench.run_once(transplanted, x, delegate=False),
                                  bench.run_once(direct, x, delegate=False))
    np.testing.assert_allclose(bench.run_once(transplanted, x, delegate=False), pruned(x).numpy(),
                               rtol=1e-4, atol=1e-4)


def test_transplant_refuses_a_model_it_cannot_match(converted):
    _, pruned, _, _ = converted
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="unrelated")])
    other.get_layer("unrelated").kernel.assign(np.zeros((4, 8), "f4"))
    with pytest.raises(ValueError, match="unrelated"):
        bench_models.transplant_zeros(bench_models.tf_convert(_model()), other)


def test_fixed_batch_conversion_has_static_shapes(converted):
    _, _, dense, _ = converted
    interpreter = bench.make_interpreter(dense)
    assert list(interpreter.get_input_details()[0]["shape"]) == [1, 8, 8, 3]
    assert list(interpreter.get_input_details()[0]["shape_signature"]) == [1, 8, 8, 3]


def test_pointwise_convs_lists_distinct_1x1_shapes(converted):
    _, _, dense, _ = converted
    shapes = bench_models.pointwise_convs(dense)
    assert [s for _, s in shapes] == [(4, 4, 16, 32), (4, 4, 32, 24)]


def test_cache_builds_once(tmp_path):
    cache = bench_models.Cache(str(tmp_path))
    calls = []
    assert cache.get("a/b.tflite", lambda: calls.append(1) or b"xyz") == b"xyz"
    assert cache.get("a/b.tflite", lambda: calls.append(1) or b"other") == b"xyz"
    assert calls == [1] and (tmp_path / "a" / "b.tflite").read_bytes() == b"xyz"


def test_keras_model_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown model"):
        bench_models.keras_model("vgg16")


def _pruned_kernels(model):
    return {layer.name: layer_kernel(layer) for layer in leaf_layers(model) if pruned_n(layer) is not None}


def test_trained_like_adds_dead_channels_and_stray_zeros_and_keeps_n():
    model = _model()
    one_shot = _pruned_kernels(onexn_tf.apply_1xn(model, 8, 0.5))
    trained = _pruned_kernels(bench_models.trained_like(onexn_tf.apply_1xn(model, 8, 0.5), seed=1))
    assert sorted(trained) == ["expand", "head", "project"]  # the stem (3 input channels) stays dense
    for name, kernel in trained.items():
        before, after = one_shot[name], kernel
        assert not (after[before == 0] != 0).any()  # only zeros were added
        dead = ~np.any(after != 0, axis=tuple(range(after.ndim - 1)))
        assert 1 <= dead.sum() < dead.size and not (~np.any(before != 0, axis=tuple(range(before.ndim - 1)))).any()
        # Stray zeros: inside blocks that stay kept at N=8, on live output channels.
        kept = np.repeat(blocks.kept_blocks(blocks.as_hwio(after), 8), 8, axis=1)[:, :after.shape[-1]]
        stray = (after == 0).reshape(-1, after.shape[-2], after.shape[-1]).all(axis=0) & kept & ~dead
        assert stray.any(), name
        assert blocks.detect_n(after) == 8, name
    again = _pruned_kernels(bench_models.trained_like(onexn_tf.apply_1xn(model, 8, 0.5), seed=1))
    other = _pruned_kernels(bench_models.trained_like(onexn_tf.apply_1xn(model, 8, 0.5), seed=2))
    assert all(np.array_equal(trained[k], again[k]) for k in trained)
    assert any(not np.array_equal(trained[k], other[k]) for k in trained)


def test_trained_like_model_converts_with_its_n_and_the_delegate_claims_it(converted):
    model, pruned, dense, _ = converted
    trained = bench_models.trained_like(onexn_tf.apply_1xn(model, 8, 0.5), seed=0)
    files = {w: onexn_tf.convert(bench_models.transplant_zeros(dense, m))
             for w, m in (("one-shot", pruned), ("trained-like", trained))}
    records = {w: onexn_tf.read_metadata(f) for w, f in files.items()}
    assert len(records["trained-like"]) == len(records["one-shot"]) == 3
    assert {r.n for r in records["trained-like"]} == {8}
    # dense=never: the records' kept blocks (by default this small graph saves too little to be taken).
    report = onexn_tf.delegate_report(files["trained-like"], dense="never")
    assert report["claimed"] == onexn_tf.delegate_report(files["one-shot"], dense="never")["claimed"] == 3


def test_keras_model_has_the_applications_softmax_head():
    model = bench_models.keras_model("mobilenet_v2", input_size=96)
    assert model.layers[-1].activation.__name__ == "softmax" and model.output_shape == (None, 1000)


def test_int8_convert_gives_int8_records():
    from onexn_tf.tflite import metadata

    model = onexn_tf.apply_1xn(_model(), n=8, sparsity=0.5)
    data = bench_models.int8_convert(model)
    records = onexn_tf.read_metadata(data)
    # The default policy prunes the two 1x1 convolutions and the head (12 channels: a last block of 4); the
    # stem reads 3 channels and stays dense.
    assert [r.cout for r in records] == [32, 24, 12] and {r.weight_type for r in records} == {metadata.WEIGHT_INT8}
    from ai_edge_litert.interpreter import Interpreter

    (detail,) = Interpreter(model_content=data).get_input_details()
    assert detail["dtype"] == np.int8  # full int8 I/O
