"""An independent NumPy/Python reference for the AdaSTE backward, written from docs/method.md's
table and the official `FenBPOpt.get_grad`, one element at a time, in float64. Tests compare
`adaste_tf.ops` and the quantizer's gradient against it."""

from __future__ import annotations

import numpy as np


def paper_scale_one(theta: float, dy: float, alpha: float, beta: float, max_scale: float) -> float:
    """The derived rule for one weight (docs/method.md, "The backward table")."""
    a = abs(theta)
    theta_sign = 1.0 if theta >= 0 else -1.0  # larq: sign(0) = +1
    inward = dy != 0 and np.sign(dy) == theta_sign
    k = 1.0 - alpha * beta
    if alpha * beta >= 1.0:
        if not inward:
            return 0.0
        value = np.inf if a == 0 else 2.0 / a
    elif a >= k:
        if not inward:
            return 0.0
        value = np.inf if a == 0 else (1 + 2 * beta + alpha * beta) / ((1 + beta) * a)
    else:
        if not inward:
            return 1.0 / (1.0 + beta)
        if a == 0:
            # limit a -> 0: infinite when beta > 0; identity STE (1) when beta == 0
            value = np.inf if beta > 0 else 1.0
        else:
            value = (2 * beta * (1 + alpha) + a) / ((1 + beta) * a)
    return min(value, max_scale)


def official_scale_one(
    theta: float, dy: float, alpha: float, beta: float, max_scale: float = 0.5
) -> float:
    """`FenBPOpt.get_grad` of intellhave/AdaSTE for one weight, branch by branch."""
    ab = alpha * beta
    if ab < 1:
        k = 1 - ab
        if abs(dy) <= 1e-3:
            return 1.0 / (1.0 + beta)
        inward = (dy > 0 and theta > 0) or (dy < 0 and theta < 0)
        if theta > max(1e-6, k) or theta < min(-1e-6, -k):  # saturated
            if not inward:
                return 0.0
            return float(np.clip((1 + 2 * beta + ab) / (1 + beta) / abs(theta), 0, max_scale))
        if 1e-6 < abs(theta) < k:  # linear zone, strict bounds as in the official masks
            if not inward:
                return 1.0 / (1.0 + beta)
            return float(
                np.clip((2 * beta * (1 + alpha) - theta) / (1 + beta) / abs(theta), 0, max_scale)
            )
        return 1.0 / (1.0 + beta)
    if abs(dy) <= 1e-3 or abs(theta) <= 1e-3:
        return 1.0
    inward = (dy > 0) == (theta > 0)
    return float(np.clip(1.0 / abs(theta), 0, max_scale)) if inward else 0.0


def bounded_scale_one(
    theta: float,
    dy: float,
    alpha: float,
    beta: float,
    max_scale: float,
    flip_reach: float,
    rms: float,
) -> float:
    """The bounded rule for one weight (docs/method.md, "The bounded rule"); `rms` is the RMS
    of the whole gradient tensor."""
    theta_sign = 1.0 if theta >= 0 else -1.0
    inward = dy != 0 and np.sign(dy) == theta_sign
    # a flip is within reach when the perturbation bound times the RMS-normalized gradient
    # reaches |theta|
    # in units of the relaxation's slope 1/(1+beta)
    if inward and rms > 0 and abs(dy) / rms * flip_reach >= max(abs(theta), 2.0**-40):
        return (1.0 + beta) * paper_scale_one(theta, dy, alpha, beta, max_scale)
    if inward or abs(theta) < 1.0:
        return 1.0
    return 0.0


def scale(theta, dy, alpha, beta, max_scale, variant="paper", flip_reach=3e-4):
    """Elementwise over arrays of the same shape; float64 result."""
    theta = np.asarray(theta, dtype=np.float64)
    dy = np.asarray(dy, dtype=np.float64)
    rms = float(np.sqrt(np.mean(dy**2)))
    out = np.empty(theta.shape, dtype=np.float64)
    for index in np.ndindex(theta.shape):
        t, g = float(theta[index]), float(dy[index])
        if variant == "paper":
            out[index] = paper_scale_one(t, g, alpha, beta, max_scale)
        elif variant == "bounded":
            out[index] = bounded_scale_one(t, g, alpha, beta, max_scale, flip_reach, rms)
        else:
            out[index] = official_scale_one(t, g, alpha, beta, max_scale)
    return out
