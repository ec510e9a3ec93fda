"""prune_1xn / strip_1xn / apply_1xn on Keras 3 models: onexn's own wrapper, schedules and step callback."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import onexn_tf
from onexn_tf import blocks
from onexn_tf.keras3 import PruneLowMagnitude1xN

from k3models import data, small_model

ONE_SHOT = onexn_tf.ConstantSparsity(0.5, 0, frequency=1)  # the default frequency (100) is longer than these fits


def wrappers(model):
    return [l for l in model.layers if isinstance(l, PruneLowMagnitude1xN)]


def block_sparsity(kernel, n):
    return 1.0 - blocks.kept_blocks(kernel, n).mean()


def expected_block_sparsity(kernel_shape, n, sparsity):
    hwio = kernel_shape if len(kernel_shape) == 4 else (1, 1) + tuple(kernel_shape)
    total = hwio[2] * blocks.num_groups(hwio[3], n)
    return blocks.num_pruned_blocks(total, float(sparsity)) / total


def fit(model, steps, batch_size=8, callbacks=(), epochs=1):
    x, y = data(steps * batch_size)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(x, y, batch_size=batch_size, epochs=epochs, verbose=0, shuffle=False,
              callbacks=[onexn_tf.UpdatePruningStep(), *callbacks])


def test_wraps_the_layers_the_policy_allows_with_keras3_wrappers():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4)
    assert isinstance(pruned, keras.Model)
    assert sorted(l.layer.name for l in wrappers(pruned)) == ["conv1x1", "conv3x3", "head"]
    assert all(l.n == 4 for l in wrappers(pruned))
    wrapper = pruned.get_layer("prune_1xn_conv3x3")
    # The mask and the step are non-trainable weights of the wrapper; only the wrapped layer's are trained.
    assert {w.name for w in wrapper.non_trainable_weights} == {"mask", "pruning_step"}
    assert {w.name for w in wrapper.trainable_weights} == {"kernel", "bias"}
    assert wrapper.mask.shape == wrapper.layer.kernel.shape and int(wrapper.pruning_step.numpy()) == -1


@pytest.mark.parametrize("n", [2, 4, 8])
def test_schedule_is_followed_step_by_step(n):
    schedule = onexn_tf.PolynomialDecay(0.2, 0.8, begin_step=2, end_step=14, frequency=3)
    pruned = onexn_tf.prune_1xn(small_model(keras), n=n, pruning_schedule=schedule)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append([(int(l.pruning_step.numpy()), l.masked_kernel()) for l in wrappers(pruned)])

    fit(pruned, steps=18, callbacks=[Record()])
    assert [step for step, _ in (per_layer[0] for per_layer in seen)] == list(range(1, 19))
    for per_layer in seen:
        for step, kernel in per_layer:
            updates = [s for s in range(1, step + 1) if bool(schedule(s)[0])]
            target = schedule(updates[-1])[1].numpy() if updates else 0.0
            assert blocks.blocks_explain_zeros(kernel, n)
            assert block_sparsity(kernel, n) == pytest.approx(expected_block_sparsity(kernel.shape, n, target))
    final = [block_sparsity(k, n) for _, k in seen[-1]]
    assert final == pytest.approx([expected_block_sparsity(l.masked_kernel().shape, n, 0.8) for l in wrappers(pruned)])


def test_masks_are_the_block_mask_of_the_kernel_at_the_update_step():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=onexn_tf.ConstantSparsity(0.5, 3, frequency=100))
    before = {}

    class Kernels(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 2:  # the wrappers' step becomes 3 in this batch's forward pass: masks update there
                before.update({l.name: l.layer.kernel.numpy() for l in wrappers(pruned)})

    fit(pruned, steps=4, callbacks=[Kernels()])
    for layer in wrappers(pruned):
        np.testing.assert_array_equal(layer.mask.numpy(), blocks.block_mask(before[layer.name], 4, 0.5))


def test_any_schedule_with_tfmots_call_signature_works():
    class EveryOtherStep:  # no base class: only the call signature and get_config
        def __call__(self, step):
            return tf.equal(step % 2, 0), tf.constant(0.5, tf.float32)

    pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=EveryOtherStep())
    fit(pruned, steps=4)
    for layer in wrappers(pruned):
        assert block_sparsity(layer.masked_kernel(), 4) == pytest.approx(
            expected_block_sparsity(layer.masked_kernel().shape, 4, 0.5))


def test_forward_pass_uses_the_masked_weights():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=ONE_SHOT)
    fit(pruned, steps=3)
    x, _ = data(8, seed=1)
    wrapper = pruned.get_layer("prune_1xn_head")
    features = np.asarray(keras.Model(pruned.inputs[0], wrapper.input)(x))
    inner = wrapper.layer
    inner.kernel.assign(inner.kernel.numpy() + 1.0)  # as an optimizer step does: pruned weights non-zero again
    assert block_sparsity(inner.kernel.numpy(), 4) == 0.0
    expected = features @ (inner.kernel.numpy() * wrapper.mask.numpy()) + inner.bias.numpy()
    np.testing.assert_allclose(np.asarray(wrapper(features, training=False)), expected, rtol=1e-5, atol=1e-5)
    assert block_sparsity(inner.kernel.numpy(), 4) == pytest.approx(0.5)  # the variable itself is sparse again


def test_xla_compiled_training_prunes_the_same_way():
    # The mask update runs inside the compiled train step, so it works with jit_compile=True and with several
    # steps per execution (where a per-batch callback would be called only once per execution).
    results = []
    for options in ({}, {"jit_compile": True, "steps_per_execution": 3}):
        pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=onexn_tf.ConstantSparsity(0.75, 2, frequency=2))
        pruned.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse", **options)
        x, y = data(48)
        pruned.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[onexn_tf.UpdatePruningStep()])
        results.append([(int(l.pruning_step.numpy()), l.mask.numpy()) for l in wrappers(pruned)])
    for (step, mask), (xla_step, xla_mask) in zip(*results):
        assert step == xla_step == 6
        assert 1.0 - blocks.kept_blocks(xla_mask, 4).mean() == pytest.approx(expected_block_sparsity(mask.shape, 4, 0.75))
        np.testing.assert_array_equal(xla_mask, mask)


def test_training_without_the_callback_fails_with_advice():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4)
    pruned.compile("adam", "mse")
    x, y = data(8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="onexn_tf.UpdatePruningStep"):
        pruned.fit(x, y, verbose=0)


def test_epoch_end_remasks_and_a_second_fit_continues_the_count():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=ONE_SHOT)
    fit(pruned, steps=3, epochs=2)
    for layer in wrappers(pruned):
        assert int(layer.pruning_step.numpy()) == 6
        np.testing.assert_array_equal(layer.layer.kernel.numpy(), layer.masked_kernel())  # re-masked at epoch end
    fit(pruned, steps=2)
    assert [int(l.pruning_step.numpy()) for l in wrappers(pruned)] == [8, 8, 8]


def test_strip_gives_plain_model_with_same_outputs():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=8,
                                pruning_schedule=onexn_tf.ConstantSparsity(0.75, 0, frequency=1))
    fit(pruned, steps=3)
    stripped = onexn_tf.strip_1xn(pruned)
    assert not wrappers(stripped) and isinstance(stripped, keras.Model)
    assert [l.name for l in stripped.layers] == [l.name for l in small_model(keras).layers]
    x, _ = data(16, seed=2)
    np.testing.assert_allclose(stripped.predict(x, verbose=0), pruned.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for name in ("conv3x3", "conv1x1", "head"):
        kernel = stripped.get_layer(name).kernel.numpy()
        assert blocks.blocks_explain_zeros(kernel, 8)
        assert block_sparsity(kernel, 8) == pytest.approx(expected_block_sparsity(kernel.shape, 8, 0.75))


def test_strip_warns_about_masks_never_updated():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4)  # ConstantSparsity(0.5, 0): prunes at step 0 only
    fit(pruned, steps=2)
    with pytest.warns(UserWarning, match="never updated"):
        onexn_tf.strip_1xn(pruned)


def test_save_and_load_round_trip(tmp_path):
    schedule = onexn_tf.PolynomialDecay(0.1, 0.5, begin_step=0, end_step=6, power=2, frequency=2)
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=schedule)
    fit(pruned, steps=3)
    path = str(tmp_path / "pruned.keras")
    pruned.save(path)
    loaded = keras.models.load_model(path)  # no custom scope: the classes are registered
    x, _ = data(8, seed=3)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), pruned.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert [l.n for l in wrappers(loaded)] == [4, 4, 4]
    assert [int(l.pruning_step.numpy()) for l in wrappers(loaded)] == [3, 3, 3]
    restored = wrappers(loaded)[0].pruning_schedule
    assert isinstance(restored, onexn_tf.PolynomialDecay) and restored.get_config() == schedule.get_config()
    for a, b in zip(wrappers(loaded), wrappers(pruned)):
        np.testing.assert_array_equal(a.mask.numpy(), b.mask.numpy())
    fit(loaded, steps=3)  # training continues from step 3 with the restored masks, up to the schedule's end
    assert [int(l.pruning_step.numpy()) for l in wrappers(loaded)] == [6, 6, 6]
    stripped = onexn_tf.strip_1xn(loaded)
    assert block_sparsity(stripped.get_layer("conv3x3").kernel.numpy(), 4) == pytest.approx(0.5)


def test_a_fresh_program_loads_the_saved_model_without_a_scope(tmp_path):
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=ONE_SHOT)
    fit(pruned, steps=2)
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    x, _ = data(4, seed=5)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "expected.npy", pruned.predict(x, verbose=0))
    script = (
        "import sys, keras, numpy as np\n"
        "import onexn_tf.keras3  # registers the wrapper with Keras\n"
        f"model = keras.models.load_model({str(path)!r})\n"
        f"out = model.predict(np.load({str(tmp_path / 'x.npy')!r}), verbose=0)\n"
        f"np.testing.assert_allclose(out, np.load({str(tmp_path / 'expected.npy')!r}), rtol=1e-5, atol=1e-6)\n"
        "print('wrappers', sum(type(l).__name__ == 'PruneLowMagnitude1xN' for l in model.layers))\n"
        "print('loaded', sorted(m for m in ('tf_keras', 'tensorflow_model_optimization') if m in sys.modules))\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "wrappers 3" in run.stdout and "loaded []" in run.stdout


def test_prune_a_single_layer_and_a_list_in_a_sequential():
    dense = onexn_tf.prune_1xn(keras.layers.Dense(8), n=4, pruning_schedule=ONE_SHOT)
    assert isinstance(dense, PruneLowMagnitude1xN)
    convs = onexn_tf.prune_1xn([keras.layers.Conv2D(16, 1), keras.layers.Conv2D(8, 3)], n=8,
                               pruning_schedule=ONE_SHOT)
    model = keras.Sequential([keras.Input((6, 6, 4)), *convs, keras.layers.Flatten(), dense])
    model.compile("adam", "mse")
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 6, 6, 4)), rng.random((16, 8)), epochs=1, verbose=0,
              callbacks=[onexn_tf.UpdatePruningStep()])
    for layer in wrappers(model):
        assert block_sparsity(layer.masked_kernel(), layer.n) == pytest.approx(
            expected_block_sparsity(layer.masked_kernel().shape, layer.n, 0.5))


def test_sequential_and_nested_models():
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(8, 3), keras.layers.Conv2D(16, 1),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(4)])
    pruned = onexn_tf.prune_1xn(model, n=4)
    assert isinstance(pruned, keras.Sequential)
    assert [type(l).__name__ for l in pruned.layers] == ["Conv2D", "PruneLowMagnitude1xN", "GlobalAveragePooling2D",
                                                         "PruneLowMagnitude1xN"]
    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, name="inner_dense")], name="inner")
    inp = keras.Input((8,))
    outer = keras.Model(inp, keras.layers.Dense(4, name="outer_dense")(inner(inp)))
    pruned = onexn_tf.prune_1xn(outer, n=4, pruning_schedule=ONE_SHOT)
    nested = pruned.get_layer("inner")
    assert isinstance(nested.layers[0], PruneLowMagnitude1xN) and isinstance(pruned.layers[-1], PruneLowMagnitude1xN)
    pruned.compile("adam", "mse")
    pruned.fit(np.ones((8, 8)), np.ones((8, 4)), verbose=0, callbacks=[onexn_tf.UpdatePruningStep()])
    stripped = onexn_tf.strip_1xn(pruned)
    assert block_sparsity(stripped.get_layer("inner").get_layer("inner_dense").kernel.numpy(), 4) == pytest.approx(0.5)


def test_apply_1xn_is_one_shot_and_leaves_the_input_alone():
    model = small_model(keras)
    before = [w.copy() for w in model.get_weights()]
    pruned = onexn_tf.apply_1xn(model, n=4, sparsity=0.5)
    for w, b in zip(model.get_weights(), before):
        np.testing.assert_array_equal(w, b)
    assert not wrappers(pruned)
    for name in ("conv3x3", "conv1x1", "head"):
        kernel = pruned.get_layer(name).kernel.numpy()
        np.testing.assert_array_equal(kernel, model.get_layer(name).kernel.numpy()
                                      * blocks.block_mask(model.get_layer(name).kernel.numpy(), 4, 0.5))
    np.testing.assert_array_equal(pruned.get_layer("stem").kernel.numpy(), model.get_layer("stem").kernel.numpy())
    per_layer = onexn_tf.apply_1xn(model, n=4, sparsity={"conv3x3": 0.75})
    assert block_sparsity(per_layer.get_layer("conv3x3").kernel.numpy(), 4) == pytest.approx(0.75)
    assert block_sparsity(per_layer.get_layer("head").kernel.numpy(), 4) == 0.0


def test_sparsity_report_reads_wrapped_and_stripped_models():
    pruned = onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=ONE_SHOT)
    fit(pruned, steps=1)
    report = onexn_tf.sparsity_report(pruned)
    assert [r.name for r in report.layers] == ["stem", "prune_1xn_conv3x3", "prune_1xn_conv1x1", "prune_1xn_head"]
    conv = report.layers[1]
    assert (conv.n, conv.kernel_shape, conv.block_sparsity) == (4, (3, 3, 16, 32), 0.5)
    assert conv.macs == 8 * 8 * 3 * 3 * 16 * 32 and conv.macs_after == conv.macs // 2
    stripped = onexn_tf.sparsity_report(onexn_tf.strip_1xn(pruned))
    assert [(r.name, r.n, r.block_sparsity) for r in stripped.layers][1:] == [
        ("conv3x3", 4, 0.5), ("conv1x1", 4, 0.5), ("head", 4, 0.5)]


def test_the_policy_reads_keras3_layers():
    policy = onexn_tf.Prune1xNPolicy(4)
    model = small_model(keras)
    assert "stem" in policy.reason(model.get_layer("stem"))
    assert "DepthwiseConv2D" in policy.reason(model.get_layer("dw"))
    assert "no Conv2D/Dense kernel" in policy.reason(model.get_layer("bn"))
    assert "Conv2DTranspose" in policy.reason(keras.layers.Conv2DTranspose(8, 3))
    assert "grouped" in policy.reason(keras.layers.Conv2D(8, 3, groups=2))
    assert "not a multiple of N=4" in policy.reason(keras.layers.Dense(6))
    assert policy.allow_pruning(model.get_layer("conv3x3"))


def test_bad_input_raises():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(8, 1)

        def call(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match="subclassed"):
        onexn_tf.prune_1xn(Subclassed(), n=4)
    with pytest.raises(ValueError, match="PruningSchedule"):
        onexn_tf.prune_1xn(small_model(keras), n=4, pruning_schedule=0.5)
    with pytest.raises(ValueError, match="PruningPolicy"):
        onexn_tf.prune_1xn(small_model(keras), n=4, pruning_policy="all")
    with pytest.raises(ValueError, match="cannot be 1x4-pruned.*DepthwiseConv2D"):
        onexn_tf.prune_1xn([keras.layers.Dense(8), keras.layers.DepthwiseConv2D(3)], n=4)
    with pytest.raises(ValueError, match="expects a Keras 3 Model"):
        onexn_tf.strip_1xn(keras.layers.Dense(4))
    with pytest.raises(ValueError, match="Keras 3 Model"):
        onexn_tf.sparsity_report(keras.layers.Dense(4))
    with pytest.raises(ValueError, match="n must be"):
        onexn_tf.prune_1xn(keras.layers.Dense(256), n=128)
    with pytest.raises(ValueError, match="no get_config"):
        wrapped = onexn_tf.prune_1xn(keras.layers.Dense(8), n=4, pruning_schedule=lambda step: (True, 0.5))
        wrapped.get_config()
