r"""The AdaSTE and ste_sign quantizers for Keras 3 (`adaste_tf.keras3.QuantDense` and
`QuantConv2D` take them, or their names "adaste" and "ste_sign").

Forward `sign` (0 maps to +1); the backward is a custom gradient through `keras.ops`
(`keras.ops.custom_gradient`: `jax.custom_gradient` on JAX, `tf.custom_gradient` on
TensorFlow) that computes AdaSTE's rules from `adaste_tf._rules`, the same code the larq path
runs (`adaste_tf.quantizers`).

Examples:
    >>> import keras
    >>> from adaste_tf.keras3 import QuantDense, quantizers
    >>> layer = QuantDense(4, kernel_quantizer="adaste")
    >>> type(layer.kernel_quantizer).__name__
    'AdaSTE'
    >>> layer = QuantDense(4, kernel_quantizer=quantizers.AdaSTE(beta=0.02, variant="official"))
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from adaste_tf import _quantizer_config, _rules, validation
from adaste_tf.keras3.ops import KERAS

import keras
from keras import ops as kops

__all__ = [
    "AdaSTE",
    "SteSign",
    "adaste_sign",
    "ste_sign",
    "get",
    "CONFIG_VERSION",
    "DEFAULT_MAX_SCALE",
    "VARIANTS",
    "PACKAGE",
]

VARIANTS = _rules.VARIANTS
DEFAULT_MAX_SCALE = _rules.DEFAULT_MAX_SCALE

# The config version `AdaSTE.get_config` writes: the larq path's (adaste_tf.quantizers), whose
# keys these are (both write them with `_quantizer_config`), so that a config moves between the
# two paths.
CONFIG_VERSION = _quantizer_config.CONFIG_VERSION

# The Keras 3 registration package, as the larq path's (`adaste_tf>AdaSTE`).
PACKAGE = "adaste_tf"

# Whether the warning of `AdaSTE._warn_if_unscheduled` was given in this process.
_warned_unscheduled = False


def _grad_of(args: tuple, upstream: Any) -> Any:
    """The upstream gradient, however the backend passes it to a `keras.ops.custom_gradient`
    function (positionally on JAX, `upstream=` on TensorFlow)."""
    return upstream if upstream is not None else args[0]


def _read(x: Any) -> Any:
    """`x` as a tensor: a variable is read. TensorFlow's `tf.custom_gradient` (the TensorFlow
    backend's) refuses, in eager mode, a function whose input is a variable it reads; JAX's
    unwraps Keras variables itself."""
    if keras.backend.backend() != "tensorflow":
        return x
    import tensorflow as tf

    return tf.convert_to_tensor(x.value if isinstance(x, keras.Variable) else x)


def ste_sign(x: Any, clip_value: float = 1.0) -> Any:
    """`sign(x)` forward, larq's `ste_sign` backward: `dy` where `|x| <= clip_value`, else 0.

    Examples:
        >>> x = keras.ops.convert_to_tensor([0.5, -2.0])
        >>> keras.ops.convert_to_numpy(ste_sign(x))
        array([ 1., -1.], dtype=float32)
    """

    @kops.custom_gradient
    def _call(x):
        def grad(*args, upstream=None):
            dy = _grad_of(args, upstream)
            return kops.where(kops.abs(x) <= clip_value, dy, kops.zeros_like(dy))

        return _rules.sign(KERAS, x), grad

    return _call(_read(x))


def adaste_sign(
    x: Any,
    beta: Any = 0.01,
    alpha: float = 0.01,
    max_scale: float = DEFAULT_MAX_SCALE,
    variant: str = "bounded",
    flip_reach: float = _rules.DEFAULT_FLIP_REACH,
    on_backward: Callable[[], None] | None = None,
) -> Any:
    """`sign(x)` forward, AdaSTE backward `scale(x, dy) * dy` (`adaste_tf.quantizers.adaste_sign`
    for a latent weight; an activation takes `ste_sign`).

    `beta` is read when the forward runs (a float, or a scalar tensor such as a variable's
    value, which a compiled step reads afresh at each call). `on_backward()` is called when the
    backward is built (traced, or run in eager mode).

    Examples:
        >>> x = keras.Variable([0.5, -2.0])
        >>> keras.ops.convert_to_numpy(adaste_sign(x, beta=0.0))
        array([ 1., -1.], dtype=float32)
    """
    validation.choice("variant", variant, VARIANTS, owner="adaste_sign")

    @kops.custom_gradient
    def _call(x):
        def grad(*args, upstream=None):
            dy = _grad_of(args, upstream)
            if on_backward is not None:
                on_backward()
            # The constants in the compute dtype, as the larq path passes them: a Python float
            # would be made float32 first, rounding it for float64.
            dtype = "float64" if KERAS.dtype(x) == "float64" else "float32"
            a, m, reach = (kops.convert_to_tensor(v, dtype) for v in (alpha, max_scale, flip_reach))
            return _rules.scaled_gradient(KERAS, x, dy, variant, a, beta, m, reach)

        return _rules.sign(KERAS, x), grad

    return _call(_read(x))


class _Quantizer(keras.layers.Layer):
    """A quantizer of this path: a Keras layer called on a kernel (`activation=False`) or on a
    layer's input (`activation=True`) by `QuantDense` and `QuantConv2D`. Inputs keep their dtype
    (no autocast to the quantizer's policy): the rules cast what they compute."""

    precision = 1

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False
        self.built = True

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package=PACKAGE)
class SteSign(_Quantizer):
    """larq's `ste_sign` for Keras 3: forward `sign`, backward `dy` where `|x| <= clip_value`.

    Examples:
        >>> keras.ops.convert_to_numpy(SteSign()(keras.ops.convert_to_tensor([0.0, -0.3])))
        array([ 1., -1.], dtype=float32)

    Args:
        clip_value: the straight-through window, finite and > 0.
    """

    def __init__(self, clip_value: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.clip_value = validation.real(
            "clip_value", clip_value, minimum=0.0, strict=True, owner=type(self).__name__
        )

    def call(self, inputs, activation: bool = False):
        return ste_sign(inputs, self.clip_value)

    def get_config(self):
        return {**super().get_config(), "clip_value": self.clip_value}


@keras.saving.register_keras_serializable(package=PACKAGE)
class AdaSTE(_Quantizer):
    r"""Binary quantizer whose backward is AdaSTE, for Keras 3 (JAX or TensorFlow backend).

    The same quantizer as the larq path's `adaste_tf.quantizers.AdaSTE`: the same rules
    (`"bounded"`, the default; `"paper"`; `"official"`), arguments, defaults, dtype handling and
    config keys; read that class for the method. Forward `sign` (0 maps to +1); backward
    \\(\partial L / \partial\theta = s(\theta, \mathrm{d}y)\, \mathrm{d}y\\) for a kernel,
    `ste_sign`'s for an activation (`input_quantizer`).

    beta lives in a non-trainable float32 variable, `beta_variable`, which
    `adaste_tf.keras3.RelaxationScheduler` assigns; a jit-compiled step reads it as an input, so
    changing it never recompiles. Unlike the larq path it is one of the layer's (and model's)
    non-trainable weights: on JAX a compiled step can only read state that the model passes
    in, so `count_params()` counts one more weight per quantizer than with `ste_sign`. A
    `.keras` file keeps its current value.

    Differences from the larq path: `metrics` accepts only None or an empty list (larq's flip
    ratio and the diagnostics are larq's machinery); `sync_replicas` is kept for the config:
    on JAX with `keras.distribution` the gradient the rule reads is the global one already, and
    TensorFlow's `tf.distribute` is not supported by this path (docs/keras3.md).

    As on the larq path, a quantizer that trains a kernel with no `RelaxationScheduler` driving
    its beta warns, once per process: its beta would never leave its initial value.

    Examples:
        >>> from adaste_tf.keras3 import QuantDense
        >>> quantizer = AdaSTE(alpha=0.01, beta=0.02)
        >>> layer = QuantDense(4, kernel_quantizer=quantizer)
        >>> tuple(layer(keras.ops.ones((1, 3))).shape)
        (1, 4)
        >>> quantizer.beta = 0.5          # the current beta; the config keeps the initial one
        >>> quantizer.beta, quantizer.get_config()["beta"]
        (0.5, 0.02)

    Args:
        alpha: well offset of the inner objective, finite and > 0.
        beta: initial relaxation weight, finite and >= 0.
        max_scale: cap on the inward (adaptive) scale, finite and > 0; `None`: 1 for
            `"bounded"` and `"paper"`, 0.5 for `"official"`.
        variant: `"bounded"`, `"paper"` or `"official"`.
        flip_reach: the perturbation bound of `"bounded"`, finite and >= 0.
        sync_replicas: True or False (see above).
        metrics: None or `[]`.
    """

    def __init__(
        self,
        alpha: float = 0.01,
        beta: float = 0.01,
        max_scale: float | None = None,
        variant: str = "bounded",
        sync_replicas: bool = True,
        metrics: Sequence[str] | None = None,
        flip_reach: float = _rules.DEFAULT_FLIP_REACH,
        **kwargs,
    ):
        owner = type(self).__name__
        _quantizer_config.set_arguments(
            self,
            alpha=alpha,
            beta=beta,
            max_scale=max_scale,
            variant=variant,
            flip_reach=flip_reach,
            sync_replicas=sync_replicas,
        )
        if metrics is not None and (not isinstance(metrics, (list, tuple)) or len(metrics)):
            raise ValueError(
                f"{owner}: `metrics` must be None or an empty list on Keras 3, got {metrics!r}: "
                f"larq's flip ratio and AdaSTE's diagnostics are the larq path's "
                f"(adaste_tf.quantizers.AdaSTE); docs/keras3.md lists what differs."
            )
        super().__init__(**kwargs)
        self._scheduled = False  # set by the RelaxationScheduler that drives it
        self.beta_variable = self.add_weight(
            name="beta",
            shape=(),
            dtype="float32",
            initializer=keras.initializers.Constant(self.initial_beta),
            trainable=False,
            autocast=False,
        )

    @property
    def beta(self) -> float:
        """The current beta (what training uses now); `initial_beta` is the constructor's."""
        return float(kops.convert_to_numpy(self.beta_variable.value))

    @beta.setter
    def beta(self, value: float) -> None:
        value = validation.real("beta", value, minimum=0.0, owner=type(self).__name__)
        self.beta_variable.assign(value)

    def call(self, inputs, activation: bool = False):
        if activation:
            return ste_sign(inputs)
        return adaste_sign(
            inputs,
            beta=kops.convert_to_tensor(self.beta_variable),
            alpha=self.alpha,
            max_scale=self.max_scale,
            variant=self.variant,
            flip_reach=self.flip_reach,
            on_backward=self._warn_if_unscheduled,
        )

    def _warn_if_unscheduled(self) -> None:
        """Warn, once per process, that this quantizer trains a kernel with no
        `RelaxationScheduler` moving its beta (the scheduler marks the quantizers it drives
        before the first step is traced)."""
        global _warned_unscheduled
        if _warned_unscheduled or self._scheduled:
            return
        _warned_unscheduled = True
        warnings.warn(
            _quantizer_config.unscheduled_message(self, "adaste_tf.keras3.RelaxationScheduler"),
            UserWarning,
            stacklevel=2,
        )

    def load_own_variables(self, store):
        # One instance shared by several layers is saved once, under the first; the others load
        # as separate quantizers with nothing stored and keep the constructor's beta until a
        # RelaxationScheduler sets it (as the larq path).
        if "0" in store:
            self.beta_variable.assign(store["0"])

    def get_config(self):
        return {**super().get_config(), **_quantizer_config.config(self, None)}

    @classmethod
    def from_config(cls, config):
        return _quantizer_config.from_config(lambda c: cls(**c), cls.__name__, config)


# The names a layer's `kernel_quantizer` / `input_quantizer` accepts, as larq's.
_BY_NAME: dict[str, type[_Quantizer]] = {
    "adaste": AdaSTE,
    "AdaSTE": AdaSTE,
    "ste_sign": SteSign,
    "SteSign": SteSign,
}


def get(identifier: Any, *, owner: str = "get", name: str = "quantizer") -> Callable | None:
    """A quantizer from a name (`"adaste"`, `"ste_sign"`), a Keras config dict, a callable (a
    quantizer object or function, used as it is), or None (no quantization).

    Examples:
        >>> type(get("ste_sign")).__name__, get(None)
        ('SteSign', None)
    """
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"{owner}: `{name}` must be one of {', '.join(map(repr, _BY_NAME))}, a "
                f"quantizer object, a config dict or None, got {identifier!r}."
            )
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise TypeError(
        f"{owner}: `{name}` must be a quantizer name, a quantizer object, a config dict or "
        f"None, got {identifier!r} of type {type(identifier).__name__}."
    )


def quantize(quantizer: Callable | None, x: Any, activation: bool) -> Any:
    """`quantizer(x)`, telling this path's quantizers whether `x` is an activation.

    Examples:
        >>> quantize(None, 1.0, activation=True)
        1.0
    """
    if quantizer is None:
        return x
    x = kops.convert_to_tensor(x)  # a kernel: the variable's value (autocast, if a policy says)
    if isinstance(quantizer, _Quantizer):
        return quantizer(x, activation=activation)
    return quantizer(x)
