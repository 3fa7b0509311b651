"""The latent-weight initializer of the AdaSTE paper's official code."""

from __future__ import annotations

from adaste_tf import validation
from adaste_tf.registration import register

import tensorflow as tf

__all__ = ["RandomSign"]


@register("random_sign", "RandomSign")
class RandomSign(tf.keras.initializers.Initializer):
    r"""Latent weights \\(\theta = m \cdot s\\), with a random sign \\(s \in \{-1, +1\}\\).

    The official AdaSTE code starts every latent weight at +-10 (`lamda_init=10`). That suits its
    own optimizer, which multiplies the gradient by the training-set size twice; with Adam at
    lr 1e-3 a weight moves about 1e-3 per step, so flipping one from 10 takes ~10^4 steps and a
    network can stay near chance for many epochs (docs/usage.md, "Latent initialization"). For Adam,
    a Glorot-scale start (`magnitude` ~ 0.05, or Keras's default initializer) trains.

    Examples:
        >>> RandomSign(magnitude=10.0, seed=1)((2, 3))  # seeded: the same signs at every call
        <tf.Tensor: shape=(2, 3), dtype=float32, numpy=
        array([[ 10., -10.,  10.],
               [-10., -10., -10.]], dtype=float32)>
        >>> import larq as lq
        >>> layer = lq.layers.QuantDense(64, kernel_quantizer="adaste",
        ...                              kernel_initializer=RandomSign(magnitude=10.0, seed=1))

    Args:
        magnitude: |theta| of every weight, finite and > 0.
        seed: an int for the same values at every call, or None for fresh random signs.
    """

    def __init__(self, magnitude: float = 10.0, seed: int | None = None):
        owner = type(self).__name__
        self.magnitude = validation.real(
            "magnitude", magnitude, minimum=0.0, strict=True, owner=owner
        )
        self.seed = None if seed is None else validation.integer("seed", seed, owner=owner)

    def __call__(self, shape, dtype=None, **kwargs):
        dtype = tf.as_dtype(dtype or tf.keras.backend.floatx())
        if self.seed is None:
            uniform = tf.random.uniform(shape)
        else:
            uniform = tf.random.stateless_uniform(shape, seed=(self.seed, 0))
        signs = tf.where(uniform < 0.5, -1.0, 1.0)
        return tf.cast(self.magnitude * signs, dtype)

    def get_config(self):
        return {"magnitude": self.magnitude, "seed": self.seed}
