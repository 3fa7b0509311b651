"""Gradients of a Keras 3 layer on the backend in use (JAX or TensorFlow), eager or jit, and
the kernel-gradient cases that both the JAX tests (against the oracle) and the TensorFlow
backend's (tests/test_keras3_tf_backend.py, against larq) run."""

from __future__ import annotations

import keras
import numpy as np
import pytest

# Every rule, two alphas, and betas below, near and beyond 1 / alpha (as alpha * beta), eager
# and jit: stack these on a test taking `variant, alpha, beta_times_alpha, jit`.
KERNEL_GRADIENT_CASES = [
    pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"]),
    pytest.mark.parametrize("variant", ["bounded", "paper", "official"]),
    pytest.mark.parametrize("alpha", [0.01, 0.2]),
    pytest.mark.parametrize("beta_times_alpha", [0.0, 0.3, 0.97, 1.5]),
]


def kernel_gradient_cases(test):
    """`test` parametrized over `KERNEL_GRADIENT_CASES`."""
    for mark in KERNEL_GRADIENT_CASES:
        test = mark(test)
    return test


def kernel_case(rng: np.random.Generator, alpha: float, beta: float):
    """Inputs `x` (8 x 6), output weights `r` (8 x 5) and a latent kernel (6 x 5) with a zero
    and a weight on the zone boundary `1 - alpha * beta`."""
    x = rng.normal(size=(8, 6)).astype(np.float32)
    r = rng.normal(size=(8, 5)).astype(np.float32)
    theta = rng.uniform(-1.5, 1.5, size=(6, 5)).astype(np.float32)
    theta[0, 0] = 0.0
    theta[1, 1] = 1.0 - alpha * beta
    return x, r, theta


def gradients(layer, x, r, jit: bool, wrt: str = "kernel"):
    """The gradient of `sum(layer(x) * r)` with respect to the layer's kernel (`wrt="kernel"`) or
    to `x` (`wrt="input"`), as NumPy, computed eagerly or in a jit-compiled function. On
    TensorFlow the layer may be a tf-keras (larq) one too."""
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
            kernel = layer.kernel
            kernel = kernel.value if isinstance(kernel, keras.Variable) else kernel
            return tape.gradient(loss, kernel if wrt == "kernel" else inputs)

        step = tf.function(step, jit_compile=True) if jit else step
        return step(tf.constant(x)).numpy()
    raise NotImplementedError(f"no gradient helper for the {backend} backend")
