"""Prune1xNPolicy: a real tfmot PruningPolicy that says which layers 1xN can prune, and why not."""

import pytest

import onexn_tf
import tensorflow_model_optimization as tfmot
from onexn_tf.keras.compat import keras


@pytest.fixture(scope="module")
def mobilenet_v2():
    return keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))


def test_is_a_tfmot_policy():
    assert isinstance(onexn_tf.Prune1xNPolicy(4), tfmot.sparsity.keras.PruningPolicy)


def test_mobilenet_v2_choices(mobilenet_v2):
    policy = onexn_tf.Prune1xNPolicy(4)
    allowed = [l for l in mobilenet_v2.layers if policy.allow_pruning(l)]
    convs = [l for l in mobilenet_v2.layers if type(l) is keras.layers.Conv2D]
    depthwise = [l for l in mobilenet_v2.layers if isinstance(l, keras.layers.DepthwiseConv2D)]
    # Every pointwise conv and the classifier; not the RGB stem, not the depthwise convs.
    assert {l.name for l in allowed} == {l.name for l in convs if l.name != "Conv1"} | {"predictions"}
    assert "stem" in policy.reason(mobilenet_v2.get_layer("Conv1"))
    for layer in depthwise:
        assert "DepthwiseConv2D" in policy.reason(layer)
    assert "no Conv2D/Dense kernel" in policy.reason(mobilenet_v2.get_layer("bn_Conv1"))
    assert onexn_tf.Prune1xNPolicy(4, prune_stem=True).allow_pruning(mobilenet_v2.get_layer("Conv1"))


def test_output_channels_not_a_multiple_of_n():
    layer = keras.layers.Dense(10)
    layer.build((None, 8))
    assert "not a multiple of N=4" in onexn_tf.Prune1xNPolicy(4, allow_partial_blocks=False).reason(layer)
    assert onexn_tf.Prune1xNPolicy(4).allow_pruning(layer)  # the default: a shorter last block
    assert "fewer than N=16" in onexn_tf.Prune1xNPolicy(16, allow_partial_blocks=True).reason(layer)


def test_grouped_and_excluded_layers():
    grouped = keras.layers.Conv2D(8, 3, groups=2)
    grouped.build((None, 8, 8, 4))
    assert "grouped" in onexn_tf.Prune1xNPolicy(4).reason(grouped)
    dense = keras.layers.Dense(8, name="head")
    assert onexn_tf.Prune1xNPolicy(4, exclude=["head"]).reason(dense) == "excluded by name"


def test_model_without_prunable_layers_is_rejected():
    inp = keras.Input((8, 8, 4))
    model = keras.Model(inp, keras.layers.DepthwiseConv2D(3)(inp))
    with pytest.raises(ValueError, match="no layer .* can be 1x4-pruned"):
        onexn_tf.Prune1xNPolicy(4).ensure_model_supports_pruning(model)


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_bad_n(bad):
    with pytest.raises(ValueError, match="n must be"):
        onexn_tf.Prune1xNPolicy(bad)
