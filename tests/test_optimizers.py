"""adaste_tf.optimizers.OfficialMomentum against an independent NumPy transcription of the
official update (`FenBPOpt.step` of intellhave/AdaSTE), over several steps, eager and inside
`tf.function`; and larq's Bop refusing AdaSTE-quantized weights in every quantizer slot."""

from __future__ import annotations

from collections.abc import Callable

from adaste_tf.callbacks import RelaxationScheduler
from adaste_tf.optimizers import AdaSTEMomentum, OfficialMomentum
from adaste_tf.quantizers import AdaSTE

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

STEPS = 6


def official_update(
    theta: np.ndarray,
    gradients: list[np.ndarray],
    lr: Callable[[int], float],
    momentum: float,
    gradient_scale: float,
    decay: float,
) -> list[np.ndarray]:
    """theta after each step, in float64, written from the official code's update:

        m     = mu * m + (1 - mu) * (s * g + lambda * theta)
        theta = theta - lr * m / (1 - mu ** t)          (t = 1, 2, ...)

    `lr(t - 1)`: the learning rate of step t, as a schedule sees the step counter before it.
    """
    theta = np.asarray(theta, np.float64)
    m = np.zeros_like(theta)
    path = []
    for t, g in enumerate(gradients, start=1):
        m = momentum * m + (1 - momentum) * (gradient_scale * g + decay * theta)
        theta = theta - lr(t - 1) * m / (1 - momentum**t)
        path.append(theta)
    return path


def _gradients(shape, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype(np.float32) for _ in range(STEPS)]


CASES = {
    # learning rate, momentum, gradient scale, decay
    "defaults": dict(learning_rate=3e-4, momentum=0.9, gradient_scale=1.0, decay=1.0),
    "no-decay": dict(learning_rate=0.1, momentum=0.5, gradient_scale=4.0, decay=0.0),
    # the official recipe's scale, N = 10 x 36 (a 36-example training set), with small gradients
    "official-scale": dict(
        learning_rate=1e-5, momentum=0.9, gradient_scale=(10 * 36) ** 2, decay=1.0
    ),
    "no-momentum": dict(learning_rate=0.05, momentum=0.0, gradient_scale=2.0, decay=0.5),
}


@pytest.mark.parametrize("optimizer_class", [OfficialMomentum, AdaSTEMomentum])
@pytest.mark.parametrize("mode", ["eager", "function", "jit"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_official_update_over_several_steps(case, mode, optimizer_class):
    kwargs = CASES[case]
    start = [
        np.array([[0.3, -1.2, 0.0], [2.0, -0.01, 0.7]], np.float32),
        np.array([-0.5, 0.25], np.float32),
    ]
    variables = [tf.Variable(value) for value in start]
    gradients = [_gradients(value.shape, seed) for seed, value in enumerate(start)]
    scale = 1e-3 if case == "official-scale" else 1.0
    optimizer = optimizer_class(**kwargs)

    def step(grads):
        optimizer.apply_gradients(zip(grads, variables))

    run = step if mode == "eager" else tf.function(step, jit_compile=mode == "jit")
    for t in range(STEPS):
        run([tf.constant(g[t] * scale) for g in gradients])
        for variable, value, grads in zip(variables, start, gradients):
            want = official_update(
                value,
                [g * scale for g in grads[: t + 1]],
                lambda _: kwargs["learning_rate"],
                kwargs["momentum"],
                kwargs["gradient_scale"],
                kwargs["decay"],
            )[-1]
            np.testing.assert_allclose(
                variable.numpy(), want, rtol=2e-5, atol=1e-6, err_msg=f"step {t + 1}"
            )
    assert int(optimizer.iterations) == STEPS


@pytest.mark.parametrize("optimizer_class", [OfficialMomentum, AdaSTEMomentum])
def test_a_learning_rate_schedule_is_read_at_each_step(optimizer_class):
    schedule = tf.keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    variable = tf.Variable([1.0, -2.0])
    gradients = _gradients((2,), seed=3)
    optimizer = optimizer_class(schedule, momentum=0.8, gradient_scale=3.0, decay=1.0)
    for g in gradients:
        optimizer.apply_gradients([(tf.constant(g), variable)])
    want = official_update([1.0, -2.0], gradients, lambda step: 0.1 * 0.5**step, 0.8, 3.0, 1.0)[-1]
    np.testing.assert_allclose(variable.numpy(), want, rtol=2e-5)


def test_first_step_is_plain_gradient_descent_on_the_scaled_gradient():
    # m_1 / (1 - mu) = s g + lambda theta: the bias correction undoes the momentum's (1 - mu).
    variable = tf.Variable([1.0, -1.0])
    OfficialMomentum(0.1, momentum=0.9, gradient_scale=2.0, decay=0.5).apply_gradients(
        [(tf.constant([0.5, 0.5]), variable)]
    )
    np.testing.assert_allclose(
        variable.numpy(), [1.0 - 0.1 * (1.0 + 0.5), -1.0 - 0.1 * (1.0 - 0.5)], rtol=1e-6
    )


def test_config_round_trip_and_registration():
    optimizer = OfficialMomentum(0.1, momentum=0.8, gradient_scale=4.0, decay=0.5)
    clone = OfficialMomentum.from_config(optimizer.get_config())
    assert clone.get_config() == optimizer.get_config()
    assert tf.keras.utils.get_registered_name(OfficialMomentum) == "adaste_tf>OfficialMomentum"
    restored = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(optimizer))
    assert isinstance(restored, OfficialMomentum)
    assert (restored.momentum, restored.gradient_scale, restored.decay) == (0.8, 4.0, 0.5)


# --- larq's Bop and AdaSTE-quantized weights ---------------------------------------------------

# One larq layer named "binary" with AdaSTE in the slot under test (the others: ste_sign).
SLOTS = {
    "QuantDense-kernel_quantizer": lambda q: lq.layers.QuantDense(
        4, kernel_quantizer=q, name="binary"
    ),
    "QuantConv2D-kernel_quantizer": lambda q: lq.layers.QuantConv2D(
        2, 3, kernel_quantizer=q, name="binary"
    ),
    "QuantDepthwiseConv2D-depthwise_quantizer": lambda q: lq.layers.QuantDepthwiseConv2D(
        3, depthwise_quantizer=q, name="binary"
    ),
    "QuantSeparableConv2D-depthwise_quantizer": lambda q: lq.layers.QuantSeparableConv2D(
        2, 3, depthwise_quantizer=q, pointwise_quantizer="ste_sign", name="binary"
    ),
    "QuantSeparableConv2D-pointwise_quantizer": lambda q: lq.layers.QuantSeparableConv2D(
        2, 3, depthwise_quantizer="ste_sign", pointwise_quantizer=q, name="binary"
    ),
}


def _net(layer, *rest) -> tf.keras.Model:
    return tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((6, 6, 2)),
            layer,
            *rest,
            tf.keras.layers.Flatten(),
            tf.keras.layers.Dense(2),
        ]
    )


def _bop(kind: str, predicate=lq.optimizers.Bop.is_binary_variable):
    if kind == "Bop":
        return lq.optimizers.Bop()
    return lq.optimizers.CaseOptimizer(
        (predicate, lq.optimizers.Bop()), default_optimizer=tf.keras.optimizers.legacy.Adam(0.01)
    )


def _larq_binary_weight(variable) -> bool:  # the predicate the error message suggests
    return lq.optimizers.Bop.is_binary_variable(variable) and not isinstance(
        getattr(variable, "quantizer", None), AdaSTE
    )


def _data(seed: int = 0, n: int = 32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 2)).astype(np.float32)
    return x, np.stack([x[..., 0].mean((1, 2)), x[..., 1].mean((1, 2))], axis=1)


@pytest.mark.parametrize("scheduler", [False, True], ids=["no-scheduler", "scheduler"])
@pytest.mark.parametrize("optimizer", ["Bop", "CaseOptimizer"])
@pytest.mark.parametrize("slot", list(SLOTS))
def test_bop_is_refused_for_adaste_in_every_weight_slot(slot, optimizer, scheduler):
    model = _net(SLOTS[slot]("adaste"))
    model.compile(_bop(optimizer), "mse")
    x, y = _data()
    before = [w.numpy() for w in model.weights]
    name = slot.split("-")[1]
    with pytest.raises(
        ValueError,
        match=(
            rf"larq's Bop optimizer would train weights that AdaSTE quantizes: layer 'binary' "
            rf"\(`{name}`\)\. .*Fix: (every weight Bop would train is AdaSTE's, so drop Bop|"
            rf"give AdaSTE's weights a latent-weight optimizer and Bop only larq's own binary "
            rf"weights)"
        ),
    ):
        model.fit(
            x, y, batch_size=8, verbose=0, callbacks=[RelaxationScheduler()] if scheduler else []
        )
    for old, new in zip(before, model.weights, strict=True):  # refused before the first step
        np.testing.assert_array_equal(old, new.numpy())


def test_bop_is_refused_in_a_custom_loop_before_any_update():
    model = _net(SLOTS["QuantSeparableConv2D-pointwise_quantizer"]("adaste"))
    model.build((None, 6, 6, 2))
    x, y = _data()
    optimizer = _bop("CaseOptimizer")
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean((model(x) - y) ** 2)
    gradients = tape.gradient(loss, model.trainable_variables)
    before = [w.numpy() for w in model.weights]
    with pytest.raises(ValueError, match=r"layer 'binary' \(`pointwise_quantizer`\)"):
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
    for old, new in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(old, new.numpy())


@pytest.mark.parametrize("scheduler", [False, True], ids=["no-scheduler", "scheduler"])
@pytest.mark.parametrize("optimizer", ["Bop", "CaseOptimizer"])
def test_bop_trains_larq_weights_beside_adaste_activations(optimizer, scheduler):
    # An AdaSTE input_quantizer quantizes activations, which Bop does not train: not refused.
    model = _net(
        lq.layers.QuantConv2D(
            4, 3, kernel_quantizer="ste_sign", input_quantizer="adaste", name="binary"
        )
    )
    model.compile(_bop(optimizer), "mse")
    x, y = _data()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[RelaxationScheduler()] if scheduler else [],
    )
    assert set(np.unique(np.abs(model.get_layer("binary").kernel.numpy()))) == {1.0}  # Bop's


@pytest.mark.parametrize("scheduler", [False, True], ids=["no-scheduler", "scheduler"])
def test_ste_sign_under_bop_and_adaste_under_adam_still_train(scheduler):
    x, y = _data(n=64)
    model = _net(
        lq.layers.QuantSeparableConv2D(
            4, 3, depthwise_quantizer="ste_sign", pointwise_quantizer="ste_sign", name="larq"
        ),
        lq.layers.QuantConv2D(
            4, 3, kernel_quantizer="adaste", input_quantizer="adaste", padding="same", name="adaste"
        ),
    )
    model.compile(_bop("CaseOptimizer", _larq_binary_weight), "mse")
    larq, adaste = model.get_layer("larq"), model.get_layer("adaste")
    model.build((None, 6, 6, 2))
    start = model.evaluate(x, y, verbose=0)
    depthwise = larq.depthwise_kernel.numpy().copy()
    adaste_kernel = adaste.kernel.numpy().copy()
    history = model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[RelaxationScheduler()] if scheduler else [],
    )
    # Bop trained larq's weights (it writes +-1 and flips some), Adam the AdaSTE kernel
    for weight in (larq.depthwise_kernel, larq.pointwise_kernel):
        assert set(np.unique(np.abs(weight.numpy()))) == {1.0}
    assert np.any(np.sign(larq.depthwise_kernel.numpy()) != np.sign(depthwise))
    assert len(np.unique(np.abs(adaste.kernel.numpy()))) > 2
    assert not np.allclose(adaste.kernel.numpy(), adaste_kernel)
    assert history.history["loss"][-1] < start
