"""Shared test setup. adaste_tf is imported first: it selects legacy Keras before TensorFlow."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import adaste_tf  # noqa: E402,F401

import larq as lq  # noqa: E402
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


# --- shared test layers and tiny models (import them: `from conftest import ...`) ----------------


class PyFunctionLayer(tf.keras.layers.Layer):
    """A layer TFLite cannot express: its work happens in Python (`tf.py_function`)."""

    def call(self, inputs):
        outputs = tf.py_function(lambda t: t * 2.0, [inputs], tf.float32)
        outputs.set_shape(inputs.shape)
        return outputs


class SubclassedNet(tf.keras.Model):
    """A subclassed model named "subclassed": one AdaSTE dense layer, no config."""

    def __init__(self, units: int = 4):
        super().__init__(name="subclassed")
        self.hidden = lq.layers.QuantDense(units, kernel_quantizer="adaste", use_bias=False)

    def call(self, inputs):
        return self.hidden(inputs)


def tiny_model(quantizer="adaste", *, features: int = 4, units: int = 2) -> tf.keras.Model:
    """`features` inputs -> one larq dense layer of `units` with `quantizer` on its kernel."""
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((features,)),
            lq.layers.QuantDense(units, kernel_quantizer=quantizer),
        ]
    )
