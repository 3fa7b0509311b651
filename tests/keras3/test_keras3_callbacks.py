"""adaste_tf.keras3.RelaxationScheduler: the larq path's default path, schedule names, batch
mode (each step reads the beta set before it, on JAX too), resume, warnings, configs."""

import warnings

from adaste_tf import schedules
from adaste_tf.keras3 import AdaSTE, QuantDense, RelaxationScheduler, quantizers
from adaste_tf.keras3.callbacks import find_adaste_quantizers

import keras
import numpy as np
import pytest

import oracle


def _model(quantizer="adaste", features=4, units=3):
    return keras.Sequential(
        [keras.Input((features,)), QuantDense(units, kernel_quantizer=quantizer, use_bias=False)]
    )


def _fit(model, scheduler, epochs=5, jit=True, initial_epoch=0, batch_size=8, x=None, y=None):
    model.compile(keras.optimizers.SGD(0.01), "mse", jit_compile=jit)
    x = np.ones((16, 4), np.float32) if x is None else x
    y = np.zeros((16, 3), np.float32) if y is None else y
    return model.fit(
        x, y, epochs=epochs, initial_epoch=initial_epoch, batch_size=batch_size, verbose=0,
        shuffle=False, callbacks=[scheduler],
    )  # fmt: skip


def test_the_default_path_is_the_larq_paths_in_history():
    history = _fit(_model(), RelaxationScheduler())
    # The official path compressed into 5 epochs, as the larq path's README shows.
    assert [round(b, 4) for b in history.history["beta"]] == [0.0105, 1.3808, 100.0, 100.0, 100.0]


@pytest.mark.parametrize("name", ["official", "geometric", "constant", "linear", "cosine",
                                  "exponential"])  # fmt: skip
def test_every_schedule_name_gives_the_schedules_betas(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # most end short of 1 / alpha
        history = _fit(_model(), RelaxationScheduler(name), epochs=3)
    want = [schedules.get(name)(e, initial_beta=0.01, alpha=0.01) for e in range(3)]
    np.testing.assert_allclose(history.history["beta"], want)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_batch_mode_steps_read_the_beta_set_before_them(jit, rng):
    # One weight layer trained by SGD on MSE, 4 steps of 4 examples in one epoch, beta 0 then
    # 30, 60, 90 (alpha * beta < 1, then in the binary regime): the final kernel is the NumPy
    # replay of those steps with the oracle's scale at each step's beta, which holds only if
    # every step read the beta assigned just before it.
    theta0 = rng.uniform(-1.0, 1.0, size=(4, 3)).astype(np.float32)
    x = rng.normal(size=(16, 4)).astype(np.float32)
    y = rng.normal(size=(16, 3)).astype(np.float32)
    quantizer = AdaSTE(variant="paper", max_scale=3.0)
    model = _model(quantizer)
    model.layers[-1].kernel.assign(theta0)
    scheduler = RelaxationScheduler(lambda index: 120.0 * index, update_freq="batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # one epoch
        _fit(model, scheduler, epochs=1, jit=jit, batch_size=4, x=x, y=y)
    theta = theta0.astype(np.float64)
    for step, beta in enumerate([0.0, 30.0, 60.0, 90.0]):
        xb, yb = x[4 * step : 4 * step + 4], y[4 * step : 4 * step + 4]
        out = xb @ np.where(theta >= 0, 1.0, -1.0)
        dy = xb.T @ (2.0 * (out - yb) / out.size)
        theta = theta - 0.01 * dy * oracle.scale(theta, dy, 0.01, beta, 3.0, "paper")
    np.testing.assert_allclose(model.layers[-1].kernel.numpy(), theta, rtol=1e-4, atol=1e-6)
    assert quantizer.beta == 90.0


def test_a_resumed_fit_gets_the_uninterrupted_betas():
    whole = _fit(_model(), RelaxationScheduler()).history["beta"]
    resumed = _fit(_model(), RelaxationScheduler(), initial_epoch=2).history["beta"]
    assert resumed == whole[2:]


def test_betas_by_layer_and_slot_when_they_differ_and_shared_quantizers_once():
    shared = AdaSTE(alpha=0.1, beta=0.05)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            QuantDense(4, kernel_quantizer=shared, input_quantizer="adaste", name="fc1"),
            QuantDense(4, kernel_quantizer=shared, name="fc2"),
            QuantDense(3, kernel_quantizer=AdaSTE(), name="fc3"),
        ]
    )
    assert len(find_adaste_quantizers(model)) == 3
    scheduler = RelaxationScheduler()
    history = _fit(model, scheduler, epochs=3)
    betas = {k: v[-1] for k, v in history.history.items() if k.startswith("beta/")}
    assert betas == {"beta/fc1/input": 100.0, "beta/fc1/kernel": 10.0, "beta/fc3/kernel": 100.0}
    assert scheduler.current_betas() == {
        "fc1/input": 100.0,
        "fc1/kernel": 10.0,
        "fc3/kernel": 100.0,
    }


def test_epochs_given_win_over_fits():
    history = _fit(_model(), RelaxationScheduler(epochs=10), epochs=5)
    want = [schedules.Geometric.compressed(10)(e, initial_beta=0.01, alpha=0.01) for e in range(5)]
    np.testing.assert_allclose(history.history["beta"], want)


def test_warnings_for_a_path_that_ends_short_and_for_one_epoch():
    with pytest.warns(UserWarning, match="short of 1/alpha"):
        _fit(_model(), RelaxationScheduler(schedules.Constant(0.5)), epochs=2)
    with pytest.warns(UserWarning, match="update_freq='batch'"):
        _fit(_model(), RelaxationScheduler(), epochs=1)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_training_without_a_scheduler_warns_once(jit, monkeypatch):
    monkeypatch.setattr(quantizers, "_warned_unscheduled", False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _fit(_model(), RelaxationScheduler(), epochs=2, jit=jit)
    assert not [w for w in caught if "no adaste_tf.keras3.RelaxationScheduler" in str(w.message)]
    model = _model()
    model.compile(keras.optimizers.SGD(0.01), "mse", jit_compile=jit)
    with pytest.warns(UserWarning, match="beta never moves from 0.01"):
        model.fit(np.ones((16, 4)), np.zeros((16, 3)), epochs=2, verbose=0)
    assert quantizers._warned_unscheduled  # and not again in this process


def test_a_model_without_adaste_is_an_error():
    with pytest.raises(ValueError, match="no AdaSTE quantizer"):
        _fit(_model("ste_sign"), RelaxationScheduler())


@pytest.mark.parametrize(
    "schedule", [None, "cosine", schedules.Geometric.compressed(30), schedules.Linear(0.0, 1.0, 4)]
)
def test_the_config_round_trips_through_keras_3(schedule):
    scheduler = RelaxationScheduler(schedule, update_freq="batch", steps_per_epoch=7)
    config = keras.saving.serialize_keras_object(scheduler)
    again = keras.saving.deserialize_keras_object(config)
    assert again.get_config() == scheduler.get_config()
    if schedule is not None:
        assert repr(again.schedule) == repr(scheduler.schedule)


@pytest.mark.parametrize(
    "kwargs, parameter",
    [
        ({"update_freq": "step"}, "update_freq"),
        ({"steps_per_epoch": 0}, "steps_per_epoch"),
        ({"epochs": 0}, "epochs"),
        ({"verbose": -1}, "verbose"),
        ({"schedule": "linear", "epochs": 3}, "epochs"),
        ({"schedule": "fast"}, "schedule"),
    ],
)
def test_bad_arguments_are_errors_that_name_the_parameter(kwargs, parameter):
    with pytest.raises((ValueError, TypeError), match=f"`{parameter}`"):
        RelaxationScheduler(**kwargs)
