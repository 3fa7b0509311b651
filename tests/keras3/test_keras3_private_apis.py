"""The private Keras 3 behaviour adaste_tf.keras3 relies on, one test each (as
tests/test_private_apis.py does for the larq path): after a Keras upgrade a failure here says
what changed and which code depends on it."""

from adaste_tf.keras3 import QuantDense, SteSign

import keras
import numpy as np
import pytest


def test_flatten_layers_walks_into_the_quantizers_a_layer_holds():
    # adaste_tf.keras3.callbacks.find_adaste_quantizers and quantizer_names walk
    # `Layer._flatten_layers(include_self=True, recursive=True)` to find the quantizers that
    # QuantDense / QuantConv2D hold as attributes.
    inner = keras.Sequential([QuantDense(2, kernel_quantizer="adaste", name="fc")])
    model = keras.Sequential([keras.Input((3,)), inner])
    found = list(model._flatten_layers(include_self=True, recursive=True))
    names = [type(layer).__name__ for layer in found]
    assert names[0] == "Sequential" and "AdaSTE" in names, (
        f"Layer._flatten_layers no longer reaches a layer's quantizers ({names}): fix "
        f"adaste_tf/keras3/callbacks.py (find_adaste_quantizers, quantizer_names)."
    )


def test_convert_input_args_off_keeps_the_inputs_dtype():
    # adaste_tf.keras3.quantizers._Quantizer sets `_convert_input_args = False` so that a
    # quantizer made under one dtype policy passes a float16 or bfloat16 kernel through in its
    # own dtype (the rules cast what they compute).
    quantizer = SteSign(dtype="float32")
    quantizer._convert_input_args = True
    x = keras.ops.cast(np.ones((2,)), "float16")
    assert keras.backend.standardize_dtype(quantizer(x).dtype) == "float32", (
        "Keras no longer casts a layer's inputs to its dtype: this test needs a new control"
    )
    quantizer._convert_input_args = False
    assert keras.backend.standardize_dtype(quantizer(x).dtype) == "float16", (
        "Layer._convert_input_args = False no longer keeps the input's dtype: fix "
        "adaste_tf/keras3/quantizers.py (_Quantizer.__init__)."
    )


def test_reading_callback_model_syncs_the_jax_state_into_the_variables():
    # adaste_tf.keras3.RelaxationScheduler assigns beta between steps of an epoch; on JAX that
    # reaches the next step only because `jax_state_sync()` writes the epoch's state back and
    # makes the next step read the variables again. The test of the behaviour itself is
    # tests/keras3/test_keras3_callbacks.py::test_batch_mode_steps_read_the_beta_set_before_them;
    # here: the method is there.
    if keras.backend.backend() != "jax":
        pytest.skip("a JAX trainer's method")
    model = keras.Sequential([keras.Input((3,)), QuantDense(2, kernel_quantizer="adaste")])
    assert callable(getattr(model, "jax_state_sync", None)), (
        "Keras's JAX trainer has no jax_state_sync(): fix "
        "adaste_tf/keras3/callbacks.py (RelaxationScheduler._assign)."
    )
