"""Keras callbacks that drive AdaSTE's relaxation weight beta during `fit`."""

from __future__ import annotations

import math
from collections.abc import Callable

import tensorflow as tf

from adaste_tf import schedules, validation
from adaste_tf.quantizers import AdaSTE

__all__ = ["RelaxationScheduler", "find_adaste_quantizers"]

UPDATE_FREQUENCIES = ("epoch", "batch")


def find_adaste_quantizers(model: tf.keras.layers.Layer) -> list[AdaSTE]:
    """Every distinct AdaSTE quantizer in `model`: in its layers, nested models, and layers
    held by other layers (larq keeps quantizers as sublayers of the quantized layer).

    Example:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
        >>> len(find_adaste_quantizers(model))
        1
    """
    found: dict[int, AdaSTE] = {}
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, AdaSTE):
            found.setdefault(id(layer), layer)
    return list(found.values())


class RelaxationScheduler(tf.keras.callbacks.Callback):
    """Sets beta of every AdaSTE quantizer in the model from a schedule, and logs it.

    At the start of each epoch (or batch, with `update_freq="batch"`), each quantizer `q` gets
    `schedule(index, initial_beta=q.beta, alpha=q.alpha)`; index is the 0-based epoch, or the
    global step `epoch * steps_per_epoch + batch`. Both come from Keras's own counters, so
    `fit(initial_epoch=k)` and `BackupAndRestore` give the beta an uninterrupted run would have.
    beta is a variable read by the compiled train step: changing it never retraces.

    At the end of each epoch the current beta goes into the epoch logs as `"beta"` (plus
    `"beta/<quantizer name>"` for each quantizer when they differ), so `History` has it; place
    this callback before `tf.keras.callbacks.TensorBoard` in the list so TensorBoard sees it too
    (as with Keras's `LearningRateScheduler`).

    Example:
        ```python
        scheduler = adaste_tf.callbacks.RelaxationScheduler()  # official: beta0 * 1.05**(e+1)
        history = model.fit(x, y, epochs=5, callbacks=[scheduler])
        history.history["beta"]
        ```

    Args:
        schedule: a `adaste_tf.schedules.BetaSchedule`, a schedule name or config, a callable
            `index -> beta`, or `None` for `schedules.Geometric()` (each quantizer from its own
            `beta`, growing by 1.05 per epoch, capped at `1 / alpha`). For another growth rate:
            `schedules.Geometric(rate=1.009)`.
        update_freq: `"epoch"` or `"batch"`.
        verbose: 0 quiet, 1 prints beta when it is set at an epoch start.
    """

    def __init__(
        self,
        schedule: schedules.BetaSchedule | str | dict | Callable[[int], float] | None = None,
        update_freq: str = "epoch",
        verbose: int = 0,
    ):
        super().__init__()
        owner = type(self).__name__
        self.schedule = schedules.get(schedule)
        self.update_freq = validation.choice("update_freq", update_freq, UPDATE_FREQUENCIES,
                                             owner=owner)
        self.verbose = validation.integer("verbose", verbose, minimum=0, owner=owner)
        self._quantizers: list[AdaSTE] = []
        self._epoch = 0

    def set_model(self, model):
        super().set_model(model)
        self._quantizers = find_adaste_quantizers(model)
        if not self._quantizers:
            raise ValueError(
                f"RelaxationScheduler: the model {model.name!r} has no AdaSTE quantizer to "
                f"schedule. Use kernel_quantizer='adaste' (or adaste_tf.quantizers.AdaSTE(...)) "
                f"in its larq layers, or remove the callback.")

    @property
    def quantizers(self) -> list[AdaSTE]:
        """The AdaSTE quantizers this callback drives (found when the model is set)."""
        return list(self._quantizers)

    def beta_for(self, quantizer: AdaSTE, index: int) -> float:
        """The beta that `quantizer` gets at `index`, checked to be finite and >= 0."""
        try:
            beta = self.schedule(index, initial_beta=quantizer.beta, alpha=quantizer.alpha)
        except TypeError as error:
            # A value that is not a number (None, a string, a list, a tensor of several values):
            # say which schedule, when, and for which quantizer.
            raise TypeError(
                f"RelaxationScheduler: the schedule {self.schedule!r} failed at "
                f"{self.update_freq} {index} for quantizer {quantizer.name!r}: {error} A "
                f"schedule must return a finite number >= 0.") from error
        if not math.isfinite(beta) or beta < 0:
            raise ValueError(
                f"RelaxationScheduler: the schedule {self.schedule!r} returned beta={beta!r} at "
                f"{self.update_freq} {index} for quantizer {quantizer.name!r}; a schedule must "
                f"return a finite number >= 0.")
        return beta

    def _assign(self, index: int) -> None:
        for quantizer in self._quantizers:
            quantizer.beta_variable.assign(self.beta_for(quantizer, index))

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self.update_freq == "epoch":
            self._assign(epoch)
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: RelaxationScheduler setting beta to "
                      f"{self._describe_betas()}.")

    def on_train_batch_begin(self, batch, logs=None):
        if self.update_freq == "batch":
            steps = self.params.get("steps") if self.params else None
            if steps:
                index = self._epoch * steps + batch
            else:  # unknown epoch length: the optimizer's step count is the global step
                index = int(self.model.optimizer.iterations.numpy())
            self._assign(index)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        betas = self.current_betas()
        logs["beta"] = next(iter(betas.values()))
        if len(set(betas.values())) > 1:
            logs.update({f"beta/{name}": value for name, value in betas.items()})

    def current_betas(self) -> dict[str, float]:
        """The current beta of each quantizer, by quantizer name."""
        return {q.name: float(q.beta_variable.numpy()) for q in self._quantizers}

    def _describe_betas(self) -> str:
        values = sorted(set(self.current_betas().values()))
        return ", ".join(f"{v:.6g}" for v in values)

    def get_config(self):
        return {
            "schedule": schedules.serialize(self.schedule)
            if not isinstance(self.schedule, schedules._FunctionSchedule) else self.schedule.fn,
            "update_freq": self.update_freq,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
