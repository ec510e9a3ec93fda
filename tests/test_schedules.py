"""onexn_tf.ConstantSparsity / PolynomialDecay / UpdatePruningStep: tfmot's values step for step, and both
Keras flavours take onexn's schedules and tfmot's alike (Keras 3 objects run fine in this tf_keras process)."""

import keras as keras3  # Keras 3 (this process's tf.keras is tf_keras)
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import onexn_tf
from onexn_tf import blocks
from onexn_tf.keras.compat import keras

sparsity_api = tfmot.sparsity.keras
STEPS = range(-3, 260)

PAIRS = [
    ("ConstantSparsity", dict(target_sparsity=0.5, begin_step=0)),
    ("ConstantSparsity", dict(target_sparsity=0.8, begin_step=10, end_step=200, frequency=7)),
    ("ConstantSparsity", dict(target_sparsity=0.0, begin_step=3, end_step=3, frequency=1)),
    ("PolynomialDecay", dict(initial_sparsity=0.0, final_sparsity=0.9, begin_step=0, end_step=100)),
    ("PolynomialDecay", dict(initial_sparsity=0.2, final_sparsity=0.75, begin_step=12, end_step=212, power=1,
                             frequency=10)),
    ("PolynomialDecay", dict(initial_sparsity=0.6, final_sparsity=0.1, begin_step=5, end_step=50, power=2.5,
                             frequency=3)),
]


@pytest.mark.parametrize("name, kwargs", PAIRS)
def test_the_same_values_as_tfmot_at_every_step(name, kwargs):
    ours, theirs = getattr(onexn_tf, name)(**kwargs), getattr(sparsity_api, name)(**kwargs)
    step = tf.Variable(0, dtype=tf.int64)  # what the wrappers pass: their step variable
    for value in STEPS:
        step.assign(value)
        for arg in (step, tf.constant(value, tf.int64)):
            (p1, s1), (p2, s2) = ours(arg), theirs(arg)
            assert bool(p1) == bool(p2), (value, arg)
            assert s1.dtype == s2.dtype == tf.float32
            assert s1.numpy().tobytes() == s2.numpy().tobytes(), (value, float(s1), float(s2))  # bit for bit
    assert ours.get_config() == theirs.get_config()


def test_the_same_values_inside_a_tf_function():
    ours = onexn_tf.PolynomialDecay(0.1, 0.6, begin_step=4, end_step=40, frequency=4)
    theirs = sparsity_api.PolynomialDecay(0.1, 0.6, begin_step=4, end_step=40, frequency=4)
    steps = tf.range(0, 50, dtype=tf.int64)
    run = tf.function(lambda schedule: tf.map_fn(lambda s: tf.stack([tf.cast(schedule(s)[0], tf.float32),
                                                                     schedule(s)[1]]), steps, fn_output_signature=tf.float32))
    np.testing.assert_array_equal(run(ours).numpy(), run(theirs).numpy())


@pytest.mark.parametrize("make, message", [
    (lambda: onexn_tf.ConstantSparsity(1.0, 0), "sparsity must be in"),
    (lambda: onexn_tf.ConstantSparsity(0.5, -1), "begin_step must be >= 0"),
    (lambda: onexn_tf.ConstantSparsity(0.5, 10, end_step=5), "end_step must be -1 or >= begin_step"),
    (lambda: onexn_tf.ConstantSparsity(0.5, 0, frequency=0), "frequency must be > 0"),
    (lambda: onexn_tf.ConstantSparsity(0.5, 0.5), "begin_step must be an integer"),
    (lambda: onexn_tf.PolynomialDecay(0.0, 0.5, 0, -1), "end_step must be given"),
    (lambda: onexn_tf.PolynomialDecay(0.0, 0.5, 7, 7), "end_step > begin_step"),
    (lambda: onexn_tf.PolynomialDecay(-0.1, 0.5, 0, 10), "sparsity must be in"),
])
def test_bad_arguments_raise(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_config_round_trip_and_tfmot_isinstance():
    schedule = onexn_tf.PolynomialDecay(0.1, 0.7, begin_step=2, end_step=30, power=2, frequency=4)
    config = schedule.get_config()
    assert config["class_name"] == "PolynomialDecay"
    again = onexn_tf.PolynomialDecay.from_config(config["config"])
    assert again.get_config() == config
    onexn_tf.prune_1xn(keras.layers.Dense(4), n=4)  # a tf_keras object: loads the tf_keras flavour (and tfmot)
    assert isinstance(schedule, sparsity_api.PruningSchedule)
    assert isinstance(onexn_tf.ConstantSparsity(0.5, 0), onexn_tf.PruningSchedule)


def tf_keras_model(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6, 6, 4))
    x = keras.layers.Conv2D(16, 1, name="conv")(inp)
    return keras.Model(inp, keras.layers.Dense(8, name="head")(keras.layers.GlobalAveragePooling2D()(x)))


def keras3_model(seed=0):
    keras3.utils.set_random_seed(seed)
    inp = keras3.Input((6, 6, 4))
    x = keras3.layers.Conv2D(16, 1, name="conv")(inp)
    return keras3.Model(inp, keras3.layers.Dense(8, name="head")(keras3.layers.GlobalAveragePooling2D()(x)))


def fit(model, callback, steps=6):
    rng = np.random.default_rng(0)
    model.compile("adam", "mse")
    model.fit(rng.random((8 * steps, 6, 6, 4), np.float32), rng.random((8 * steps, 8), np.float32), batch_size=8,
              shuffle=False, verbose=0, callbacks=[callback])


@pytest.mark.parametrize("flavour", ["tf_keras", "Keras 3"])
@pytest.mark.parametrize("schedule", [onexn_tf.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=4, frequency=2),
                                      sparsity_api.PolynomialDecay(0.0, 0.5, begin_step=0, end_step=4, frequency=2)],
                         ids=["onexn", "tfmot"])
def test_both_flavours_take_either_schedule_with_onexns_callback(flavour, schedule):
    model = tf_keras_model() if flavour == "tf_keras" else keras3_model()
    pruned = onexn_tf.prune_1xn(model, n=4, pruning_schedule=schedule)
    fit(pruned, onexn_tf.UpdatePruningStep())
    for name in ("conv", "head"):
        kernel = onexn_tf.strip_1xn(pruned).get_layer(name).kernel.numpy()
        assert blocks.blocks_explain_zeros(kernel, 4) and 1 - blocks.kept_blocks(kernel, 4).mean() == 0.5


def test_existing_tfmot_code_gives_the_same_masks_as_onexns_names():
    masks = []
    for schedule, callback in [(sparsity_api.PolynomialDecay(0.0, 0.6, 0, 4, frequency=2), sparsity_api.UpdatePruningStep()),
                               (onexn_tf.PolynomialDecay(0.0, 0.6, 0, 4, frequency=2), onexn_tf.UpdatePruningStep())]:
        pruned = onexn_tf.prune_1xn(tf_keras_model(seed=3), n=4, pruning_schedule=schedule)
        fit(pruned, callback)
        masks.append([layer.pruning_vars[0][1].numpy() for layer in pruned.layers if hasattr(layer, "pruning_vars")])
    assert len(masks[0]) == 2
    for a, b in zip(*masks):
        np.testing.assert_array_equal(a, b)


def test_saved_schedules_come_back(tmp_path):
    tfk = onexn_tf.prune_1xn(tf_keras_model(), n=4, pruning_schedule=onexn_tf.ConstantSparsity(0.5, 0, frequency=1))
    fit(tfk, onexn_tf.UpdatePruningStep(), steps=1)
    tfk.save(tmp_path / "tf_keras.keras")
    with onexn_tf.prune_scope():  # tf_keras: tfmot's class under the same name, the same values
        restored = keras.models.load_model(tmp_path / "tf_keras.keras").layers[1].pruning_schedule
    assert restored.get_config() == onexn_tf.ConstantSparsity(0.5, 0, frequency=1).get_config()
    k3 = onexn_tf.prune_1xn(keras3_model(), n=4, pruning_schedule=sparsity_api.ConstantSparsity(0.5, 0, frequency=1))
    fit(k3, onexn_tf.UpdatePruningStep(), steps=1)
    k3.save(tmp_path / "keras3.keras")
    restored = keras3.models.load_model(tmp_path / "keras3.keras").layers[1].pruning_schedule
    assert isinstance(restored, onexn_tf.ConstantSparsity)  # Keras 3: onexn's class, the same values
    assert restored.get_config() == sparsity_api.ConstantSparsity(0.5, 0, frequency=1).get_config()
