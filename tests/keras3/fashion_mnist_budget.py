"""The Fashion-MNIST budget on which the Keras 3 path must train as the larq path does.

An MLP 784-512-10 with binary kernels (AdaSTE's defaults, `RelaxationScheduler()`: beta over
its whole path, 0.01 to 1/alpha = 100), Adam 1e-3, batch 100, 5 epochs of the first 20000
training images, tested on the 10000 test images. Both paths start from the same kernels
(`initial_kernels`) and see the batches in the same order (`arrays`, shuffled once here), so
the accuracies differ only by the backends' arithmetic. Plain NumPy: the larq path's test
(tests/test_keras3_tf_backend.py) and the Keras 3 one (tests/keras3/test_keras3_training.py)
both use it.
"""

from __future__ import annotations

from adaste_tf.keras3 import data

import numpy as np

EPOCHS = 5
BATCH_SIZE = 100
TRAIN_IMAGES = 20000
HIDDEN = 512
LEARNING_RATE = 1e-3

# The larq path's test accuracy on this budget (tests/test_keras3_tf_backend.py measures it
# again and checks it against this value), for the Keras 3 venv, which has no larq to run it.
LARQ_PATH_ACCURACY = 0.8076

# What "trains as the larq path does" allows.
TOLERANCE = 0.01


def arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training images and labels (shuffled once, fit with `shuffle=False`), test images and
    labels; images as float32 in [0, 1]."""
    x, y = data.load_arrays("train")
    order = np.random.default_rng(0).permutation(TRAIN_IMAGES)
    xt, yt = data.load_arrays("test")
    return (
        (x[order] / 255.0).astype(np.float32),
        y[order].astype(np.int32),
        (xt / 255.0).astype(np.float32),
        yt.astype(np.int32),
    )


def initial_kernels() -> list[np.ndarray]:
    """The two kernels, Glorot-uniform as Keras draws them, from a fixed seed."""
    rng = np.random.default_rng(1)
    kernels = []
    for fan_in, fan_out in ((784, HIDDEN), (HIDDEN, 10)):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernels.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
    return kernels


def train_and_test(keras_module, quant_dense, scheduler) -> tuple[float, list[float]]:
    """Build the MLP with `keras_module` (tf.keras or Keras 3) and `quant_dense` (larq's or
    adaste_tf.keras3's), train it with `scheduler` on the budget, jit-compiled; return the test
    accuracy and the betas in History."""
    x, y, xt, yt = arrays()
    k = keras_module
    model = k.Sequential(
        [
            k.Input((28, 28)),
            k.layers.Flatten(),
            quant_dense(HIDDEN, kernel_quantizer="adaste", use_bias=False),
            k.layers.BatchNormalization(),
            k.layers.Activation("relu"),
            quant_dense(10, kernel_quantizer="adaste"),
        ]
    )
    dense = [layer for layer in model.layers if hasattr(layer, "kernel_quantizer")]
    for layer, kernel in zip(dense, initial_kernels(), strict=True):
        layer.kernel.assign(kernel)
    model.compile(
        k.optimizers.Adam(LEARNING_RATE),
        k.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,
    )
    history = model.fit(
        x, y, epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=False, verbose=0,
        callbacks=[scheduler],
    )  # fmt: skip
    accuracy = model.evaluate(xt, yt, batch_size=1000, verbose=0)[1]
    return float(accuracy), history.history["beta"]
