"""Mixed precision: AdaSTE under `mixed_float16` and `mixed_bfloat16` Keras policies.

Under a mixed policy the latent weights stay float32 variables and the layer computes in
float16/bfloat16: the quantizer receives a float16 cast of the kernel and a float16 dy. The
backward computes its scale in float32 (`adaste_tf.ops`), and beta, a variable created with
`autocast=False`, is read in float32, so a beta that float16 cannot represent still selects the
right regime. Under `mixed_float16` Keras wraps the optimizer in a `LossScaleOptimizer`.
"""

import adaste_tf
from adaste_tf import quantizers
from adaste_tf.callbacks import RelaxationScheduler, find_adaste_quantizers
from adaste_tf.quantizers import AdaSTE

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

import oracle

POLICIES = ("mixed_float16", "mixed_bfloat16")
LOW = {"mixed_float16": tf.float16, "mixed_bfloat16": tf.bfloat16}
EPS = {"mixed_float16": 2.0**-10, "mixed_bfloat16": 2.0**-7}  # spacing of values in [1, 2)


@pytest.fixture(params=POLICIES)
def policy(request):
    """Sets the global policy for one test and always puts float32 back."""
    request.addfinalizer(lambda: tf.keras.mixed_precision.set_global_policy("float32"))
    tf.keras.mixed_precision.set_global_policy(request.param)
    return request.param


def _low(values, dtype) -> np.ndarray:
    """`values` rounded to `dtype` (float16 or bfloat16), returned as float32."""
    return tf.cast(tf.cast(tf.constant(values, tf.float32), dtype), tf.float32).numpy()


def _mlp():
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((12,)),
            lq.layers.QuantDense(32, kernel_quantizer=AdaSTE(), use_bias=False),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.Activation("relu"),
            lq.layers.QuantDense(3, kernel_quantizer=AdaSTE()),
            # The logits in float32, as Keras recommends for a numerically stable softmax.
            tf.keras.layers.Activation("linear", dtype="float32"),
        ]
    )


def _data(n=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12)).astype(np.float32)
    y = (x[:, :3] @ rng.normal(size=(3,)) > 0).astype(np.int64) + (x[:, 3] > 1)
    return x, y


def test_fit_keeps_float32_latent_weights_and_beta(policy):
    x, y = _data()
    model = _mlp()
    model.compile(
        tf.keras.optimizers.Adam(0.01),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    if policy == "mixed_float16":  # Keras adds loss scaling when compiling under this policy
        assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    history = model.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[RelaxationScheduler()])
    assert model.layers[0].compute_dtype == LOW[policy].name
    assert model.layers[0].output.dtype == LOW[policy]
    assert {w.dtype for w in model.trainable_weights} == {tf.float32}
    for w in model.weights:
        assert np.isfinite(w.numpy()).all(), w.name
    for q in find_adaste_quantizers(model):
        assert q.beta_variable.dtype == tf.float32
        # autocast=False: not wrapped, so never read as float16 (no public class to check for)
        assert "AutoCast" not in type(q.beta_variable).__name__
    np.testing.assert_allclose(
        history.history["beta"],
        [min(0.01 * 1.05 ** (125 * e + 1), 100.0) for e in range(4)],
        rtol=1e-6,
    )  # the default: the official path within the 4 epochs
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[-1] < losses[0], losses


def test_beta_reaches_the_backward_in_float32(policy, monkeypatch):
    seen = []
    original = quantizers.adaste_sign

    def spy(x, beta, **kwargs):
        seen.append((x.dtype, tf.convert_to_tensor(beta).dtype))
        return original(x, beta, **kwargs)

    monkeypatch.setattr(quantizers, "adaste_sign", spy)
    layer = lq.layers.QuantDense(4, kernel_quantizer=AdaSTE(beta=0.3))
    layer(tf.ones((2, 3)))
    assert seen == [(LOW[policy], tf.float32)]


def _boundary_case(low_dtype, alpha=0.01):
    """A beta and a latent weight theta (representable in `low_dtype`) with theta in the linear
    zone for beta in float32 but saturated for beta rounded to `low_dtype`:
    `1 - alpha*round(beta) <= theta < 1 - alpha*beta`, computed in float32 as the code does.
    Outward, the scale is then 1/(1+beta) in float32 but 0 if beta were rounded."""
    betas = np.arange(1.0, 90.0, 0.001, dtype=np.float32)
    rounded = _low(betas, low_dtype)
    a = np.float32(alpha)
    k32 = np.float32(1) - a * betas
    k_low = np.float32(1) - a * rounded
    theta = _low(k_low, low_dtype)  # the nearest representable value
    theta = np.where(theta < k_low, _low(k_low + np.abs(k_low) * 2.0**-6, low_dtype), theta)
    ok = (k_low <= theta) & (theta < k32)
    index = int(np.flatnonzero(ok)[0])
    return float(betas[index]), float(theta[index])


def test_beta_between_low_precision_values_selects_the_float32_regime(policy):
    beta, theta_value = _boundary_case(LOW[policy])
    q = AdaSTE(alpha=0.01, beta=beta, variant="paper")  # the rule with a linear zone
    theta = tf.Variable([theta_value, -theta_value])
    with tf.GradientTape() as tape:
        out = q(theta)  # the quantizer layer casts theta to the low dtype, exactly
        loss = tf.reduce_sum(tf.cast(out, tf.float32) * tf.constant([-1.0, 1.0]))  # outward
    grad = tape.gradient(loss, theta).numpy()
    # Linear zone: |dL/dtheta| = 1/(1+beta) (to the low dtype's rounding), not 0 (saturated).
    np.testing.assert_allclose(np.abs(grad), 1.0 / (1.0 + beta), rtol=2 * EPS[policy])


@pytest.mark.parametrize("variant", quantizers.VARIANTS)
def test_kernel_gradient_matches_the_oracle_at_low_precision(policy, variant, rng):
    x = rng.normal(size=(16, 8)).astype(np.float32)
    r = rng.normal(size=(16, 5)).astype(np.float32)
    layer = lq.layers.QuantDense(
        5, kernel_quantizer=AdaSTE(variant=variant, beta=0.2), use_bias=False
    )
    layer.build(x.shape)
    theta = rng.uniform(-1.2, 1.2, size=(8, 5)).astype(np.float32)
    layer.kernel.assign(theta)

    @tf.function
    def gradient(x, r):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.cast(layer(x), tf.float32) * r)
        return tape.gradient(loss, layer.kernel.latent_variable)

    got = gradient(x, r).numpy()
    assert got.dtype == np.float32 and np.isfinite(got).all()
    low = LOW[policy]
    theta_low, x_low, r_low = (_low(v, low) for v in (theta, x, r))
    dy = x_low.T.astype(np.float64) @ r_low
    max_scale = layer.kernel_quantizer.max_scale
    want = dy * oracle.scale(theta_low, dy, 0.01, 0.2, max_scale, variant)
    # dy itself is rounded to the low dtype; where it is near zero its sign (inward/outward)
    # may differ, which moves the gradient by at most |dy| * max_scale.
    slack = 4 * EPS[policy] * np.abs(dy).max() * max(1.0, max_scale)
    np.testing.assert_allclose(got, want, rtol=4 * EPS[policy], atol=slack)


def test_loss_scaling_recovers_from_overflow_with_adaste():
    """A loss scale far too large overflows float16 in the backward; the LossScaleOptimizer skips
    those steps and lowers the scale, and training then proceeds with finite weights."""
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        x, y = _data()
        model = _mlp()
        start = [w.numpy() for w in model.trainable_weights]
        optimizer = tf.keras.mixed_precision.LossScaleOptimizer(
            tf.keras.optimizers.Adam(0.01), initial_scale=2.0**40
        )
        model.compile(optimizer, tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        history = model.fit(
            x, y, batch_size=16, epochs=5, verbose=0, callbacks=[RelaxationScheduler()]
        )
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    scale = float(optimizer.loss_scale.numpy())
    assert scale < 2.0**20, scale  # lowered from 2**40 by the skipped steps
    assert np.isfinite(history.history["loss"][-1])
    end = [w.numpy() for w in model.trainable_weights]
    assert all(np.isfinite(w).all() for w in end)
    assert any(not np.array_equal(a, b) for a, b in zip(start, end))  # some steps were applied
    assert history.history["loss"][-1] < history.history["loss"][0]


@pytest.mark.parametrize("mode", ["function", "jit"])
def test_kernel_is_synced_and_activation_is_not_under_the_policy(policy, mode, monkeypatch):
    """The cast of the kernel to the low dtype still counts as a weight (summed over replicas
    under tf.distribute); the layer's input does not."""
    requested = {}
    original = quantizers.adaste_sign

    def spy(x, beta, **kwargs):
        requested[tuple(x.shape)] = kwargs["sync_replicas"]
        return original(x, beta, **kwargs)

    monkeypatch.setattr(quantizers, "adaste_sign", spy)
    layer = lq.layers.QuantDense(4, kernel_quantizer="adaste", input_quantizer="adaste")
    tf.function(layer, jit_compile=mode == "jit")(tf.ones((2, 3)))
    assert requested == {(3, 4): True, (2, 3): False}


def test_flip_scales_that_overflow_float16_only_lower_the_loss_scale():
    """The bounded rule's flip scale, up to (1 + beta) * max_scale = 101 at the end of the
    default path, makes a few float16 gradients overflow where `ste_sign`'s do not. The
    LossScaleOptimizer skips those steps and halves its scale, as it is built to, and training
    goes on (docs/reliability.md quotes the printed numbers)."""
    try:
        x, y = adaste_tf.data.load_arrays("fashion_mnist", "train")
    except (OSError, ValueError):
        pytest.skip("no local Fashion-MNIST")
    x, y = x[:12800].astype(np.float32) / 255.0, y[:12800]
    scales, accuracy = {}, {}
    tf.keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        for estimator in ("adaste", "ste_sign"):
            tf.keras.utils.set_random_seed(0)
            options = dict(kernel_quantizer=estimator, use_bias=False)
            if estimator == "ste_sign":
                options["kernel_constraint"] = "weight_clip"
            model = tf.keras.Sequential(
                [
                    tf.keras.layers.Flatten(input_shape=(28, 28)),
                    lq.layers.QuantDense(256, **options),
                    tf.keras.layers.BatchNormalization(),
                    tf.keras.layers.Activation("relu"),
                    lq.layers.QuantDense(10, **options),
                    tf.keras.layers.Activation("linear", dtype="float32"),
                ]
            )
            model.compile(
                tf.keras.optimizers.Adam(1e-3),
                tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"],
            )
            seen: list[float] = []
            record = tf.keras.callbacks.LambdaCallback(
                on_train_batch_end=lambda batch, logs, seen=seen, model=model: seen.append(
                    float(model.optimizer.loss_scale)
                )
            )
            callbacks = [record] + ([RelaxationScheduler()] if estimator == "adaste" else [])
            history = model.fit(x, y, batch_size=128, epochs=4, verbose=0, callbacks=callbacks)
            assert all(np.isfinite(w).all() for w in model.get_weights())
            scales[estimator], accuracy[estimator] = seen, history.history["accuracy"][-1]
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")
    for estimator, seen in scales.items():
        print(
            f"{estimator}: loss scale 2^{np.log2(seen[0]):.0f} -> 2^{np.log2(seen[-1]):.0f} over "
            f"{len(seen)} steps, {np.sum(np.diff(seen) < 0)} halvings; last epoch's training "
            f"accuracy {accuracy[estimator]:.3f}"
        )
    assert min(scales["ste_sign"]) == 2.0**15  # the baseline never overflows here
    assert 2.0**8 <= min(scales["adaste"]) < 2.0**15  # a few skipped steps, not a collapse
    assert accuracy["adaste"] > accuracy["ste_sign"] - 0.02
