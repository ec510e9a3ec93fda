"""sparsity_report: N, block sparsity, kept blocks and MACs per layer."""

import numpy as np
import pytest

import onexn_tf
from onexn_tf import blocks
from onexn_tf.keras.compat import keras


@pytest.fixture(scope="module")
def mobilenet_v2():
    keras.utils.set_random_seed(0)
    return keras.applications.MobileNetV2(weights=None, input_shape=(96, 96, 3))


def test_mobilenet_v2_report(mobilenet_v2):
    dense = onexn_tf.sparsity_report(mobilenet_v2)
    pruned = onexn_tf.sparsity_report(onexn_tf.apply_1xn(mobilenet_v2, n=16, sparsity=0.5))
    assert [r.name for r in dense.layers] == [r.name for r in pruned.layers]
    assert all(r.n is None and r.macs_after == r.macs for r in dense.layers)
    by_name = {r.name: r for r in pruned.layers}
    stem, project = by_name["Conv1"], by_name["block_1_project"]
    assert stem.n is None and stem.block_sparsity == 0.0
    # block_1_project: 1x1, 96 -> 24 channels on a 24x24 map (96x96 input, two stride-2 stages).
    # 24 % 16 != 0: pruned with a last block of 8 channels (the default policy's partial blocks).
    assert project.kernel_shape == (1, 1, 96, 24) and project.n == 16
    assert (project.blocks, project.kept_blocks) == (96 * 2, 96)
    expand = by_name["block_1_expand"]  # 16 -> 96
    assert expand.n == 16 and expand.blocks == 16 * 6 and expand.kept_blocks == 48
    assert expand.macs == 48 * 48 * 16 * 96 and expand.macs_after == expand.macs // 2
    assert pruned.macs == dense.macs
    assert 0.5 < pruned.macs_after / pruned.macs < 0.7
    assert "total MACs" in str(pruned)


def test_wrapped_and_partial_block_layers():
    inp = keras.Input((4, 4, 8))
    x = keras.layers.Conv2D(10, 1, name="c")(inp)
    model = keras.Model(inp, keras.layers.Dense(12, name="d")(keras.layers.Flatten()(x)))
    policy = onexn_tf.Prune1xNPolicy(4, allow_partial_blocks=True)
    pruned = onexn_tf.apply_1xn(model, n=4, sparsity=0.5, pruning_policy=policy)
    report = onexn_tf.sparsity_report(pruned, n=4)
    conv = report.layers[0]
    assert (conv.blocks, conv.kept_blocks) == (8 * 3, 12)
    kept = blocks.kept_blocks(pruned.get_layer("c").kernel.numpy(), 4)
    widths = np.array([4, 4, 2])
    assert conv.macs_after == 16 * int((kept * widths).sum())
    wrapped = onexn_tf.prune_1xn(model, n=4, pruning_policy=policy)
    assert [r.name for r in onexn_tf.sparsity_report(wrapped).layers] == ["prune_1xn_c", "prune_1xn_d"]
    assert all(r.n == 4 for r in onexn_tf.sparsity_report(wrapped).layers)


def test_rejects_non_models():
    with pytest.raises(ValueError, match="tf_keras Model"):
        onexn_tf.sparsity_report(keras.layers.Dense(3))
