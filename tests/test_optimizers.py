"""adaste_tf.optimizers.OfficialMomentum against an independent NumPy transcription of the
official update (`FenBPOpt.step` of intellhave/AdaSTE), over several steps, eager and inside
`tf.function`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf

from adaste_tf.optimizers import OfficialMomentum

STEPS = 6


def official_update(theta: np.ndarray, gradients: list[np.ndarray], lr: Callable[[int], float],
                    momentum: float, gradient_scale: float, decay: float) -> list[np.ndarray]:
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
        theta = theta - lr(t - 1) * m / (1 - momentum ** t)
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
    "official-scale": dict(learning_rate=1e-5, momentum=0.9, gradient_scale=(10 * 36) ** 2,
                           decay=1.0),
    "no-momentum": dict(learning_rate=0.05, momentum=0.0, gradient_scale=2.0, decay=0.5),
}


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("case", list(CASES))
def test_matches_the_official_update_over_several_steps(case, mode):
    kwargs = CASES[case]
    start = [np.array([[0.3, -1.2, 0.0], [2.0, -0.01, 0.7]], np.float32),
             np.array([-0.5, 0.25], np.float32)]
    variables = [tf.Variable(value) for value in start]
    gradients = [_gradients(value.shape, seed) for seed, value in enumerate(start)]
    scale = 1e-3 if case == "official-scale" else 1.0
    optimizer = OfficialMomentum(**kwargs)

    def step(grads):
        optimizer.apply_gradients(zip(grads, variables))

    run = tf.function(step) if mode == "function" else step
    for t in range(STEPS):
        run([tf.constant(g[t] * scale) for g in gradients])
        for variable, value, grads in zip(variables, start, gradients):
            want = official_update(value, [g * scale for g in grads[:t + 1]],
                                   lambda _: kwargs["learning_rate"], kwargs["momentum"],
                                   kwargs["gradient_scale"], kwargs["decay"])[-1]
            np.testing.assert_allclose(variable.numpy(), want, rtol=2e-5, atol=1e-6,
                                       err_msg=f"step {t + 1}")
    assert int(optimizer.iterations) == STEPS


def test_a_learning_rate_schedule_is_read_at_each_step():
    schedule = tf.keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    variable = tf.Variable([1.0, -2.0])
    gradients = _gradients((2,), seed=3)
    optimizer = OfficialMomentum(schedule, momentum=0.8, gradient_scale=3.0, decay=1.0)
    for g in gradients:
        optimizer.apply_gradients([(tf.constant(g), variable)])
    want = official_update([1.0, -2.0], gradients, lambda step: 0.1 * 0.5 ** step, 0.8, 3.0,
                           1.0)[-1]
    np.testing.assert_allclose(variable.numpy(), want, rtol=2e-5)


def test_first_step_is_plain_gradient_descent_on_the_scaled_gradient():
    # m_1 / (1 - mu) = s g + lambda theta: the bias correction undoes the momentum's (1 - mu).
    variable = tf.Variable([1.0, -1.0])
    OfficialMomentum(0.1, momentum=0.9, gradient_scale=2.0, decay=0.5).apply_gradients(
        [(tf.constant([0.5, 0.5]), variable)])
    np.testing.assert_allclose(variable.numpy(), [1.0 - 0.1 * (1.0 + 0.5),
                                                  -1.0 - 0.1 * (1.0 - 0.5)], rtol=1e-6)


def test_config_round_trip_and_registration():
    optimizer = OfficialMomentum(0.1, momentum=0.8, gradient_scale=4.0, decay=0.5)
    clone = OfficialMomentum.from_config(optimizer.get_config())
    assert clone.get_config() == optimizer.get_config()
    assert tf.keras.utils.get_registered_name(OfficialMomentum) == "adaste_tf>OfficialMomentum"
    restored = tf.keras.optimizers.deserialize(tf.keras.optimizers.serialize(optimizer))
    assert isinstance(restored, OfficialMomentum)
    assert (restored.momentum, restored.gradient_scale, restored.decay) == (0.8, 4.0, 0.5)
