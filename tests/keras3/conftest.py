"""The Keras 3 suite runs in a process of its own (scripts/test.sh: ``python -m pytest tests/keras3``), set up
as a Keras 3 user's program: TF_USE_LEGACY_KERAS unset, ``import keras`` and ``tf.keras`` are Keras 3, and
tf_keras and tfmot are never imported (checked when the session ends). tf_keras runs, where a test compares
the flavours, happen in subprocesses.

tests/conftest.py, loaded first for everything under tests/, sets TF_USE_LEGACY_KERAS=1 for the tf_keras suite
and imports nothing that reads it; the variable is removed again here, before TensorFlow loads.
"""

import os
import sys

import pytest

if any(name in sys.modules for name in ("tensorflow", "keras", "tf_keras")):
    pytest.exit("tests/keras3 is the Keras 3 suite and runs in its own process: python -m pytest tests/keras3",
                returncode=4)
os.environ.pop("TF_USE_LEGACY_KERAS", None)

NEVER_IMPORTED = ("tf_keras", "tensorflow_model_optimization")


def pytest_sessionfinish(session, exitstatus):
    loaded = [name for name in NEVER_IMPORTED if name in sys.modules]
    if loaded:
        print(f"\ntests/keras3: {loaded} were imported in the Keras 3 process; onexn_tf must not load them "
              "for Keras 3 models", file=sys.stderr)
        session.exitstatus = 1
