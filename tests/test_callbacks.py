"""RelaxationScheduler in real `fit` runs: values, logs, nested models, resume, tracing; the
quantizers' diagnostics (DiagnosticsLogger)."""

import glob
import math
import warnings

from adaste_tf import quantizers, schedules
from adaste_tf.callbacks import DiagnosticsLogger, RelaxationScheduler, find_adaste_quantizers
from adaste_tf.quantizers import AdaSTE

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

N, BATCH = 64, 16  # 4 full steps per epoch: no ragged last batch, so one trace


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(N, 8)).astype(np.float32), rng.integers(0, 3, N)


def _model(beta=0.01, jit=False, second_beta=None):
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((8,)),
            lq.layers.QuantDense(12, kernel_quantizer=AdaSTE(beta=beta), use_bias=False),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.Activation("relu"),
            lq.layers.QuantDense(3, kernel_quantizer=AdaSTE(beta=second_beta or beta)),
        ]
    )
    model.compile(
        tf.keras.optimizers.Adam(0.01),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit,
    )
    return model


def _official(beta0, epoch, alpha=0.01, rate=1.05):
    return min(beta0 * rate ** (epoch + 1), 1 / alpha)


def test_default_is_the_official_path_within_the_fit_and_beta_is_in_history():
    x, y = _data()
    model = _model(beta=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the path is completed: no warning
        history = model.fit(
            x, y, batch_size=BATCH, epochs=4, verbose=0, callbacks=[RelaxationScheduler()]
        )
    # 4 epochs stand for the official 500: epoch e is official epoch 125 e
    expected = [_official(0.02, 125 * e) for e in range(4)]
    np.testing.assert_allclose(history.history["beta"], expected, rtol=1e-6)
    assert expected[0] < 1 and expected[-1] == 100.0
    for q in find_adaste_quantizers(model):
        assert q.beta_variable.numpy() == pytest.approx(100.0)


@pytest.mark.parametrize("epochs", [5, 50, 500])
def test_the_default_path_is_the_same_at_the_same_fraction_of_any_run(epochs):
    scheduler = RelaxationScheduler(epochs=epochs)
    fractions = np.linspace(0.0, 0.36, 10)
    betas = [scheduler.schedule(f * epochs, initial_beta=0.01, alpha=0.01) for f in fractions]
    official = [_official(0.01, f * 500) for f in fractions]
    np.testing.assert_allclose(betas, official, rtol=1e-9)
    assert scheduler.schedule(0.38 * epochs, initial_beta=0.01, alpha=0.01) == 100.0


def test_the_official_rate_is_available_by_name():
    history = _model().fit(
        *_data(), batch_size=BATCH, epochs=2, verbose=0, callbacks=[RelaxationScheduler("official")]
    )
    np.testing.assert_allclose(
        history.history["beta"], [_official(0.01, e) for e in range(2)], rtol=1e-6
    )


def test_a_run_that_ends_short_of_the_binary_regime_warns_once_with_the_final_beta():
    with pytest.warns(UserWarning, match=r"beta=0\.5 .*short of 1/alpha=100") as record:
        _model().fit(
            *_data(),
            batch_size=BATCH,
            epochs=2,
            verbose=0,
            callbacks=[RelaxationScheduler(schedules.Constant(0.5))],
        )
    assert sum("RelaxationScheduler" in str(w.message) for w in record) == 1


def _scheduler_warnings(record):
    return [str(w.message) for w in record if "RelaxationScheduler" in str(w.message)]


def test_a_one_epoch_fit_warns_that_epoch_updates_hold_beta_and_batch_updates_run_the_path():
    x, y = _data()
    with pytest.warns(UserWarning) as record:
        history = _model().fit(
            x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[RelaxationScheduler()]
        )
    start, end = _scheduler_warnings(record)
    assert "this fit has 1 epoch" in start and "update_freq='batch'" in start
    assert "short of 1/alpha" in end and "this run had 1: pass update_freq='batch'" in end
    np.testing.assert_allclose(history.history["beta"], [_official(0.01, 0)], rtol=1e-6)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="RelaxationScheduler")
        model = _model()
        history = model.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=1,
            verbose=0,
            callbacks=[RelaxationScheduler(update_freq="batch")],
        )
    # 4 steps at epochs 0, 1/4, 2/4, 3/4 of a 1-epoch run: official epochs 0, 125, 250, 375.
    assert history.history["beta"] == [100.0]
    for q in find_adaste_quantizers(model):
        assert q.beta_variable.numpy() == pytest.approx(100.0)


def test_a_default_path_that_ends_short_says_why_it_can():
    x, y = _data()
    # From beta 1e-12 the official 500 epochs at x1.05 reach 1e-12 * 1.05 ** 501 = 4e-2.
    with pytest.warns(UserWarning) as record:
        _model(beta=1e-12).fit(
            x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[RelaxationScheduler()]
        )
    (end,) = _scheduler_warnings(record)
    assert "stops early" in end and "far smaller beta" in end


def test_a_custom_loop_needs_the_epochs_of_the_default_path():
    model = _model()
    scheduler = RelaxationScheduler()
    scheduler.set_model(model)
    with pytest.raises(ValueError, match=r"RelaxationScheduler\(epochs=N\)"):
        scheduler.apply(0)
    scheduler = RelaxationScheduler(epochs=10)
    scheduler.set_model(model)
    assert set(scheduler.apply(9).values()) == {100.0}
    with pytest.raises(ValueError, match="epochs"):
        RelaxationScheduler("official", epochs=10)


def test_verbose_takes_a_bool_as_keras_callbacks_do():
    assert RelaxationScheduler(verbose=True).verbose == 1
    assert RelaxationScheduler(verbose=False).verbose == 0


def test_each_quantizer_starts_from_its_own_beta():
    x, y = _data()
    model = _model(beta=0.01, second_beta=0.05)
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[RelaxationScheduler(schedules.Geometric(rate=1.009))],
    )
    per_quantizer = {k: v for k, v in history.history.items() if k.startswith("beta/")}
    assert sorted(v[-1] for v in per_quantizer.values()) == pytest.approx(
        [_official(0.01, 1, rate=1.009), _official(0.05, 1, rate=1.009)], rel=1e-6
    )


def _betas_per_step(model, scheduler, data, epochs=2, **fit_kwargs):
    seen = []
    probe = tf.keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda b, logs: seen.append(find_adaste_quantizers(model)[0].beta)
    )
    history = model.fit(*data, epochs=epochs, verbose=0, callbacks=[scheduler, probe], **fit_kwargs)
    return seen, history


def test_batch_frequency_indexes_by_fractional_epoch():
    model = _model()
    seen, _ = _betas_per_step(
        model,
        RelaxationScheduler(lambda epoch: 0.1 * epoch, update_freq="batch"),
        _data(),
        batch_size=BATCH,
    )
    # 4 steps per epoch: step b of epoch e is epoch e + b / 4
    np.testing.assert_allclose(
        seen, [0.1 * (e + b / 4) for e in range(2) for b in range(4)], rtol=1e-6, atol=1e-7
    )


def test_batch_frequency_follows_the_per_epoch_schedule():
    # The official schedule in batch mode agrees with epoch mode at every epoch start and grows
    # smoothly in between: not 1.05 per step.
    model = _model()
    seen, history = _betas_per_step(
        model,
        RelaxationScheduler("official", update_freq="batch"),
        _data(),
        epochs=3,
        batch_size=BATCH,
    )
    np.testing.assert_allclose(seen[::4], [_official(0.01, e) for e in range(3)], rtol=1e-6)
    np.testing.assert_allclose(
        seen, [_official(0.01, e + b / 4) for e in range(3) for b in range(4)], rtol=1e-6
    )
    assert history.history["beta"] == pytest.approx(
        [_official(0.01, e + 0.75) for e in range(3)], rel=1e-6
    )


def _unknown_length_data():
    x, y = _data()
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(zip(x, y)),
        output_signature=(tf.TensorSpec((8,), tf.float32), tf.TensorSpec((), tf.int64)),
    )
    assert dataset.cardinality() == tf.data.UNKNOWN_CARDINALITY
    return (dataset.batch(BATCH),)


def test_batch_frequency_on_data_of_unknown_length_logs_the_last_trained_beta():
    model = _model()
    seen, history = _betas_per_step(
        model,
        RelaxationScheduler(lambda e: 0.1 * e, update_freq="batch"),
        _unknown_length_data(),
        epochs=3,
    )
    # epoch 0 holds its start value (its length is being counted), then 4 steps per epoch
    np.testing.assert_allclose(
        seen,
        [0.0] * 4 + [0.1 * (e + b / 4) for e in (1, 2) for b in range(4)],
        rtol=1e-6,
        atol=1e-7,
    )
    # the beta of the epoch's last step, not of the extra call Keras makes at the end of data
    np.testing.assert_allclose(history.history["beta"], [0.0, 0.175, 0.275], rtol=1e-6)


def test_steps_per_epoch_argument_for_data_of_unknown_length():
    model = _model()
    seen, _ = _betas_per_step(
        model,
        RelaxationScheduler(lambda e: 0.1 * e, update_freq="batch", steps_per_epoch=4),
        _unknown_length_data(),
        epochs=2,
    )
    np.testing.assert_allclose(
        seen, [0.1 * (e + b / 4) for e in range(2) for b in range(4)], rtol=1e-6, atol=1e-7
    )


def test_finds_quantizers_in_nested_models_and_layers():
    class Block(tf.keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.inner = lq.layers.QuantDense(4, kernel_quantizer="adaste")

        def call(self, x):
            return self.inner(x)

    shared = AdaSTE()
    inner = tf.keras.Sequential(
        [
            lq.layers.QuantDense(4, kernel_quantizer=shared),
            lq.layers.QuantDense(4, kernel_quantizer=shared),
        ]
    )
    inputs = tf.keras.Input((4,))
    outputs = lq.layers.QuantDense(2, kernel_quantizer="adaste", input_quantizer="adaste")(
        Block()(inner(inputs))
    )
    model = tf.keras.Model(inputs, outputs)
    assert len(find_adaste_quantizers(model)) == 4  # shared counted once


# A model without AdaSTE, NaN, negative and overflowing betas, and bad arguments are cases of the
# bad-input catalogue (test_bad_inputs.py); the ones below are not there.


def test_schedule_returning_infinity_fails_at_that_epoch():
    x, y = _data()
    model = _model()
    schedule = lambda epoch: math.inf if epoch == 2 else 0.01  # noqa: E731
    with pytest.raises(ValueError, match="epoch 2.*finite number >= 0"):
        model.fit(
            x, y, batch_size=BATCH, epochs=4, verbose=0, callbacks=[RelaxationScheduler(schedule)]
        )


def test_unknown_schedule_name_names_the_parameter():
    with pytest.raises(ValueError, match="`schedule`"):
        RelaxationScheduler(schedule="fast")


def test_get_config_round_trip():
    callback = RelaxationScheduler(schedules.Cosine(0.01, 1.0, 50), update_freq="batch", verbose=1)
    clone = RelaxationScheduler.from_config(callback.get_config())
    assert clone.get_config() == callback.get_config()
    assert clone.schedule(10, initial_beta=0.01, alpha=0.01) == callback.schedule(
        10, initial_beta=0.01, alpha=0.01
    )


def test_jit_fit_over_several_epochs_traces_once():
    x, y = _data()
    model = _model(jit=True)
    history = model.fit(
        x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[RelaxationScheduler()]
    )
    assert model.train_function.experimental_get_tracing_count() == 1
    assert len(set(history.history["beta"])) == 3


def test_initial_epoch_resume_gives_the_uninterrupted_betas():
    x, y = _data()
    full = (
        _model()
        .fit(x, y, batch_size=BATCH, epochs=5, verbose=0, callbacks=[RelaxationScheduler()])
        .history["beta"]
    )
    tf.keras.backend.clear_session()
    model = _model()
    model.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[RelaxationScheduler()])
    resumed = model.fit(
        x,
        y,
        batch_size=BATCH,
        initial_epoch=2,
        epochs=5,
        verbose=0,
        callbacks=[RelaxationScheduler()],
    ).history["beta"]
    np.testing.assert_allclose(resumed, full[2:], rtol=1e-7)


def test_the_epochs_given_win_over_the_fits_so_a_run_fitted_in_pieces_keeps_one_path():
    """Issue 32: `RelaxationScheduler(epochs=10)` in `fit(epochs=3)` followed the 3-epoch path."""
    x, y = _data()
    path = schedules.Geometric.compressed(10)
    want = [path(e, initial_beta=0.01, alpha=0.01) for e in range(6)]
    model = _model()
    with pytest.warns(UserWarning, match=r"ended at epoch 3 of the 10-epoch path given as"):
        first = model.fit(
            x, y, batch_size=BATCH, epochs=3, verbose=0, callbacks=[RelaxationScheduler(epochs=10)]
        )
    second = model.fit(
        x,
        y,
        batch_size=BATCH,
        initial_epoch=3,
        epochs=6,
        verbose=0,
        callbacks=[RelaxationScheduler(epochs=10)],
    )
    got = first.history["beta"] + second.history["beta"]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert got[2] < 100.0  # the 3-epoch path would be at 1/alpha by its third epoch


@pytest.fixture
def unwarned(monkeypatch):
    """A process in which the unscheduled-beta warning has not been given yet."""
    monkeypatch.setattr(quantizers, "_warned_unscheduled", False)


def _unscheduled_warnings(record) -> list[str]:
    return [
        str(w.message)
        for w in record
        if "no adaste_tf.callbacks.RelaxationScheduler" in str(w.message)
    ]


@pytest.mark.parametrize("jit", [False, True], ids=["function", "jit"])
def test_training_without_a_scheduler_warns_once_that_beta_never_moves(unwarned, jit):
    x, y = _data()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(2):  # two models, two fits: one warning in the process
            _model(jit=jit).fit(x, y, batch_size=BATCH, epochs=2, verbose=0)
    (message,) = _unscheduled_warnings(record)
    assert "beta never moves from 0.01" in message and "RelaxationScheduler()" in message


def test_a_custom_loop_without_a_scheduler_warns_once_and_evaluation_never(unwarned):
    model = _model()
    x, y = _data()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.evaluate(x, y, verbose=0)
        model.predict(x, verbose=0)
        assert _unscheduled_warnings(record) == []  # no gradient: not training
        for _ in range(2):  # eager steps: the backward runs each time
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(model(x, training=True))
            tape.gradient(loss, model.trainable_weights)
    assert len(_unscheduled_warnings(record)) == 1


def test_no_unscheduled_warning_with_a_scheduler_by_fit_or_by_hand(unwarned):
    x, y = _data()
    with warnings.catch_warnings():
        # the path is completed: no warning of adaste_tf's (UserWarnings); TensorFlow 2.18
        # itself raises a DeprecationWarning (randrange) inside fit
        warnings.simplefilter("error", UserWarning)
        _model(jit=True).fit(
            x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[RelaxationScheduler()]
        )
        lazy = _LazyModel()  # quantizers made in build(), during the first step
        lazy.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        lazy.fit(x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[RelaxationScheduler()])
        model = _model()
        scheduler = RelaxationScheduler(epochs=2)
        scheduler.set_model(model)
        scheduler.apply(0)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True))
        tape.gradient(loss, model.trainable_weights)
    assert quantizers._warned_unscheduled is False


def test_an_adaste_input_quantizer_alone_needs_no_scheduler(unwarned):
    """An activation's backward ignores beta: nothing to warn about."""
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((8,)),
            lq.layers.QuantDense(3, input_quantizer="adaste", kernel_quantizer="ste_sign"),
        ]
    )
    model.compile("adam", tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        model.fit(*_data(), batch_size=BATCH, epochs=1, verbose=0)
    assert _unscheduled_warnings(record) == []


class _StopAt(tf.keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resume_gives_the_uninterrupted_betas(tmp_path):
    x, y = _data()
    full = (
        _model()
        .fit(x, y, batch_size=BATCH, epochs=4, verbose=0, callbacks=[RelaxationScheduler()])
        .history["beta"]
    )
    tf.keras.backend.clear_session()
    backup = tf.keras.callbacks.BackupAndRestore(str(tmp_path / "backup"))
    model = _model()
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=4,
            verbose=0,
            callbacks=[RelaxationScheduler(), backup, _StopAt(2)],
        )
    tf.keras.backend.clear_session()
    model = _model()
    history = model.fit(
        x, y, batch_size=BATCH, epochs=4, verbose=0, callbacks=[RelaxationScheduler(), backup]
    )
    np.testing.assert_allclose(history.history["beta"], full[2:], rtol=1e-7)


def test_a_tensorboard_callback_before_the_scheduler_is_warned_about(tmp_path):
    x, y = _data()
    tensorboard = tf.keras.callbacks.TensorBoard(str(tmp_path / "tb"))
    with pytest.warns(UserWarning, match="TensorBoard callback comes before it"):
        _model().fit(
            x,
            y,
            batch_size=BATCH,
            epochs=1,
            verbose=0,
            callbacks=[tensorboard, RelaxationScheduler("official")],
        )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*TensorBoard callback comes before")
        warnings.filterwarnings("ignore", message=".*short of 1/alpha")
        _model().fit(
            x,
            y,
            batch_size=BATCH,
            epochs=1,
            verbose=0,
            callbacks=[
                RelaxationScheduler("official"),
                tf.keras.callbacks.TensorBoard(str(tmp_path / "tb2")),
            ],
        )


def test_tensorboard_receives_beta(tmp_path):
    x, y = _data()
    logdir = str(tmp_path / "tb")
    _model().fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[RelaxationScheduler("official"), tf.keras.callbacks.TensorBoard(logdir)],
    )
    values = []
    for path in glob.glob(f"{logdir}/train/events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.tag == "epoch_beta":
                    values.append(float(tf.make_ndarray(value.tensor)))
    np.testing.assert_allclose(values, [_official(0.01, 0), _official(0.01, 1)], rtol=1e-6)


class _LazyBlock(tf.keras.layers.Layer):
    """Makes its larq layer in build(): the quantizer exists only once the model is built."""

    def build(self, input_shape):
        self.inner = lq.layers.QuantDense(3, kernel_quantizer=AdaSTE(beta=0.02))
        super().build(input_shape)

    def call(self, x):
        return self.inner(x)


class _LazyModel(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.block = _LazyBlock()

    def call(self, x):
        return self.block(x)


def test_quantizers_made_in_build_are_found_and_scheduled():
    model = _LazyModel()
    model.compile(
        tf.keras.optimizers.Adam(0.01),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    assert find_adaste_quantizers(model) == []  # not built yet
    history = model.fit(
        *_data(), batch_size=BATCH, epochs=3, verbose=0, callbacks=[RelaxationScheduler("official")]
    )
    np.testing.assert_allclose(
        history.history["beta"], [_official(0.02, e) for e in range(3)], rtol=1e-6
    )
    (quantizer,) = find_adaste_quantizers(model)
    assert quantizer.beta == pytest.approx(_official(0.02, 2), rel=1e-6)


def test_scheduler_driven_by_hand_in_a_custom_loop():
    model = _model()  # compiled, but trained by a GradientTape loop, not fit
    uncompiled = tf.keras.Sequential(
        [tf.keras.layers.InputLayer((8,)), lq.layers.QuantDense(3, kernel_quantizer="adaste")]
    )
    for m in (model, uncompiled):
        scheduler = RelaxationScheduler("official", update_freq="batch")
        scheduler.set_model(m)
        scheduler.on_epoch_begin(0)
        scheduler.on_train_batch_begin(0)  # no params, no optimizer: epoch 0 start
        assert find_adaste_quantizers(m)[0].beta == pytest.approx(_official(0.01, 0))
    scheduler = RelaxationScheduler(schedules.Linear(start=0.0, end=1.0, steps=4))
    scheduler.set_model(model)
    optimizer = tf.keras.optimizers.Adam(0.01)
    x, y = _data()
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    seen = []
    for epoch in range(2):
        for step in range(2):
            seen.append(scheduler.apply(epoch + step / 2))
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_weights)
            optimizer.apply_gradients(zip(grads, model.trainable_weights))
    assert [set(b.values()) for b in seen] == [{0.0}, {0.125}, {0.25}, {0.375}]
    assert {q.beta for q in find_adaste_quantizers(model)} == {0.375}


# --- diagnostics -------------------------------------------------------------------------------

# fc2's input quantizer gets a backward too: the BatchNormalization and fc1 below it train.
PLACES = ("fc1/kernel", "fc2/kernel", "fc2/input")
DIAGNOSED = [f"{name}/{place}" for place in PLACES for name in quantizers.DIAGNOSTICS]


def _diagnosed_model(second_beta=0.01):
    def quantizer(beta=0.01):
        return AdaSTE(beta=beta, metrics=["diagnostics"])

    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((8,)),
            lq.layers.QuantDense(12, kernel_quantizer=quantizer(), use_bias=False, name="fc1"),
            tf.keras.layers.BatchNormalization(),
            lq.layers.QuantDense(
                3, kernel_quantizer=quantizer(second_beta), input_quantizer=quantizer(), name="fc2"
            ),
        ]
    )
    model.compile(
        tf.keras.optimizers.Adam(0.01),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def _is_diagnostic(key: str) -> bool:
    return key.split("/")[0].removeprefix("val_") in quantizers.DIAGNOSTICS


def test_betas_are_named_by_layer_and_slot_as_the_diagnostics_are():
    """Issue 32: `current_betas()` and `apply()` were keyed by the quantizers' automatic names
    (`ada_ste_1`), the diagnostics by layer and slot (`fc1/kernel`)."""
    model = _diagnosed_model(second_beta=0.05)  # betas that differ: per-slot History columns
    scheduler = RelaxationScheduler("official")
    history = model.fit(*_data(), batch_size=BATCH, epochs=1, verbose=0, callbacks=[scheduler])
    places = {key.split("/", 1)[1] for key in history.history if _is_diagnostic(key)}
    assert set(scheduler.current_betas()) == places == set(PLACES)
    assert set(scheduler.apply(0)) == set(PLACES)
    assert {k for k in history.history if k.startswith("beta/")} == {f"beta/{p}" for p in PLACES}
    old_name = model.layers[0].kernel_quantizer.name  # the key of adaste_tf 0.1.0
    with pytest.warns(DeprecationWarning, match="keyed by layer and slot \\('fc1/kernel'\\)"):
        assert scheduler.current_betas()[old_name] == scheduler.current_betas()["fc1/kernel"]
    with pytest.raises(KeyError):
        scheduler.current_betas()["fc9/kernel"]


def test_diagnostics_are_logged_for_training_only_under_layer_names():
    x, y = _data()
    model = _diagnosed_model()
    history = model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        validation_data=(x, y),
        callbacks=[RelaxationScheduler()],
    )
    logged = sorted(k for k in history.history if _is_diagnostic(k))
    assert logged == sorted(DIAGNOSED)  # no val_ entries, no quantizer names
    assert all(len(history.history[k]) == 2 for k in logged)
    assert not [k for k in model.evaluate(x, y, verbose=0, return_dict=True) if _is_diagnostic(k)]


def test_diagnostic_names_are_the_same_for_every_model_in_a_process():
    x, y = _data()
    names = []
    for _ in range(2):  # no clear_session: the quantizers' automatic names differ
        history = _diagnosed_model().fit(
            x, y, batch_size=BATCH, verbose=0, callbacks=[DiagnosticsLogger()]
        )
        names.append(sorted(k for k in history.history if _is_diagnostic(k)))
    assert names[0] == names[1] == sorted(DIAGNOSED)


def test_diagnostics_stay_out_of_the_progress_bar(capsys):
    x, y = _data()
    history = _diagnosed_model().fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=2,
        validation_data=(x, y),
        callbacks=[RelaxationScheduler()],
    )
    printed = capsys.readouterr().out
    assert "loss" in printed and "beta" in printed
    assert not [name for name in quantizers.DIAGNOSTICS if name in printed], printed
    assert set(DIAGNOSED) <= set(history.history)
    longest = max(len(line) for line in printed.splitlines())
    assert longest < 200, printed


def test_diagnostics_are_each_epochs_mean_started_anew_at_each_epoch():
    x, y = _data()
    model = _diagnosed_model()
    quantizer = model.get_layer("fc1").kernel_quantizer
    seen = []  # (epoch, steps counted so far, the running means) after each step

    class Spy(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            count = float(quantizer._diagnostic_sums.numpy()[-1])
            seen.append((self.epoch, count, quantizer.diagnostic_means()))

    history = model.fit(
        x, y, batch_size=BATCH, epochs=2, verbose=0, callbacks=[DiagnosticsLogger(), Spy()]
    )
    assert [count for _, count, _ in seen] == [1, 2, 3, 4] * 2
    for epoch in range(2):
        last = [means for e, _, means in seen if e == epoch][-1]
        for name in quantizers.DIAGNOSTICS:
            assert history.history[f"{name}/fc1/kernel"][epoch] == pytest.approx(last[name])


def test_diagnostics_reach_tensorboard_files_with_log_dir(tmp_path):
    x, y = _data()
    logdir = str(tmp_path / "tb")
    history = _diagnosed_model().fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[DiagnosticsLogger(logdir), tf.keras.callbacks.TensorBoard(logdir)],
    )
    tags: dict[str, list[float]] = {}
    for path in glob.glob(f"{logdir}/train/events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(path):
            for value in tf.compat.v1.Event.FromString(record.numpy()).summary.value:
                if value.tag.startswith("epoch_"):  # not the model's config, a text summary
                    tags.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    assert "epoch_loss" in tags  # TensorBoard's own, in the same run
    for name in DIAGNOSED:
        np.testing.assert_allclose(tags[f"epoch_{name}"], history.history[name], rtol=1e-6)


def test_a_scheduler_and_a_logger_write_each_epoch_once():
    x, y = _data()
    history = _diagnosed_model().fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[DiagnosticsLogger(), RelaxationScheduler(), DiagnosticsLogger()],
    )
    assert {len(history.history[name]) for name in DIAGNOSED} == {3}


def test_a_diagnostics_logger_needs_quantizers_with_diagnostics():
    x, y = _data()
    with pytest.raises(
        ValueError,
        match=r"DiagnosticsLogger: the model .* has no AdaSTE "
        r"quantizer made with metrics=\['diagnostics'\]",
    ):
        _model().fit(x, y, batch_size=BATCH, verbose=0, callbacks=[DiagnosticsLogger()])
    with pytest.raises(TypeError, match=r"`log_dir` must be None or a directory path"):
        DiagnosticsLogger(log_dir=3)
