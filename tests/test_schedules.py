"""Beta schedules: values, purity, serialization, validation."""

import math

from adaste_tf import schedules

import pytest
import tensorflow as tf


def test_geometric_is_the_official_schedule():
    schedule = schedules.Geometric()
    for epoch in range(200):
        want = min(0.01 * 1.05 ** (epoch + 1), 1 / 0.01)
        assert schedule(epoch, initial_beta=0.01, alpha=0.01) == pytest.approx(want, rel=1e-12)
    # 0.01 * 1.05**(e+1) reaches 1/alpha = 100 at e + 1 = ln(1e4)/ln(1.05) = 188.8
    assert schedule(187, initial_beta=0.01, alpha=0.01) < 100.0
    assert schedule(188, initial_beta=0.01, alpha=0.01) == 100.0


def test_geometric_rate_initial_and_cap_are_configurable():
    schedule = schedules.Geometric(rate=1.009, initial=0.02, maximum=0.05)
    assert schedule(0, initial_beta=99.0, alpha=99.0) == pytest.approx(0.02 * 1.009)
    assert schedule(10_000) == 0.05


def test_long_runs_do_not_overflow():
    assert schedules.Geometric(rate=10.0)(10**9, initial_beta=0.01, alpha=0.01) == 100.0


def test_a_geometric_path_from_zero_is_refused_not_held_at_zero():
    with pytest.raises(ValueError, match="a geometric path from beta=0 stays at 0"):
        schedules.Geometric()(5, initial_beta=0.0, alpha=0.01)
    assert schedules.Geometric(initial=0.02)(0, initial_beta=0.0, alpha=0.01) == pytest.approx(
        0.02 * 1.05
    )


def test_a_two_argument_function_is_refused_where_it_is_given():
    with pytest.raises(TypeError, match="must be a callable of one argument, the epoch"):
        schedules.get(lambda epoch, beta: beta * 1.1)
    schedules.get(lambda epoch, scale=2.0: scale * epoch)  # defaults are fine
    schedules.get(abs)  # builtins without a signature are called as they are


def test_constant_linear_cosine():
    assert schedules.Constant()(50, initial_beta=0.3, alpha=0.1) == 0.3
    assert schedules.Constant(0.7)(50) == 0.7
    linear = schedules.Linear(steps=10)
    assert linear(0, initial_beta=0.0, alpha=0.5) == 0.0
    assert linear(5, initial_beta=0.0, alpha=0.5) == pytest.approx(1.0)
    assert linear(20, initial_beta=0.0, alpha=0.5) == pytest.approx(2.0)
    cosine = schedules.Cosine(start=1.0, end=3.0, steps=4)
    values = [cosine(i) for i in range(6)]
    assert values[0] == 1.0 and values[4] == pytest.approx(3.0) and values[5] == pytest.approx(3.0)
    assert all(a <= b for a, b in zip(values, values[1:]))
    assert values[2] == pytest.approx(2.0)


def test_pure_same_index_same_value_in_any_order():
    schedule = schedules.Geometric()
    forward = [schedule(i, initial_beta=0.01, alpha=0.01) for i in range(30)]
    backward = [schedule(i, initial_beta=0.01, alpha=0.01) for i in reversed(range(30))]
    assert forward == list(reversed(backward))


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.Geometric(1.009, 0.02, 5.0),
        schedules.Constant(0.1),
        schedules.Constant(),
        schedules.Linear(0.0, 1.0, 7),
        schedules.Cosine(None, 2.0, 3),
    ],
)
def test_serialization_round_trip(schedule):
    config = schedules.serialize(schedule)
    restored = schedules.get(config)
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    restored_keras = tf.keras.utils.deserialize_keras_object(config)
    assert [restored_keras(i, initial_beta=0.01, alpha=0.01) for i in range(9)] == [
        schedule(i, initial_beta=0.01, alpha=0.01) for i in range(9)
    ]


def test_get_accepts_names_callables_and_none():
    assert isinstance(schedules.get(None), schedules.Geometric)
    assert isinstance(schedules.get("cosine"), schedules.Cosine)
    from_fn = schedules.get(lambda i: 0.5 * i)
    assert from_fn(4) == 2.0


def test_registration_does_not_shadow_keras_names():
    # "linear" is a Keras activation and "Constant" a Keras initializer
    assert tf.keras.activations.get("linear") is tf.keras.activations.linear
    assert isinstance(tf.keras.initializers.get("Constant"), tf.keras.initializers.Constant)


# A rate below 1 or NaN, a string initial, a negative Constant, zero or fractional steps, an
# unknown name and a negative index are cases of the bad-input catalogue (test_bad_inputs.py);
# the ones below are not there.
@pytest.mark.parametrize(
    "make,parameter",
    [
        (lambda: schedules.Geometric(initial=-1.0), "initial"),
        (lambda: schedules.Geometric(maximum=math.inf), "maximum"),
        (lambda: schedules.Constant("0.1"), "value"),
        (lambda: schedules.Exponential(steps=0), "steps"),
        (lambda: schedules.Geometric.compressed(0), "epochs"),
        (lambda: schedules.Geometric.compressed(30, rate=0.9), "rate"),
        (lambda: schedules.Geometric(time_scale=0.0), "time_scale"),
        (lambda: schedules.get(3), "schedule"),
        (lambda: schedules.get({"class_name": "Nope", "config": {}}), "schedule"),
    ],
)
def test_bad_arguments_name_the_parameter(make, parameter):
    with pytest.raises((ValueError, TypeError), match=f"`{parameter}`"):
        make()


def test_compressed_path_is_the_official_path_at_scaled_epochs():
    official = schedules.Geometric()
    compressed = schedules.Geometric.compressed(30)
    for epoch in range(30):
        # epoch e of 30 is official epoch e * 500 / 30, where that is an integer
        if (epoch * 500) % 30 == 0:
            assert compressed(epoch) == pytest.approx(official(epoch * 500 // 30), rel=1e-9)
    betas = [compressed(e) for e in range(30)]
    assert betas[0] == pytest.approx(0.0105)
    first_at_cap = next(e for e, b in enumerate(betas) if b == 100.0)
    # the official run reaches the cap at epoch 188 of 500, i.e. 37.6% of the way
    assert first_at_cap == math.ceil(30 * 187.77 / 500)
    assert all(b1 <= b2 for b1, b2 in zip(betas, betas[1:]))
    assert schedules.Geometric.compressed(500).get_config() == official.get_config()


def test_exponential_spans_start_to_end_in_steps_epochs():
    schedule = schedules.Exponential(steps=30)
    assert schedule(0) == pytest.approx(0.01)
    assert schedule(15) == pytest.approx(1.0)
    assert schedule(30) == pytest.approx(100.0)
    assert schedule(45) == pytest.approx(100.0)
    assert schedules.Exponential(start=0.1, end=10.0, steps=2)(1) == pytest.approx(1.0)
    assert schedules.get(schedules.serialize(schedule)).get_config() == schedule.get_config()


def test_fractional_index_interpolates_between_epochs():
    geometric = schedules.Geometric()
    assert geometric(2.5) == pytest.approx(0.01 * 1.05**3.5)
    assert geometric(2) < geometric(2.5) < geometric(3)
