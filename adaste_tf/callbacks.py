"""Keras callbacks that drive AdaSTE's relaxation weight beta during `fit` (and by hand)."""

from __future__ import annotations

import os
import sys
import types
import warnings
import weakref
from collections.abc import Callable
from typing import cast

from adaste_tf import _keras_setup, _scheduling, schedules
from adaste_tf.optimizers import AdaSTEMomentum, OfficialMomentum, _bop_refusal
from adaste_tf.quantizers import SLOTS, WEIGHT_SLOTS, AdaSTE

import larq as lq
import tensorflow as tf

__all__ = [
    "RelaxationScheduler",
    "Betas",
    "DiagnosticsLogger",
    "find_adaste_quantizers",
    "check_optimizer",
    "model_diagnostics",
]

# The optimizers that train AdaSTE's rules the way the official code does (check_optimizer).
_ADASTE_OPTIMIZERS = (AdaSTEMomentum, OfficialMomentum)

UPDATE_FREQUENCIES = _scheduling.UPDATE_FREQUENCIES

# The scheduler of each running fit, keyed by the History object Keras makes for every fit
# (`model.history`, set before any callback's on_train_begin): two schedulers in one fit would
# overwrite each other's beta at every epoch, the last one silently winning.
_SCHEDULER_OF_FIT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

# The last epoch whose diagnostics went into each fit's History: a DiagnosticsLogger and a
# RelaxationScheduler (which logs them too) in one fit write each epoch once.
_DIAGNOSED_EPOCH_OF_FIT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def find_adaste_quantizers(model: tf.Module) -> list[AdaSTE]:
    """Every distinct AdaSTE quantizer in `model`: in its layers, nested models, and layers
    held by other layers (larq keeps quantizers as attributes of the quantized layer).

    Quantizers of layers made in a `build()` exist once the model is built.

    Examples:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
        >>> len(find_adaste_quantizers(model))
        1
    """
    _keras_setup.refuse_keras3(model, "model", "find_adaste_quantizers")
    found: dict[int, AdaSTE] = {}
    # tf.Module.submodules: the public walk over every module an object holds, layers too.
    for module in (model, *model.submodules):
        if isinstance(module, AdaSTE):
            found.setdefault(id(module), module)
    return list(found.values())


def _adaste_slots(model: tf.Module) -> list[tuple[tf.keras.layers.Layer, str, AdaSTE]]:
    """(layer, slot, quantizer) for each larq quantizer slot (`quantizers.SLOTS`) of `model`'s
    layers, nested ones included, that holds an AdaSTE: in the order of the models' `layers`,
    then layers held by other layers."""
    ordered: dict[int, tf.Module] = {}

    def visit(module) -> None:
        if id(module) not in ordered:
            ordered[id(module)] = module
            for layer in getattr(module, "layers", None) or ():  # a Keras model's, in order
                visit(layer)

    for module in (model, *model.submodules):  # submodules: every one, in no useful order
        visit(module)
    return [
        (module, slot, getattr(module, slot))
        for module in ordered.values()
        if isinstance(module, tf.keras.layers.Layer) and not isinstance(module, AdaSTE)
        for slot in SLOTS
        if isinstance(getattr(module, slot, None), AdaSTE)
    ]


def check_optimizer(model: tf.keras.Model, optimizer=None) -> None:
    """Check who trains the weights AdaSTE quantizes: raise for larq's `Bop`, warn for a
    pairing measured to lose.

    - **Bop** keeps no latent weights: it flips a binary weight when its gradient momentum
      passes a threshold, so AdaSTE's backward (which scales steps by how far the latent weight
      is from a flip) has nothing to act on, and the combination does not learn (docs/usage.md,
      "Bop"). larq's `Bop.is_binary_variable` selects every 1-bit weight, AdaSTE's included.
      Bop itself refuses these weights once `import adaste_tf` has run, when it would first
      update them; this check says so earlier, naming every such layer.
    - **The `official` rule under another optimizer than AdaSTE's** (`AdaSTEMomentum`,
      `OfficialMomentum`) warns: under Adam it collapses once beta passes about 3 (the MLP's
      fixed-beta sweep, docs/evidence.md: 0.884 at beta 1, 0.825 at 3, 0.751 at 100).
    - **AdaSTE's optimizer on real-valued layers** warns: its gradient scale and decay are sized
      for latent binary weights, and a real stem, head or BatchNorm trained by it stayed at
      chance (docs/evidence.md, "larq-style networks"). Give it only AdaSTE's weights through
      `CaseOptimizer((adaste_tf.optimizers.is_adaste_variable, AdaSTEMomentum(...)), ...)`.

    Every weight slot counts (`kernel_quantizer`, `depthwise_quantizer`, `pointwise_quantizer`);
    an AdaSTE `input_quantizer` quantizes activations, which no optimizer trains.
    `RelaxationScheduler` calls it when training begins, and a custom training loop can call it
    before its first step.

    Examples:
        >>> import larq as lq
        >>> from adaste_tf.optimizers import AdaSTEMomentum, is_adaste_variable
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste",
        ...                                                   name="fc1")])
        >>> model.build((None, 3))
        >>> check_optimizer(model, tf.keras.optimizers.Adam())   # fine: no Bop
        >>> check_optimizer(model, lq.optimizers.CaseOptimizer(   # fine: AdaSTE's optimizer
        ...     (is_adaste_variable, AdaSTEMomentum(train_size=100)),
        ...     default_optimizer=tf.keras.optimizers.legacy.Adam()))
        >>> try:
        ...     check_optimizer(model, lq.optimizers.Bop())
        ... except ValueError as error:
        ...     "layer 'fc1' (`kernel_quantizer`)" in str(error)
        True
    """
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    if optimizer is None:
        return
    # larq's CaseOptimizer: (predicate, optimizer) pairs, the first that claims a variable
    # trains it, else its default; any other optimizer trains every variable.
    pairs = getattr(optimizer, "pred_opt_pairs", None)
    default = getattr(optimizer, "default", None) if pairs is not None else optimizer

    def trained_by(variable):
        return next((opt for predicate, opt in pairs or () if predicate(variable)), default)

    slots = [
        (layer, slot, quantizer, getattr(layer, WEIGHT_SLOTS[slot]))
        for layer, slot, quantizer in _adaste_slots(model)
        if slot in WEIGHT_SLOTS and getattr(layer, WEIGHT_SLOTS[slot], None) is not None
    ]
    if not slots:
        return
    by_bop = [v for v in model.trainable_weights if isinstance(trained_by(v), lq.optimizers.Bop)]
    places = [
        f"layer {layer.name!r} (`{slot}`)"
        for layer, slot, _, weight in slots
        if isinstance(trained_by(weight), lq.optimizers.Bop)
    ]
    if places:
        raise ValueError(_bop_refusal(places, only_adaste=len(places) == len(by_bop)))
    _warn_about_pairings(model, slots, trained_by)


def _warn_about_pairings(model, slots, trained_by) -> None:
    """The warnings of `check_optimizer` for pairings of rule, optimizer and weights that were
    measured to lose."""
    official = [
        f"layer {layer.name!r} (`{slot}`)"
        for layer, slot, quantizer, weight in slots
        if quantizer.variant == "official"
        and not isinstance(trained_by(weight), _ADASTE_OPTIMIZERS)
    ]
    if official:
        warnings.warn(
            f"AdaSTE's official rule is trained by another optimizer than AdaSTE's at "
            f"{', '.join(official)}. Under Adam that rule collapses once beta passes about 3 "
            f"(docs/evidence.md). Fix: train these weights with "
            f"adaste_tf.optimizers.AdaSTEMomentum through lq.optimizers.CaseOptimizer, or use "
            f"the default rule (variant='bounded') with Adam.",
            stacklevel=3,
        )
    adaste_layers = {id(layer) for layer, *_ in slots}
    real = [
        layer.name
        for layer in _layers_of(model)
        if id(layer) not in adaste_layers
        and any(isinstance(trained_by(v), _ADASTE_OPTIMIZERS) for v in layer.trainable_weights)
    ]
    if real:
        warnings.warn(
            f"AdaSTE's optimizer trains layers with no AdaSTE weight: {', '.join(real[:5])}"
            f"{', ...' if len(real) > 5 else ''}. Its gradient scale and decay are sized for "
            f"latent binary weights; on a real stem, head or BatchNorm training stayed at chance "
            f"(docs/evidence.md). Fix: lq.optimizers.CaseOptimizer((adaste_tf.optimizers."
            f"is_adaste_variable, AdaSTEMomentum(train_size=len(x_train))), "
            f"default_optimizer=tf.keras.optimizers.legacy.Adam()).",
            stacklevel=3,
        )


def _layers_of(model: tf.Module) -> list[tf.keras.layers.Layer]:
    """Every layer of `model` that holds weights of its own, nested models included."""
    return [
        m
        for m in model.submodules
        if isinstance(m, tf.keras.layers.Layer)
        and not isinstance(m, tf.keras.Model)
        and not isinstance(m, AdaSTE)
        and m._trainable_weights
    ]


def model_diagnostics(model: tf.Module) -> dict[str, float]:
    """The diagnostics of every AdaSTE quantizer in `model` made with
    `metrics=["diagnostics"]`, as `AdaSTE.diagnostic_means()` has them (averaged over the
    backward passes since `reset_diagnostics()`), named `<diagnostic>/<layer>/<slot>`.

    The slot is the larq argument without `_quantizer` (`kernel`, `depthwise`, `pointwise`,
    `input`), so the names depend only on the model's layer names, not on the automatic names
    of the quantizers: with named layers (`name="fc1"`) they match across runs and across
    models in one process. A quantizer shared by several slots is named after the first. For a
    custom training loop: call it after an epoch's steps, then `reset_diagnostics()` on each
    quantizer.

    Examples:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(
        ...     2, kernel_quantizer=AdaSTE(metrics=["diagnostics"]), name="fc1")])
        >>> with tf.GradientTape() as tape:
        ...     loss = tf.reduce_sum(model(tf.ones((1, 3))))
        >>> _ = tape.gradient(loss, model.trainable_variables)
        >>> sorted(model_diagnostics(model))[:2]
        ['binary_regime/fc1/kernel', 'inward_scale/fc1/kernel']
    """
    logs: dict[str, float] = {}
    for place, quantizer in _named_quantizers(model):
        logs.update(
            {f"{name}/{place}": value for name, value in quantizer.diagnostic_means().items()}
        )
    return logs


def _named_quantizers(model: tf.Module) -> list[tuple[str, AdaSTE]]:
    """Each distinct AdaSTE quantizer of `model`'s layer slots with its name `<layer>/<slot>`
    (`fc1/kernel`), the name the diagnostics and the scheduler's betas go by: the slot is the larq
    argument without `_quantizer`, a shared quantizer is named after its first slot, and
    same-named layers of nested models get `_2`, `_3`, ... ."""
    named: list[tuple[str, AdaSTE]] = []
    places: set[str] = set()
    seen: set[int] = set()
    for layer, slot, quantizer in _adaste_slots(model):
        if id(quantizer) in seen:
            continue
        seen.add(id(quantizer))
        place, n = f"{layer.name}/{slot.removesuffix('_quantizer')}", 1
        while place in places:  # same-named layers in nested models
            n += 1
            place = f"{layer.name}_{n}/{slot.removesuffix('_quantizer')}"
        places.add(place)
        named.append((place, quantizer))
    return named


class Betas(dict):
    """beta by quantizer, keyed `<layer>/<slot>` (`fc1/kernel`) as the diagnostics are; what
    `RelaxationScheduler.apply` and `current_betas` return.

    A quantizer's own name (`ada_ste_1`), the key of adaste_tf 0.1.0, still reads with `[...]`,
    with a `DeprecationWarning`; iteration, `in` and `get` see the new keys only.

    Examples:
        >>> betas = Betas({"fc1/kernel": 0.5}, {"ada_ste": "fc1/kernel"})
        >>> betas["fc1/kernel"], list(betas)
        (0.5, ['fc1/kernel'])
    """

    def __init__(self, values: dict[str, float], aliases: dict[str, str]):
        super().__init__(values)
        self._aliases = aliases

    def __missing__(self, key: str) -> float:
        if key not in self._aliases:
            raise KeyError(key)
        warnings.warn(
            f"RelaxationScheduler: betas are keyed by layer and slot ({self._aliases[key]!r}), "
            f"as the diagnostics are, no longer by quantizer name ({key!r}).",
            DeprecationWarning,
            stacklevel=2,
        )
        return self[self._aliases[key]]


def _diagnosing(model: tf.Module) -> list[AdaSTE]:
    return [q for q in find_adaste_quantizers(model) if q._diagnosing]


def _diagnostics_into_history(model: tf.keras.Model, epoch: int) -> dict[str, float]:
    """Append the epoch's `model_diagnostics` to the running fit's History, once per epoch;
    return them."""
    values = model_diagnostics(model)
    fit = getattr(model, "history", None)
    if (
        values
        and isinstance(fit, tf.keras.callbacks.History)
        and _DIAGNOSED_EPOCH_OF_FIT.get(fit) != epoch
    ):
        _DIAGNOSED_EPOCH_OF_FIT[fit] = epoch
        for name, value in values.items():
            fit.history.setdefault(name, []).append(value)
    return values


class DiagnosticsLogger(tf.keras.callbacks.Callback):
    """Logs each training epoch's AdaSTE diagnostics into `History` (and TensorBoard files).

    For quantizers made with `AdaSTE(metrics=["diagnostics"])`: at each epoch's start it resets
    their averages, at its end it appends `model_diagnostics(model)` (`near_zero/fc1/kernel`,
    ...) to `model.history.history`. They are the training steps' values only (evaluation has
    no backward, so there are no `val_` entries and `evaluate()` does not return them), and they
    stay out of `logs`, so the progress bar's line stays short (a model with a few layers has
    dozens of them) and other callbacks (CSVLogger, EarlyStopping) do not see them. With
    `log_dir`, each also goes to TensorBoard event files in `<log_dir>/train` as
    `epoch_<name>`, where `tf.keras.callbacks.TensorBoard(log_dir)` puts the epoch metrics.
    `RelaxationScheduler` logs them into `History` too; with both, each epoch is written once.

    Examples:
        >>> import larq as lq
        >>> import numpy as np
        >>> model = tf.keras.Sequential([tf.keras.layers.InputLayer((3,)), lq.layers.QuantDense(
        ...     2, kernel_quantizer=AdaSTE(metrics=["diagnostics"]), name="fc1")])
        >>> model.compile("adam", "mse")
        >>> history = model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0,
        ...                     callbacks=[DiagnosticsLogger()])
        >>> history.history["binary_regime/fc1/kernel"]
        [0.0]

    Args:
        log_dir: None (History only), or the TensorBoard log directory to write them to.
    """

    def __init__(self, log_dir: str | os.PathLike | None = None):
        super().__init__()
        self._supports_tf_logs = True  # its batch hook reads no logs: no step waits for them
        if log_dir is not None and not isinstance(log_dir, (str, os.PathLike)):
            raise TypeError(
                f"DiagnosticsLogger: `log_dir` must be None or a directory path "
                f"(str or os.PathLike), got {log_dir!r} of type "
                f"{type(log_dir).__name__}."
            )
        self.log_dir = None if log_dir is None else os.fspath(log_dir)
        self._writer = None
        self._checked = False

    def set_model(self, model):
        _keras_setup.refuse_keras3(model, "model", "DiagnosticsLogger.set_model")
        super().set_model(model)

    def on_train_begin(self, logs=None):
        self._checked = bool(_diagnosing(self.model))  # else: made in a build(), or a mistake
        if self.log_dir is not None:
            self._writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_epoch_begin(self, epoch, logs=None):
        for quantizer in _diagnosing(self.model):
            quantizer.reset_diagnostics()

    def on_train_batch_end(self, batch, logs=None):
        if self._checked:
            return
        self._checked = True
        if not _diagnosing(self.model):
            raise ValueError(
                f"DiagnosticsLogger: the model {self.model.name!r} has no AdaSTE quantizer made "
                f"with metrics=['diagnostics'], so there is nothing to log. Fix: use "
                f"adaste_tf.quantizers.AdaSTE(metrics=['diagnostics']) in its larq layers, or "
                f"remove the callback."
            )

    def on_epoch_end(self, epoch, logs=None):
        values = _diagnostics_into_history(self.model, epoch)
        if values and self._writer is not None:
            with self._writer.as_default():
                for name, value in values.items():
                    tf.summary.scalar(f"epoch_{name}", value, step=epoch)
            self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def get_config(self):
        return {"log_dir": self.log_dir}


class RelaxationScheduler(_scheduling.SchedulerLogic, tf.keras.callbacks.Callback):
    """Sets beta of every AdaSTE quantizer in the model from a schedule, and logs it.

    Without a schedule it runs AdaSTE's whole relaxation path within the run it schedules: the
    official path (beta x 1.05 per epoch from each quantizer's initial beta, capped at
    `1 / alpha`, over 500 epochs) compressed into the run's epochs,
    `schedules.Geometric.compressed(epochs)`. A 5-epoch `fit` and a 500-epoch one pass through
    the same betas at the same fraction of training and reach `1 / alpha` at 38% of it. The
    run's epochs are the `epochs` given here, whatever `fit(epochs=...)` says, so a run fitted
    in pieces (`fit(epochs=3)`, then `fit(initial_epoch=3, epochs=6)`, ...) keeps one path;
    without them, those Keras passes to callbacks (`fit(epochs=...)`, the total, also when
    resuming with `initial_epoch` or `BackupAndRestore`); in a custom training loop give them
    as `epochs`. A fit of one epoch needs `update_freq="batch"` (set once per epoch, beta would
    keep its first value; a warning says so when that fit begins). For the official per-epoch
    rate, as in the official 500-700-epoch runs, pass `schedule="official"`.

    At the start of each epoch (or of each batch, with `update_freq="batch"`) each quantizer
    `q` gets `schedule(index, initial_beta=q.initial_beta, alpha=q.alpha)`. The index is the
    0-based epoch; in batch mode, batch `b` of epoch `e` has the fractional epoch
    `e + b / steps_per_epoch`, so the schedule is followed between its per-epoch values, not
    applied per step. Keras gives the number of steps per epoch; for data of unknown length pass
    `steps_per_epoch`, or the scheduler counts the steps of the first epoch and, during it, holds
    the epoch's start value. The epoch comes from Keras's counter, so `fit(initial_epoch=k)` and
    `BackupAndRestore` give the beta an uninterrupted run would have had. beta is a variable
    read by the compiled train step: changing it never retraces.

    The quantizers are found when training begins and again at each epoch, so those of layers
    made in a `build()` are found too. At the end of each epoch the beta of the epoch's last
    step goes into the logs as `"beta"` (plus `"beta/<layer>/<slot>"`, `"beta/fc1/kernel"`, when
    they can differ), so `History` has it; place this callback before
    `tf.keras.callbacks.TensorBoard` so TensorBoard sees it too (as with Keras's
    `LearningRateScheduler`): after it, a warning says so. Training begins with
    `check_optimizer`: AdaSTE-quantized weights under larq's `Bop` are refused. When training
    ends with a quantizer's beta short of `1 / alpha` (a schedule that stops early, or `fit`
    called in pieces), a warning says so once, with the final beta: the relaxed weights are then
    not yet `sign(theta)`. Training AdaSTE weights with no scheduler at all warns once per
    process, from the quantizer's first backward, that beta never moves; the quantizers this
    callback finds (`set_model`, and at each epoch) count as scheduled. The diagnostics of
    quantizers made with `metrics=["diagnostics"]` go into `History` as `DiagnosticsLogger`
    puts them (add a `DiagnosticsLogger(log_dir)` for TensorBoard).

    In a custom training loop, drive it by hand: `scheduler.set_model(model)`, then
    `scheduler.apply(epoch)` (or `scheduler.apply(epoch + step / steps)`) before the steps, and
    `scheduler.on_train_end()` after the last one for the end-of-path check.

    Examples:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
        >>> scheduler = RelaxationScheduler(epochs=5)    # the default path, in 5 epochs
        >>> scheduler.set_model(model)
        >>> model.build((None, 3))                       # the quantizers exist once built
        >>> [round(list(scheduler.apply(e).values())[0], 4) for e in range(5)]
        [0.0105, 1.3808, 100.0, 100.0, 100.0]

    Args:
        schedule: a `adaste_tf.schedules.BetaSchedule`, a schedule name (`"official"`:
            the official 1.05 per epoch) or config, a callable `epoch -> beta`, or `None`
            for the official path compressed into the run (see above).
        update_freq: `"epoch"` or `"batch"`.
        verbose: 0 (or False) quiet, 1 (or True) prints beta when it is set at an epoch start.
        steps_per_epoch: steps in an epoch, for batch mode on data of unknown length; None
            takes Keras's count.
        epochs: the run's length in epochs for the default schedule: its path is compressed
            into these, also in a `fit` of another length (a run fitted in pieces). None takes
            `fit`'s `epochs`; a custom loop must give them. Not used with a `schedule`.
    """

    _QUANTIZER = "adaste_tf.quantizers.AdaSTE"
    _LAYERS = "larq layers"

    def __init__(
        self,
        schedule: schedules.BetaSchedule | str | dict | Callable[[float], float] | None = None,
        update_freq: str = "epoch",
        verbose: int | bool = 0,
        steps_per_epoch: int | None = None,
        epochs: int | None = None,
    ):
        super().__init__()
        # Keras may pass its logs as tensors: the batch hooks read none, so no step waits for
        # the device to hand them over.
        self._supports_tf_logs = True
        self._setup(schedule, update_freq, verbose, steps_per_epoch, epochs)

    # -- model and quantizers ------------------------------------------------------------------

    def set_model(self, model):
        _keras_setup.refuse_keras3(model, "model", "RelaxationScheduler.set_model")
        super().set_model(model)
        self._quantizers = self._find(model)

    def _find(self, model: tf.Module) -> list[AdaSTE]:
        """The AdaSTE quantizers of `model`, each marked as driven by a scheduler (no
        unscheduled-beta warning); their names (`_named_quantizers`) kept for `_betas`."""
        found = find_adaste_quantizers(model)
        self._names = {id(q): place for place, q in _named_quantizers(model)}
        for quantizer in found:
            quantizer._scheduled = True
        return found

    def _betas(self, value: Callable[[AdaSTE], float]) -> Betas:
        """`value(quantizer)` for each quantizer, keyed by its layer and slot (its own name for
        one held outside larq's slots)."""
        names = [self._name(q) for q in self._quantizers]
        return Betas(
            {name: value(q) for name, q in zip(names, self._quantizers, strict=True)},
            {q.name: name for name, q in zip(names, self._quantizers, strict=True)},
        )

    def _refresh(self) -> None:
        """Find the quantizers again, setting new ones (made since) to the current index."""
        known = {id(q) for q in self._quantizers}
        self._quantizers = self._find(self.model)
        for quantizer in self._quantizers:
            if id(quantizer) not in known:
                quantizer.beta_variable.assign(self.beta_for(quantizer, self._trained_index))

    # -- values --------------------------------------------------------------------------------

    def apply(self, index: float) -> Betas:
        """Set every quantizer's beta for epoch `index` (fractional between epochs); return
        them by layer and slot (`Betas`). For custom training loops.

        Examples:
            >>> import larq as lq
            >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste",
            ...                                                   name="fc1")])
            >>> model.build((None, 3))
            >>> scheduler = RelaxationScheduler(schedules.Constant(0.5))
            >>> scheduler.set_model(model)
            >>> scheduler.apply(0)
            {'fc1/kernel': 0.5}
        """
        return cast(Betas, self._apply(index))  # this path's `_assign` makes a Betas

    def _assign(self, index: float) -> Betas:
        def assign(quantizer: AdaSTE) -> float:
            beta = self.beta_for(quantizer, index)
            quantizer.beta_variable.assign(beta)
            return beta

        return self._betas(assign)

    def _final_beta(self, quantizer: AdaSTE) -> float:
        return quantizer.beta

    # -- Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        fit = getattr(self.model, "history", None)
        if isinstance(fit, tf.keras.callbacks.History):
            other = _SCHEDULER_OF_FIT.setdefault(fit, self)
            if other is not self:
                raise ValueError(
                    "RelaxationScheduler: this fit has two RelaxationScheduler callbacks; each "
                    "would set every AdaSTE quantizer's beta at every epoch and the last one in "
                    "the list would silently win. Fix: pass one RelaxationScheduler in "
                    "callbacks=[...]."
                )
        self._begin_run()
        self._warn_if_tensorboard_comes_first()
        self._refresh()
        check_optimizer(self.model)

    def _epoch_started(self) -> None:
        self._refresh()
        for quantizer in self._quantizers:  # the epoch's diagnostics, logged at its end
            quantizer.reset_diagnostics()

    def on_train_batch_end(self, batch, logs=None):
        super().on_train_batch_end(batch, logs)
        if not self._quantizers:  # layers made in build() exist after the first step
            self._refresh()
            self._require_quantizers()
            check_optimizer(self.model)

    def _epoch_ended(self, epoch: int) -> None:
        if self.model is not None:
            _diagnostics_into_history(self.model, epoch)

    def _warn_if_tensorboard_comes_first(self) -> None:
        # Keras's CallbackList (the caller of this hook) hands each callback the same epoch
        # logs in list order: a TensorBoard callback before this one writes them before "beta"
        # is in them.
        frame: types.FrameType | None = sys._getframe(1)
        for _ in range(4):
            if frame is None:
                return
            callback_list = frame.f_locals.get("self")
            if isinstance(callback_list, tf.keras.callbacks.CallbackList):
                order = list(callback_list.callbacks)
                if self in order and any(
                    isinstance(c, tf.keras.callbacks.TensorBoard)
                    for c in order[: order.index(self)]
                ):
                    warnings.warn(
                        "RelaxationScheduler: a TensorBoard callback comes before it in "
                        "callbacks=[...], so TensorBoard writes each epoch's logs before beta is "
                        "in them and will not show beta. Fix: put the RelaxationScheduler "
                        "before TensorBoard (as with Keras's LearningRateScheduler).",
                        UserWarning,
                        stacklevel=3,
                    )
                return
            frame = frame.f_back

    def current_betas(self) -> Betas:
        """The current beta of each quantizer, by layer and slot (`fc1/kernel`), as the
        diagnostics are named (`Betas`).

        Examples:
            >>> import larq as lq
            >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste",
            ...                                                   name="fc1")])
            >>> model.build((None, 3))
            >>> scheduler = RelaxationScheduler(epochs=5)
            >>> scheduler.set_model(model)
            >>> {place: round(beta, 4) for place, beta in scheduler.current_betas().items()}
            {'fc1/kernel': 0.01}
        """
        return self._betas(lambda q: q.beta)
