"""Pruning schedules for both Keras flavours, with tfmot's semantics and call signature.

A schedule is called with the training step (an integer tensor) and returns ``(should_prune, sparsity)``:
whether the masks are recomputed at this step, and the fraction of blocks they zero. The wrappers of both
flavours call it the same way, so tfmot's own schedules, and any object with that signature, work on both
paths too. ``get_config`` returns tfmot's format ``{"class_name": ..., "config": {...}}``, which both
wrappers save and restore.

The values are computed with the same TensorFlow ops as tfmot 0.8's, so they match tfmot's step for step (``tests/test_schedules.py``); only bad arguments differ: they raise with a message
saying what is allowed, and ``PolynomialDecay`` refuses ``end_step == begin_step``, for which tfmot divides
by zero.
"""

import abc
import numbers

import tensorflow as tf

from onexn_tf import blocks


class PruningSchedule(abc.ABC):
    """Base class: ``should_prune, sparsity = schedule(step)``; subclass it for a schedule of your own."""

    @abc.abstractmethod
    def __call__(self, step):
        """(should_prune, sparsity) as a scalar bool tensor and a scalar float32 tensor."""

    @abc.abstractmethod
    def get_config(self):
        """``{"class_name": ..., "config": kwargs of __init__}`` (tfmot's format)."""

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _check_steps(begin_step, end_step, frequency, end_may_be_open):
    for name, value in (("begin_step", begin_step), ("end_step", end_step), ("frequency", frequency)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if begin_step < 0:
        raise ValueError(f"begin_step must be >= 0, got {begin_step}")
    if end_step == -1 and not end_may_be_open:
        raise ValueError("end_step must be given (>= begin_step); -1 (prune until training ends) is for ConstantSparsity")
    if end_step != -1 and end_step < begin_step:
        raise ValueError(f"end_step must be -1 or >= begin_step ({begin_step}), got {end_step}")
    if frequency <= 0:
        raise ValueError(f"frequency must be > 0, got {frequency}")


def pruning_step(step, begin_step, end_step, frequency):
    """True at begin_step, begin_step + frequency, ... up to end_step (no end when end_step is -1)."""
    in_range = tf.math.logical_and(tf.math.greater_equal(step, begin_step),
                                   tf.math.logical_or(tf.math.less_equal(step, end_step), tf.math.less(end_step, 0)))
    on_beat = tf.math.equal(tf.math.floormod(tf.math.subtract(step, begin_step), frequency), 0)
    return tf.math.logical_and(in_range, on_beat)


class ConstantSparsity(PruningSchedule):
    """The same sparsity at every mask update: at begin_step and every `frequency` steps after it, until
    end_step (-1: until training ends).

    Note the default frequency of 100 (tfmot's): a training run shorter than that updates the masks once.
    """

    def __init__(self, target_sparsity, begin_step, end_step=-1, frequency=100):
        self.target_sparsity = blocks.check_sparsity(target_sparsity)
        _check_steps(begin_step, end_step, frequency, end_may_be_open=True)
        self.begin_step, self.end_step, self.frequency = int(begin_step), int(end_step), int(frequency)

    def __call__(self, step):
        return (pruning_step(step, self.begin_step, self.end_step, self.frequency),
                tf.constant(self.target_sparsity, dtype=tf.float32))

    def get_config(self):
        return {"class_name": type(self).__name__,
                "config": {"target_sparsity": self.target_sparsity, "begin_step": self.begin_step,
                           "end_step": self.end_step, "frequency": self.frequency}}


class PolynomialDecay(PruningSchedule):
    """Sparsity rising from initial_sparsity to final_sparsity between begin_step and end_step:
    ``final + (initial - final) * (1 - t) ** power`` with t the fraction of [begin_step, end_step] passed,
    fast at first, then levelling off. Masks are updated at begin_step and every `frequency` steps up to
    end_step; after it they stay as they are.
    """

    def __init__(self, initial_sparsity, final_sparsity, begin_step, end_step, power=3, frequency=100):
        self.initial_sparsity = blocks.check_sparsity(initial_sparsity)
        self.final_sparsity = blocks.check_sparsity(final_sparsity)
        _check_steps(begin_step, end_step, frequency, end_may_be_open=False)
        if end_step == begin_step:
            raise ValueError(f"PolynomialDecay needs end_step > begin_step, got both {begin_step}")
        self.begin_step, self.end_step, self.frequency = int(begin_step), int(end_step), int(frequency)
        self.power = power

    def __call__(self, step):
        passed = tf.math.divide(tf.cast(step - self.begin_step, tf.float32), self.end_step - self.begin_step)
        t = tf.math.minimum(1.0, tf.math.maximum(0.0, passed))
        sparsity = tf.math.add(tf.math.multiply(self.initial_sparsity - self.final_sparsity,
                                                tf.math.pow(1 - t, self.power)), self.final_sparsity)
        return pruning_step(step, self.begin_step, self.end_step, self.frequency), sparsity

    def get_config(self):
        return {"class_name": type(self).__name__,
                "config": {"initial_sparsity": self.initial_sparsity, "final_sparsity": self.final_sparsity,
                           "power": self.power, "begin_step": self.begin_step, "end_step": self.end_step,
                           "frequency": self.frequency}}


BUILT_IN = {"ConstantSparsity": ConstantSparsity, "PolynomialDecay": PolynomialDecay}


def check(schedule):
    """Returns `schedule` if it can be called like a tfmot PruningSchedule, else raises ValueError."""
    if isinstance(schedule, type) or not callable(schedule):
        raise ValueError("pruning_schedule must be a PruningSchedule (onexn_tf.ConstantSparsity, "
                         "onexn_tf.PolynomialDecay, tfmot's, or an object called as schedule(step) -> "
                         f"(should_prune, sparsity)), got {schedule!r}")
    return schedule


def from_config(config, lookup):
    """A schedule from its tfmot-format config; `lookup(class_name)` finds classes other than the built-in ones
    (None if unknown). Configs of tfmot's ConstantSparsity / PolynomialDecay load as onexn's (same values)."""
    name = config["class_name"]
    cls = BUILT_IN.get(name) or lookup(name)
    if cls is None:
        raise ValueError(f"unknown pruning schedule {name!r}: register its class with Keras "
                         "(keras.saving.register_keras_serializable) or pass it in custom_objects")
    return cls.from_config(config["config"])
