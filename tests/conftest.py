"""Shared test setup. adaste_tf is imported first: it selects legacy Keras before TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adaste_tf  # noqa: E402,F401
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_keras_session():
    """Each test starts with a clean Keras graph state and fixed seeds."""
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    yield


@pytest.fixture(params=["eager", "function", "jit"])
def execution_mode(request):
    """The three ways users run a step: eager, `tf.function`, and `tf.function(jit_compile)`."""
    return request.param


def run_in_mode(fn, mode):
    """Wrap `fn` for the given execution mode."""
    if mode == "eager":
        return fn
    return tf.function(fn, jit_compile=(mode == "jit"))


@pytest.fixture
def rng():
    return np.random.default_rng(0)
