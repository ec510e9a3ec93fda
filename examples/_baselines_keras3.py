"""The accuracy study's baselines for Keras 3, where tfmot cannot go: onexn's Keras 3 wrapper with another
mask (``pruning_mask``), so that the schedule, step callback and strip are the ones 1xN pruning uses."""

import keras

from onexn_tf.keras3 import PruneLowMagnitude1xN

from _masks import filter_mask, magnitude_mask

NAME = "Keras 3"
VERSIONS = f"Keras {keras.__version__} (backend {keras.backend.backend()}), no tfmot"
UNSTRUCTURED = ("unstructured keeps the largest-magnitude weights as tfmot's `prune_low_magnitude` does, in "
                "onexn's Keras 3 wrapper")


class PruneLowMagnitudeWeights(PruneLowMagnitude1xN):
    """Unstructured: single weights of lowest magnitude."""

    def pruning_mask(self, kernel, sparsity):
        return magnitude_mask(kernel, sparsity)


class PruneLowMagnitudeFilters(PruneLowMagnitude1xN):
    """Whole filters of lowest L1 norm."""

    def pruning_mask(self, kernel, sparsity):
        return filter_mask(kernel, sparsity)[0]


def unstructured(layer, schedule):
    return PruneLowMagnitudeWeights(layer, pruning_schedule=schedule, name=f"prune_weights_{layer.name}")


def filters(layer, schedule):
    return PruneLowMagnitudeFilters(layer, pruning_schedule=schedule, name=f"prune_filters_{layer.name}")


def is_wrapper(layer):
    return isinstance(layer, PruneLowMagnitude1xN)
