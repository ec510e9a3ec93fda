"""rearrange_filters: same function, strong filters grouped into 1xN blocks, unsupported spaces reported."""

import logging

import numpy as np
import pytest
import tensorflow as tf

import onexn_tf
from onexn_tf import blocks
from onexn_tf.keras.compat import keras
from onexn_tf.keras.rearrange import RearrangeReport, rearrange_filters

L = keras.layers


def randomize_batchnorm(model, seed=0):
    """Non-trivial gamma, beta and moving statistics, so a wrong BatchNorm permutation shows."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, L.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                               rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])


def assert_same_function(old, new, x):
    expected, got = old(x), new(x)
    for e, g in zip(tf.nest.flatten(expected), tf.nest.flatten(got)):
        e, g = e.numpy(), g.numpy()
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-5 * np.abs(e).max())


def channel_l1(layer):
    kernel = layer.get_weights()[0]
    return np.abs(kernel.reshape(-1, kernel.shape[-1])).sum(axis=0)


def group_importance(model, group, policy):
    """Independent recomputation of the documented importance: sum of each prunable producer's normalized L1."""
    total = 0
    for name in group.producers:
        layer = model.get_layer(name)
        if policy.allow_pruning(layer):
            l1 = channel_l1(layer)
            total = total + l1 / l1.sum()
    return total


def check_rearranged(model, x, n=4):
    """Same function, input model untouched, weights moved, every permuted group sorted by importance."""
    before = [w.copy() for w in model.get_weights()]
    new, report = rearrange_filters(model, n, return_report=True)
    assert isinstance(report, RearrangeReport)
    assert new is not model
    for b, a in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert_same_function(model, new, x)
    policy = onexn_tf.Prune1xNPolicy(n)
    assert report.permuted and sum(g.moved for g in report.permuted) > 0
    for group in report.permuted:
        importance = group_importance(new, group, policy)
        assert np.all(np.diff(importance) <= 1e-7), group.producers
        # The permutation is what moved the filters: old output channel perm[i] is new channel i (its input
        # rows may have moved too, which leaves each filter's L1 as it was).
        perm = np.asarray(group.permutation)
        for name in group.producers:
            np.testing.assert_allclose(channel_l1(new.get_layer(name)), channel_l1(model.get_layer(name))[perm],
                                       rtol=1e-5)
    return new, report


def by_producers(groups):
    return {frozenset(g.producers): g for g in groups}


@pytest.fixture(scope="module")
def mobilenet_v2():
    keras.utils.set_random_seed(1)
    model = keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), classes=10,
                                           classifier_activation=None)
    randomize_batchnorm(model, 1)
    return model


@pytest.fixture(scope="module")
def resnet50():
    keras.utils.set_random_seed(2)
    model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10,
                                        classifier_activation=None)
    randomize_batchnorm(model, 2)
    return model


def test_mobilenet_v2_same_function(mobilenet_v2):
    x = np.random.default_rng(0).standard_normal((2, 96, 96, 3)).astype("f4")
    new, report = check_rearranged(mobilenet_v2, x)
    groups = by_producers(report.permuted)
    # Inverted-residual chains share one channel space through their Adds.
    joint = groups[frozenset({"block_3_project", "block_4_project", "block_5_project"})]
    assert joint.joint and set(joint.merged_by) == {"Add 'block_4_add'", "Add 'block_5_add'"}
    # Depthwise convolutions and BatchNorms follow the expand conv they read from.
    expand = groups[frozenset({"block_4_expand"})]
    assert {"block_4_expand_BN", "block_4_depthwise", "block_4_depthwise_BN", "block_4_project"} <= set(expand.consumers)
    moved = np.asarray(expand.permutation)
    np.testing.assert_array_equal(new.get_layer("block_4_depthwise").get_weights()[0],
                                  mobilenet_v2.get_layer("block_4_depthwise").get_weights()[0][:, :, moved])
    unpermuted = by_producers(report.unpermuted)
    assert "reaches model output" in unpermuted[frozenset({"predictions"})].reason
    assert "no layer the policy prunes" in unpermuted[frozenset({"Conv1"})].reason  # the RGB stem


def test_resnet50_same_function(resnet50):
    x = np.random.default_rng(0).standard_normal((2, 64, 64, 3)).astype("f4")
    _, report = check_rearranged(resnet50, x)
    groups = by_producers(report.permuted)
    stage2 = groups[frozenset({"conv2_block1_0_conv", "conv2_block1_3_conv", "conv2_block2_3_conv",
                               "conv2_block3_3_conv"})]
    assert stage2.joint and stage2.size == 256
    assert {"conv2_block2_1_conv", "conv3_block1_0_conv", "conv3_block1_1_conv"} <= set(stage2.consumers)
    assert len(report.permuted) == 36  # 4 joint residual spaces + 2 per bottleneck (16 blocks)


def small_model():
    """Concatenate -> depthwise -> two convs -> Add, a GAP -> Dense head and a Flatten -> Dense head."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((10, 10, 8))
    a = L.Conv2D(16, 3, padding="same", name="a")(inputs)
    a = L.BatchNormalization(name="a_bn")(a)
    a = L.ReLU(name="a_relu")(a)
    b = L.Conv2D(8, 1, name="b")(inputs)
    cat = L.Concatenate(name="cat")([a, b])
    d = L.DepthwiseConv2D(3, padding="same", name="dw")(cat)
    d = L.BatchNormalization(name="dw_bn")(d)
    e = L.Conv2D(16, 1, name="e")(d)
    f = L.Conv2D(16, 1, use_bias=False, name="f")(d)
    g = L.Add(name="add")([e, f])
    g = L.MaxPooling2D(2, name="pool")(g)
    h = L.Conv2D(8, 1, activation="relu", name="h")(g)
    head1 = L.Dense(5, name="gap_head")(L.GlobalAveragePooling2D(name="gap")(h))
    head2 = L.Dense(4, name="flat_head")(L.Flatten(name="flat")(h))
    model = keras.Model(inputs, [head1, head2])
    randomize_batchnorm(model, 3)
    return model


def test_small_functional_model():
    model = small_model()
    x = np.random.default_rng(0).standard_normal((3, 10, 10, 8)).astype("f4")
    new, report = check_rearranged(model, x)
    groups = by_producers(report.permuted)
    assert set(groups) == {frozenset({"a"}), frozenset({"b"}), frozenset({"e", "f"}), frozenset({"h"})}
    assert all(g.moved > 0 for g in report.permuted)
    assert groups[frozenset({"e", "f"})].joint and groups[frozenset({"e", "f"})].merged_by == ("Add 'add'",)
    assert not groups[frozenset({"a"})].joint
    assert {"a_bn", "dw", "dw_bn", "e", "f"} <= set(groups[frozenset({"a"})].consumers)
    assert {"gap_head", "flat_head"} <= set(groups[frozenset({"h"})].consumers)
    # The conv after the Concatenate reads [a (16) | b (8)]: permuted segment by segment.
    pa, pb = (np.asarray(groups[frozenset({k})].permutation) for k in "ab")
    rows = np.concatenate([pa, 16 + pb])
    pef = np.asarray(groups[frozenset({"e", "f"})].permutation)
    np.testing.assert_array_equal(new.get_layer("e").get_weights()[0],
                                  model.get_layer("e").get_weights()[0][:, :, rows][..., pef])
    # Flatten of a 5x5x8 tensor: the Dense rows follow h's permutation at each of the 25 positions.
    ph = np.asarray(groups[frozenset({"h"})].permutation)
    flat_rows = (np.arange(25)[:, None] * 8 + ph).ravel()
    np.testing.assert_array_equal(new.get_layer("flat_head").get_weights()[0],
                                  model.get_layer("flat_head").get_weights()[0][flat_rows])
    reasons = {g.producers: g.reason for g in report.unpermuted}
    assert "reaches model output" in reasons[("gap_head",)]
    assert "reaches model output" in reasons[("flat_head",)]
    assert "comes from model input" in reasons[(model.layers[0].name,)]
    assert "4 channel groups permuted" in str(report)


def test_parameter_layers_and_gates():
    """SeparableConv, LayerNorm, PReLU, a squeeze-excite Multiply (joint) and a 1-channel gate (broadcast)."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((8, 8, 8))
    x = L.Conv2D(16, 3, padding="same", name="c")(inputs)
    x = L.LayerNormalization(name="ln")(x)
    x = L.PReLU(name="prelu")(x)                          # one alpha per position and channel
    s = L.GlobalAveragePooling2D(keepdims=True, name="squeeze")(x)
    s = L.Dense(16, activation="sigmoid", name="excite")(s)
    x = L.Multiply(name="se")([x, s])
    gate = L.Conv2D(1, 1, activation="sigmoid", name="gate")(x)
    x = L.Multiply(name="spatial")([x, gate])
    x = L.PReLU(shared_axes=[1, 2], name="prelu_c")(x)    # one alpha per channel
    x = L.SeparableConv2D(12, 3, depth_multiplier=2, padding="same", name="sep")(x)
    x = L.Conv2D(8, 1, name="out")(x)
    model = keras.Model(inputs, x)
    for layer in (model.get_layer("ln"), model.get_layer("prelu"), model.get_layer("prelu_c")):
        layer.set_weights([np.random.default_rng(5).normal(size=w.shape) for w in layer.get_weights()])
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 8)).astype("f4")
    _, report = check_rearranged(model, x)
    groups = by_producers(report.permuted)
    se = groups[frozenset({"c", "excite"})]
    assert se.joint and "Multiply 'se'" in se.merged_by and "Multiply 'spatial'" not in se.merged_by
    assert {"ln", "prelu", "prelu_c", "sep", "gate", "excite"} <= set(se.consumers)
    assert frozenset({"sep"}) not in groups  # SeparableConv is followed, but the policy does not prune it


def test_unsupported_consumers_are_left_in_place_and_reported(caplog):
    keras.utils.set_random_seed(5)
    inputs = keras.Input((6, 6, 8))
    a = L.Conv2D(16, 1, name="a")(inputs)
    a = L.Reshape((6, 6, 4, 4), name="reshape")(a)
    a = L.Reshape((6, 6, 16), name="back")(a)
    b = L.Conv2D(16, 1, name="b")(inputs)
    # Channel-dependent: permuting b without following the Lambda would change the function.
    b = L.Lambda(lambda t: t * tf.range(1.0, 17.0), name="scale")(b)
    c = L.Conv2D(16, 1, name="c")(L.Add(name="ab")([a, b]))
    c = tf.nn.relu6(c)                                     # a TFOpLambda layer
    d1 = L.Conv2D(8, 1, name="d1")(c)
    d2 = L.Conv2D(8, 1, name="d2")(c)
    cat = L.Concatenate(name="cat")([d1, d2])
    e = L.Conv2D(16, 1, name="e")(c)
    mixed = L.Add(name="mixed")([cat, e])                 # a concat output merged elementwise
    f = L.Conv2D(8, 1, name="f")(mixed)
    g = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", name="dw2")(L.Conv2D(8, 1, name="pre_dw")(f))
    h = L.Conv2D(8, 1, name="h")(g)
    out = L.Conv2D(4, 1, name="out")(L.ReLU(name="h_relu")(h))
    model = keras.Model(inputs, out)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 8)).astype("f4")
    with caplog.at_level(logging.WARNING, logger="onexn_tf.keras.rearrange"):
        new, report = rearrange_filters(model, 4, return_report=True)
    assert_same_function(model, new, x)
    unpermuted = by_producers(report.unpermuted)
    assert "read by Reshape 'reshape'" in unpermuted[frozenset({"a"})].reason
    assert "read by Lambda 'scale'" in unpermuted[frozenset({"b"})].reason
    tied = unpermuted[frozenset({"back", "scale"})]  # outputs of unfollowed layers, tied by the Add
    assert tied.joint and "written by Lambda 'scale'" in tied.reason
    assert "read by TFOpLambda" in unpermuted[frozenset({"c"})].reason
    for name in ("d1", "d2", "e"):
        assert "Add 'mixed' merges tensors whose channel layouts differ" in unpermuted[frozenset({name})].reason
    assert "depthwise multiplier 2 > 1" in unpermuted[frozenset({"pre_dw"})].reason
    assert "reaches model output" in unpermuted[frozenset({"out"})].reason
    # f and h are read only by layers the analysis follows: still permuted.
    assert set(by_producers(report.permuted)) == {frozenset({"f"}), frozenset({"h"})}
    np.testing.assert_array_equal(new.get_layer("b").get_weights()[0], model.get_layer("b").get_weights()[0])
    assert "Lambda 'scale'" in caplog.text and "rearrange_filters" in caplog.text


def test_sequential_model():
    keras.utils.set_random_seed(6)
    model = keras.Sequential([keras.Input((6, 6, 8)), L.Conv2D(16, 3, name="c1"), L.BatchNormalization(),
                              L.ReLU(), L.Conv2D(8, 1, name="c2"), L.Flatten(), L.Dense(3)])
    randomize_batchnorm(model, 6)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 8)).astype("f4")
    _, report = check_rearranged(model, x)
    assert set(by_producers(report.permuted)) == {frozenset({"c1"}), frozenset({"c2"})}


def test_shared_layers_and_nested_models():
    keras.utils.set_random_seed(8)
    inputs = keras.Input((6, 6, 8))
    a = L.Conv2D(16, 1, name="a")(inputs)
    b = L.Conv2D(16, 3, padding="same", name="b")(inputs)
    shared = L.Conv2D(8, 1, name="shared")  # one kernel reads both a and b: they must move together
    y = L.Concatenate(name="cat")([shared(a), shared(b)])
    inner = keras.Sequential([keras.Input((6, 6, 16)), L.Conv2D(8, 1)], name="inner")
    z = inner(L.Conv2D(16, 1, name="c")(y))
    out = L.Conv2D(4, 1, name="out")(L.Concatenate(name="cat2")([y, z]))
    model = keras.Model(inputs, out)
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 8)).astype("f4")
    _, report = check_rearranged(model, x)
    groups = by_producers(report.permuted)
    ab = groups[frozenset({"a", "b"})]
    assert ab.joint and ab.merged_by == ("shared layer 'shared'",)
    assert frozenset({"shared"}) in groups  # both calls write one space, read segment-wise by c and out
    assert "nested models are not followed" in by_producers(report.unpermuted)[frozenset({"c"})].reason


def uneven_model():
    """Two prunable convs whose output channels alternate strong / weak, so plain 1x4 blocks mix them."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((8, 8, 16))
    x = L.Conv2D(32, 3, padding="same", activation="relu", name="c1")(inputs)
    x = L.Conv2D(16, 1, name="c2")(x)
    out = L.Dense(3, name="head")(L.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, out)
    for name in ("c1", "c2"):
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        scale = np.where(np.arange(kernel.shape[-1]) % 2 == 0, 10.0, 0.1)
        layer.set_weights([kernel * scale, bias])
    return model


def kept_mass(model, names, n=4, sparsity=0.5):
    kept = total = 0.0
    for name in names:
        kernel = model.get_layer(name).get_weights()[0]
        kept += np.abs(kernel * blocks.block_mask(kernel, n, sparsity)).sum()
        total += np.abs(kernel).sum()
    return kept / total


def test_rearranging_keeps_more_mass_after_1xn_pruning():
    model = uneven_model()
    new = rearrange_filters(model, 4)
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 16)).astype("f4")
    assert_same_function(model, new, x)
    for name in ("c1", "c2"):
        plain, rearranged = kept_mass(model, [name]), kept_mass(new, [name])
        assert rearranged >= plain, name
    # Plain blocks hold 2 strong + 2 weak channels, so half of the strong mass goes; rearranged, the
    # pruned half is (almost) all weak blocks.
    assert kept_mass(new, ["c1", "c2"]) > 0.95 > kept_mass(model, ["c1", "c2"]) + 0.3


def test_policy_decides_which_groups_move():
    model = uneven_model()
    _, report = rearrange_filters(model, 4, policy=onexn_tf.Prune1xNPolicy(4, exclude=["c1"]),
                                  return_report=True)
    assert [g.producers for g in report.permuted] == [("c2",)]
    assert "no layer the policy prunes" in by_producers(report.unpermuted)[frozenset({"c1"})].reason


def test_bad_input():
    model = uneven_model()
    for n in (0, -1, 2.5):
        with pytest.raises(ValueError, match="n must be an integer"):
            rearrange_filters(model, n)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = L.Conv2D(8, 1)

        def call(self, x):
            return self.conv(x)

    subclassed = Subclassed()
    subclassed(np.zeros((1, 4, 4, 8), "f4"))
    with pytest.raises(ValueError, match="subclassed"):
        rearrange_filters(subclassed)
    with pytest.raises(ValueError, match="not built"):
        rearrange_filters(keras.Sequential([L.Dense(4)]))
    with pytest.raises(ValueError, match="needs a tf_keras Model"):
        rearrange_filters(L.Dense(4))

    # Keras 3 models, refused before issue 16, are rearranged now (tests/keras3/); their bad input gets the
    # same errors.
    import keras as keras3
    with pytest.raises(ValueError, match="not built"):
        rearrange_filters(keras3.Sequential([keras3.layers.Dense(4)]))
    with pytest.raises(ValueError, match="needs a Keras 3 Model"):
        rearrange_filters(keras3.layers.Dense(4))
    with pytest.raises(ValueError, match="needs a tf_keras or Keras 3 Model"):
        rearrange_filters("model.keras")


def test_exported_names():
    assert onexn_tf.rearrange_filters is rearrange_filters
    assert onexn_tf.RearrangeReport is RearrangeReport
