"""AdaSTE keeps learning where beta is large: the regression test for the collapse of the
paper's rule (docs/method.md, section 4), on real Fashion-MNIST."""

from pathlib import Path

from adaste_tf import data, schedules
from adaste_tf.callbacks import RelaxationScheduler
from adaste_tf.quantizers import AdaSTE
from adaste_tf.zoo import models

import numpy as np
import pytest
import tensorflow as tf

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
TRAIN, EPOCHS = 6000, 3


@pytest.fixture(scope="module")
def subset():
    if not (FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed (make test installs it)")
    x, y = data.load_arrays("fashion_mnist", "train", data_dir=FASHION_MNIST)
    x = x.astype(np.float32) / 255.0
    return (x[:TRAIN], y[:TRAIN]), (x[-2000:], y[-2000:])


def _accuracy(subset, kernel_quantizer, beta=None) -> float:
    (x, y), (x_val, y_val) = subset
    tf.keras.utils.set_random_seed(0)
    model = models.mlp(
        (28, 28),
        10,
        hidden=(256, 256),
        kernel_quantizer=kernel_quantizer,
        kernel_constraint=None if beta is not None else "weight_clip",
    )
    model.compile(
        tf.keras.optimizers.Adam(1e-3),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=True,
    )
    callbacks = [] if beta is None else [RelaxationScheduler(schedules.Constant(beta))]
    model.fit(x, y, batch_size=128, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    return model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]


@pytest.fixture(scope="module")
def ste_accuracy(subset):
    return _accuracy(subset, "ste_sign")


@pytest.mark.slow
@pytest.mark.parametrize("beta", [3.0, 100.0])
def test_default_quantizer_learns_at_large_beta(subset, ste_accuracy, beta):
    accuracy = _accuracy(subset, AdaSTE(), beta)
    assert accuracy >= ste_accuracy - 0.03, (accuracy, ste_accuracy)


@pytest.mark.slow
def test_the_setting_detects_the_collapse_of_the_paper_rule(subset, ste_accuracy):
    # The same run with the paper's unbounded rule must fall well behind: otherwise the test
    # above could not see the collapse come back.
    accuracy = _accuracy(subset, AdaSTE(variant="paper"), 30.0)
    assert accuracy < ste_accuracy - 0.08, (accuracy, ste_accuracy)
