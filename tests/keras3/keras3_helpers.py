"""Gradients of a Keras 3 layer on the backend in use (JAX or TensorFlow), eager or jit."""

from __future__ import annotations

import keras
import numpy as np


def gradients(layer, x, r, jit: bool, wrt: str = "kernel"):
    """The gradient of `sum(layer(x) * r)` with respect to the layer's kernel (`wrt="kernel"`) or
    to `x` (`wrt="input"`), as NumPy, computed eagerly or in a jit-compiled function."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        kernel = layer.kernel
        state = [v.value for v in layer.non_trainable_variables]

        def loss(k, inputs):
            values = [k if v is kernel else v.value for v in layer.trainable_variables]
            y, _ = layer.stateless_call(values, state, inputs)
            return (y * r).sum()

        grad = jax.grad(loss, argnums=0 if wrt == "kernel" else 1)
        grad = jax.jit(grad) if jit else grad
        return np.asarray(grad(layer.kernel.value, keras.ops.convert_to_tensor(x)))
    if backend == "tensorflow":
        import tensorflow as tf

        def step(inputs):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                loss = tf.reduce_sum(layer(inputs) * r)
            return tape.gradient(loss, layer.kernel.value if wrt == "kernel" else inputs)

        step = tf.function(step, jit_compile=True) if jit else step
        return step(tf.constant(x)).numpy()
    raise NotImplementedError(f"no gradient helper for the {backend} backend")
