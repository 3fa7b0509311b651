"""`RelaxationScheduler` for Keras 3: drives AdaSTE's beta during `fit`, as the larq path's.

The schedules are the larq path's own (`adaste_tf.schedules`, plain Python), and so is the
scheduler's logic (`adaste_tf._scheduling`): the same default path, the same `schedule=` names,
configs and callables, the same batch mode and resume semantics (beta is a pure function of the
epoch Keras passes), the same messages.

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

from collections.abc import Callable

from adaste_tf import _scheduling, schedules
from adaste_tf.keras3.quantizers import PACKAGE, AdaSTE

import keras

__all__ = [
    "RelaxationScheduler",
    "find_adaste_quantizers",
    "quantizer_names",
    "SLOTS",
    "UPDATE_FREQUENCIES",
]

UPDATE_FREQUENCIES = _scheduling.UPDATE_FREQUENCIES

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
class RelaxationScheduler(_scheduling.SchedulerLogic, keras.callbacks.Callback):
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

    _QUANTIZER = "adaste_tf.keras3.AdaSTE"
    _LAYERS = "adaste_tf.keras3 layers"

    def __init__(
        self,
        schedule: schedules.BetaSchedule | str | dict | Callable[[float], float] | None = None,
        update_freq: str = "epoch",
        verbose: int | bool = 0,
        steps_per_epoch: int | None = None,
        epochs: int | None = None,
    ):
        super().__init__()
        self._setup(
            schedule,
            update_freq,
            verbose,
            steps_per_epoch,
            epochs,
            deserialize=keras.saving.deserialize_keras_object,
            serializer=keras.saving.serialize_keras_object,
        )

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

    def _refresh(self) -> None:
        self._find(self.model)

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
        return self._apply(index)

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

    def _final_beta(self, quantizer: AdaSTE) -> float:
        return self.beta_for(quantizer, self._trained_index)

    def on_train_begin(self, logs=None):
        self._begin_run()
        self._find(self.model)
        self._require_quantizers()

    def current_betas(self) -> dict[str, float]:
        """The current beta of each quantizer, by layer and slot (`fc1/kernel`)."""
        return {self._name(q): q.beta for q in self._quantizers}
