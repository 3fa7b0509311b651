"""The optimizer of the official AdaSTE code, as a Keras optimizer (for `--recipe official`),
and the guard that refuses larq's `Bop` on the weights AdaSTE quantizes."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from adaste_tf import validation
from adaste_tf.quantizers import WEIGHT_SLOTS, AdaSTE
from adaste_tf.registration import register

import larq as lq
import tensorflow as tf

__all__ = ["OfficialMomentum"]

# The check that refuses Bop on AdaSTE-quantized weights wraps `Bop._create_slots`. Every route by
# which Bop trains a variable runs it first, with exactly the variables Bop will train and before
# any of them is changed: larq's `CaseOptimizer.apply_gradients` calls it for each of its
# optimizers before applying any of them, and `Optimizer.apply_gradients` (plain Bop) before its
# updates. So it holds in `fit` and in custom loops, with or without `RelaxationScheduler`, for
# every quantizer slot, and under `tf.function` it raises while the step is traced. The
# alternatives were worse: the quantizer sees its kernel but not the optimizer (finding the model
# from the call stack is fragile), and Keras has no compile or train-begin hook that does not
# need a callback in `fit(callbacks=...)`. `_create_slots` is the method a legacy Keras optimizer
# defines for its state (Bop defines it); tests/test_private_apis.py pins that larq calls it first.
_GUARDED = "_adaste_tf_refuses_adaste_weights"

_BY_WEIGHT = {weight: slot for slot, weight in WEIGHT_SLOTS.items()}


def _bop_refusal(places: Iterable[str]) -> str:
    """The error message for Bop training the weights at `places` ("layer 'fc1'
    (`kernel_quantizer`)"), which AdaSTE quantizes: why, and what to use instead."""
    return (
        f"larq's Bop optimizer would train weights that AdaSTE quantizes: {', '.join(places)}. "
        f"Bop flips binary weights without latent weights, so AdaSTE's backward has nothing to "
        f"act on and training does not learn. Fix: train AdaSTE-quantized weights with a "
        f"latent-weight optimizer (Adam, SGD) and give Bop only larq's own binary weights, e.g. "
        f"lq.optimizers.CaseOptimizer((lambda v: lq.optimizers.Bop.is_binary_variable(v) and "
        f"not isinstance(getattr(v, 'quantizer', None), adaste_tf.quantizers.AdaSTE), "
        f"lq.optimizers.Bop()), default_optimizer=tf.keras.optimizers.legacy.Adam()), or use "
        f"a larq quantizer such as ste_sign with Bop."
    )


def _place(variable: tf.Variable) -> str:
    """Where a weight is, from its name (`fc1/kernel:0` -> layer 'fc1' (`kernel_quantizer`))."""
    *scope, weight = variable.name.split(":")[0].split("/")
    slot = _BY_WEIGHT.get(weight)
    if not scope or slot is None:
        return f"the weight {variable.name!r}"
    return f"layer {scope[-1]!r} (`{slot}`)"


def _refusing_adaste_weights(create_slots):
    @functools.wraps(create_slots)
    def guarded(self, var_list, *args, **kwargs):
        places = [_place(v) for v in var_list if isinstance(getattr(v, "quantizer", None), AdaSTE)]
        if places:
            raise ValueError(_bop_refusal(places))
        return create_slots(self, var_list, *args, **kwargs)

    setattr(guarded, _GUARDED, True)
    return guarded


def _install_bop_guard() -> None:
    """Make larq's `Bop` refuse, before its first update, any weight an AdaSTE quantizes.

    `import adaste_tf` runs it; running it again changes nothing.

    Examples:
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste",
        ...                                                   name="fc1")])
        >>> model.build((None, 3))
        >>> kernel = model.layers[0].kernel
        >>> try:
        ...     lq.optimizers.Bop().apply_gradients([(tf.ones((3, 2)), kernel)])
        ... except ValueError as error:
        ...     print(str(error).split(": ")[1].split(". ")[0])
        layer 'fc1' (`kernel_quantizer`)
    """
    create_slots = lq.optimizers.Bop._create_slots
    if not getattr(create_slots, _GUARDED, False):
        lq.optimizers.Bop._create_slots = _refusing_adaste_weights(create_slots)


@register()
class OfficialMomentum(tf.keras.optimizers.Optimizer):
    r"""First-moment momentum with bias correction, as in `FenBPOpt.step` (intellhave/AdaSTE).

    \\[ m_t = \mu\, m_{t-1} + (1 - \mu)\,(s\, g_t + \lambda\, \theta_{t-1}), \qquad
        \theta_t = \theta_{t-1} - \eta_t\, m_t / (1 - \mu^t) \\]

    with gradient scale \\(s\\) (the official code multiplies the gradient by N twice, N = 10 x
    the training-set size, so \\(s = N^2\\)) and decay \\(\lambda\\) (the official
    `reweight = 1`). It is Adam without the second moment. Apply it with the AdaSTE quantizer's
    `variant="official"` to reproduce the official training step.

    Examples:
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

    def __init__(
        self,
        learning_rate: float | tf.keras.optimizers.schedules.LearningRateSchedule = 3e-4,
        momentum: float = 0.9,
        gradient_scale: float = 1.0,
        decay: float = 1.0,
        name: str = "OfficialMomentum",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        owner = type(self).__name__
        self._learning_rate = self._build_learning_rate(learning_rate)
        self.momentum = validation.real(
            "momentum", momentum, minimum=0.0, maximum=0.999999, owner=owner
        )
        self.gradient_scale = validation.real(
            "gradient_scale", gradient_scale, minimum=0.0, strict=True, owner=owner
        )
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
        m.assign(
            mu * m
            + (1.0 - mu)
            * (
                tf.cast(self.gradient_scale, dtype) * gradient
                + tf.cast(self.decay, dtype) * variable
            )
        )
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
