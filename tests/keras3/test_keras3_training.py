"""adaste_tf.keras3 end to end: QuantConv2D against the oracle, a conv net with binary
activations under `jit_compile`, `.keras` save and load with beta, and a Fashion-MNIST MLP
that trains as the larq path does on the same budget."""

from adaste_tf.keras3 import AdaSTE, QuantConv2D, QuantDense, RelaxationScheduler
from adaste_tf.keras3.callbacks import find_adaste_quantizers

import keras
import numpy as np
import pytest

import oracle
from keras3 import fashion_mnist_budget as budget
from keras3.keras3_helpers import gradients


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("variant", ["bounded", "official"])
def test_quantconv2d_kernel_gradient_equals_the_oracle(variant, jit, rng):
    x = rng.normal(size=(2, 6, 6, 3)).astype(np.float32)
    r = rng.normal(size=(2, 4, 4, 5)).astype(np.float32)
    layer = QuantConv2D(5, 3, kernel_quantizer=AdaSTE(variant=variant, beta=0.3), use_bias=False)
    layer.build(x.shape)
    theta = rng.uniform(-1.2, 1.2, size=(3, 3, 3, 5)).astype(np.float32)
    layer.kernel.assign(theta)
    got = gradients(layer, x, r, jit)
    # dL/dW at the binary weights: the same convolution with the kernel's gradient taken by
    # Keras through a float layer holding sign(theta).
    plain = keras.layers.Conv2D(5, 3, use_bias=False)
    plain.build(x.shape)
    plain.kernel.assign(np.where(theta >= 0, 1.0, -1.0).astype(np.float32))
    dy = gradients(plain, x, r, jit=False)
    max_scale = 0.5 if variant == "official" else 1.0
    want = dy * oracle.scale(theta, dy, 0.01, np.float32(0.3), max_scale, variant)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_pad_values_pads_same_with_the_value(rng):
    x = rng.normal(size=(1, 5, 6, 2)).astype(np.float32)
    layer = QuantConv2D(3, 3, strides=2, padding="same", pad_values=1.0, use_bias=False,
                        kernel_quantizer="ste_sign")  # fmt: skip
    got = keras.ops.convert_to_numpy(layer(x))
    padded = np.pad(x, [(0, 0), (1, 1), (0, 1), (0, 0)], constant_values=1.0)  # as "same" pads
    valid = keras.layers.Conv2D(3, 3, strides=2, use_bias=False)
    valid.build(padded.shape)
    valid.kernel.assign(np.where(layer.kernel.numpy() >= 0, 1.0, -1.0))
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(valid(padded)), rtol=1e-6)
    assert got.shape == (1, 3, 3, 3)


def _conv_net():
    # Binary weights and binary activations (the input quantizers) after the first layer.
    return keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            QuantConv2D(8, 3, padding="same", kernel_quantizer="adaste", use_bias=False),
            keras.layers.BatchNormalization(),
            QuantConv2D(
                8,
                3,
                padding="same",
                pad_values=1.0,
                input_quantizer="adaste",
                kernel_quantizer="adaste",
                use_bias=False,
            ),  # fmt: skip
            keras.layers.BatchNormalization(),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            QuantDense(2, input_quantizer="ste_sign", kernel_quantizer=AdaSTE(variant="official")),
        ]
    )


def _stripes(rng, n=256):
    # Class 0: horizontal stripes, class 1: vertical ones, with noise: learnable by a conv net.
    y = rng.integers(0, 2, n)
    base = np.where(np.arange(12) % 4 < 2, 1.0, -1.0)
    images = np.where(y[:, None, None] == 0, base[None, :, None], base[None, None, :])
    x = images + rng.normal(scale=0.8, size=(n, 12, 12))
    return x[..., None].astype(np.float32), y.astype(np.int32)


def test_a_conv_net_with_binary_activations_trains_under_jit(rng):
    x, y = _stripes(rng)
    model = _conv_net()
    model.compile(keras.optimizers.Adam(1e-2),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"], jit_compile=True)  # fmt: skip
    before = model.evaluate(x, y, verbose=0)[1]
    history = model.fit(x, y, epochs=6, batch_size=32, verbose=0,
                        callbacks=[RelaxationScheduler(update_freq="batch")])  # fmt: skip
    assert history.history["beta"][-1] == 100.0  # 1 / alpha
    assert len(find_adaste_quantizers(model)) == 4  # an input quantizer too
    assert history.history["accuracy"][-1] > 0.9 > before + 0.2


def test_a_keras_file_round_trips_with_beta(tmp_path, rng):
    shared = AdaSTE(alpha=0.02, variant="paper")
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            QuantConv2D(
                4,
                3,
                kernel_quantizer=shared,
                input_quantizer="ste_sign",
                pad_values=1.0,
                padding="same",
            ),  # fmt: skip
            keras.layers.Flatten(),
            QuantDense(3, kernel_quantizer=shared),
            QuantDense(2, kernel_quantizer=AdaSTE(beta=0.5), input_quantizer="adaste"),
        ]
    )
    model.compile("adam", "mse", jit_compile=True)
    x = rng.normal(size=(8, 12, 12, 1)).astype(np.float32)
    model.fit(x, np.zeros((8, 2)), epochs=2, verbose=0, callbacks=[RelaxationScheduler()])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects: everything is registered
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    for mine, theirs in zip(model.layers, loaded.layers, strict=True):
        assert theirs.get_config() == mine.get_config()
    betas = [q.beta for q in find_adaste_quantizers(model)]
    assert betas == [50.0, 100.0, 100.0]  # the path's end for each alpha; "adaste" input too
    # A shared quantizer is saved once; the copy loaded for its second layer keeps its config.
    assert [q.beta for q in find_adaste_quantizers(loaded)][:2] == [50.0, 50.0]
    assert loaded.layers[-1].kernel_quantizer.beta == 100.0


def test_a_fashion_mnist_mlp_trains_as_the_larq_path_does():
    keras.utils.set_random_seed(0)
    accuracy, betas = budget.mean_accuracy(keras, QuantDense, RelaxationScheduler)
    assert betas[-1] == 100.0  # beta reached 1 / alpha
    assert abs(accuracy - budget.LARQ_PATH_ACCURACY) <= budget.TOLERANCE, accuracy


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_a_mixed_precision_model_trains_with_beta_in_float32(policy, rng):
    keras.mixed_precision.set_global_policy(policy)
    try:
        model = keras.Sequential(
            [
                keras.Input((6,)),
                QuantDense(8, kernel_quantizer="adaste", input_quantizer="adaste"),
                QuantDense(3, kernel_quantizer=AdaSTE(variant="official")),
            ]
        )
        model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=True)  # fmt: skip
        before = model.layers[0].kernel.numpy().copy()
        x, y = rng.normal(size=(32, 6)), rng.integers(0, 3, 32)
        history = model.fit(x, y, epochs=2, verbose=0, callbacks=[RelaxationScheduler()])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    quantizer = model.layers[0].kernel_quantizer
    assert keras.backend.standardize_dtype(quantizer.beta_variable.dtype) == "float32"
    assert quantizer.beta == 100.0 and history.history["beta"][-1] == 100.0
    assert model.layers[0].kernel.dtype == "float32"  # the latent weights stay float32
    assert np.isfinite(history.history["loss"]).all()
    assert np.abs(model.layers[0].kernel.numpy() - before).max() > 0  # and they trained
