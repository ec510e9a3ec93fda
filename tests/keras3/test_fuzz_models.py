"""The Keras 3 cases of the fixed fuzz seeds (tests/fuzz_models.py), run in this Keras 3 process: each model is
built with ``import keras`` and its delegate outputs must equal the stock runtime's. tests/test_fuzz_models.py
runs the tf_keras cases and checks the runner itself; this suite's conftest fails the session if a case loaded
tf_keras or tfmot."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/, for fuzz_models
import pytest  # noqa: E402

import fuzz_models  # noqa: E402

KERAS3_SEEDS = fuzz_models.fixed_seeds("keras3")


def test_keras3_cases_run_in_this_process():
    assert KERAS3_SEEDS and fuzz_models.process_keras() == "keras3"
    assert "import keras\n" in fuzz_models.script(fuzz_models.generate(KERAS3_SEEDS[0]))


@pytest.mark.parametrize("seed", KERAS3_SEEDS)
def test_delegate_matches_stock(seed):
    fuzz_models.check_seed(seed)
