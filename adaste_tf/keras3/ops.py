"""AdaSTE's rules on `keras.ops`: the functions of `adaste_tf.ops`, for any Keras 3 backend.

Each function here calls the one written in `adaste_tf._rules` with `KERAS`, the `keras.ops`
namespace; `adaste_tf.ops` calls the same with TensorFlow's operations. Same arguments, same
dtype handling (computed in float32, float64 for float64 inputs, cast back).

Examples:
    >>> import keras
    >>> from adaste_tf.keras3 import ops
    >>> theta = keras.ops.convert_to_tensor([0.5, 0.5, 2.0, 2.0])
    >>> dy = keras.ops.convert_to_tensor([1.0, -1.0, 1.0, -1.0])
    >>> keras.ops.convert_to_numpy(ops.scale(theta, dy, "paper", 0.01, 0.0, 10.0))
    array([1. , 1. , 0.5, 0. ], dtype=float32)
"""

from __future__ import annotations

from typing import Any

from adaste_tf import _rules
from adaste_tf._rules import DEFAULT_FLIP_REACH

import keras
from keras import ops as kops

__all__ = ["KERAS", "sign", "relaxed_weight", "scale", "scaled_gradient", "regimes"]


def _dtype(x: Any) -> str:
    return keras.backend.standardize_dtype(x.dtype)


def _sum_of_squares(x: Any) -> Any:
    return kops.sum(kops.square(x))


# `keras.ops` for the rules of `adaste_tf._rules`; dtypes as Keras names them.
KERAS = _rules.ArrayOps(
    abs=kops.abs,
    sqrt=kops.sqrt,
    sign=kops.sign,
    minimum=kops.minimum,
    maximum=kops.maximum,
    clip=kops.clip,
    where=kops.where,
    not_equal=kops.not_equal,
    ones_like=kops.ones_like,
    zeros_like=kops.zeros_like,
    convert=kops.convert_to_tensor,
    cast=kops.cast,
    dtype=_dtype,
    size=kops.size,
    sum_of_squares=_sum_of_squares,
    float32="float32",
    float64="float64",
)


def sign(x: Any) -> Any:
    """Sign with `sign(0) = +1` (larq's `sign(sign(x) + 0.1)`).

    Examples:
        >>> keras.ops.convert_to_numpy(sign(keras.ops.convert_to_tensor([-2.0, 0.0, 3.0])))
        array([-1.,  1.,  1.], dtype=float32)
    """
    return _rules.sign(KERAS, x)


def relaxed_weight(theta: Any, alpha: float, beta: Any) -> Any:
    """The relaxed weight `w*(theta)` (`adaste_tf.ops.relaxed_weight`).

    Examples:
        >>> theta = keras.ops.convert_to_tensor([-0.2, 0.0, 0.5, 3.0])
        >>> keras.ops.convert_to_numpy(relaxed_weight(theta, alpha=0.01, beta=0.0))
        array([-0.2,  0. ,  0.5,  1. ], dtype=float32)
    """
    return _rules.relaxed_weight(KERAS, theta, alpha, beta)


def scale(
    theta: Any,
    dy: Any,
    variant: str,
    alpha: float,
    beta: Any,
    max_scale: float,
    flip_reach: float = DEFAULT_FLIP_REACH,
) -> Any:
    """The backward scale of `variant` ("bounded", "paper" or "official"), in `theta`'s dtype
    (`adaste_tf.ops.scale`).

    Examples:
        >>> theta, dy = keras.ops.convert_to_tensor([0.5, -2.0]), keras.ops.ones((2,))
        >>> keras.ops.convert_to_numpy(scale(theta, dy, "paper", 0.01, 0.0, 1.0))
        array([1., 0.], dtype=float32)
    """
    return _rules.scale(KERAS, theta, dy, variant, alpha, beta, max_scale, flip_reach)


def scaled_gradient(
    theta: Any,
    dy: Any,
    variant: str,
    alpha: float,
    beta: Any,
    max_scale: float,
    flip_reach: float = DEFAULT_FLIP_REACH,
    scale_from: Any = None,
) -> Any:
    """The gradient to the latent weights, `scale * dy` with the division last, in `dy`'s dtype
    (`adaste_tf.ops.scaled_gradient`).

    Examples:
        >>> theta, dy = keras.ops.convert_to_tensor([0.5, -2.0]), keras.ops.full((2,), 2.0)
        >>> keras.ops.convert_to_numpy(scaled_gradient(theta, dy, "paper", 0.01, 0.0, 1.0))
        array([2., 0.], dtype=float32)
    """
    return _rules.scaled_gradient(
        KERAS, theta, dy, variant, alpha, beta, max_scale, flip_reach, scale_from
    )


def regimes(theta: Any, dy: Any, alpha: float, beta: Any) -> list:
    """Boolean masks of the cases of the backward table, in the order of `_rules.REGIMES`.

    Examples:
        >>> masks = regimes(keras.ops.convert_to_tensor([0.5, -0.5, 2.0]),
        ...                 keras.ops.convert_to_tensor([-1.0, -1.0, 1.0]), 0.01, 0.0)
        >>> [keras.ops.convert_to_numpy(m).tolist() for m in masks]
        [[True, False, False], [False, True, False], [False, False, False], [False, False, True]]
    """
    return _rules.regimes(KERAS, theta, dy, alpha, beta)
