"""`RelaxationScheduler` for Keras 3: drives AdaSTE's beta during `fit`, as the larq path's.

The schedules are the larq path's own (`adaste_tf.schedules`, plain Python): the same default
path, the same `schedule=` names, configs and callables, the same batch mode and resume
semantics (beta is a pure function of the epoch Keras passes).

Examples:
    >>> import keras
    >>> from adaste_tf import keras3
    >>> model = keras.Sequential([keras3.QuantDense(2, kernel_quantizer="adaste")])
    >>> scheduler = keras3.RelaxationScheduler(epochs=5)    # the default path, in 5 epochs
    >>> scheduler.set_model(model)
    >>> [round(list(scheduler.apply(e).values())[0], 4) for e in range(5)]
    [0.0105, 1.3808, 100.0, 100.0, 100.0]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from adaste_tf import schedules, validation
from adaste_tf.keras3.quantizers import PACKAGE, AdaSTE

import keras
import numpy as np

__all__ = [
    "RelaxationScheduler",
    "find_adaste_quantizers",
    "quantizer_names",
    "SLOTS",
    "UPDATE_FREQUENCIES",
]

UPDATE_FREQUENCIES = ("epoch", "batch")

# The schedules in Keras 3 configs (the larq path registers them with tf.keras).
schedules.register_all(keras.saving.register_keras_serializable(package=PACKAGE))


def find_adaste_quantizers(model: keras.layers.Layer) -> list[AdaSTE]:
    """Every distinct AdaSTE quantizer in `model`, nested layers and models included.

    Examples:
        >>> from adaste_tf.keras3 import QuantDense
        >>> model = keras.Sequential([keras.Input((3,)), QuantDense(2, kernel_quantizer="adaste")])
        >>> len(find_adaste_quantizers(model))
        1
    """
    found: dict[int, AdaSTE] = {}
    # Keras 3's own walk over every layer a layer tracks (what `summary` and saving use);
    # larq-style layers hold their quantizers as tracked sublayers.
    for layer in model._flatten_layers(include_self=True, recursive=True):
        if isinstance(layer, AdaSTE):
            found.setdefault(id(layer), layer)
    return list(found.values())


# The layer attributes that hold quantizers, as larq names them: `kernel_quantizer` quantizes
# the kernel, `input_quantizer` the layer's input.
SLOTS = ("kernel_quantizer", "input_quantizer")


def quantizer_names(model: keras.layers.Layer) -> dict[int, str]:
    """Each AdaSTE quantizer of `model`'s layer slots, by `id`, named `<layer>/<slot>`
    (`fc1/kernel`) as the larq path names them: the slot is the argument without `_quantizer`,
    a shared quantizer is named after its first slot, and same-named layers of nested models get
    `_2`, `_3`, ... .

    Examples:
        >>> from adaste_tf.keras3 import QuantDense
        >>> layer = QuantDense(2, kernel_quantizer="adaste", input_quantizer="adaste", name="fc1")
        >>> sorted(quantizer_names(keras.Sequential([layer])).values())
        ['fc1/input', 'fc1/kernel']
    """
    names: dict[int, str] = {}
    places: set[str] = set()
    for layer in model._flatten_layers(include_self=True, recursive=True):
        for slot in SLOTS:
            quantizer = getattr(layer, slot, None)
            if not isinstance(quantizer, AdaSTE) or id(quantizer) in names:
                continue
            place, n = f"{layer.name}/{slot.removesuffix('_quantizer')}", 1
            while place in places:
                n += 1
                place = f"{layer.name}_{n}/{slot.removesuffix('_quantizer')}"
            places.add(place)
            names[id(quantizer)] = place
    return names


@keras.saving.register_keras_serializable(package=PACKAGE)
class RelaxationScheduler(keras.callbacks.Callback):
    """Sets beta of every AdaSTE quantizer in the model from a schedule, and logs it (Keras 3).

    The larq path's `adaste_tf.callbacks.RelaxationScheduler` for Keras 3 models; read it for
    the whole behaviour. In short: without a schedule it runs the official path (beta x 1.05 per
    epoch from each quantizer's initial beta, capped at `1 / alpha`, over 500 epochs) compressed
    into the fit's epochs (`schedules.Geometric.compressed(epochs)`); `schedule="official"` is
    the official per-epoch rate. Each quantizer `q` gets `schedule(index,
    initial_beta=q.initial_beta, alpha=q.alpha)` at the start of each epoch, or of each batch
    with `update_freq="batch"` (fractional index `epoch + batch / steps`). The epoch is Keras's
    counter, so `fit(initial_epoch=k)` and `BackupAndRestore` resume the path; `epochs=N`, when
    given, is the run's length instead of `fit`'s. At the end of each epoch the beta of its last
    step goes into the logs as `"beta"` (and `"beta/<layer>/<slot>"`, `"beta/fc1/kernel"`, where
    quantizers can differ), so `History` has it. A fit that ends short of `1 / alpha` warns.

    On JAX, where `fit` hands the model's state from step to step and writes it back to the
    variables once per epoch, batch mode writes the state back before it assigns beta (Keras's
    `jax_state_sync`), so the next step reads the new beta.

    In a custom training loop: `set_model(model)`, `apply(epoch)` (or `apply(epoch + step /
    steps)`) before the steps, `on_train_end()` after them.

    Examples:
        >>> from adaste_tf.keras3 import QuantDense
        >>> model = keras.Sequential([keras.Input((3,)), QuantDense(2, kernel_quantizer="adaste")])
        >>> scheduler = RelaxationScheduler(schedules.Constant(0.5))
        >>> scheduler.set_model(model)
        >>> list(scheduler.apply(0).values())
        [0.5]

    Args:
        schedule: a `adaste_tf.schedules.BetaSchedule`, a schedule name or config, a callable
            `epoch -> beta`, or None (the official path compressed into the run).
        update_freq: `"epoch"` or `"batch"`.
        verbose: 0 (or False) quiet, 1 (or True) prints beta when it is set at an epoch start.
        steps_per_epoch: steps in an epoch, for batch mode when Keras does not know them.
        epochs: the run's length for the default schedule: needed outside `fit`; in `fit`, it
            wins over `fit`'s epochs.
    """

    def __init__(
        self,
        schedule: schedules.BetaSchedule | str | dict | Callable[[float], float] | None = None,
        update_freq: str = "epoch",
        verbose: int | bool = 0,
        steps_per_epoch: int | None = None,
        epochs: int | None = None,
    ):
        super().__init__()
        owner = type(self).__name__
        self.epochs = (
            None if epochs is None else validation.integer("epochs", epochs, minimum=1, owner=owner)
        )
        if schedule is not None and epochs is not None:
            raise ValueError(
                f"{owner}: `epochs` sets the length of the default schedule and is not used with "
                f"a `schedule` (got schedule={schedule!r}, epochs={epochs!r}). Fix: pass one."
            )
        self._given_schedule = (
            None
            if schedule is None
            else schedules.get(schedule, deserialize=keras.saving.deserialize_keras_object)
        )
        self.update_freq = validation.choice(
            "update_freq", update_freq, UPDATE_FREQUENCIES, owner=owner
        )
        self.verbose = (
            int(verbose)
            if isinstance(verbose, bool)
            else validation.integer("verbose", verbose, minimum=0, owner=owner)
        )
        self.steps_per_epoch = (
            None
            if steps_per_epoch is None
            else validation.integer("steps_per_epoch", steps_per_epoch, minimum=1, owner=owner)
        )
        self._run_epochs: int | None = self.epochs
        self._quantizers: list[AdaSTE] = []
        self._names: dict[int, str] = {}  # each quantizer's `<layer>/<slot>`, by id
        self._epoch = 0
        self._counted_steps: int | None = None
        self._steps_this_epoch = 0
        self._pending_index = 0.0
        self._trained_index = 0.0  # the index of the last step that ran

    @property
    def schedule(self) -> schedules.BetaSchedule:
        """The schedule in use: the one given, or the default path for the run's epochs."""
        if self._given_schedule is not None:
            return self._given_schedule
        if self._run_epochs is None:
            raise ValueError(
                "RelaxationScheduler: the default schedule runs the relaxation path within the "
                "run's epochs, and this run's are not known. Fix: in a custom training loop "
                "pass them, RelaxationScheduler(epochs=N), or give a schedule."
            )
        return schedules.Geometric.compressed(self._run_epochs)

    @property
    def quantizers(self) -> list[AdaSTE]:
        """The AdaSTE quantizers this callback drives (as last found in the model)."""
        return list(self._quantizers)

    def set_model(self, model):
        super().set_model(model)
        self._find(model)

    def _find(self, model) -> None:
        """The model's AdaSTE quantizers, each marked as driven by a scheduler (no
        unscheduled-beta warning), and their names."""
        self._quantizers = find_adaste_quantizers(model)
        self._names = quantizer_names(model)
        for quantizer in self._quantizers:
            quantizer._scheduled = True

    def _name(self, quantizer: AdaSTE) -> str:
        """`quantizer`'s layer and slot (`fc1/kernel`), or its own name outside the slots."""
        return self._names.get(id(quantizer)) or str(quantizer.name)

    def _require_quantizers(self) -> None:
        if not self._quantizers:
            raise ValueError(
                f"RelaxationScheduler: the model {self.model.name!r} has no AdaSTE quantizer to "
                f"schedule. Use kernel_quantizer='adaste' (or adaste_tf.keras3.AdaSTE(...)) in "
                f"its adaste_tf.keras3 layers, or remove the callback."
            )

    def beta_for(self, quantizer: AdaSTE, index: float) -> float:
        """The beta `quantizer` gets at epoch `index`, checked to be a finite float32 >= 0."""
        beta = self.schedule(index, initial_beta=quantizer.initial_beta, alpha=quantizer.alpha)
        with np.errstate(over="ignore"):
            stored = float(np.float32(beta))
        if not math.isfinite(stored) or stored < 0:
            raise ValueError(
                f"RelaxationScheduler: the schedule {self.schedule!r} returned beta={beta!r} at "
                f"epoch {index:g} for quantizer {quantizer.name!r} ({stored!r} as the float32 "
                f"beta is stored in); a schedule must return a finite number >= 0."
            )
        return beta

    def apply(self, index: float) -> dict[str, float]:
        """Set every quantizer's beta for epoch `index` (fractional between epochs); return
        them by layer and slot (`fc1/kernel`). For custom training loops.

        Examples:
            >>> from adaste_tf.keras3 import QuantDense
            >>> model = keras.Sequential([QuantDense(2, kernel_quantizer="adaste")])
            >>> scheduler = RelaxationScheduler("linear")
            >>> scheduler.set_model(model)
            >>> round(list(scheduler.apply(50).values())[0], 3)
            50.005
        """
        index = validation.real("index", index, minimum=0.0, owner="RelaxationScheduler.apply")
        if self.model is None:
            raise ValueError(
                "RelaxationScheduler.apply: a model must be set first: call set_model(model)."
            )
        if not self._quantizers:
            self._find(self.model)
        self._require_quantizers()
        self._trained_index = self._pending_index = float(index)
        return self._assign(index)

    def _assign(self, index: float) -> dict[str, float]:
        # JAX's fit keeps the state out of the variables during an epoch: write it back first,
        # which also makes the next step read the variables (and so the new beta) again.
        # (Keras's `Callback.model` does the same when read on JAX; this does not rest on it.)
        sync = getattr(self.model, "jax_state_sync", None)
        if sync is not None:
            sync()
        betas = {}
        for quantizer in self._quantizers:
            betas[self._name(quantizer)] = beta = self.beta_for(quantizer, index)
            quantizer.beta_variable.assign(beta)
        return betas

    def _steps(self) -> int | None:
        params = getattr(self, "params", None) or {}
        return params.get("steps") or self.steps_per_epoch or self._counted_steps

    def on_train_begin(self, logs=None):
        params = getattr(self, "params", None) or {}
        self._run_epochs = self.epochs or params.get("epochs")  # the user's, if given
        if self._given_schedule is None and self._sets_one_beta_per_run():
            warnings.warn(
                "RelaxationScheduler: this fit has 1 epoch and beta is set at the start of each "
                "epoch (update_freq='epoch'), so the default path cannot run. Fix: "
                "RelaxationScheduler(update_freq='batch'), or train for 2 epochs or more.",
                UserWarning,
                stacklevel=2,
            )
        self._find(self.model)
        self._require_quantizers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._steps_this_epoch = 0
        self._pending_index = self._trained_index = float(epoch)
        if self.update_freq == "epoch":
            betas = self._assign(epoch)
            if self.verbose:
                values = ", ".join(f"{v:.6g}" for v in sorted(set(betas.values())))
                print(f"\nEpoch {epoch + 1}: RelaxationScheduler setting beta to {values}.")

    def on_train_batch_begin(self, batch, logs=None):
        if self.update_freq != "batch":
            return
        steps = self._steps()
        index = self._epoch + (min(batch / steps, 1.0) if steps else 0.0)
        self._assign(index)
        self._pending_index = index

    def on_train_batch_end(self, batch, logs=None):
        self._steps_this_epoch = batch + 1
        self._trained_index = self._pending_index

    def on_epoch_end(self, epoch, logs=None):
        if self._counted_steps is None and self._steps_this_epoch:
            self._counted_steps = self._steps_this_epoch
        if logs is None or not self._quantizers:
            return
        betas = {self._name(q): self.beta_for(q, self._trained_index) for q in self._quantizers}
        logs["beta"] = next(iter(betas.values()))
        if (
            len({(q.initial_beta, q.alpha) for q in self._quantizers}) > 1
            or len(set(betas.values())) > 1
        ):
            logs.update({f"beta/{name}": value for name, value in betas.items()})

    def _sets_one_beta_per_run(self) -> bool:
        return self.update_freq == "epoch" and self._run_epochs == 1

    def on_train_end(self, logs=None):
        # Relaxed weights are sign(theta) only once alpha * beta >= 1 (float32 may round below).
        final = {id(q): self.beta_for(q, self._trained_index) for q in self._quantizers}
        short = [q for q in self._quantizers if q.alpha * final[id(q)] < 1.0 - 1e-6]
        if short:
            lowest = min(short, key=lambda q: final[id(q)])
            warnings.warn(
                f"RelaxationScheduler: training ended with beta={final[id(lowest)]:.4g} for "
                f"{len(short)} of {len(self._quantizers)} AdaSTE quantizers (lowest: "
                f"{self._name(lowest)!r}), short of 1/alpha={1.0 / lowest.alpha:.4g}, where the "
                f"relaxed weight becomes sign(theta): the relaxation path was not completed. When "
                f"resuming, pass the same total epochs with initial_epoch; with one epoch use "
                f"update_freq='batch'.",
                UserWarning,
                stacklevel=2,
            )

    def current_betas(self) -> dict[str, float]:
        """The current beta of each quantizer, by layer and slot (`fc1/kernel`)."""
        return {self._name(q): q.beta for q in self._quantizers}

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": (
                None
                if self._given_schedule is None
                else schedules.config_value(
                    self._given_schedule, serializer=keras.saving.serialize_keras_object
                )
            ),
            "update_freq": self.update_freq,
            "verbose": self.verbose,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
