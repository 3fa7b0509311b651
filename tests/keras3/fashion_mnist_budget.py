"""The Fashion-MNIST budget on which the Keras 3 path must train as the larq path does.

An MLP 784-512-10 with binary kernels (AdaSTE's defaults, `RelaxationScheduler()`: beta over
its whole path, 0.01 to 1/alpha = 100), Adam 1e-3, batch 100, 5 epochs of the first 20000
training images, tested on the 10000 test images; the mean test accuracy of 3 runs (`SEEDS`).
In each run both paths start from the same kernels (`initial_kernels`) and see the batches in
the same order (`arrays`), so they differ only by the backends' arithmetic; but a binary net
amplifies that, and single runs differed by up to 0.96 points (JAX against larq, in trials
here), so the budget compares means of 3 runs (0.8181 larq, 0.8220 JAX, seeds 0-2). Plain
NumPy and the repository: the larq path's test (tests/test_keras3_tf_backend.py) and the
Keras 3 one (tests/keras3/test_keras3_training.py) both use it.
"""

from __future__ import annotations

from adaste_tf.keras3 import data

import numpy as np

EPOCHS = 5
BATCH_SIZE = 100
TRAIN_IMAGES = 20000
HIDDEN = 512
LEARNING_RATE = 1e-3
SEEDS = (0, 1, 2)

# The larq path's mean test accuracy on this budget (tests/test_keras3_tf_backend.py measures it
# again and checks it against this value), for the Keras 3 venv, which has no larq to run it.
LARQ_PATH_ACCURACY = 0.8181

# What "trains as the larq path does" allows.
TOLERANCE = 0.01


def arrays(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Training images and labels (shuffled by `seed`, fit with `shuffle=False`), test images
    and labels; images as float32 in [0, 1]."""
    x, y = data.load_arrays("train")
    order = np.random.default_rng(seed).permutation(TRAIN_IMAGES)
    xt, yt = data.load_arrays("test")
    return (
        (x[order] / 255.0).astype(np.float32),
        y[order].astype(np.int32),
        (xt / 255.0).astype(np.float32),
        yt.astype(np.int32),
    )


def initial_kernels(seed: int) -> list[np.ndarray]:
    """The two kernels, Glorot-uniform as Keras draws them, from `seed`."""
    rng = np.random.default_rng(1000 + seed)
    kernels = []
    for fan_in, fan_out in ((784, HIDDEN), (HIDDEN, 10)):
        limit = np.sqrt(6.0 / (fan_in + fan_out))
        kernels.append(rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32))
    return kernels


def mean_accuracy(keras_module, quant_dense, make_scheduler) -> tuple[float, list[float]]:
    """The mean test accuracy of `train_and_test` over `SEEDS`, and the betas of the last run."""
    runs = [train_and_test(keras_module, quant_dense, make_scheduler(), s) for s in SEEDS]
    return float(np.mean([accuracy for accuracy, _ in runs])), runs[-1][1]


def train_and_test(keras_module, quant_dense, scheduler, seed: int) -> tuple[float, list[float]]:
    """Build the MLP with `keras_module` (tf.keras or Keras 3) and `quant_dense` (larq's or
    adaste_tf.keras3's), train it with `scheduler` on the budget's run `seed`, jit-compiled;
    return the test accuracy and the betas in History."""
    x, y, xt, yt = arrays(seed)
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
    for layer, kernel in zip(dense, initial_kernels(seed), strict=True):
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
