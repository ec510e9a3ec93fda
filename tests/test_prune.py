"""prune_1xn / strip_1xn / apply_1xn with tfmot schedules, callbacks, summaries and serialization."""

import glob
import os

import numpy as np
import pytest

import onexn_tf
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from onexn_tf import blocks
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import PruneLowMagnitude
from onexn_tf.keras.compat import keras

sparsity_api = tfmot.sparsity.keras
# tfmot's ConstantSparsity prunes every `frequency` (default 100) steps; the short fits here need 1.
ONE_SHOT = sparsity_api.ConstantSparsity(0.5, 0, frequency=1)


def small_model(seed=0, cout_last=16):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3), name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inp)
    x = keras.layers.Conv2D(32, 3, padding="same", name="conv3x3")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="dw")(x)
    x = keras.layers.Conv2D(cout_last, 1, name="conv1x1")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    out = keras.layers.Dense(8, name="head")(x)
    return keras.Model(inp, out)


def data(count=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((count, 8, 8, 3), np.float32), rng.random((count, 8), np.float32)


def wrappers(model):
    return [l for l in model.layers if isinstance(l, onexn_tf.PruneLowMagnitude1xN)]


def block_sparsity(kernel, n):
    return 1.0 - blocks.kept_blocks(kernel, n).mean()


def expected_block_sparsity(kernel_shape, n, sparsity):
    hwio = kernel_shape if len(kernel_shape) == 4 else (1, 1) + tuple(kernel_shape)
    total = hwio[2] * blocks.num_groups(hwio[3], n)
    return blocks.num_pruned_blocks(total, float(sparsity)) / total


def fit(model, steps, batch_size=8, callbacks=()):
    x, y = data(steps * batch_size)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False,
              callbacks=[sparsity_api.UpdatePruningStep(), *callbacks])


def test_wraps_the_layers_the_policy_allows():
    pruned = onexn_tf.prune_1xn(small_model(), n=4)
    assert sorted(l.layer.name for l in wrappers(pruned)) == ["conv1x1", "conv3x3", "head"]
    assert all(l.n == 4 for l in wrappers(pruned))


@pytest.mark.parametrize("n", [2, 4, 8])
def test_schedule_is_followed_step_by_step(n):
    schedule = sparsity_api.PolynomialDecay(0.2, 0.8, begin_step=2, end_step=14, frequency=3)
    pruned = onexn_tf.prune_1xn(small_model(), n=n, pruning_schedule=schedule)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append([(int(l.pruning_step.numpy()), l.masked_kernel()) for l in wrappers(pruned)])

    fit(pruned, steps=18, callbacks=[Record()])
    for per_layer in seen:
        for step, kernel in per_layer:
            updates = [s for s in range(1, step + 1) if bool(schedule(s)[0])]
            target = schedule(updates[-1])[1].numpy() if updates else 0.0
            assert blocks.blocks_explain_zeros(kernel, n)
            assert block_sparsity(kernel, n) == pytest.approx(expected_block_sparsity(kernel.shape, n, target))
    final = [block_sparsity(k, n) for _, k in seen[-1]]
    assert final == pytest.approx([expected_block_sparsity(l.masked_kernel().shape, n, 0.8) for l in wrappers(pruned)])


def test_a_users_own_schedule_works():
    class EveryOtherStep(sparsity_api.PruningSchedule):
        def __call__(self, step):
            return (tf.equal(step % 2, 0), tf.constant(0.5, tf.float32))

        def get_config(self):
            return {"class_name": "EveryOtherStep", "config": {}}

    pruned = onexn_tf.prune_1xn(small_model(), n=4, pruning_schedule=EveryOtherStep())
    fit(pruned, steps=4)
    for layer in wrappers(pruned):
        assert block_sparsity(layer.masked_kernel(), 4) == pytest.approx(
            expected_block_sparsity(layer.masked_kernel().shape, 4, 0.5))


def test_forward_pass_uses_the_masked_weights():
    pruned = onexn_tf.prune_1xn(small_model(), n=4, pruning_schedule=sparsity_api.ConstantSparsity(0.5, 0, frequency=1))
    fit(pruned, steps=3)
    x, _ = data(8, seed=1)
    wrapper = pruned.get_layer("prune_1xn_head")
    features = keras.Model(pruned.input, wrapper.input)(x)
    inner = wrapper.layer
    expected = features.numpy() @ wrapper.masked_kernel() + inner.bias.numpy()
    np.testing.assert_allclose(wrapper(features, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)
    assert block_sparsity(inner.kernel.numpy(), 4) == pytest.approx(0.5)  # the variable itself is sparse


def test_pruning_summaries_are_written(tmp_path):
    pruned = onexn_tf.prune_1xn(small_model(), n=4)
    fit(pruned, steps=2, callbacks=[sparsity_api.PruningSummaries(log_dir=str(tmp_path))])
    events = glob.glob(os.path.join(tmp_path, "**", "events.out.tfevents.*"), recursive=True)
    assert events
    tags = set()
    for path in events:
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert any("prune_1xn_conv3x3" in t and "sparsity" in t for t in tags), tags


def test_strip_gives_plain_model_with_same_outputs():
    pruned = onexn_tf.prune_1xn(small_model(), n=8, pruning_schedule=sparsity_api.ConstantSparsity(0.75, 0, frequency=1))
    fit(pruned, steps=3)
    stripped = onexn_tf.strip_1xn(pruned)
    assert not any(isinstance(l, PruneLowMagnitude) for l in stripped.layers)
    assert [l.name for l in stripped.layers] == [l.name for l in small_model().layers]
    x, _ = data(16, seed=2)
    np.testing.assert_allclose(stripped.predict(x, verbose=0), pruned.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for name in ("conv3x3", "conv1x1", "head"):
        kernel = stripped.get_layer(name).kernel.numpy()
        assert blocks.blocks_explain_zeros(kernel, 8)
        assert block_sparsity(kernel, 8) == pytest.approx(expected_block_sparsity(kernel.shape, 8, 0.75))


@pytest.mark.parametrize("suffix", [".keras", ".h5", "_savedmodel"])
def test_save_and_load_round_trip(tmp_path, suffix):
    pruned = onexn_tf.prune_1xn(small_model(), n=4, pruning_schedule=ONE_SHOT)
    fit(pruned, steps=2)
    path = str(tmp_path / f"pruned{suffix}")
    pruned.save(path)
    with onexn_tf.prune_scope():
        loaded = keras.models.load_model(path)
    x, _ = data(8, seed=3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), pruned.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    if suffix != "_savedmodel":  # SavedModel restores generic layers, not the wrapper class
        assert [l.n for l in wrappers(loaded)] == [4, 4, 4]
        fit(loaded, steps=1)  # training continues with the restored masks
        stripped = onexn_tf.strip_1xn(loaded)
        assert block_sparsity(stripped.get_layer("conv3x3").kernel.numpy(), 4) == pytest.approx(0.5)


def test_prune_a_single_layer_and_a_list_in_a_sequential():
    dense = onexn_tf.prune_1xn(keras.layers.Dense(8), n=4, pruning_schedule=ONE_SHOT)
    assert isinstance(dense, onexn_tf.PruneLowMagnitude1xN)
    convs = onexn_tf.prune_1xn([keras.layers.Conv2D(16, 1), keras.layers.Conv2D(8, 3)], n=8,
                               pruning_schedule=ONE_SHOT)
    model = keras.Sequential([keras.Input((6, 6, 4)), *convs, keras.layers.Flatten(), dense])
    model.compile("adam", "mse")
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 6, 6, 4)), rng.random((16, 8)), epochs=1, verbose=0,
              callbacks=[sparsity_api.UpdatePruningStep()])
    for layer in wrappers(model):
        assert block_sparsity(layer.masked_kernel(), layer.n) == pytest.approx(
            expected_block_sparsity(layer.masked_kernel().shape, layer.n, 0.5))


def test_sequential_model():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(8, 3), keras.layers.Conv2D(16, 1),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)])
    pruned = onexn_tf.prune_1xn(model, n=4)
    assert isinstance(pruned, keras.Sequential)
    assert [type(l).__name__ for l in pruned.layers] == ["Conv2D", "PruneLowMagnitude1xN", "GlobalAveragePooling2D",
                                                         "PruneLowMagnitude1xN"]


def test_apply_1xn_is_one_shot_and_leaves_the_input_alone():
    model = small_model()
    before = [w.copy() for w in model.get_weights()]
    pruned = onexn_tf.apply_1xn(model, n=4, sparsity=0.5)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert not any(isinstance(l, onexn_tf.PruneLowMagnitude1xN) for l in pruned.layers)
    for name in ("conv3x3", "conv1x1", "head"):
        kernel = pruned.get_layer(name).kernel.numpy()
        np.testing.assert_array_equal(kernel, model.get_layer(name).kernel.numpy()
                                      * blocks.block_mask(model.get_layer(name).kernel.numpy(), 4, 0.5))
    np.testing.assert_array_equal(pruned.get_layer("stem").kernel.numpy(), model.get_layer("stem").kernel.numpy())
    np.testing.assert_array_equal(pruned.get_layer("dw").depthwise_kernel.numpy(),
                                  model.get_layer("dw").depthwise_kernel.numpy())


def test_apply_1xn_per_layer_sparsity():
    pruned = onexn_tf.apply_1xn(small_model(), n=4, sparsity={"conv3x3": 0.75})
    assert block_sparsity(pruned.get_layer("conv3x3").kernel.numpy(), 4) == pytest.approx(0.75)
    assert block_sparsity(pruned.get_layer("conv1x1").kernel.numpy(), 4) == 0.0
    with pytest.raises(ValueError, match="does not have"):
        onexn_tf.apply_1xn(small_model(), n=4, sparsity={"nope": 0.5})
    with pytest.raises(ValueError, match="cannot be 1x4-pruned.*DepthwiseConv2D"):
        onexn_tf.apply_1xn(small_model(), n=4, sparsity={"dw": 0.5})


def test_partial_last_block_when_allowed():
    model = small_model(cout_last=10)
    assert "conv1x1" not in [l.layer.name for l in wrappers(onexn_tf.prune_1xn(model, n=4))]
    policy = onexn_tf.Prune1xNPolicy(4, allow_partial_blocks=True)
    pruned = onexn_tf.apply_1xn(model, n=4, sparsity=0.5, pruning_policy=policy)
    kernel = pruned.get_layer("conv1x1").kernel.numpy()
    assert blocks.kept_blocks(kernel, 4).shape == (32, 3)
    assert block_sparsity(kernel, 4) == pytest.approx(0.5)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(4)

    def call(self, x):
        return self.dense(x)


@pytest.mark.parametrize("bad_n", [0, -1, 1.5])
def test_bad_n_raises(bad_n):
    with pytest.raises(ValueError, match="n must be"):
        onexn_tf.prune_1xn(small_model(), n=bad_n)
    with pytest.raises(ValueError, match="n must be"):
        onexn_tf.apply_1xn(small_model(), n=bad_n)


def test_n_above_the_format_limit_is_refused_before_training():
    refused = [lambda: onexn_tf.prune_1xn(small_model(), n=128), lambda: onexn_tf.apply_1xn(small_model(), n=65),
               lambda: onexn_tf.Prune1xNPolicy(n=128), lambda: onexn_tf.rearrange_filters(small_model(), 128),
               lambda: onexn_tf.PruneLowMagnitude1xN(keras.layers.Dense(256), n=128)]
    for make in refused:
        with pytest.raises(ValueError, match=r"1\.\.64 \(64 is the limit of the onexn format and kernels\)"):
            make()
    assert onexn_tf.Prune1xNPolicy(n=64).n == 64


@pytest.mark.parametrize("bad", [1.0, -0.5, 2])
def test_bad_sparsity_raises(bad):
    with pytest.raises(ValueError, match="sparsity"):
        onexn_tf.apply_1xn(small_model(), n=4, sparsity=bad)


def test_unsupported_objects_raise():
    with pytest.raises(ValueError, match="subclassed"):
        onexn_tf.prune_1xn(Subclassed(), n=4)
    with pytest.raises(ValueError, match="accepts a tf_keras layer"):
        onexn_tf.prune_1xn("model.h5", n=4)
    with pytest.raises(ValueError, match="PruningSchedule"):
        onexn_tf.prune_1xn(small_model(), n=4, pruning_schedule=0.5)
    with pytest.raises(ValueError, match="PruningPolicy"):
        onexn_tf.prune_1xn(small_model(), n=4, pruning_policy="all")
    with pytest.raises(ValueError, match="for N=8 but n=4"):
        onexn_tf.prune_1xn(small_model(), n=4, pruning_policy=onexn_tf.Prune1xNPolicy(8))


def test_keras3_objects_get_the_keras3_wrapper_and_mixed_lists_are_refused():
    # Issue 16: Keras 3 objects, refused before, now get onexn's own Keras 3 wrapper (tests/keras3/ covers
    # that flavour in a Keras 3 process); a list mixing the two flavours is still refused.
    import keras as keras3  # Keras 3, what tf.keras is without TF_USE_LEGACY_KERAS

    from onexn_tf.keras3 import PruneLowMagnitude1xN as Keras3Wrapper

    wrapped = onexn_tf.prune_1xn(keras3.layers.Dense(4), n=4)
    assert isinstance(wrapped, Keras3Wrapper) and isinstance(wrapped.layer, keras3.layers.Dense)
    with pytest.raises(ValueError, match="mixes tf_keras and Keras 3"):
        onexn_tf.prune_1xn([keras.layers.Dense(4), keras3.layers.Dense(4)], n=4)


def test_a_wrapper_refuses_a_layer_of_the_other_keras():
    import keras as keras3

    from onexn_tf.keras3 import PruneLowMagnitude1xN as Keras3Wrapper

    with pytest.raises(ValueError, match="onexn_tf.PruneLowMagnitude1xN wraps tf_keras layers.*a Keras 3 layer"):
        onexn_tf.PruneLowMagnitude1xN(keras3.layers.Dense(8), n=4)
    with pytest.raises(ValueError, match="keras3.PruneLowMagnitude1xN wraps Keras 3 layers.*a tf_keras layer"):
        Keras3Wrapper(keras.layers.Dense(8), n=4)
    with pytest.raises(ValueError, match="'dense.*' \\(Keras 3\\), 'dense.*' \\(tf_keras\\)"):
        onexn_tf.prune_1xn([keras3.layers.Dense(8), keras.layers.Dense(8)], n=4)


def test_a_rejected_layer_wraps_nothing():
    good, bad = keras.layers.Dense(8), keras.layers.DepthwiseConv2D(3)
    with pytest.raises(ValueError, match="'depthwise_conv2d.*' cannot be 1x4-pruned"):
        onexn_tf.prune_1xn([good, bad], n=4)
    with pytest.raises(ValueError, match="not a multiple of N=4"):
        onexn_tf.prune_1xn(keras.layers.Dense(6), n=4)
    with pytest.raises(ValueError, match="needs a model"):
        onexn_tf.prune_1xn(keras.layers.Dense(8), n=4, rearrange=True)


def test_strip_rejects_non_models():
    with pytest.raises(ValueError, match="expects a tf_keras Model"):
        onexn_tf.strip_1xn(keras.layers.Dense(4))


def test_rearrange_then_prune_keeps_the_function_before_masks_apply():
    model = small_model()
    x, _ = data(8, seed=4)
    expected = model.predict(x, verbose=0)
    pruned = onexn_tf.prune_1xn(model, n=4, rearrange=True)
    assert sorted(l.layer.name for l in wrappers(pruned)) == ["conv1x1", "conv3x3", "head"]
    np.testing.assert_allclose(pruned.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    one_shot = onexn_tf.apply_1xn(model, n=4, sparsity=0.0, rearrange=True)
    np.testing.assert_allclose(one_shot.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    moved = [name for name in ("conv3x3", "conv1x1")
             if not np.array_equal(one_shot.get_layer(name).kernel.numpy(), model.get_layer(name).kernel.numpy())]
    assert moved  # the filters really were reordered
