"""The paper's latent initializer: values, seeds, serialization inside a saved model."""

from adaste_tf.initializers import RandomSign

import larq as lq
import numpy as np
import pytest
import tensorflow as tf


def test_values_are_plus_minus_magnitude_with_both_signs():
    values = RandomSign(magnitude=10.0)((64, 64)).numpy()
    assert set(np.unique(values)) == {-10.0, 10.0}
    assert 0.4 < np.mean(values > 0) < 0.6


def test_seed_gives_the_same_values_and_dtype_is_respected():
    a = RandomSign(2.0, seed=3)((10, 10), dtype=tf.float16)
    b = RandomSign(2.0, seed=3)((10, 10), dtype=tf.float16)
    assert a.dtype == tf.float16
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    c = RandomSign(2.0, seed=4)((10, 10))
    assert not np.array_equal(a.numpy().astype(np.float32), c.numpy())


def test_by_name_and_in_a_saved_model(tmp_path):
    assert isinstance(tf.keras.initializers.get("random_sign"), RandomSign)
    model = tf.keras.Sequential(
        [
            tf.keras.layers.Flatten(input_shape=(4,)),
            lq.layers.QuantDense(
                3, kernel_quantizer="adaste", kernel_initializer=RandomSign(0.5, seed=1)
            ),
        ]
    )
    model.save(tmp_path / "m.keras")
    loaded = tf.keras.models.load_model(tmp_path / "m.keras")
    init = loaded.layers[1].kernel_initializer
    assert isinstance(init, RandomSign) and init.get_config() == {"magnitude": 0.5, "seed": 1}
    np.testing.assert_array_equal(
        loaded.layers[1].kernel.latent_variable.numpy(),
        model.layers[1].kernel.latent_variable.numpy(),
    )


@pytest.mark.parametrize(
    "kwargs,parameter",
    [
        ({"magnitude": 0.0}, "magnitude"),
        ({"magnitude": -1.0}, "magnitude"),
        ({"magnitude": float("nan")}, "magnitude"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, parameter):
    with pytest.raises((ValueError, TypeError), match=f"`{parameter}`"):
        RandomSign(**kwargs)
