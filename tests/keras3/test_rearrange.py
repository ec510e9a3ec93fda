"""rearrange_filters on Keras 3 graphs: Add, Concatenate, BatchNormalization, DepthwiseConv2D, Flatten + Dense
and nested models keep the function; strong filters come first; spaces it cannot follow are reported."""

import keras
import numpy as np
import pytest

import onexn_tf

L = keras.layers


def randomize_batchnorm(model, seed=0):
    """Non-trivial gamma, beta and moving statistics, so a wrong BatchNorm permutation shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                               rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])


def channel_l1(layer):
    kernel = layer.get_weights()[0]
    return np.abs(kernel.reshape(-1, kernel.shape[-1])).sum(axis=0)


def rearranged(model, x, n=4):
    """rearrange_filters(model): checked to compute the same function, leave `model` alone and sort every
    permuted group by importance (each prunable producer's L1, normalized, summed)."""
    before = [w.copy() for w in model.get_weights()]
    new, report = onexn_tf.rearrange_filters(model, n, return_report=True)
    assert isinstance(new, keras.Model) and new is not model
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    expected = np.asarray(model(x))
    np.testing.assert_allclose(np.asarray(new(x)), expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    policy = onexn_tf.Prune1xNPolicy(n)
    assert report.permuted and sum(g.moved for g in report.permuted) > 0
    for group in report.permuted:
        prunable = [name for name in group.producers if policy.allow_pruning(new.get_layer(name))]
        importance = sum(channel_l1(new.get_layer(name)) / channel_l1(new.get_layer(name)).sum() for name in prunable)
        assert np.all(np.diff(importance) <= 1e-7), group.producers
        perm = np.asarray(group.permutation)
        for name in group.producers:
            np.testing.assert_allclose(channel_l1(new.get_layer(name)), channel_l1(model.get_layer(name))[perm],
                                       rtol=1e-5)
    return new, {frozenset(g.producers): g for g in report.permuted}, {frozenset(g.producers): g
                                                                       for g in report.unpermuted}


def test_graph_with_add_concatenate_batchnorm_depthwise_flatten_dense():
    keras.utils.set_random_seed(3)
    inp = L.Input((6, 6, 8))
    a = L.Conv2D(16, 3, padding="same", name="a")(inp)
    a = L.BatchNormalization(name="a_bn")(a)
    b = L.Conv2D(16, 1, name="b")(inp)
    s = L.Add(name="add")([a, b])
    s = L.ReLU(name="relu")(s)
    d = L.DepthwiseConv2D(3, padding="same", name="dw")(s)
    c = L.Conv2D(8, 1, name="c")(d)
    cat = L.Concatenate(name="cat")([d, c])
    e = L.Conv2D(16, 1, name="e")(cat)
    f = L.Flatten(name="flat")(L.MaxPooling2D(3, name="pool")(e))
    out = L.Dense(5, name="head")(L.Dense(12, name="fc")(f))
    model = keras.Model(inp, out)
    randomize_batchnorm(model)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 8)).astype("f4")
    new, permuted, unpermuted = rearranged(model, x)
    joint = permuted[frozenset({"a", "b"})]
    assert joint.joint and joint.merged_by == ("Add 'add'",)
    assert {"a_bn", "dw", "c", "e"} <= set(joint.consumers)
    perm = np.asarray(joint.permutation)
    np.testing.assert_array_equal(new.get_layer("dw").get_weights()[0], model.get_layer("dw").get_weights()[0][:, :, perm])
    # e reads the concatenation: its input rows move segment by segment (and its own filters by e's order).
    c_perm = np.asarray(permuted[frozenset({"c"})].permutation)
    e_perm = np.asarray(permuted[frozenset({"e"})].permutation)
    rows = np.concatenate([perm, 16 + c_perm])
    np.testing.assert_array_equal(new.get_layer("e").get_weights()[0],
                                  model.get_layer("e").get_weights()[0][:, :, rows][..., e_perm])
    # The Dense after Flatten reads e's channels at each of the 2x2 positions.
    fc_perm = np.asarray(permuted[frozenset({"fc"})].permutation)
    rows = (np.arange(4)[:, None] * 16 + e_perm[None, :]).ravel()
    np.testing.assert_array_equal(new.get_layer("fc").get_weights()[0],
                                  model.get_layer("fc").get_weights()[0][rows][:, fc_perm])
    assert "reaches model output" in unpermuted[frozenset({"head"})].reason


def test_nested_models_are_left_in_place_and_reported():
    keras.utils.set_random_seed(4)
    inner_in = L.Input((4, 4, 16))
    inner = keras.Model(inner_in, L.Conv2D(16, 1, name="inner_conv")(inner_in), name="inner")
    inp = L.Input((4, 4, 8))
    x = L.Conv2D(16, 1, name="before")(inp)
    x = inner(x)
    x = L.Conv2D(16, 1, name="after")(x)
    out = L.Dense(4, name="head")(L.GlobalAveragePooling2D()(L.Conv2D(16, 1, name="last")(x)))
    model = keras.Model(inp, out)
    x = np.random.default_rng(1).standard_normal((2, 4, 4, 8)).astype("f4")
    _, permuted, unpermuted = rearranged(model, x)
    assert frozenset({"after"}) in permuted
    assert "nested models are not followed" in unpermuted[frozenset({"before"})].reason


def test_mobilenet_v2_same_function():
    keras.utils.set_random_seed(1)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10,
                                           classifier_activation=None)
    randomize_batchnorm(model, 1)
    x = np.random.default_rng(0).standard_normal((2, 96, 96, 3)).astype("f4")
    _, permuted, unpermuted = rearranged(model, x)
    joint = permuted[frozenset({"block_3_project", "block_4_project", "block_5_project"})]
    assert joint.joint and set(joint.merged_by) == {"Add 'block_4_add'", "Add 'block_5_add'"}
    assert "no layer the policy prunes" in unpermuted[frozenset({"Conv1"})].reason  # the RGB stem


def test_rearrange_then_prune():
    keras.utils.set_random_seed(5)
    inp = L.Input((8, 8, 3))
    x = L.Conv2D(16, 3, padding="same", name="stem")(inp)
    x = L.Conv2D(32, 1, name="mid")(x)
    out = L.Dense(4, name="head")(L.GlobalAveragePooling2D()(L.Conv2D(16, 1, name="last")(x)))
    model = keras.Model(inp, out)
    pruned = onexn_tf.prune_1xn(model, n=4, rearrange=True)
    x = np.random.default_rng(2).standard_normal((2, 8, 8, 3)).astype("f4")
    np.testing.assert_allclose(np.asarray(pruned(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-5)  # masks all ones
    assert [type(l).__name__ for l in pruned.layers].count("PruneLowMagnitude1xN") == 3


def test_bad_input():
    with pytest.raises(ValueError, match="not built"):
        onexn_tf.rearrange_filters(keras.Sequential([L.Dense(4)]))
    with pytest.raises(ValueError, match="needs a Keras 3 Model"):
        onexn_tf.rearrange_filters(L.Dense(4))
    with pytest.raises(ValueError, match="n must be an integer"):
        onexn_tf.rearrange_filters(keras.Sequential([L.Input((4,)), L.Dense(4)]), n=0)
