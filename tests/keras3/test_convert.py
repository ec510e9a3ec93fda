"""convert on Keras 3 models: TensorFlow's converter, then onexn's records; the delegate claims the layers and
its outputs equal the stock runtime's, which equal Keras'."""

import keras
import numpy as np
import pytest

import onexn_tf
from onexn_tf import blocks
from onexn_tf.keras.layers import mark_pruned_n, pruned_n
from onexn_tf.runtime import bench
from onexn_tf.tflite.metadata import ENCODING_DENSE, ENCODING_SPARSE

DELEGATE_OK, DELEGATE_WHY = bench.delegate_status()
needs_delegate = pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")
L = keras.layers


def prune(model, plan):
    """Zeroes 1xN blocks in place: plan = {layer name: (n, sparsity)}."""
    for name, (n, sparsity) in plan.items():
        layer = model.get_layer(name)
        weights = layer.get_weights()
        weights[0] = weights[0] * blocks.block_mask(weights[0], n, sparsity)
        layer.set_weights(weights)


def check_runs(tflite, model, x):
    """Stock runtime == Keras; onexn delegate == stock, one image at a time (the converted batch is 1)."""
    for image in x:
        stock = bench.run_once(tflite, image[None], delegate=False)
        np.testing.assert_allclose(stock, np.asarray(model(image[None])), atol=1e-4, rtol=1e-4)
        if DELEGATE_OK:
            np.testing.assert_allclose(bench.run_once(tflite, image[None], delegate=True), stock, atol=1e-5)


def test_gradual_schedule_trains_then_strip_convert_and_the_delegate_claims():
    keras.utils.set_random_seed(0)
    inp = L.Input((12, 12, 3))
    x = L.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inp)
    x = L.Conv2D(32, 1, use_bias=False, name="expand")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(6.0)(x)
    x = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = L.Conv2D(16, 1, name="project")(x)
    x = L.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, L.Dense(16, name="head")(x))
    schedule = onexn_tf.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=12, frequency=3)
    pruned = onexn_tf.prune_1xn(model, n=8, pruning_schedule=schedule)
    pruned.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    images, labels = rng.random((96, 12, 12, 3), np.float32), rng.integers(0, 16, 96)
    pruned.fit(images, labels, batch_size=16, epochs=3, verbose=0, callbacks=[onexn_tf.UpdatePruningStep()])
    final = onexn_tf.strip_1xn(pruned)
    report = {r.name: r for r in onexn_tf.sparsity_report(final).layers}
    assert [report[name].block_sparsity for name in ("expand", "project", "head")] == [0.5, 0.5, 0.5]
    assert [pruned_n(final.get_layer(name)) for name in ("stem", "expand", "project", "head")] == [None, 8, 8, 8]
    tflite = onexn_tf.convert(final)
    records = onexn_tf.read_metadata(tflite)
    assert sorted((r.builtin_op, r.n, r.cout, r.cin) for r in records) == [(3, 8, 16, 32), (3, 8, 32, 16), (9, 8, 16, 16)]
    mark_pruned_n(final.get_layer("project"), 4)  # explains its zeros too, so convert takes it
    records = onexn_tf.read_metadata(onexn_tf.convert(final))
    assert sorted((r.builtin_op, r.n, r.cout, r.cin) for r in records) == [(3, 4, 16, 32), (3, 8, 32, 16), (9, 8, 16, 16)]
    if DELEGATE_OK:
        # dense=never: the kept blocks (by default this small graph saves too little to be taken).
        assert onexn_tf.delegate_report(tflite, dense="never")["claimed"] == 3
    check_runs(tflite, final, images[:3])


@pytest.mark.parametrize("batch", [None, 1])
def test_dense_on_3d_input(batch):
    keras.utils.set_random_seed(1)
    inp = L.Input((5, 24), batch_size=batch)  # (batch, time, features)
    x = L.Dense(32, activation="relu", name="d1")(inp)
    model = keras.Model(inp, L.Dense(16, name="d2")(x))
    prune(model, {"d1": (8, 0.5), "d2": (4, 0.75)})
    tflite = onexn_tf.convert(model)
    records = sorted((r.builtin_op, r.n, r.cout, r.cin) for r in onexn_tf.read_metadata(tflite))
    assert records == [(9, 4, 16, 32), (9, 8, 32, 24)]  # two FULLY_CONNECTED records
    check_runs(tflite, model, np.random.default_rng(0).standard_normal((2, 5, 24)).astype("f4"))
    if DELEGATE_OK:
        report = onexn_tf.delegate_report(tflite, dense="never")  # the kept blocks, not the cost model's choice
        assert report["claimed"] == 2
        # A None batch makes TensorFlow's converter reshape around the FULLY_CONNECTED at run time (tf_keras
        # too): the delegate makes the kernels once the input shape is known.
        later = {k["kernel"] == "chosen once the input shape is known (run time)" for k in report["kernels"]}
        assert later == {batch is None}


def test_n_by_layer_name_when_keras3_renames_the_tensors():
    # Keras 3 traces layer `dense` as `.../dense_1/MatMul` and layer `dense_1` as `.../dense_1_2/MatMul`:
    # names given to `n` must still reach their own layer.
    keras.utils.set_random_seed(2)
    inp = L.Input((16,))
    x = L.Dense(32, name="dense")(inp)
    x = L.Dense(32, name="dense_1")(x)
    model = keras.Model(inp, L.Dense(16, name="dense_2")(x))
    prune(model, {"dense": (2, 0.5), "dense_1": (8, 0.5), "dense_2": (4, 0.5)})
    records = onexn_tf.read_metadata(onexn_tf.convert(model, n={"dense": 2, "dense_1": 8}))
    assert sorted((r.cin, r.cout, r.n) for r in records) == [(16, 32, 2), (32, 16, 4), (32, 32, 8)]
    with pytest.raises(ValueError, match="layer 'dense': .* no all-zero 1x32"):
        onexn_tf.convert(model, n={"dense": 32})  # dense has 1x2 blocks: no 1x32 one is all zero
    with pytest.raises(ValueError, match="does not have"):
        onexn_tf.convert(model, n={"no_such_layer": 4})


def test_compact_encoding_and_nested_models():
    keras.utils.set_random_seed(3)
    inner_in = L.Input((6, 6, 8))
    inner = keras.Model(inner_in, L.Conv2D(32, 3, padding="same", name="c")(inner_in), name="inner")
    inp = L.Input((6, 6, 8))
    model = keras.Model(inp, L.Dense(8, name="head")(L.GlobalAveragePooling2D()(inner(inp))))
    prune(inner, {"c": (16, 0.5)})
    compact = onexn_tf.convert(model, compact=True, n={"inner/c": 16})
    (record,) = onexn_tf.read_metadata(compact)
    assert (record.n, record.cout, record.encoding) == (16, 32, ENCODING_SPARSE)
    assert len(compact) < len(onexn_tf.convert(model))
    assert [r.encoding for r in onexn_tf.read_metadata(onexn_tf.convert(model))] == [ENCODING_DENSE]
    check_runs(compact, model, np.random.default_rng(1).standard_normal((2, 6, 6, 8)).astype("f4"))


def test_wrapped_models_and_bad_input_raise():
    model = keras.Sequential([L.Input((4,)), L.Dense(8, name="d")])
    with pytest.raises(ValueError, match="strip_1xn"):
        onexn_tf.convert(onexn_tf.prune_1xn(model, n=4))
    with pytest.raises(ValueError, match="Keras 3 Model or .tflite bytes"):
        onexn_tf.convert(L.Dense(4))
    with pytest.raises(ValueError, match="unknown TFLiteConverter option"):
        onexn_tf.convert(model, no_such_option=1)
