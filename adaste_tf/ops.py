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

Examples:
    >>> import tensorflow as tf
    >>> from adaste_tf import ops
    >>> theta = tf.constant([0.5, 0.5, 2.0, 2.0])
    >>> dy = tf.constant([1.0, -1.0, 1.0, -1.0])
    >>> ops.paper_scale(theta, dy, alpha=0.01, beta=0.0, max_scale=10.0).numpy()
    array([1. , 1. , 0.5, 0. ], dtype=float32)
"""

from __future__ import annotations

from adaste_tf import validation

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

# Gates and clamp of the official `FenBPOpt.get_grad` (intellhave/AdaSTE).
OFFICIAL_GRAD_THRESHOLD = 1e-3
OFFICIAL_THETA_THRESHOLD = 1e-6
OFFICIAL_BINARY_THETA_THRESHOLD = 1e-3
OFFICIAL_MAX_SCALE = 0.5

# Default bound of the perturbation in `bounded_scale`, in units of the latent weight for a
# gradient of RMS size: the largest bound measured that costs no accuracy at any beta
# (docs/evidence.md, "Choosing flip_reach"); larger bounds pull latent weights to zero.
DEFAULT_FLIP_REACH = 3e-4

# Names of the cases `regimes` tells apart, in its output order.
REGIMES = ("linear_outward", "linear_inward", "saturated_outward", "saturated_inward")

# |theta| is floored here before dividing (only inward, where a scale is adaptive). Below it
# every inward scale is at its cap (unless 0 < beta < 1e-12), so the floor changes nothing
# else; a power of 2, so that multiplying and dividing by it is exact. Not smaller: the capped
# numerator is max_scale * |theta|, and dy times it must stay a normal float32 (TensorFlow
# flushes float32 subnormals to zero on CPU), which with this floor holds for |dy| > 1e-26.
_ABS_FLOOR = 2.0**-40


def sign(x: tf.Tensor) -> tf.Tensor:
    """Sign with `sign(0) = +1`, written as larq's `larq.math.sign`.

    The same expression as larq, `sign(sign(x) + 0.1)`, because that is the pattern Larq
    Compute Engine recognizes as binarization: as an activation quantizer it then becomes
    `LceQuantize` and a binary convolution, not float ops.

    Examples:
        >>> sign(tf.constant([-2.0, 0.0, 3.0])).numpy()
        array([-1.,  1.,  1.], dtype=float32)
    """
    return tf.sign(tf.sign(x) + 0.1)


def _in_compute_dtype(theta: tf.Tensor, *values) -> list[tf.Tensor]:
    """`theta` and `values` cast to float32 (float64 if theta is float64): see module doc."""
    theta = tf.convert_to_tensor(theta)
    dtype = tf.float64 if theta.dtype == tf.float64 else tf.float32
    return [tf.cast(v, dtype) for v in (theta, *values)]


def relaxed_weight(theta: tf.Tensor, alpha: float, beta: float | tf.Tensor) -> tf.Tensor:
    r"""The minimizer of the inner objective, the relaxed weight `w*(theta)`.

    \\[ w^*(\theta) = \mathrm{clip}\left(\frac{\theta + \beta (1 + \alpha)\,
        \mathrm{sign}(\theta)}{1 + \beta}, -1, 1\right) \\]

    It equals `sign(theta)` wherever `|theta| >= 1 - alpha * beta`.

    Examples:
        >>> relaxed_weight(tf.constant([-0.2, 0.0, 0.5, 3.0]), alpha=0.01, beta=0.0).numpy()
        array([-0.2,  0. ,  0.5,  1. ], dtype=float32)
    """
    theta = tf.convert_to_tensor(theta)
    t, alpha, beta = _in_compute_dtype(theta, alpha, beta)
    w = (t + beta * (1.0 + alpha) * sign(t)) / (1.0 + beta)
    return tf.cast(tf.clip_by_value(w, -1.0, 1.0), theta.dtype)


def _inward(t: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """Whether a descent step on `g` moves `t` toward a flip (sign(0) = +1 as in the forward).

    dy == 0 counts as outward; its gradient is zero whatever the scale.
    """
    return _toward_flip(t, g) > 0


def _toward_flip(t: tf.Tensor, g: tf.Tensor) -> tf.Tensor:
    """`g` signed so that it is positive exactly when the step is inward (`_inward`), and so
    equal to `|g|` there: one select that answers both questions the rules ask."""
    return tf.where(t >= 0, g, -g)


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
    return _as_scale(theta, _paper_terms(*_in_compute_dtype(theta, dy, alpha, beta, max_scale)))


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
    terms = _bounded_terms(*_in_compute_dtype(theta, dy, alpha, beta, max_scale, flip_reach))
    return _as_scale(theta, terms)


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
    return _as_scale(theta, _official_terms(*_in_compute_dtype(theta, dy, alpha, beta, max_scale)))


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
    g = _in_compute_dtype(theta, dy)[1]
    n, d = _terms(
        theta,
        dy if scale_from is None else scale_from,
        variant,
        alpha,
        beta,
        max_scale,
        flip_reach,
        owner="scaled_gradient",
    )
    return tf.cast((g * n) / d, dy.dtype)


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
    return _as_scale(
        theta, _terms(theta, dy, variant, alpha, beta, max_scale, flip_reach, owner="scale")
    )


def _terms(theta, dy, variant, alpha, beta, max_scale, flip_reach, owner):
    """The (n, d) terms of `variant` in the compute dtype: the one place a name picks a rule."""
    terms_of = {"bounded": _bounded_terms, "paper": _paper_terms, "official": _official_terms}
    validation.choice("variant", variant, tuple(terms_of), owner=owner)
    t, g, *values = _in_compute_dtype(theta, dy, alpha, beta, max_scale)
    if variant == "bounded":
        values.append(tf.cast(flip_reach, t.dtype))
    return terms_of[variant](t, g, *values)


# -- the rules as ratios n / d ---------------------------------------------------------------
# Every scale of the three rules is a quotient `c / |theta|` in its adaptive cases and a
# constant elsewhere, so each rule is written as terms (n, d) with d = |theta| (floored) where
# it divides and d = 1 where it does not. A cap or clamp of an adaptive scale is a min or max
# of n against max_scale * d, since d > 0. One division per element, taken last, is what lets
# XLA materialize the gradient once (`scaled_gradient`); the scale functions divide the same
# terms. Inside a compiled step the rule is then one elementwise pass whose cost is its number
# of operations per weight, so the scalars (functions of beta) are computed once, outside the
# elementwise terms, and each case costs a select or two (docs/performance.md).


def _as_scale(theta, terms) -> tf.Tensor:
    n, d = terms
    return tf.cast(n / d, tf.convert_to_tensor(theta).dtype)


def _paper_coefficients(alpha, beta):
    """The scalars of the module table, `(k, c0, c1_linear, c1_saturated)`: the inward scale is
    `c0 + c1 / |theta|` and the outward one `c0`, with `c0 = 1 / (1 + beta)` and `c1_linear`
    in the linear zone `|theta| < k`, and `c0 = 0` and `c1_saturated` beyond it."""
    one_over = 1.0 / (1.0 + beta)
    k = 1.0 - alpha * beta
    c1_linear = 2.0 * beta * (1.0 + alpha) * one_over
    c1_saturated = tf.where(
        k > 0, (1.0 + 2.0 * beta + alpha * beta) * one_over, tf.cast(2.0, beta.dtype)
    )
    return k, one_over, c1_linear, c1_saturated


def _inward_numerator(a_safe, linear, c0, c1_linear, c1_saturated, cap):
    """`min(c0 + c1 / a, cap) * a`, the numerator over `a` of the paper's capped inward scale
    (`c0 = 0` when saturated). At beta = 0 (`c1 = 0`) it is `min(c0, cap) * a`: the identity
    STE's limit at theta = 0, not 0 / 0."""
    return tf.minimum(tf.where(linear, c0 * a_safe + c1_linear, c1_saturated), cap * a_safe)


def _paper_terms(t, g, alpha, beta, max_scale):
    k, c0, c1_linear, c1_saturated = _paper_coefficients(alpha, beta)
    a = tf.abs(t)
    a_safe = tf.maximum(a, _ABS_FLOOR)
    linear = a < k
    inward = _inward(t, g)
    numerator = _inward_numerator(a_safe, linear, c0, c1_linear, c1_saturated, max_scale)
    n = tf.where(inward, numerator, tf.where(linear, c0, tf.zeros_like(c0)))
    return n, tf.where(inward, a_safe, tf.ones_like(a_safe))


def _bounded_terms(t, g, alpha, beta, max_scale, flip_reach):
    # Within reach, (1 + beta) times the paper's inward scale min(c0 + c1 / a, max_scale), the
    # factor folded into the scalars (c0 = 1 / (1 + beta) becomes 1); reach implies inward.
    # Written without 1 / (1 + beta): a scalar division would be a step of its own in the
    # compiled program (XLA does not fuse a division into a loop that would repeat it).
    k = 1.0 - alpha * beta
    widen = 1.0 + beta
    c1_linear = 2.0 * beta * (1.0 + alpha)
    c1_saturated = tf.where(k > 0, 1.0 + 2.0 * beta + alpha * beta, 2.0 * widen)
    a = tf.abs(t)
    a_safe = tf.maximum(a, _ABS_FLOOR)
    # tau / rms is a scalar; rms = 0 means dy = 0 everywhere, where the product below is NaN
    # (0 * inf) and no weight is in reach.
    bound = flip_reach / tf.sqrt(_sum_of_squares(g) / tf.cast(tf.size(g), g.dtype))
    toward_flip = _toward_flip(t, g)
    # tau |dy| / rms >= max(a, floor) > 0, with |dy| signed toward the flip: only inward steps
    # (toward_flip > 0) can pass, and with tau = 0 none does.
    reach = toward_flip * bound >= a_safe
    # The inward numerator a + c1_linear (linear zone, a < k) and c1_saturated beyond are equal
    # at a = k and the first grows with a, so their minimum selects the zone (in the binary
    # regime, k <= 0, c1_saturated is the smaller); then the cap, times a.
    numerator = tf.minimum(
        tf.minimum(a_safe + c1_linear, c1_saturated), (widen * max_scale) * a_safe
    )
    # Elsewhere the relaxation's slope, in its own units (1), and 0 for outward steps beyond
    # |theta| >= 1. The size of a non-flipping step does not fall with beta, which optimizers do
    # not fully undo (Adam's epsilon and its lagging second moment, SGD not at all;
    # docs/method.md).
    one = tf.ones_like(a)
    slope = tf.where((toward_flip > 0) | (a < 1.0), one, tf.zeros_like(a))
    return tf.where(reach, numerator, slope), tf.where(reach, a_safe, one)


def _official_terms(t, g, alpha, beta, max_scale):
    # FenBPOpt.get_grad's masks, folded by symmetry (each pos_/neg_ pair is one condition on
    # |theta| and on the sign of theta * dy) and by its two halves (alpha * beta < 1 or not, a
    # scalar), so that the per-weight work is a few compares.
    ab = alpha * beta
    k = 1.0 - ab
    one_over = 1.0 / (1.0 + beta)
    relaxed = ab < 1.0
    # Relaxed half: adaptive in the linear zone (1e-6 < |theta| < k) and when saturated
    # (|theta| > max(1e-6, k)), zero for saturated outward steps. Binary half: adaptive and zero
    # beyond |theta| > 1e-3. |theta| == k is in neither zone (the official strict bounds).
    lower = tf.where(
        relaxed,
        tf.cast(OFFICIAL_THETA_THRESHOLD, k.dtype),
        tf.cast(OFFICIAL_BINARY_THETA_THRESHOLD, k.dtype),
    )
    saturated_from = tf.where(relaxed, tf.maximum(lower, k), lower)
    default = tf.where(relaxed, one_over, tf.cast(1.0, beta.dtype))
    saturated_numerator = tf.where(
        relaxed, (1.0 + 2.0 * beta + ab) * one_over, tf.cast(1.0, beta.dtype)
    )
    linear_offset = 2.0 * beta * (1.0 + alpha)
    a = tf.abs(t)
    # Officially inward means |dy| > 1e-3 and theta * dy > 0, outward theta * dy < 0. Both
    # cases below also need |theta| > 1e-6, so theta != 0, and there inward is toward_flip >
    # 1e-3, outward toward_flip < -1e-3.
    toward_flip = _toward_flip(t, g)
    adaptive = (toward_flip > OFFICIAL_GRAD_THRESHOLD) & (a > lower) & tf.not_equal(a, k)
    zero = (toward_flip < -OFFICIAL_GRAD_THRESHOLD) & (a > saturated_from)
    # Linear zone: 2 beta (1 + alpha) - theta with theta signed, as officially (k <= 0 in the
    # binary half, so no weight is in it there).
    numerator = tf.where(a < k, (linear_offset - t) * one_over, saturated_numerator)
    # clip(numerator / a, 0, max_scale); every adaptive case has |theta| > 1e-6: no floor.
    clipped = tf.maximum(tf.minimum(numerator, max_scale * a), 0.0)
    n = tf.where(adaptive, clipped, tf.where(zero, tf.zeros_like(a), default * tf.ones_like(a)))
    return n, tf.where(adaptive, a, tf.ones_like(a))


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
    theta = tf.convert_to_tensor(theta)
    t, g, alpha, beta = _in_compute_dtype(theta, dy, alpha, beta)
    linear = tf.abs(t) < 1.0 - alpha * beta
    inward = _inward(t, g)
    return [linear & ~inward, linear & inward, ~linear & ~inward, ~linear & inward]
