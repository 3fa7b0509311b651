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

Example:
    >>> import tensorflow as tf
    >>> from adaste_tf import ops
    >>> theta = tf.constant([0.5, 0.5, 2.0, 2.0])
    >>> dy = tf.constant([1.0, -1.0, 1.0, -1.0])
    >>> ops.paper_scale(theta, dy, alpha=0.01, beta=0.0, max_scale=10.0).numpy()
    array([1. , 1. , 0.5, 0. ], dtype=float32)
"""

from __future__ import annotations

import tensorflow as tf

__all__ = [
    "sign",
    "relaxed_weight",
    "paper_scale",
    "bounded_scale",
    "official_scale",
    "regimes",
    "REGIMES",
    "DEFAULT_FLIP_REACH",
    "OFFICIAL_GRAD_THRESHOLD",
    "OFFICIAL_THETA_THRESHOLD",
    "OFFICIAL_BINARY_THETA_THRESHOLD",
    "OFFICIAL_MAX_SCALE",
]

# Gates and clamp of the official `FenBPOpt.get_grad` (intellhave/AdaSTE).
OFFICIAL_GRAD_THRESHOLD = 1e-3
OFFICIAL_THETA_THRESHOLD = 1e-6
OFFICIAL_BINARY_THETA_THRESHOLD = 1e-3
OFFICIAL_MAX_SCALE = 0.5

# Default bound of the perturbation in `bounded_scale`, in units of the latent weight for a
# gradient of RMS size: the largest bound measured that costs no accuracy at any beta (README,
# "Choosing flip_reach"); larger bounds pull latent weights to zero.
DEFAULT_FLIP_REACH = 3e-4

# Names of the cases `regimes` tells apart, in its output order.
REGIMES = ("linear_outward", "linear_inward", "saturated_outward", "saturated_inward")

# |theta| is floored here before dividing: every inward scale is at most ~3/|theta|, so with this
# floor it stays below 1e31, finite in float32, and is then capped by max_scale anyway.
_ABS_FLOOR = 1e-30


def sign(x: tf.Tensor) -> tf.Tensor:
    """Sign with `sign(0) = +1`, written as larq's `larq.math.sign`.

    The same expression as larq, `sign(sign(x) + 0.1)`, because that is the pattern Larq
    Compute Engine recognizes as binarization: as an activation quantizer it then becomes
    `LceQuantize` and a binary convolution, not float ops.

    Example:
        >>> sign(tf.constant([-2.0, 0.0, 3.0])).numpy()
        array([-1.,  1.,  1.], dtype=float32)
    """
    return tf.sign(tf.sign(x) + 0.1)


def _in_compute_dtype(theta: tf.Tensor, *values) -> list[tf.Tensor]:
    """`theta` and `values` cast to float32 (float64 if theta is float64): see module doc."""
    dtype = tf.float64 if theta.dtype == tf.float64 else tf.float32
    return [tf.cast(v, dtype) for v in (theta, *values)]


def relaxed_weight(theta: tf.Tensor, alpha: float, beta: float | tf.Tensor) -> tf.Tensor:
    r"""The minimizer of the inner objective, the relaxed weight `w*(theta)`.

    \\[ w^*(\theta) = \mathrm{clip}\left(\frac{\theta + \beta (1 + \alpha)\,
        \mathrm{sign}(\theta)}{1 + \beta}, -1, 1\right) \\]

    It equals `sign(theta)` wherever `|theta| >= 1 - alpha * beta`.

    Example:
        >>> relaxed_weight(tf.constant([-0.2, 0.0, 0.5, 3.0]), alpha=0.01, beta=0.0).numpy()
        array([-0.2,  0. ,  0.5,  1. ], dtype=float32)
    """
    theta = tf.convert_to_tensor(theta)
    t, alpha, beta = _in_compute_dtype(theta, alpha, beta)
    w = (t + beta * (1.0 + alpha) * sign(t)) / (1.0 + beta)
    return tf.cast(tf.clip_by_value(w, -1.0, 1.0), theta.dtype)


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
        The scale, in `theta`'s dtype; the gradient to `theta` is `scale * dy`.

    Example:
        >>> paper_scale(tf.constant([0.1]), tf.constant([1.0]), 0.01, 0.01, 10.0).numpy()
        array([1.190099], dtype=float32)
    """
    theta = tf.convert_to_tensor(theta)
    t, g, alpha, beta = _in_compute_dtype(theta, dy, alpha, beta)

    # Every case is c0 + c1 / a, with c0 the outward scale: linear zone c0 = 1/(1+b),
    # c1 = 2b(1+alpha)/(1+b); saturated c0 = 0, c1 = (1+2b+alpha b)/(1+b); binary c0 = 0,
    # c1 = 2. The coefficients are scalars, so the elementwise work is a handful of fused ops
    # (beta = 0, theta = 0 gives c0 = 1, c1 = 0: the identity STE, not 0/0).
    a = tf.abs(t)
    one_over = 1.0 / (1.0 + beta)
    k = 1.0 - alpha * beta
    c1_saturated = tf.where(k > 0, (1.0 + 2.0 * beta + alpha * beta) * one_over, 2.0)
    linear = a < k  # never true once alpha * beta >= 1, since then k <= 0
    c0 = tf.where(linear, one_over, 0.0)
    c1 = tf.where(linear, 2.0 * beta * (1.0 + alpha) * one_over, c1_saturated)
    inward = _inward(t, g)
    inward_scale = tf.minimum(c0 + c1 / tf.maximum(a, _ABS_FLOOR), max_scale)
    scale = tf.where(inward, inward_scale, c0)
    return tf.cast(scale, theta.dtype)


def _inward(t: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """Whether a descent step on `g` moves `t` toward a flip (sign(0) = +1 as in the forward).

    dy == 0 counts as outward; its gradient is zero whatever the scale.
    """
    return tf.where(t >= 0, g > 0, g < 0)


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

    \[ \text{reach} = \text{inward} \wedge |\theta| \le \tau\, |dy| / \mathrm{rms}(dy), \]

    and gets the paper's inward scale there (capped at `max_scale`). Every other step is the
    non-flipping finite difference of the relaxation without its box, the slope `1/(1+beta)`,
    except outward steps beyond `|theta| >= 1`, which get 0 (latent weights stay in [-1, 1]).
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

    Example:
        >>> theta = tf.constant([1e-4, 0.5, 0.5, 2.0])
        >>> dy = tf.constant([1.0, 1.0, -1.0, -1.0])
        >>> bounded_scale(theta, dy, alpha=0.01, beta=1.0, max_scale=1.0).numpy()
        array([2., 1., 1., 0.], dtype=float32)
    """
    theta = tf.convert_to_tensor(theta)
    t, g, alpha, beta, reach_bound = _in_compute_dtype(theta, dy, alpha, beta, flip_reach)
    a = tf.abs(t)
    inward = _inward(t, g)
    rms = tf.sqrt(tf.reduce_mean(tf.square(g)))
    # |dy| / rms * tau >= a, written without dividing by rms (rms = 0 means dy = 0 everywhere).
    reach = inward & (tf.abs(g) * reach_bound >= a * rms)
    # In units of the relaxation's slope 1/(1+beta): the size of a non-flipping step does not
    # fall with beta, which optimizers do not fully undo (Adam's epsilon and its lagging second
    # moment, SGD not at all; README, "Benchmarks").
    slope = tf.where(inward | (a < 1.0), 1.0, 0.0)
    flip = (1.0 + beta) * paper_scale(t, g, alpha, beta, max_scale)
    return tf.cast(tf.where(reach, flip, slope), theta.dtype)


def regimes(theta: tf.Tensor, dy: tf.Tensor, alpha: float,
            beta: float | tf.Tensor) -> list[tf.Tensor]:
    """Boolean masks of the cases of the backward table, in the order of `REGIMES`.

    Linear means `|theta| < 1 - alpha * beta` (never once `alpha * beta >= 1`: the binary
    regime, where every weight is saturated). Used by the quantizer's diagnostics.

    Example:
        >>> masks = regimes(tf.constant([0.5, -0.5, 2.0]), tf.constant([-1.0, -1.0, 1.0]),
        ...                 alpha=0.01, beta=0.0)
        >>> [m.numpy().tolist() for m in masks]
        [[True, False, False], [False, True, False], [False, False, False], [False, False, True]]
    """
    theta = tf.convert_to_tensor(theta)
    t, g, alpha, beta = _in_compute_dtype(theta, dy, alpha, beta)
    linear = tf.abs(t) < 1.0 - alpha * beta
    inward = _inward(t, g)
    return [linear & ~inward, linear & inward, ~linear & ~inward, ~linear & inward]


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

    Example:
        >>> official_scale(tf.constant([0.1]), tf.constant([1.0]), 0.01, 0.01).numpy()
        array([0.], dtype=float32)
        >>> official_scale(tf.constant([-0.1]), tf.constant([-1.0]), 0.01, 0.01).numpy()
        array([0.5], dtype=float32)
    """
    theta = tf.convert_to_tensor(theta)
    t, g, alpha, beta = _in_compute_dtype(theta, dy, alpha, beta)

    a = tf.abs(t)
    a_safe = tf.maximum(a, _ABS_FLOOR)
    ab = alpha * beta
    k = 1.0 - ab
    one_over = 1.0 / (1.0 + beta)
    pos_grad = g > OFFICIAL_GRAD_THRESHOLD
    neg_grad = g < -OFFICIAL_GRAD_THRESHOLD

    def clamp(s):
        return tf.clip_by_value(s, 0.0, max_scale)

    # alpha * beta < 1
    pos_sat = t > tf.maximum(OFFICIAL_THETA_THRESHOLD, k)
    neg_sat = t < tf.minimum(-OFFICIAL_THETA_THRESHOLD, -k)
    pos_mid = (t > OFFICIAL_THETA_THRESHOLD) & (t < k)
    neg_mid = (t > -k) & (t < -OFFICIAL_THETA_THRESHOLD)
    inward_sat = (pos_sat & pos_grad) | (neg_sat & neg_grad)
    outward_sat = (pos_sat & neg_grad) | (neg_sat & pos_grad)
    inward_mid = (pos_mid & pos_grad) | (neg_mid & neg_grad)
    relaxed_scale = tf.where(
        inward_mid,
        clamp((2.0 * beta * (1.0 + alpha) - t) * one_over / a_safe),
        tf.where(
            inward_sat,
            clamp((1.0 + 2.0 * beta + ab) * one_over / a_safe),
            tf.where(outward_sat, tf.zeros_like(t), one_over * tf.ones_like(t)),
        ),
    )

    # alpha * beta >= 1
    pos_x = t > OFFICIAL_BINARY_THETA_THRESHOLD
    neg_x = t < -OFFICIAL_BINARY_THETA_THRESHOLD
    inward_bin = (pos_x & pos_grad) | (neg_x & neg_grad)
    outward_bin = (pos_x & neg_grad) | (neg_x & pos_grad)
    binary_scale = tf.where(
        inward_bin,
        clamp(1.0 / a_safe),
        tf.where(outward_bin, tf.zeros_like(t), tf.ones_like(t)),
    )

    scale = tf.where(ab < 1.0, relaxed_scale, binary_scale)
    return tf.cast(scale, theta.dtype)
