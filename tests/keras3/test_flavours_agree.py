"""Keras 3 and tf_keras agree: the same weights, data order and schedule give identical masks (with onexn's
schedule and callback, and with tfmot's on the tf_keras side), and the same stripped weights convert to the
same .tflite metadata, which the delegate claims alike. The tf_keras side runs in a subprocess
(same_training.py), since the flavour of ``tf.keras`` is fixed per process."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import onexn_tf
from onexn_tf.runtime import bench

from k3models import data, small_model
from same_training import PRUNED, layer_weights, masks_and_kernels, save_inputs, schedule_args, train

HERE = os.path.dirname(os.path.abspath(__file__))
DELEGATE_OK, DELEGATE_WHY = bench.delegate_status()


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("flavours")
    weights = layer_weights(small_model(keras, seed=11))
    pruned = train(keras, onexn_tf, weights, onexn_tf.PolynomialDecay(**schedule_args()), onexn_tf.UpdatePruningStep())
    masks, kernels = masks_and_kernels(pruned)
    stripped = onexn_tf.strip_1xn(pruned)
    save_inputs(tmp / "in.npz", weights, layer_weights(stripped))
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    run = subprocess.run([sys.executable, os.path.join(HERE, "same_training.py"), str(tmp / "in.npz"),
                          str(tmp / "out.npz")], capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stderr[-4000:]
    with np.load(tmp / "out.npz") as out:
        tf_keras = dict(out)
    return {"masks": masks, "kernels": kernels, "stripped": stripped, "tf_keras": tf_keras}


@pytest.mark.parametrize("run", ["onexn", "tfmot"])
def test_identical_masks(both, run):
    for name in PRUNED:
        mask = both["masks"][name]
        assert 1.0 - mask.mean() == pytest.approx(0.75, abs=0.02), name  # the schedule really pruned
        np.testing.assert_array_equal(both["tf_keras"][f"{run}|mask|{name}"], mask, err_msg=name)
        # Adam and BatchNorm round differently in the two Kerases; the weights stay within float noise.
        np.testing.assert_allclose(both["tf_keras"][f"{run}|kernel|{name}"], both["kernels"][name], atol=1e-4,
                                   err_msg=name)


def test_same_metadata_for_the_same_weights(both):
    keras3_tflite = onexn_tf.convert(both["stripped"])
    tf_keras_tflite = both["tf_keras"]["tflite"].tobytes()
    records = onexn_tf.read_metadata(keras3_tflite)
    assert len(records) == len(PRUNED)
    assert records == onexn_tf.read_metadata(tf_keras_tflite)


@pytest.mark.skipif(not DELEGATE_OK, reason=f"onexn delegate not built: {DELEGATE_WHY}")
def test_the_delegate_claims_both_alike(both):
    keras3_tflite = onexn_tf.convert(both["stripped"])
    tf_keras_tflite = both["tf_keras"]["tflite"].tobytes()
    report = onexn_tf.delegate_report(keras3_tflite)
    assert report["claimed"] == len(PRUNED)
    assert report["claimed"] == onexn_tf.delegate_report(tf_keras_tflite)["claimed"]
    x = data(4, seed=9)[0]
    np.testing.assert_allclose(np.asarray(both["stripped"](x)), both["tf_keras"]["expected"], atol=1e-5)
    for image in x:
        stock = bench.run_once(keras3_tflite, image[None], delegate=False)
        np.testing.assert_allclose(bench.run_once(keras3_tflite, image[None], delegate=True), stock, atol=1e-5)
        np.testing.assert_allclose(bench.run_once(tf_keras_tflite, image[None], delegate=True), stock, atol=1e-5)
