r"""The AdaSTE math as pure tensor functions: no Keras, no state.

The method, its derivation and every rule below are written out in `docs/method.md`.
Notation (the paper, arXiv 2112.02880): `theta` is the latent weight,
`dy = dL/dw` the gradient that reaches the binary weight `w = sign(theta)`, `alpha > 0` places the
wells of the inner objective at `+-(1 + alpha)` and `beta >= 0` is the relaxation weight.
With `a = |theta|` and `k = 1 - alpha * beta`, the derived ("paper") backward is
`dL/dtheta = scale * dy` with

| regime                             | outward   | inward (toward a sign flip)               |
|------------------------------------|-----------|-------------------------------------------|
| `alpha*beta < 1`, `a < k` (linear) | `1/(1+b)` | `(2 b (1+alpha) + a) / ((1+b) a)`         |
| `alpha*beta < 1`, `a >= k` (sat.)  | `0`       | `(1 + 2 b + alpha b) / ((1+b) a)`         |
| `alpha*beta >= 1` (binary)         | `0`       | `2 / a`                                   |

"Inward" means `sign(dy) == sign(theta)` (a descent step moves theta toward zero), with the
forward's convention `sign(0) = +1`. Inward scales grow like `1/a` near zero and are capped at
`max_scale`. `paper_scale` applies this table to every weight; `bounded_scale` (the default
rule) applies its flip case only to weights a bounded perturbation can flip, see there.

All scales are computed in float32 (float64 for float64 inputs) whatever the input dtype, so
that float16 inputs cannot overflow in `1/a`, and are cast back at the end.

The rules themselves are written once, in `adaste_tf._rules`, against an array namespace: this
module calls them with TensorFlow's operations (`_TF`), `adaste_tf.keras3` with `keras.ops`
(docs/architecture.md, "One set of rules").

Examples:
    >>> import tensorflow as tf
    >>> from adaste_tf import ops
    >>> theta = tf.constant([0.5, 0.5, 2.0, 2.0])
    >>> dy = tf.constant([1.0, -1.0, 1.0, -1.0])
    >>> ops.paper_scale(theta, dy, alpha=0.01, beta=0.0, max_scale=10.0).numpy()
    array([1. , 1. , 0.5, 0. ], dtype=float32)
"""

from __future__ import annotations

from adaste_tf import _rules
from adaste_tf._rules import (
    DEFAULT_FLIP_REACH,
    OFFICIAL_BINARY_THETA_THRESHOLD,
    OFFICIAL_GRAD_THRESHOLD,
    OFFICIAL_MAX_SCALE,
    OFFICIAL_THETA_THRESHOLD,
    REGIMES,
)

import tensorflow as tf

__all__ = [
    "sign",
    "relaxed_weight",
    "paper_scale",
    "bounded_scale",
    "official_scale",
    "scaled_gradient",
    "scale",
    "regimes",
    "REGIMES",
    "DEFAULT_FLIP_REACH",
    "OFFICIAL_GRAD_THRESHOLD",
    "OFFICIAL_THETA_THRESHOLD",
    "OFFICIAL_BINARY_THETA_THRESHOLD",
    "OFFICIAL_MAX_SCALE",
]


def _dtype(x: tf.Tensor) -> tf.DType:
    return x.dtype


def _size(x: tf.Tensor) -> tf.Tensor:
    return tf.size(x)


def _late_sum_of_squares(g: tf.Tensor) -> tf.Tensor:
    # Looked up at each call, so that the benchmarks' swaps of `_sum_of_squares` take effect.
    return _sum_of_squares(g)


# TensorFlow's operations for the rules of `adaste_tf._rules`: each is the function this module
# called before the rules moved there, so the traced graph, and XLA's program, are unchanged.
_TF = _rules.ArrayOps(
    abs=tf.abs,
    sqrt=tf.sqrt,
    sign=tf.sign,
    minimum=tf.minimum,
    maximum=tf.maximum,
    clip=tf.clip_by_value,
    where=tf.where,
    not_equal=tf.not_equal,
    ones_like=tf.ones_like,
    zeros_like=tf.zeros_like,
    convert=tf.convert_to_tensor,
    cast=tf.cast,
    dtype=_dtype,
    size=_size,
    sum_of_squares=_late_sum_of_squares,
    float32=tf.float32,
    float64=tf.float64,
)


def sign(x: tf.Tensor) -> tf.Tensor:
    """Sign with `sign(0) = +1`, written as larq's `larq.math.sign`.

    The same expression as larq, `sign(sign(x) + 0.1)`, because that is the pattern Larq
    Compute Engine recognizes as binarization: as an activation quantizer it then becomes
    `LceQuantize` and a binary convolution, not float ops.

    Examples:
        >>> sign(tf.constant([-2.0, 0.0, 3.0])).numpy()
        array([-1.,  1.,  1.], dtype=float32)
    """
    return _rules.sign(_TF, x)


def _in_compute_dtype(theta: tf.Tensor, *values) -> list[tf.Tensor]:
    """`theta` and `values` cast to float32 (float64 if theta is float64): see module doc."""
    return _rules.in_compute_dtype(_TF, theta, *values)


def relaxed_weight(theta: tf.Tensor, alpha: float, beta: float | tf.Tensor) -> tf.Tensor:
    r"""The minimizer of the inner objective, the relaxed weight `w*(theta)`.

    \\[ w^*(\theta) = \mathrm{clip}\left(\frac{\theta + \beta (1 + \alpha)\,
        \mathrm{sign}(\theta)}{1 + \beta}, -1, 1\right) \\]

    It equals `sign(theta)` wherever `|theta| >= 1 - alpha * beta`.

    Examples:
        >>> relaxed_weight(tf.constant([-0.2, 0.0, 0.5, 3.0]), alpha=0.01, beta=0.0).numpy()
        array([-0.2,  0. ,  0.5,  1. ], dtype=float32)
    """
    return _rules.relaxed_weight(_TF, theta, alpha, beta)


def paper_scale(
    theta: tf.Tensor,
    dy: tf.Tensor,
    alpha: float,
    beta: float | tf.Tensor,
    max_scale: float,
) -> tf.Tensor:
    """The derived AdaSTE backward scale (table in the module docstring), elementwise.

    Args:
        theta: latent weights.
        dy: gradient with respect to the binary weights, same shape as `theta`.
        alpha: well offset, > 0.
        beta: relaxation weight, >= 0 (a Python float or a scalar tensor).
        max_scale: cap on the inward scales, > 0.

    Returns:
        The scale, in `theta`'s dtype; the gradient to `theta` is `scale * dy`
        (`scaled_gradient` computes that product directly).

    Examples:
        >>> paper_scale(tf.constant([0.1]), tf.constant([1.0]), 0.01, 0.01, 10.0).numpy()
        array([1.190099], dtype=float32)
    """
    return _rules.scale(_TF, theta, dy, "paper", alpha, beta, max_scale, owner="paper_scale")


def bounded_scale(
    theta: tf.Tensor,
    dy: tf.Tensor,
    alpha: float,
    beta: float | tf.Tensor,
    max_scale: float,
    flip_reach: float = DEFAULT_FLIP_REACH,
) -> tf.Tensor:
    r"""AdaSTE with a bounded perturbation: the default backward (`docs/method.md`, "The
    bounded rule").

    The paper's perturbation is the smallest one that flips a weight, `|theta| / |dy|`, however
    large. Here it is bounded: a weight is flipped by the finite difference only where a
    perturbation of at most `flip_reach` (in latent units, for a gradient of RMS size over the
    tensor) reaches zero,

    \[ \text{reach} = \text{inward} \wedge \max(|\theta|, 2^{-40}) \le \tau\, |dy| /
        \mathrm{rms}(dy), \]

    and gets the paper's inward scale there (capped at `max_scale`; `|theta|` is floored at
    2^-40, as where it divides, so that `flip_reach=0` reaches no weight). Every other step is the
    non-flipping finite difference of the relaxation without its box, the slope `1/(1+beta)`,
    except outward steps beyond `|theta| >= 1`, which get 0 (no clip: a step may end past 1).
    The result is divided by that slope, `1/(1+beta)`: a step that does not flip has scale 1 at
    every beta, and a flip scale is `(1+beta)` times the paper's. Normalizing `dy` by its RMS
    makes the rule independent of the loss scale (mixed-precision loss scaling, summing over
    replicas, the batch size).

    Args:
        theta: latent weights.
        dy: gradient with respect to the binary weights, same shape as `theta`.
        alpha: well offset, > 0.
        beta: relaxation weight, >= 0.
        max_scale: cap on the flip scale, > 0.
        flip_reach: the perturbation bound tau, >= 0.

    Returns:
        The scale, in `theta`'s dtype.

    Examples:
        >>> theta = tf.constant([1e-4, 0.5, 0.5, 2.0])
        >>> dy = tf.constant([1.0, 1.0, -1.0, -1.0])
        >>> bounded_scale(theta, dy, alpha=0.01, beta=1.0, max_scale=1.0).numpy()
        array([2., 1., 1., 0.], dtype=float32)
    """
    return _rules.scale(
        _TF, theta, dy, "bounded", alpha, beta, max_scale, flip_reach, owner="bounded_scale"
    )


def official_scale(
    theta: tf.Tensor,
    dy: tf.Tensor,
    alpha: float,
    beta: float | tf.Tensor,
    max_scale: float = OFFICIAL_MAX_SCALE,
) -> tf.Tensor:
    """The backward scale exactly as the official `FenBPOpt.get_grad` computes it.

    Differences from `paper_scale` (numbered as in `docs/method.md`, "The official code"):
    1. adaptive cases only where `|dy| > 1e-3` and `|theta| > 1e-6` (`> 1e-3` once
       `alpha*beta >= 1`); elsewhere the default scale `1/(1+beta)` (`1` once `alpha*beta >= 1`);
    2. adaptive scales clamped to `[0, max_scale]` (the official code: 0.5);
    3. linear zone, inward: numerator `2 beta (1+alpha) - theta` (not `+|theta|`);
    4. `alpha*beta >= 1`, inward: `1/|theta|` (not `2/|theta|`).
    Boundaries use the official strict comparisons (`theta == k` gets the default scale).

    Examples:
        >>> official_scale(tf.constant([0.1]), tf.constant([1.0]), 0.01, 0.01).numpy()
        array([0.], dtype=float32)
        >>> official_scale(tf.constant([-0.1]), tf.constant([-1.0]), 0.01, 0.01).numpy()
        array([0.5], dtype=float32)
    """
    return _rules.scale(_TF, theta, dy, "official", alpha, beta, max_scale, owner="official_scale")


def scaled_gradient(
    theta: tf.Tensor,
    dy: tf.Tensor,
    variant: str,
    alpha: float,
    beta: float | tf.Tensor,
    max_scale: float,
    flip_reach: float = DEFAULT_FLIP_REACH,
    scale_from: tf.Tensor | None = None,
) -> tf.Tensor:
    """The gradient to the latent weights, `scale * dy`, for `variant` "bounded", "paper" or
    "official", in `dy`'s dtype. The scale is that of `scale_from` (default `dy`): under data
    parallelism, the gradient summed over replicas, applied to this replica's `dy`.

    Each rule is a ratio `scale = n / d` of two elementwise terms, `d` being `|theta|` where
    the scale is adaptive and 1 elsewhere, and the gradient is computed as `(dy * n) / d`
    with the division last. Inside a jit-compiled train step this makes XLA compute the
    gradient once, in one fused pass, instead of recomputing the rule inside each optimizer
    update that reads it (`docs/performance.md`). It equals `scale * dy` up to float rounding.

    Examples:
        >>> theta = tf.constant([0.5, -2.0])
        >>> scaled_gradient(theta, tf.constant([2.0, 2.0]), "paper", 0.01, 0.0, 1.0).numpy()
        array([2., 0.], dtype=float32)
    """
    return _rules.scaled_gradient(
        _TF, theta, dy, variant, alpha, beta, max_scale, flip_reach, scale_from
    )


def scale(
    theta: tf.Tensor,
    dy: tf.Tensor,
    variant: str,
    alpha: float,
    beta: float | tf.Tensor,
    max_scale: float,
    flip_reach: float = DEFAULT_FLIP_REACH,
) -> tf.Tensor:
    """The backward scale of `variant` ("bounded", "paper" or "official"), in `theta`'s dtype:
    `bounded_scale`, `paper_scale` or `official_scale` chosen by name.

    Examples:
        >>> scale(tf.constant([0.5, -2.0]), tf.constant([2.0, 2.0]), "paper", 0.01, 0.0,
        ...       1.0).numpy()
        array([1., 0.], dtype=float32)
    """
    return _rules.scale(_TF, theta, dy, variant, alpha, beta, max_scale, flip_reach)


def _terms(theta, dy, variant, alpha, beta, max_scale, flip_reach, owner):
    """The (n, d) terms of `variant` in the compute dtype (`_rules.terms`)."""
    return _rules.terms(_TF, theta, dy, variant, alpha, beta, max_scale, flip_reach, owner)


# Whether this TensorFlow's XLA compiles the sum of squares down rows well on CPU
# (`_sum_of_squares`). TensorFlow 2.21's fuses the square into it and vectorizes it; 2.18's refuses
# to fuse a producer into a sum over a major axis ("Not fusing reductions over major dimensions")
# and writes the square out; with 2.19 and 2.20 the rows measured slower than the neighbours too
# (docs/performance.md, "The sum of squares").
_XLA_FUSES_MAJOR_AXIS_SUMS = tuple(int(part) for part in tf.__version__.split(".")[:2]) >= (2, 21)


def _sum_of_squares(g: tf.Tensor) -> tf.Tensor:
    """`sum(g ** 2)` over the whole tensor, in the form this TensorFlow's XLA compiles best on CPU.

    Inside a jit-compiled step this was most of the bounded rule's cost (`docs/performance.md`,
    "The sum of squares"). With TensorFlow 2.21 the squares are summed down the 8 rows of an
    `[8, size / 8]` view, then the row: each output of the first sum adds 8 inputs `size / 8`
    apart and neighbouring outputs read neighbouring inputs, so XLA's CPU loop emitter vectorizes
    it as 8 loads and fused multiply-adds per vector, with the square fused in and `g` read once,
    and the second is a plain reduction of a vector, which XLA hands to its reduction library.
    With earlier versions the rows cost more than sums of 8 neighbours (2.18 does not fuse the
    square into a sum over a major axis), so there it is summed 8 neighbours at a time, twice,
    then the rest (the form of earlier releases).
    """
    if _XLA_FUSES_MAJOR_AXIS_SUMS:
        return _tree_sum_of_squares(g, levels=1, axis=0)
    return _tree_sum_of_squares(g, levels=2, axis=1)


def _tree_sum_of_squares(g: tf.Tensor, levels: int, axis: int, k: int = 8) -> tf.Tensor:
    """`sum(g ** 2)` as `levels` levels of `_sums_of` (`k` at a time, down rows for axis 0, over
    neighbours for axis 1), then the rest summed: the forms `_sum_of_squares` chooses between
    (`benchmarks/sum_of_squares.py` times others)."""
    x = tf.square(tf.reshape(g, [-1]))
    for _ in range(levels):
        x = _sums_of(x, k, axis)
    return tf.reduce_sum(x)


def _sums_of(x: tf.Tensor, k: int, axis: int) -> tf.Tensor:
    """The vector `x` padded with zeros to a multiple of `k` and summed `k` at a time: down the `k`
    rows of a `[k, size / k]` view (axis 0) or over `k` neighbours, the minor axis of a
    `[size / k, k]` view (axis 1). `maximum(., 0)`, an identity on sums of squares, keeps XLA's
    simplifier from merging successive sums into one large sum, which its CPU backend splits
    into reduce-windows that write their input out."""
    x = tf.pad(x, [[0, tf.math.floormod(-tf.size(x), k)]])
    shape = [k, -1] if axis == 0 else [-1, k]
    return tf.maximum(tf.reduce_sum(tf.reshape(x, shape), axis=axis), 0.0)


def regimes(
    theta: tf.Tensor, dy: tf.Tensor, alpha: float, beta: float | tf.Tensor
) -> list[tf.Tensor]:
    """Boolean masks of the cases of the backward table, in the order of `REGIMES`.

    Linear means `|theta| < 1 - alpha * beta` (never once `alpha * beta >= 1`: the binary
    regime, where every weight is saturated). Used by the quantizer's diagnostics.

    Examples:
        >>> masks = regimes(tf.constant([0.5, -0.5, 2.0]), tf.constant([-1.0, -1.0, 1.0]),
        ...                 alpha=0.01, beta=0.0)
        >>> [m.numpy().tolist() for m in masks]
        [[True, False, False], [False, True, False], [False, False, False], [False, False, True]]
    """
    return _rules.regimes(_TF, theta, dy, alpha, beta)
