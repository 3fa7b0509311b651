r"""AdaSTE's rules written once, against an array namespace: no TensorFlow, no Keras.

Every rule of the backward (the three scales, the relaxed weight, the regimes, `sign`) is
written here once, as a function whose first argument `xp` is an `ArrayOps`: the dozen array
operations the rules use. The larq path (`adaste_tf.ops`) calls these functions with
TensorFlow's operations (`ops._TF`), so the traced and compiled graph is the one a direct
TensorFlow spelling makes; the Keras 3 path (`adaste_tf.keras3`) calls them with
`keras.ops` (JAX or TensorFlow backend). Neither path has a copy of the rules: a change here
changes both, and the tests of each path check it against the NumPy oracle
(`tests/oracle.py`). The math, and why each term is written as it is, is documented in
`adaste_tf.ops` and `docs/method.md`.

The operations are only those that `tf` and `keras.ops` spell alike or nearly so; anything
backend-specific (the sum of squares that TensorFlow's XLA compiles best, dtype objects) comes
in through `ArrayOps`. Python operators (`+`, `*`, `/`, `<`, `&`, `~`, unary `-`) are used on
the arrays directly: both backends' arrays define them.

Examples:
    >>> import numpy as np
    >>> from adaste_tf import _rules
    >>> theta = np.array([0.5, 0.5, 2.0, 2.0], np.float32)
    >>> dy = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    >>> _rules.scale(_rules.NUMPY, theta, dy, "paper", 0.01, 0.0, 10.0)
    array([1. , 1. , 0.5, 0. ], dtype=float32)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from adaste_tf import validation

__all__ = [
    "ArrayOps",
    "NUMPY",
    "VARIANTS",
    "REGIMES",
    "DEFAULT_FLIP_REACH",
    "OFFICIAL_GRAD_THRESHOLD",
    "OFFICIAL_THETA_THRESHOLD",
    "OFFICIAL_BINARY_THETA_THRESHOLD",
    "OFFICIAL_MAX_SCALE",
    "DEFAULT_MAX_SCALE",
    "sign",
    "in_compute_dtype",
    "relaxed_weight",
    "terms",
    "scale",
    "scaled_gradient",
    "regimes",
]

# The rules by name: "bounded" (the default) and "paper" are derived in docs/method.md;
# "official" is the official code's rule.
VARIANTS = ("bounded", "paper", "official")

# Gates and clamp of the official `FenBPOpt.get_grad` (intellhave/AdaSTE).
OFFICIAL_GRAD_THRESHOLD = 1e-3
OFFICIAL_THETA_THRESHOLD = 1e-6
OFFICIAL_BINARY_THETA_THRESHOLD = 1e-3
OFFICIAL_MAX_SCALE = 0.5

# Cap on the inward scale of the "bounded" and "paper" variants, chosen by measurement for the
# paper's rule (docs/usage.md, "The quantizer"): above 1, inward steps outgrow outward ones near
# theta = 0 and the latent weights drift into flipping. The bounded rule applies it only to the
# steps within flip reach.
DEFAULT_MAX_SCALE = 1.0

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
ABS_FLOOR = 2.0**-40


@dataclasses.dataclass(frozen=True)
class ArrayOps:
    """The array operations AdaSTE's rules use, from one backend.

    Each field is a function with the meaning of its NumPy namesake, except: `convert(x)` makes
    an array of `x` (a no-op on one), `cast(x, dtype)` converts and casts, `dtype(x)` is the
    dtype of an array as `cast` accepts it, `float32` and `float64` are such dtypes, `size(x)`
    is the number of elements, and `sum_of_squares(x)` is `sum(x ** 2)` over the whole array,
    in whatever form the backend computes best.

    Examples:
        >>> NUMPY.where(NUMPY.convert([True, False]), 1.0, 2.0)
        array([1., 2.])
    """

    abs: Callable[[Any], Any]
    sqrt: Callable[[Any], Any]
    sign: Callable[[Any], Any]
    minimum: Callable[[Any, Any], Any]
    maximum: Callable[[Any, Any], Any]
    clip: Callable[[Any, float, float], Any]
    where: Callable[[Any, Any, Any], Any]
    not_equal: Callable[[Any, Any], Any]
    ones_like: Callable[[Any], Any]
    zeros_like: Callable[[Any], Any]
    convert: Callable[[Any], Any]
    cast: Callable[[Any, Any], Any]
    dtype: Callable[[Any], Any]
    size: Callable[[Any], Any]
    sum_of_squares: Callable[[Any], Any]
    float32: Any
    float64: Any


def _numpy_ops() -> ArrayOps:
    import numpy as np

    def cast(x, dtype):
        return np.asarray(x).astype(dtype)

    return ArrayOps(
        abs=np.abs,
        sqrt=np.sqrt,
        sign=np.sign,
        minimum=np.minimum,
        maximum=np.maximum,
        clip=np.clip,
        where=np.where,
        not_equal=np.not_equal,
        ones_like=np.ones_like,
        zeros_like=np.zeros_like,
        convert=np.asarray,
        cast=cast,
        dtype=lambda x: x.dtype,
        size=np.size,
        sum_of_squares=lambda x: np.sum(np.square(x)),
        float32=np.dtype("float32"),
        float64=np.dtype("float64"),
    )


# NumPy's operations: for the examples and for checking a rule by hand without a framework (the
# tests' independent oracle is tests/oracle.py, written from the paper's table, not from this).
NUMPY = _numpy_ops()


def sign(xp: ArrayOps, x):
    """Sign with `sign(0) = +1`, as larq's `larq.math.sign`: `sign(sign(x) + 0.1)`, the pattern
    Larq Compute Engine recognizes as binarization.

    Examples:
        >>> sign(NUMPY, NUMPY.convert([-2.0, 0.0, 3.0]))
        array([-1.,  1.,  1.])
    """
    return xp.sign(xp.sign(x) + 0.1)


def in_compute_dtype(xp: ArrayOps, theta, *values) -> list:
    """`theta` and `values` cast to float32 (float64 if theta is float64), the dtype every rule
    computes in whatever the input dtype (float16 cannot overflow in `1/|theta|`).

    Examples:
        >>> [v.dtype.name for v in in_compute_dtype(NUMPY, NUMPY.convert([1.0]), 0.5)]
        ['float64', 'float64']
    """
    theta = xp.convert(theta)
    dtype = xp.float64 if xp.dtype(theta) == xp.float64 else xp.float32
    return [xp.cast(v, dtype) for v in (theta, *values)]


def relaxed_weight(xp: ArrayOps, theta, alpha, beta):
    """The relaxed weight `clip((theta + beta (1 + alpha) sign(theta)) / (1 + beta), -1, 1)`,
    in `theta`'s dtype (`adaste_tf.ops.relaxed_weight`).

    Examples:
        >>> relaxed_weight(NUMPY, NUMPY.convert([-0.2, 0.5, 3.0]), 0.01, 0.0)
        array([-0.2,  0.5,  1. ])
    """
    theta = xp.convert(theta)
    t, alpha, beta = in_compute_dtype(xp, theta, alpha, beta)
    w = (t + beta * (1.0 + alpha) * sign(xp, t)) / (1.0 + beta)
    return xp.cast(xp.clip(w, -1.0, 1.0), xp.dtype(theta))


def _toward_flip(xp: ArrayOps, t, g):
    """`g` signed so that it is positive exactly when a descent step moves `t` toward a flip
    (sign(0) = +1 as in the forward), and so equal to `|g|` there: one select that answers both
    questions the rules ask. dy == 0 counts as outward; its gradient is zero whatever the
    scale."""
    return xp.where(t >= 0, g, -g)


def terms(xp: ArrayOps, theta, dy, variant, alpha, beta, max_scale, flip_reach, owner):
    """The `(n, d)` terms of `variant` in the compute dtype, `scale = n / d`: the one place a
    name picks a rule. `owner` names the caller in the error for an unknown `variant`.

    Examples:
        >>> n, d = terms(NUMPY, NUMPY.convert([0.5]), NUMPY.convert([2.0]), "paper", 0.01, 0.0,
        ...              1.0, DEFAULT_FLIP_REACH, owner="example")
        >>> (n / d).tolist()
        [1.0]
    """
    terms_of: dict[str, Callable[..., tuple]] = {
        "bounded": _bounded_terms,
        "paper": _paper_terms,
        "official": _official_terms,
    }
    validation.choice("variant", variant, tuple(terms_of), owner=owner)
    t, g, *values = in_compute_dtype(xp, theta, dy, alpha, beta, max_scale)
    if variant == "bounded":
        values.append(xp.cast(flip_reach, xp.dtype(t)))
    return terms_of[variant](xp, t, g, *values)


def scale(
    xp: ArrayOps,
    theta,
    dy,
    variant,
    alpha,
    beta,
    max_scale,
    flip_reach=DEFAULT_FLIP_REACH,
    owner="scale",
):
    """The backward scale `n / d` of `variant`, in `theta`'s dtype (`adaste_tf.ops.scale`).

    Examples:
        >>> scale(NUMPY, NUMPY.convert([0.5, -2.0]), NUMPY.convert([2.0, 2.0]), "paper", 0.01,
        ...       0.0, 1.0).tolist()
        [1.0, 0.0]
    """
    return as_scale(
        xp, theta, terms(xp, theta, dy, variant, alpha, beta, max_scale, flip_reach, owner)
    )


def as_scale(xp: ArrayOps, theta, rule_terms):
    """The scale `n / d` of a rule's `(n, d)` terms, in `theta`'s dtype.

    Examples:
        >>> as_scale(NUMPY, NUMPY.convert([1.0]), (NUMPY.convert([1.0]), 2.0))
        array([0.5])
    """
    n, d = rule_terms
    return xp.cast(n / d, xp.dtype(xp.convert(theta)))


def scaled_gradient(
    xp: ArrayOps,
    theta,
    dy,
    variant,
    alpha,
    beta,
    max_scale,
    flip_reach=DEFAULT_FLIP_REACH,
    scale_from=None,
    owner="scaled_gradient",
):
    """The gradient to the latent weights, `(dy * n) / d` with the division last, in `dy`'s
    dtype; the scale is that of `scale_from` (default `dy`). `adaste_tf.ops.scaled_gradient`
    says why the division comes last.

    Examples:
        >>> scaled_gradient(NUMPY, NUMPY.convert([0.5, -2.0]), NUMPY.convert([2.0, 2.0]),
        ...                 "paper", 0.01, 0.0, 1.0).tolist()
        [2.0, 0.0]
    """
    g = in_compute_dtype(xp, theta, dy)[1]
    n, d = terms(
        xp,
        theta,
        dy if scale_from is None else scale_from,
        variant,
        alpha,
        beta,
        max_scale,
        flip_reach,
        owner=owner,
    )
    return xp.cast((g * n) / d, xp.dtype(dy))


def regimes(xp: ArrayOps, theta, dy, alpha, beta) -> list:
    """Boolean masks of the cases of the backward table, in the order of `REGIMES`
    (`adaste_tf.ops.regimes`).

    Examples:
        >>> [m.tolist() for m in regimes(NUMPY, NUMPY.convert([0.5, -0.5]),
        ...                              NUMPY.convert([-1.0, -1.0]), 0.01, 0.0)]
        [[True, False], [False, True], [False, False], [False, False]]
    """
    theta = xp.convert(theta)
    t, g, alpha, beta = in_compute_dtype(xp, theta, dy, alpha, beta)
    linear = xp.abs(t) < 1.0 - alpha * beta
    inward = _toward_flip(xp, t, g) > 0
    return [linear & ~inward, linear & inward, ~linear & ~inward, ~linear & inward]


# -- the rules as ratios n / d ---------------------------------------------------------------
# Every scale of the three rules is a quotient `c / |theta|` in its adaptive cases and a
# constant elsewhere, so each rule is written as terms (n, d) with d = |theta| (floored) where
# it divides and d = 1 where it does not. A cap or clamp of an adaptive scale is a min or max
# of n against max_scale * d, since d > 0. One division per element, taken last, is what lets
# XLA materialize the gradient once (`scaled_gradient`); the scale functions divide the same
# terms. Inside a compiled step the rule is then one elementwise pass whose cost is its number
# of operations per weight, so the scalars (functions of beta) are computed once, outside the
# elementwise terms, and each case costs a select or two (docs/performance.md).


def _paper_coefficients(xp: ArrayOps, alpha, beta):
    """The scalars of the paper's table, `(k, c0, c1_linear, c1_saturated)`: the inward scale is
    `c0 + c1 / |theta|` and the outward one `c0`, with `c0 = 1 / (1 + beta)` and `c1_linear`
    in the linear zone `|theta| < k`, and `c0 = 0` and `c1_saturated` beyond it."""
    one_over = 1.0 / (1.0 + beta)
    k = 1.0 - alpha * beta
    c1_linear = 2.0 * beta * (1.0 + alpha) * one_over
    c1_saturated = xp.where(
        k > 0, (1.0 + 2.0 * beta + alpha * beta) * one_over, xp.cast(2.0, xp.dtype(beta))
    )
    return k, one_over, c1_linear, c1_saturated


def _inward_numerator(xp: ArrayOps, a_safe, linear, c0, c1_linear, c1_saturated, cap):
    """`min(c0 + c1 / a, cap) * a`, the numerator over `a` of the paper's capped inward scale
    (`c0 = 0` when saturated). At beta = 0 (`c1 = 0`) it is `min(c0, cap) * a`: the identity
    STE's limit at theta = 0, not 0 / 0."""
    return xp.minimum(xp.where(linear, c0 * a_safe + c1_linear, c1_saturated), cap * a_safe)


def _paper_terms(xp: ArrayOps, t, g, alpha, beta, max_scale):
    k, c0, c1_linear, c1_saturated = _paper_coefficients(xp, alpha, beta)
    a = xp.abs(t)
    a_safe = xp.maximum(a, ABS_FLOOR)
    linear = a < k
    inward = _toward_flip(xp, t, g) > 0
    numerator = _inward_numerator(xp, a_safe, linear, c0, c1_linear, c1_saturated, max_scale)
    n = xp.where(inward, numerator, xp.where(linear, c0, xp.zeros_like(c0)))
    return n, xp.where(inward, a_safe, xp.ones_like(a_safe))


def _bounded_terms(xp: ArrayOps, t, g, alpha, beta, max_scale, flip_reach):
    # Within reach, (1 + beta) times the paper's inward scale min(c0 + c1 / a, max_scale), the
    # factor folded into the scalars (c0 = 1 / (1 + beta) becomes 1); reach implies inward.
    # Written without 1 / (1 + beta): a scalar division would be a step of its own in the
    # compiled program (XLA does not fuse a division into a loop that would repeat it).
    k = 1.0 - alpha * beta
    widen = 1.0 + beta
    c1_linear = 2.0 * beta * (1.0 + alpha)
    c1_saturated = xp.where(k > 0, 1.0 + 2.0 * beta + alpha * beta, 2.0 * widen)
    a = xp.abs(t)
    a_safe = xp.maximum(a, ABS_FLOOR)
    # tau / rms is a scalar; rms = 0 means dy = 0 everywhere, where the product below is NaN
    # (0 * inf) and no weight is in reach.
    bound = flip_reach / xp.sqrt(xp.sum_of_squares(g) / xp.cast(xp.size(g), xp.dtype(g)))
    toward_flip = _toward_flip(xp, t, g)
    # tau |dy| / rms >= max(a, floor) > 0, with |dy| signed toward the flip: only inward steps
    # (toward_flip > 0) can pass, and with tau = 0 none does.
    reach = toward_flip * bound >= a_safe
    # The inward numerator a + c1_linear (linear zone, a < k) and c1_saturated beyond are equal
    # at a = k and the first grows with a, so their minimum selects the zone (in the binary
    # regime, k <= 0, c1_saturated is the smaller); then the cap, times a.
    numerator = xp.minimum(
        xp.minimum(a_safe + c1_linear, c1_saturated), (widen * max_scale) * a_safe
    )
    # Elsewhere the relaxation's slope, in its own units (1), and 0 for outward steps beyond
    # |theta| >= 1. The size of a non-flipping step does not fall with beta, which optimizers do
    # not fully undo (Adam's epsilon and its lagging second moment, SGD not at all;
    # docs/method.md).
    one = xp.ones_like(a)
    slope = xp.where((toward_flip > 0) | (a < 1.0), one, xp.zeros_like(a))
    return xp.where(reach, numerator, slope), xp.where(reach, a_safe, one)


def _official_terms(xp: ArrayOps, t, g, alpha, beta, max_scale):
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
    lower = xp.where(
        relaxed,
        xp.cast(OFFICIAL_THETA_THRESHOLD, xp.dtype(k)),
        xp.cast(OFFICIAL_BINARY_THETA_THRESHOLD, xp.dtype(k)),
    )
    saturated_from = xp.where(relaxed, xp.maximum(lower, k), lower)
    default = xp.where(relaxed, one_over, xp.cast(1.0, xp.dtype(beta)))
    saturated_numerator = xp.where(
        relaxed, (1.0 + 2.0 * beta + ab) * one_over, xp.cast(1.0, xp.dtype(beta))
    )
    linear_offset = 2.0 * beta * (1.0 + alpha)
    a = xp.abs(t)
    # Officially inward means |dy| > 1e-3 and theta * dy > 0, outward theta * dy < 0. Both
    # cases below also need |theta| > 1e-6, so theta != 0, and there inward is toward_flip >
    # 1e-3, outward toward_flip < -1e-3.
    toward_flip = _toward_flip(xp, t, g)
    adaptive = (toward_flip > OFFICIAL_GRAD_THRESHOLD) & (a > lower) & xp.not_equal(a, k)
    zero = (toward_flip < -OFFICIAL_GRAD_THRESHOLD) & (a > saturated_from)
    # Linear zone: 2 beta (1 + alpha) - theta with theta signed, as officially (k <= 0 in the
    # binary half, so no weight is in it there).
    numerator = xp.where(a < k, (linear_offset - t) * one_over, saturated_numerator)
    # clip(numerator / a, 0, max_scale); every adaptive case has |theta| > 1e-6: no floor.
    clipped = xp.maximum(xp.minimum(numerator, max_scale * a), 0.0)
    n = xp.where(adaptive, clipped, xp.where(zero, xp.zeros_like(a), default * xp.ones_like(a)))
    return n, xp.where(adaptive, a, xp.ones_like(a))
