"""A data order that survives an interruption: resume a run and end where it would have ended.

Keras's own shuffling (`fit(x, y, shuffle=True)`, `Dataset.shuffle(reshuffle_each_iteration=
True)`) draws each epoch's order from a random stream that starts again in a resumed process,
and `BackupAndRestore(save_freq=<batches>)` restarts the data at the epoch's first batch. Here
each epoch's order is a function of (seed, epoch) only, and the pipeline starts at the global
step the run resumes from, so a resumed run trains on exactly the batches of the uninterrupted
one (`tests/test_resume.py` checks it bit for bit; docs/reliability.md has the measurements).

Examples:
    >>> import adaste_tf
    >>> import numpy as np, tensorflow as tf
    >>> from adaste_tf.resume import StartStep, epoch_ordered_dataset
    >>> x = np.arange(8, dtype=np.float32)[:, None]
    >>> y = np.arange(8)
    >>> model = tf.keras.Sequential([tf.keras.Input((1,)), tf.keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> start = StartStep()                    # after BackupAndRestore in the callback list
    >>> data = epoch_ordered_dataset(x, y, batch_size=4, seed=0, start_step=start)
    >>> history = model.fit(data, epochs=3, steps_per_epoch=2, callbacks=[start], verbose=0)
    >>> int(model.optimizer.iterations)
    6
"""

from __future__ import annotations

from collections.abc import Sized
from typing import Any

from adaste_tf import validation
from adaste_tf.registration import register

import numpy as np
import tensorflow as tf

__all__ = ["StartStep", "epoch_ordered_dataset"]


@register()
class StartStep(tf.keras.callbacks.Callback):
    """Holds the global step at which `fit` starts, for `epoch_ordered_dataset` to start there.

    Set when training begins, from the optimizer's step counter, which `BackupAndRestore`,
    `.keras` files and TF checkpoints all restore. List it after `BackupAndRestore`: that
    callback restores in its own `on_train_begin`.

    The pipeline reads this variable, not the optimizer's counter: the first train step
    increments the counter without waiting for the data, so a pipeline reading it directly sees
    the start step or the one after, depending on timing.

    Examples:
        >>> start = StartStep()
        >>> int(start.step), start.get_config()
        (0, {})
    """

    def __init__(self) -> None:
        super().__init__()
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="start_step")

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self.step.assign(self.model.optimizer.iterations)

    def get_config(self) -> dict[str, Any]:
        return {}  # nothing to configure: the step comes from the model at train begin

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> StartStep:
        return cls(**config)


def epoch_ordered_dataset(
    x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, start_step: StartStep | tf.Variable
) -> tf.data.Dataset:
    """Batches `(x[i], y[i])` in an order that depends only on (seed, epoch), from a given step.

    Epoch e is a stateless permutation keyed by `(seed, e)`, cut into `len(x) // batch_size`
    batches (the last partial batch is dropped, so every epoch has the same steps). The dataset
    reads `start_step` when `fit` starts its iterator (after the callbacks' `on_train_begin`)
    and starts at that global step: epoch `step // steps`, batch `step % steps`. It is endless:
    pass `steps_per_epoch=len(x) // batch_size` to `fit`.

    Args:
        x: the examples, held in memory as a constant.
        y: their labels, the same length as `x`.
        batch_size: examples per batch, at most `len(x)`.
        seed: the shuffle seed; the same seed gives the same order in any process.
        start_step: the `StartStep` callback given to `fit` (or its `step` variable).

    Examples:
        >>> x, y = np.arange(6, dtype=np.float32), np.arange(6)
        >>> start = StartStep()
        >>> def labels(count):
        ...     batches = epoch_ordered_dataset(x, y, 2, seed=1, start_step=start).take(count)
        ...     return [b.numpy().tolist() for _, b in batches]
        >>> run = labels(6)                       # two epochs of three batches
        >>> sorted(sum(run[:3], [])) == sorted(sum(run[3:], [])) == [0, 1, 2, 3, 4, 5]
        True
        >>> _ = start.step.assign(4)             # as fit resuming at epoch 1, batch 1
        >>> labels(2) == run[4:]
        True
    """
    batch_size = validation.integer(
        "batch_size", batch_size, minimum=1, owner="epoch_ordered_dataset"
    )
    seed = validation.integer("seed", seed, owner="epoch_ordered_dataset")
    n = _length(x, "x")
    if _length(y, "y") != n:
        raise ValueError(
            f"epoch_ordered_dataset: `x` and `y` must have the same length, got {n} and {len(y)}."
        )
    if batch_size > n:
        raise ValueError(
            f"epoch_ordered_dataset: `batch_size` must be at most len(x) = {n} "
            f"(the last partial batch is dropped, so an epoch would be empty), "
            f"got {batch_size}."
        )
    step_variable = start_step.step if isinstance(start_step, StartStep) else start_step
    if not isinstance(step_variable, tf.Variable):
        raise TypeError(
            f"epoch_ordered_dataset: `start_step` must be the StartStep callback "
            f"given to fit (or its `step` variable), got "
            f"{type(start_step).__name__}."
        )
    steps = n // batch_size
    x, y = tf.constant(x), tf.constant(y)

    def epoch_batches(epoch: tf.Tensor) -> tf.data.Dataset:
        order = tf.random.experimental.stateless_shuffle(
            tf.range(n, dtype=tf.int64), seed=tf.stack([tf.constant(seed, tf.int64), epoch])
        )
        return tf.data.Dataset.from_tensor_slices(
            tf.reshape(order[: steps * batch_size], (steps, batch_size))
        )

    def from_start(_) -> tf.data.Dataset:
        # Inside flat_map: runs when the iterator starts producing, not when the dataset is
        # built, so it sees the step that StartStep set in on_train_begin.
        step = tf.convert_to_tensor(step_variable)
        return (
            tf.data.Dataset.range(step // steps, tf.int64.max)
            .flat_map(epoch_batches)
            .skip(step % steps)
        )

    return (
        tf.data.Dataset.from_tensors(0)
        .flat_map(from_start)
        .map(lambda index: (tf.gather(x, index), tf.gather(y, index)))
    )


def _length(values: Any, name: str) -> int:
    if np.ndim(values) == 0 or not isinstance(values, Sized):
        raise TypeError(
            f"epoch_ordered_dataset: `{name}` must be an array of examples, got "
            f"{type(values).__name__}."
        )
    return len(values)
