"""The optimizer of the official AdaSTE code, as a Keras optimizer (for `--recipe official`)."""

from __future__ import annotations

import tensorflow as tf

from adaste_tf import validation
from adaste_tf.registration import register

__all__ = ["OfficialMomentum"]


@register()
class OfficialMomentum(tf.keras.optimizers.Optimizer):
    r"""First-moment momentum with bias correction, as in `FenBPOpt.step` (intellhave/AdaSTE).

    \\[ m_t = \mu\, m_{t-1} + (1 - \mu)\,(s\, g_t + \lambda\, \theta_{t-1}), \qquad
        \theta_t = \theta_{t-1} - \eta_t\, m_t / (1 - \mu^t) \\]

    with gradient scale \\(s\\) (the official code multiplies the gradient by N twice, N = 10 x
    the training-set size, so \\(s = N^2\\)) and decay \\(\lambda\\) (the official
    `reweight = 1`). It is Adam without the second moment. Apply it with the AdaSTE quantizer's
    `variant="official"` to reproduce the official training step.

    Example:
        >>> optimizer = OfficialMomentum(learning_rate=0.1, decay=0.0)
        >>> theta = tf.Variable([1.0, -1.0])
        >>> _ = optimizer.apply_gradients([(tf.constant([0.5, 0.5]), theta)])
        >>> theta.numpy()  # first step: m / (1 - mu) = g, so theta - lr * g
        array([ 0.95, -1.05], dtype=float32)

        As `--recipe official` makes it (Fashion-MNIST, N = 10 x 60000):

        >>> official = OfficialMomentum(
        ...     learning_rate=tf.keras.optimizers.schedules.CosineDecay(3e-4, decay_steps=10_000),
        ...     gradient_scale=(10 * 60_000) ** 2)

    Args:
        learning_rate: a float or a Keras learning-rate schedule.
        momentum: \\(\mu\\), in [0, 1).
        gradient_scale: \\(s\\), finite and > 0.
        decay: \\(\lambda\\), finite and >= 0.
    """

    def __init__(self, learning_rate=3e-4, momentum: float = 0.9, gradient_scale: float = 1.0,
                 decay: float = 1.0, name: str = "OfficialMomentum", **kwargs):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum = validation.real("momentum", momentum, minimum=0.0, maximum=0.999999,
                                        owner=owner)
        self.gradient_scale = validation.real("gradient_scale", gradient_scale, minimum=0.0,
                                              strict=True, owner=owner)
        self.decay = validation.real("decay", decay, minimum=0.0, owner=owner)

    def build(self, var_list):
        super().build(var_list)
        if getattr(self, "_built", False):
            return
        self.moments = [self.add_variable_from_reference(v, "m") for v in var_list]
        self._built = True

    def update_step(self, gradient, variable):
        if isinstance(gradient, tf.IndexedSlices):
            gradient = tf.convert_to_tensor(gradient)
        dtype = variable.dtype
        m = self.moments[self._index_dict[self._var_key(variable)]]
        mu = tf.cast(self.momentum, dtype)
        step = tf.cast(self.iterations + 1, dtype)
        m.assign(mu * m + (1.0 - mu) * (tf.cast(self.gradient_scale, dtype) * gradient
                                          + tf.cast(self.decay, dtype) * variable))
        lr = tf.cast(self.learning_rate, dtype)
        variable.assign_sub(lr * m / (1.0 - tf.pow(mu, step)))

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate": self._serialize_hyperparameter(self._learning_rate),
            "momentum": self.momentum,
            "gradient_scale": self.gradient_scale,
            "decay": self.decay,
        }
