"""Tests of adaste_tf.keras3, run by .ci/keras3.sh in a virtualenv of their own (keras 3, JAX on
CPU, NumPy 2; no TensorFlow, no larq), on the JAX backend.

Collected only where JAX is installed: the main suite's environment (tf-keras and larq, no JAX)
skips this directory and checks the Keras 3 path on the TensorFlow backend against the real
larq quantizer instead (tests/test_keras3_tf_backend.py). Run here with
`--confcutdir=tests/keras3`, so that tests/conftest.py (which imports TensorFlow) is not loaded.
"""

import importlib.util
import os

if importlib.util.find_spec("jax") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    os.environ.setdefault("KERAS_BACKEND", "jax")

    import keras
    import numpy as np
    import pytest

    def pytest_configure(config):
        # Gradients are taken without a RelaxationScheduler on purpose in most tests here; the
        # warning itself is tested with pytest.warns, which sees it whatever the filters.
        config.addinivalue_line(
            "filterwarnings", "ignore:AdaSTE.*trains a weight with no adaste_tf:UserWarning"
        )

    @pytest.fixture(autouse=True)
    def _fresh_keras_session():
        """Each test starts with a clean Keras state and fixed seeds."""
        keras.backend.clear_session()
        keras.utils.set_random_seed(0)
        yield

    @pytest.fixture
    def rng():
        return np.random.default_rng(0)
