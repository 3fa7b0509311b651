"""adaste_tf.ops against the independent oracle (tests/oracle.py), in every execution mode."""

import functools
import itertools

from adaste_tf import ops

import numpy as np
import pytest
import tensorflow as tf

import oracle
from conftest import run_in_mode

# (alpha, beta): products exactly representable in float32, so |theta| = k is a true boundary
# for both float32 and the float64 oracle; plus the paper's defaults, where only points off k
# are compared (k = 0.9999 is not representable).
EXACT_SETTINGS = [
    (0.01, 0.0),  # beta = 0: identity STE inside [-1, 1], leaky outside, only inward
    (0.25, 1.0),  # alpha*beta = 0.25, k = 0.75
    (0.5, 1.5),  # alpha*beta = 0.75, k = 0.25
    (0.5, 2.0),  # alpha*beta = 1: perfectly binary from exactly here
    (0.25, 8.0),  # alpha*beta = 2
]
DY = np.array([0.0, 1e-4, -1e-4, 2e-3, -2e-3, 0.5, -0.5, 3.0, -3.0], dtype=np.float32)


def theta_grid(k: float) -> np.ndarray:
    base = [0.0, 1e-7, 1e-5, 5e-4, 2e-3, 0.05, 0.3, 0.9, 1.0, 1.5, 10.0]
    if 0 < k <= 1:
        base += [
            k,
            float(np.nextafter(np.float32(k), np.float32(0))),
            float(np.nextafter(np.float32(k), np.float32(2))),
        ]
    values = np.array(base, dtype=np.float32)
    return np.concatenate([values, -values[values > 0]])


def grid(alpha, beta):
    theta = theta_grid(1 - alpha * beta)
    pairs = np.array(list(itertools.product(theta, DY)), dtype=np.float32)
    return pairs[:, 0], pairs[:, 1]


def scale_in_mode(fn, mode, theta, dy, alpha, beta, max_scale):
    beta_var = tf.Variable(beta, dtype=tf.float32)  # a tensor beta, as the quantizer passes it

    def compute(t, g):
        return fn(t, g, alpha, tf.convert_to_tensor(beta_var), max_scale)

    return run_in_mode(compute, mode)(tf.constant(theta), tf.constant(dy)).numpy()


@pytest.mark.parametrize("alpha,beta", EXACT_SETTINGS)
@pytest.mark.parametrize("max_scale", [0.5, 10.0])
def test_paper_scale_matches_oracle(alpha, beta, max_scale, execution_mode):
    theta, dy = grid(alpha, beta)
    got = scale_in_mode(ops.paper_scale, execution_mode, theta, dy, alpha, beta, max_scale)
    want = oracle.scale(theta, dy, alpha, beta, max_scale, "paper")
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)


@pytest.mark.parametrize("alpha,beta", EXACT_SETTINGS)
def test_official_scale_matches_oracle(alpha, beta, execution_mode):
    theta, dy = grid(alpha, beta)
    got = scale_in_mode(ops.official_scale, execution_mode, theta, dy, alpha, beta, 0.5)
    want = oracle.scale(theta, dy, alpha, beta, 0.5, "official")
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=0)


@pytest.mark.parametrize("variant", ["bounded", "paper", "official"])
def test_default_hyperparameters_off_the_boundary(variant, rng):
    alpha, beta = 0.01, 0.01
    k = 1 - alpha * beta
    theta = rng.uniform(-3, 3, 4000).astype(np.float32)
    theta = theta[np.abs(np.abs(theta) - k) > 1e-5]
    dy = rng.normal(0, 0.01, theta.shape).astype(np.float32)
    max_scale = {"bounded": 1.0, "paper": 10.0, "official": 0.5}[variant]
    got = ops.scale(theta, dy, variant, alpha, beta, max_scale).numpy()
    want = oracle.scale(theta, dy, alpha, beta, max_scale, variant)
    np.testing.assert_allclose(got, want, rtol=2e-6)


def test_official_differs_from_paper_where_adaste_md_says():
    alpha, beta = 0.01, 0.01
    # 3. linear zone, inward, theta > 0: official numerator 2b(1+a) - theta, clamped at 0
    assert ops.official_scale([0.3], [1.0], alpha, beta, 0.5).numpy()[0] == 0.0
    paper = ops.paper_scale([0.3], [1.0], alpha, beta, 10.0).numpy()[0]
    assert paper == pytest.approx((2 * beta * 1.01 + 0.3) / (1.01 * 0.3), rel=1e-6)
    # ... and equal to the derived value for theta < 0 (up to the clamp)
    got = ops.official_scale([-0.3], [-1.0], alpha, beta, 10.0).numpy()[0]
    assert got == pytest.approx(paper, rel=1e-6)
    # 4. perfectly binary, inward: 1/a instead of 2/a
    assert ops.official_scale([4.0], [1.0], 0.5, 2.0, 10.0).numpy()[0] == pytest.approx(0.25)
    assert ops.paper_scale([4.0], [1.0], 0.5, 2.0, 10.0).numpy()[0] == pytest.approx(0.5)
    # 1. gates: tiny gradients get the default scale, even outward in the saturated zone
    assert ops.official_scale([2.0], [-1e-4], alpha, beta).numpy()[0] == pytest.approx(1 / 1.01)
    assert ops.paper_scale([2.0], [-1e-4], alpha, beta, 10.0).numpy()[0] == 0.0


def test_properties_of_the_paper_rule():
    alpha, beta = 0.01, 0.05
    k = 1 - alpha * beta
    t = np.linspace(0.01, 3, 301).astype(np.float32)
    ones = np.ones_like(t)
    s = lambda th, g: ops.paper_scale(th, g, alpha, beta, 1e9).numpy()  # noqa: E731
    # symmetric under (theta, dy) -> (-theta, -dy)
    np.testing.assert_array_equal(s(t, ones), s(-t, -ones))
    np.testing.assert_array_equal(s(t, -ones), s(-t, ones))
    # inward continuous across a = k
    below = s(np.float32([k - 1e-4]), np.float32([1.0]))
    above = s(np.float32([k + 1e-4]), np.float32([1.0]))
    np.testing.assert_allclose(below, above, rtol=1e-3)
    # inward continuous across alpha*beta = 1
    a = np.float32([1.7])
    just_below = ops.paper_scale(a, [1.0], 0.5, 1.9999, 1e9).numpy()
    at = ops.paper_scale(a, [1.0], 0.5, 2.0, 1e9).numpy()
    np.testing.assert_allclose(just_below, at, rtol=1e-4)


def test_beta_zero_is_identity_inside_and_leaky_toward_a_flip_outside():
    theta = np.float32([-0.9, -0.2, 0.0, 0.2, 0.9, 2.0, 4.0, -4.0])
    s_in = ops.paper_scale(theta, np.sign(theta) + (theta == 0), 0.01, 0.0, 1e9).numpy()
    np.testing.assert_allclose(s_in, [1, 1, 1, 1, 1, 0.5, 0.25, 0.25], rtol=1e-6)
    s_out = ops.paper_scale(theta, -np.sign(theta) - (theta == 0), 0.01, 0.0, 1e9).numpy()
    np.testing.assert_allclose(s_out, [1, 1, 1, 1, 1, 0, 0, 0])


@pytest.mark.parametrize("flip_reach,want", [(3e-4, [2.0, 2.0, 2.0, 1.0]), (0.0, [1.0] * 4)])
def test_the_bounded_rule_flips_what_its_bound_reaches_and_nothing_without_one(
    flip_reach, want, execution_mode
):
    # Inward steps of RMS size: theta = 0 and 1e-13 (below the 2^-40 floor) and 1e-4 are within
    # a reach of 3e-4 and get the capped flip scale, (1 + beta) * max_scale; 0.5 is not. With
    # flip_reach = 0 no weight is in reach, theta = 0 included: the slope, 1, everywhere.
    theta, dy = np.array([0.0, 1e-13, 1e-4, 0.5], np.float32), np.ones(4, np.float32)
    bounded = functools.partial(ops.bounded_scale, flip_reach=flip_reach)
    got = scale_in_mode(bounded, execution_mode, theta, dy, 0.01, 1.0, 1.0)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(
        oracle.scale(theta, dy, 0.01, 1.0, 1.0, "bounded", flip_reach), want, rtol=1e-12
    )


@pytest.mark.parametrize("shape", [(1,), (7,), (8,), (9,), (3, 3, 1, 5), (784, 512), (5, 4099)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [True, False], ids=["rows", "neighbours"])
def test_the_sum_of_squares_equals_numpys(shape, dtype, rows, execution_mode, rng, monkeypatch):
    # The bounded rule's RMS comes from ops._sum_of_squares, written for XLA's CPU backend in one
    # of two forms by TensorFlow's version (docs/performance.md): both forms, at sizes below, at
    # and past a multiple of 8, in every mode.
    monkeypatch.setattr(ops, "_XLA_FUSES_MAJOR_AXIS_SUMS", rows)
    g = rng.standard_normal(shape).astype(dtype)
    got = run_in_mode(ops._sum_of_squares, execution_mode)(tf.constant(g)).numpy()
    assert got.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(got, np.sum(g.astype(np.float64) ** 2), rtol=rtol)


def test_sign_maps_zero_to_plus_one_like_larq():
    import larq as lq

    x = tf.constant([-1.5, -0.0, 0.0, 1e-30, 2.0])
    np.testing.assert_array_equal(ops.sign(x).numpy(), lq.math.sign(x).numpy())
    np.testing.assert_array_equal(ops.sign(x).numpy(), [-1, 1, 1, 1, 1])


def test_relaxed_weight_matches_definition_and_saturates():
    alpha, beta = 0.01, 0.3
    theta = np.linspace(-2, 2, 81).astype(np.float32)
    sign = np.where(theta >= 0, 1.0, -1.0)
    want = np.clip((theta + beta * (1 + alpha) * sign) / (1 + beta), -1, 1)
    np.testing.assert_allclose(ops.relaxed_weight(theta, alpha, beta).numpy(), want, rtol=1e-6)
    k = 1 - alpha * beta
    sat = np.abs(theta) >= k
    np.testing.assert_array_equal(ops.relaxed_weight(theta, alpha, beta).numpy()[sat], sign[sat])


def test_relaxed_weight_is_the_minimizer_of_the_inner_objective():
    alpha, beta = 0.05, 0.4
    w = np.linspace(-1, 1, 200001)
    for theta in [-1.3, -0.5, -0.01, 0.2, 0.7, 2.0]:
        energy = 0.5 * (w - theta) ** 2 + beta / 2 * (np.abs(w) - (1 + alpha)) ** 2
        brute = w[np.argmin(energy)]
        assert ops.relaxed_weight(np.float32([theta]), alpha, beta).numpy()[0] == pytest.approx(
            brute, abs=2e-5
        )


@pytest.mark.parametrize("dtype", [tf.float32, tf.float16, tf.bfloat16])
@pytest.mark.parametrize("variant", ["bounded", "paper", "official"])
@pytest.mark.parametrize("beta", [0.0, 0.01, 50.0, 1e4])
def test_no_nan_or_inf_in_low_precision(dtype, variant, beta):
    finfo_max = float(dtype.max)
    theta = np.array(
        [0.0, -0.0, 1e-30, 1e-8, 6e-8, 1e-3, 0.5, 0.9999, 1.0, 3.0, 100.0, finfo_max / 4],
        dtype=np.float64,
    )
    theta = np.concatenate([theta, -theta])
    dy = np.array([0.0, 1e-8, 1e-3, 1.0, 1000.0])
    dy = np.concatenate([dy, -dy])
    t, g = np.meshgrid(theta, dy)
    t = tf.cast(t.ravel(), dtype)
    g = tf.cast(g.ravel(), dtype)
    scale = ops.scale(t, g, variant, 0.01, beta, 10.0)
    assert scale.dtype == dtype
    grad = ops.scaled_gradient(t, g, variant, 0.01, beta, 10.0)  # what the backward returns
    assert grad.dtype == dtype
    # Finite wherever the true value is a finite value of the dtype. Only the bounded rule's flip
    # scale, up to (1 + beta) * max_scale in the slope's units, exceeds max_scale: there, beyond
    # float16's largest value, inf is the right answer (loss scaling skips such a step).
    want = oracle.scale(
        *(tf.cast(v, tf.float64).numpy() for v in (t, g)), 0.01, beta, 10.0, variant
    )
    fits = want <= finfo_max / 2
    grad_fits = np.abs(tf.cast(g, tf.float64).numpy()) * want <= finfo_max / 2
    assert np.all(np.isfinite(tf.cast(scale, tf.float32).numpy())[fits])
    assert np.all(np.isfinite(tf.cast(grad, tf.float32).numpy())[grad_fits])
    if variant != "bounded":  # every scale and gradient of these fits: the check is complete
        assert fits.all() and grad_fits.all()
