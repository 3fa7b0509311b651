"""adaste_tf.keras3's quantizers against the NumPy oracle (tests/oracle.py, the larq path's
reference): the kernel gradient through QuantDense for every rule, alpha and beta, eager and
jit; activations; dtypes; configs and bad arguments."""

import subprocess
import sys

from adaste_tf import _rules
from adaste_tf.keras3 import AdaSTE, QuantDense, SteSign, ops, quantizers

import keras
import numpy as np
import pytest

import oracle
from keras3.keras3_helpers import gradients, kernel_case, kernel_gradient_cases

# The keys of the larq path's AdaSTE.get_config (tests/test_keras3_tf_backend.py checks they
# are still those).
LARQ_CONFIG_KEYS = {
    "name", "trainable", "dtype", "alpha", "beta", "max_scale", "variant", "flip_reach",
    "sync_replicas", "metrics", "current_beta", "_config_version",
}  # fmt: skip


def _dense(quantizer, theta, units=5, **kwargs):
    layer = QuantDense(units, kernel_quantizer=quantizer, use_bias=False, **kwargs)
    layer.build((None, theta.shape[0]))
    layer.kernel.assign(theta)
    return layer


@kernel_gradient_cases
def test_quantdense_kernel_gradient_equals_the_larq_paths(
    variant, alpha, beta_times_alpha, jit, rng
):
    beta = beta_times_alpha / alpha
    x, r, theta = kernel_case(rng, alpha, beta)
    q = AdaSTE(alpha=alpha, beta=0.01, variant=variant, max_scale=3.0)
    q.beta = beta  # the variable, not the constructor's beta, drives the backward
    got = gradients(_dense(q, theta), x, r, jit)
    dy = x.T @ r  # dL/dW at the binary weights, by hand
    want = dy * oracle.scale(theta, dy, alpha, np.float32(beta), 3.0, variant)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_the_default_quantizer_is_the_bounded_rule_with_its_defaults(jit, rng):
    x = rng.normal(size=(16, 40)).astype(np.float32)
    r = rng.normal(size=(16, 30)).astype(np.float32)
    theta = rng.normal(scale=1e-4, size=(40, 30)).astype(np.float32)  # many within flip reach
    got = gradients(_dense("adaste", theta, units=30), x, r, jit)
    dy = x.T @ r
    want = dy * oracle.scale(theta, dy, 0.01, np.float32(0.01), 1.0, "bounded", 3e-4)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # Some weights within reach get the flip scale, (1 + beta) * max_scale, not the slope's 1.
    assert (np.abs(got / dy - 1.01) < 1e-5).any() and (np.abs(got / dy - 1.0) < 1e-6).any()


def test_forward_is_exact_sign_with_zero_to_plus_one():
    x = keras.ops.convert_to_tensor([-3.0, -1e-30, -0.0, 0.0, 1e-30, 0.4, 7.0])
    for quantizer in (AdaSTE(), SteSign()):
        got = keras.ops.convert_to_numpy(quantizer(x))
        np.testing.assert_array_equal(got, [-1, -1, 1, 1, 1, 1, 1])


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("input_quantizer", ["adaste", "ste_sign"])
def test_activations_get_ste_signs_backward(input_quantizer, jit, rng):
    x = rng.uniform(-2, 2, size=(4, 6)).astype(np.float32)
    r = rng.normal(size=(4, 3)).astype(np.float32)
    theta = rng.normal(size=(6, 3)).astype(np.float32)
    layer = _dense(None, theta, units=3, input_quantizer=input_quantizer)
    if input_quantizer == "adaste":
        layer.input_quantizer.beta = 50.0  # beta does not matter for an activation
    got = gradients(layer, x, r, jit, wrt="input")
    want = np.where(np.abs(x) <= 1.0, r @ theta.T, 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_kernels_get_the_float32_rule_cast_back(dtype, rng):
    theta = rng.uniform(-1.5, 1.5, size=(64,)).astype(np.float32)
    dy = rng.normal(size=(64,)).astype(np.float32)
    t16 = keras.ops.cast(theta, dtype)
    got = ops.scaled_gradient(t16, keras.ops.cast(dy, dtype), "paper", 0.01, 0.3, 1.0)
    assert keras.backend.standardize_dtype(got.dtype) == dtype
    t = keras.ops.convert_to_numpy(keras.ops.cast(t16, "float32"))
    d = keras.ops.convert_to_numpy(keras.ops.cast(keras.ops.cast(dy, dtype), "float32"))
    want = d * oracle.scale(t, d, 0.01, 0.3, 1.0, "paper")
    got = keras.ops.convert_to_numpy(keras.ops.cast(got, "float32"))
    np.testing.assert_allclose(got, want, rtol=1e-2, atol=1e-2)


@pytest.mark.parametrize("variant", _rules.VARIANTS)
def test_the_scale_functions_equal_the_oracle(variant, rng):
    theta = rng.uniform(-1.5, 1.5, size=(200,)).astype(np.float32)
    dy = rng.normal(size=(200,)).astype(np.float32)
    got = keras.ops.convert_to_numpy(ops.scale(theta, dy, variant, 0.01, 0.5, 1.0))
    want = oracle.scale(theta, dy, 0.01, 0.5, 1.0, variant)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_config_has_the_larq_paths_keys_and_round_trips():
    q = AdaSTE(alpha=0.02, beta=0.05, variant="official", flip_reach=1e-3)
    q.beta = 7.0
    config = q.get_config()
    assert set(config) == LARQ_CONFIG_KEYS
    assert config["max_scale"] == _rules.OFFICIAL_MAX_SCALE  # the official rule's default cap
    again = AdaSTE.from_config(config)
    assert again.get_config() == config
    assert (again.beta, again.initial_beta) == (7.0, 0.05)
    s = SteSign(clip_value=2.0)
    assert SteSign.from_config(s.get_config()).get_config() == s.get_config()


def test_a_config_from_a_newer_adaste_tf_is_refused():
    config = {**AdaSTE().get_config(), "_config_version": quantizers.CONFIG_VERSION + 1}
    with pytest.raises(ValueError, match="newer adaste_tf"):
        AdaSTE.from_config(config)


@pytest.mark.parametrize(
    "make, parameter",
    [
        (lambda: AdaSTE(alpha=0.0), "alpha"),
        (lambda: AdaSTE(beta=-1.0), "beta"),
        (lambda: AdaSTE(variant="larq"), "variant"),
        (lambda: AdaSTE(max_scale=float("nan")), "max_scale"),
        (lambda: AdaSTE(flip_reach=-1.0), "flip_reach"),
        (lambda: AdaSTE(sync_replicas=1), "sync_replicas"),
        (lambda: AdaSTE(metrics=["flip_ratio"]), "metrics"),
        (lambda: SteSign(clip_value=0.0), "clip_value"),
        (lambda: QuantDense(2, kernel_quantizer="adaste_sign"), "kernel_quantizer"),
        (lambda: QuantDense(2, input_quantizer=3), "input_quantizer"),
    ],
)
def test_bad_arguments_are_errors_that_name_the_parameter(make, parameter):
    with pytest.raises((ValueError, TypeError), match=f"`{parameter}`"):
        make()


def test_importing_the_keras3_path_imports_neither_tensorflow_nor_larq():
    code = (
        "import sys\nfrom adaste_tf import keras3\n"
        "print(sorted(m for m in ('tensorflow', 'larq', 'tf_keras') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
