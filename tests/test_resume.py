"""Resuming an interrupted run ends where the uninterrupted run ends, bit for bit.

A run is interrupted mid-epoch (a callback raises at epoch 3, batch 2) and resumed in three
ways: `tf.keras.callbacks.BackupAndRestore`; `ModelCheckpoint` of the full model (`.keras`) then
`load_model` + `fit(initial_epoch=3)`; `ModelCheckpoint(save_weights_only=True)` (a TF checkpoint:
weights and optimizer) then `load_weights` + `fit(initial_epoch=3)`. The latent weights, the
BatchNorm statistics, the optimizer state, beta and the logged metrics of the resumed epochs
must equal the uninterrupted run's exactly.

That holds only if the data order does not depend on the interruption:
- no shuffling (`shuffle=False`) works;
- Keras's own shuffling of numpy data (`shuffle=True`, the default) draws a new permutation per
  epoch from a random stream that starts again in the resumed process, so the resumed epochs
  see other orders (the test measures how far that ends from the uninterrupted run);
- `adaste_tf.resume.epoch_ordered_dataset` orders epoch e by a stateless shuffle keyed by
  (seed, e) and starts at the optimizer's step counter as restored (passed on by the
  `adaste_tf.resume.StartStep` callback):
  exact, even for `BackupAndRestore(save_freq=<batches>)` restoring in the middle of an epoch,
  where Keras itself restarts numpy data at the epoch's first batch.

Op determinism is process-global and must be enabled before any op runs, so the runs happen in
a subprocess: this file run as a script, `python tests/test_resume.py OUT.npz`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import adaste_tf  # noqa: F401  (first: selects legacy Keras before TensorFlow)
from adaste_tf.callbacks import RelaxationScheduler, find_adaste_quantizers
from adaste_tf.quantizers import AdaSTE
from adaste_tf.resume import StartStep, epoch_ordered_dataset

import larq as lq
import numpy as np
import pytest
import tensorflow as tf

N, FEATURES, CLASSES, BATCH = 96, 12, 3, 16
STEPS = N // BATCH  # 6 steps per epoch
EPOCHS, STOP_EPOCH, STOP_BATCH = 6, 3, 2
SEED = 7
DATA_MODES = ("no-shuffle", "keras-shuffle", "epoch-ordered")
RESUME_METHODS = ("backup", "keras-file", "tf-weights")
SUBPROCESS_TIMEOUT_S = 300


# --- what the subprocess runs ----------------------------------------------------------------


class Interrupt(RuntimeError):
    pass


class _InterruptAt(tf.keras.callbacks.Callback):
    """Raises at the start of (epoch, batch), as a preempted job would stop."""

    def __init__(self, epoch: int, batch: int):
        super().__init__()
        self.epoch, self.batch, self._current = epoch, batch, -1

    def on_epoch_begin(self, epoch, logs=None):
        self._current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self._current, batch) == (self.epoch, self.batch):
            raise Interrupt(f"interrupted at epoch {self.epoch}, batch {batch}")


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(N, FEATURES)).astype(np.float32)
    y = (x[:, :2].sum(axis=1) > 0).astype(np.int64) + (x[:, 2] > 1)
    return x, y


def _model() -> tf.keras.Model:
    """A fresh process's model: session cleared, seeds set, then built and compiled."""
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(SEED)
    model = tf.keras.Sequential(
        [
            tf.keras.layers.InputLayer((FEATURES,)),
            lq.layers.QuantDense(24, kernel_quantizer=AdaSTE(), use_bias=False),
            tf.keras.layers.BatchNormalization(),
            tf.keras.layers.Activation("relu"),
            lq.layers.QuantDense(CLASSES, kernel_quantizer=AdaSTE(variant="official", beta=0.05)),
        ]
    )
    _compile(model)
    return model


def _compile(model):
    model.compile(
        tf.keras.optimizers.Adam(0.01),
        tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )


def _fit(model, mode, callbacks, initial_epoch=0):
    x, y = _data()
    callbacks = [RelaxationScheduler(), *callbacks]
    if mode == "epoch-ordered":
        start = StartStep()  # last: after BackupAndRestore has restored the step counter
        dataset = epoch_ordered_dataset(x, y, BATCH, SEED, start)
        return model.fit(
            dataset,
            epochs=EPOCHS,
            steps_per_epoch=STEPS,
            verbose=0,
            callbacks=[*callbacks, start],
            initial_epoch=initial_epoch,
        )
    return model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=EPOCHS,
        shuffle=mode == "keras-shuffle",
        verbose=0,
        callbacks=callbacks,
        initial_epoch=initial_epoch,
    )


def _interrupted(model, mode, callbacks) -> None:
    try:
        _fit(model, mode, [*callbacks, _InterruptAt(STOP_EPOCH, STOP_BATCH)])
    except Interrupt:
        return
    raise AssertionError("the run was not interrupted")


def _precomputed_batches() -> tf.data.Dataset:
    """Every batch of the whole run, taken from `epoch_ordered_dataset` before training."""
    x, y = _data()
    batches = list(
        epoch_ordered_dataset(x, y, BATCH, SEED, tf.Variable(0, dtype=tf.int64))
        .take(EPOCHS * STEPS)
        .as_numpy_iterator()
    )
    return tf.data.Dataset.from_tensor_slices(tuple(np.stack(part) for part in zip(*batches)))


def _state(model, history) -> dict[str, np.ndarray]:
    """Everything that must match: weights (BatchNorm statistics included), optimizer state,
    beta of each quantizer, and the logged metrics of each epoch that this run trained."""
    state = {f"weight{i}": w for i, w in enumerate(model.get_weights())}
    state.update({f"optimizer{i}": v.numpy() for i, v in enumerate(model.optimizer.variables)})
    state["beta"] = np.array([q.beta_variable.numpy() for q in find_adaste_quantizers(model)])
    state["epochs"] = np.array(history.epoch)
    for key, values in history.history.items():
        state[f"history/{key}"] = np.array(values)
    return state


def run_all(out: str) -> None:
    directory = Path(out).parent
    arrays: dict[str, np.ndarray] = {}

    def keep(name, state):
        arrays.update({f"{name}/{key}": value for key, value in state.items()})

    for mode in DATA_MODES:
        model = _model()
        keep(f"{mode}/full", _state(model, _fit(model, mode, [])))
        if mode == "epoch-ordered":  # the same batches, computed up front: no timing involved
            model = _model()
            history = model.fit(
                _precomputed_batches(),
                epochs=EPOCHS,
                steps_per_epoch=STEPS,
                verbose=0,
                callbacks=[RelaxationScheduler()],
            )
            keep(f"{mode}/precomputed", _state(model, history))

        # BackupAndRestore: the resumed fit restores the last epoch-end backup by itself.
        backup_dir = str(directory / f"{mode}-backup")
        _interrupted(_model(), mode, [tf.keras.callbacks.BackupAndRestore(backup_dir)])
        model = _model()
        history = _fit(model, mode, [tf.keras.callbacks.BackupAndRestore(backup_dir)])
        keep(f"{mode}/backup", _state(model, history))

        # ModelCheckpoint of the whole model, then load_model + initial_epoch.
        path = str(directory / f"{mode}-e{{epoch:02d}}.keras")
        _interrupted(_model(), mode, [tf.keras.callbacks.ModelCheckpoint(path)])
        tf.keras.backend.clear_session()
        tf.keras.utils.set_random_seed(SEED)
        model = tf.keras.models.load_model(path.format(epoch=STOP_EPOCH))
        keep(f"{mode}/keras-file", _state(model, _fit(model, mode, [], STOP_EPOCH)))

        # ModelCheckpoint of weights in TF format (the optimizer comes along), then load_weights.
        path = str(directory / f"{mode}-w{{epoch:02d}}")
        _interrupted(
            _model(), mode, [tf.keras.callbacks.ModelCheckpoint(path, save_weights_only=True)]
        )
        model = _model()
        model.load_weights(path.format(epoch=STOP_EPOCH))
        keep(f"{mode}/tf-weights", _state(model, _fit(model, mode, [], STOP_EPOCH)))

    # BackupAndRestore every 2 batches: the resumed run restarts inside epoch 3.
    for mode in ("no-shuffle", "epoch-ordered"):
        backup_dir = str(directory / f"{mode}-backup-batches")
        _interrupted(_model(), mode, [tf.keras.callbacks.BackupAndRestore(backup_dir, save_freq=2)])
        model = _model()
        history = _fit(model, mode, [tf.keras.callbacks.BackupAndRestore(backup_dir, save_freq=2)])
        keep(f"{mode}/backup-batches", _state(model, history))
    np.savez(out, **arrays)


# --- the tests -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("resume") / "runs.npz"
    done = subprocess.run(
        [sys.executable, __file__, str(out)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert done.returncode == 0, done.stderr[-5000:]
    with np.load(out) as archive:
        return dict(archive)


def _compare(runs, mode, method, first_epoch=STOP_EPOCH) -> dict[str, float]:
    """Max |resumed - uninterrupted| per group; metrics compared from `first_epoch` on."""
    full, resumed = f"{mode}/full/", f"{mode}/{method}/"
    diffs = {"weights": 0.0, "optimizer": 0.0, "beta": 0.0, "metrics": 0.0}
    keys = [k[len(full) :] for k in runs if k.startswith(full)]
    assert {k for k in keys if k.startswith("weight")} <= {
        k[len(resumed) :] for k in runs if k.startswith(resumed)
    }
    epochs = runs[resumed + "epochs"]
    for key in keys:
        want, got = runs[full + key], runs.get(resumed + key)
        if key == "epochs":
            continue
        if key.startswith("history/"):
            keep = epochs >= first_epoch
            want, got = want[epochs[keep]], got[keep]
            group = "metrics"
        else:
            group = next(g for g in ("weight", "optimizer", "beta") if key.startswith(g))
            group = {"weight": "weights"}.get(group, group)
        assert want.shape == got.shape, (key, want.shape, got.shape)
        diff = float(np.max(np.abs(want.astype(np.float64) - got))) if want.size else 0.0
        diffs[group] = max(diffs[group], diff)
    return diffs


@pytest.mark.slow
@pytest.mark.parametrize("method", RESUME_METHODS)
@pytest.mark.parametrize("mode", ["no-shuffle", "epoch-ordered"])
def test_resumed_run_is_bit_identical(runs, mode, method):
    assert list(runs[f"{mode}/{method}/epochs"]) == list(range(STOP_EPOCH, EPOCHS))
    diffs = _compare(runs, mode, method)
    print(f"{mode} / {method}: max abs diff {diffs}")
    assert diffs == {"weights": 0.0, "optimizer": 0.0, "beta": 0.0, "metrics": 0.0}


@pytest.mark.slow
def test_epoch_ordered_run_trains_on_the_batches_it_promises(runs):
    """Fed the same batches computed before training, a run ends identical: the pipeline starts
    at step 0, not one step late (as it did when it read the optimizer's own step counter,
    which the first step increments while the pipeline reads it)."""
    diffs = _compare(runs, "epoch-ordered", "precomputed", first_epoch=0)
    assert diffs == {"weights": 0.0, "optimizer": 0.0, "beta": 0.0, "metrics": 0.0}


@pytest.mark.slow
def test_mid_epoch_backup_needs_an_epoch_ordered_dataset(runs):
    """BackupAndRestore(save_freq=2) restores at epoch 3, batch 2. Keras then restarts numpy data
    at the epoch's first batch (the resumed epoch sees batches 0..3, not 2..5), so the run
    diverges; the epoch-ordered dataset starts at the restored step and ends identical. The
    resumed epoch's logged metrics cover only the steps run after the restore, so metrics are
    compared from the next epoch on."""
    ordered = _compare(runs, "epoch-ordered", "backup-batches", first_epoch=STOP_EPOCH + 1)
    plain = _compare(runs, "no-shuffle", "backup-batches", first_epoch=STOP_EPOCH + 1)
    print(f"mid-epoch backup: epoch-ordered {ordered}; numpy without shuffle {plain}")
    assert ordered == {"weights": 0.0, "optimizer": 0.0, "beta": 0.0, "metrics": 0.0}
    assert plain["weights"] > 0.0


@pytest.mark.slow
@pytest.mark.parametrize("method", RESUME_METHODS)
def test_keras_reshuffled_numpy_data_is_not_reproduced(runs, method):
    """Documents the trap: Keras's shuffle=True draws each epoch's permutation from a stream that
    starts again in the resumed process, so resumed epochs train on other orders."""
    diffs = _compare(runs, "keras-shuffle", method)
    print(f"keras-shuffle / {method}: max abs diff {diffs}")
    assert diffs["beta"] == 0.0  # beta is a function of the epoch index only
    assert diffs["weights"] > 0.0


def test_epoch_ordered_dataset_orders_by_epoch_and_starts_at_the_step():
    x = np.arange(10, dtype=np.float32)[:, None]
    y = np.arange(10)
    counter = tf.Variable(0, dtype=tf.int64)

    def first_batches(count):
        dataset = epoch_ordered_dataset(x, y, 3, seed=1, start_step=counter)
        return [tuple(b.numpy()) for _, b in dataset.take(count)]

    from_start = first_batches(9)  # 3 epochs of 3 batches (one example dropped per epoch)
    epochs = [sorted(sum(from_start[i : i + 3], ())) for i in (0, 3, 6)]
    assert all(len(set(e)) == 9 for e in epochs)
    assert from_start[:3] != from_start[3:6]  # reshuffled each epoch
    assert first_batches(9) == from_start  # no hidden state between iterators
    counter.assign(4)  # as after a restore at epoch 1, batch 1
    assert first_batches(5) == from_start[4:]


def test_start_step_takes_the_step_that_fit_starts_from():
    x, y = _data()
    model = _model()
    first = StartStep()
    model.fit(
        epoch_ordered_dataset(x, y, BATCH, SEED, first),
        epochs=1,
        steps_per_epoch=2,
        verbose=0,
        callbacks=[first],
    )
    again = StartStep()  # a second fit continues from the optimizer's counter: step 2
    model.fit(
        epoch_ordered_dataset(x, y, BATCH, SEED, again),
        epochs=1,
        steps_per_epoch=1,
        verbose=0,
        callbacks=[again],
    )
    assert (int(first.step), int(again.step), int(model.optimizer.iterations)) == (0, 2, 3)


def test_start_step_is_a_registered_keras_object():
    assert tf.keras.utils.get_registered_name(StartStep) == "adaste_tf>StartStep"
    clone = tf.keras.utils.deserialize_keras_object(
        tf.keras.utils.serialize_keras_object(StartStep())
    )
    assert isinstance(clone, StartStep) and clone.get_config() == {}


if __name__ == "__main__":
    # Before anything runs: determinism is process-global and fixed at first use.
    tf.config.experimental.enable_op_determinism()
    run_all(sys.argv[1])
    print(json.dumps({"done": sys.argv[1]}))
