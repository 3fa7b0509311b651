"""Keras callbacks that drive AdaSTE's relaxation weight beta during `fit` (and by hand)."""

from __future__ import annotations

import math
import sys
import warnings
import weakref
from collections.abc import Callable

import larq as lq
import numpy as np
import tensorflow as tf

from adaste_tf import schedules, validation
from adaste_tf.quantizers import AdaSTE

__all__ = ["RelaxationScheduler", "find_adaste_quantizers", "check_optimizer"]

UPDATE_FREQUENCIES = ("epoch", "batch")

# The scheduler of each running fit, keyed by the History object Keras makes for every fit
# (`model.history`, set before any callback's on_train_begin): two schedulers in one fit would
# overwrite each other's beta at every epoch, the last one silently winning.
_SCHEDULER_OF_FIT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def find_adaste_quantizers(model: tf.Module) -> list[AdaSTE]:
    """Every distinct AdaSTE quantizer in `model`: in its layers, nested models, and layers
    held by other layers (larq keeps quantizers as attributes of the quantized layer).

    Quantizers of layers made in a `build()` exist once the model is built.

    Example:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
        >>> len(find_adaste_quantizers(model))
        1
    """
    found: dict[int, AdaSTE] = {}
    # tf.Module.submodules: the public walk over every module an object holds, layers too.
    for module in (model, *model.submodules):
        if isinstance(module, AdaSTE):
            found.setdefault(id(module), module)
    return list(found.values())


def check_optimizer(model: tf.keras.Model, optimizer=None) -> None:
    """Raise if larq's `Bop` would train a kernel that AdaSTE quantizes.

    Bop keeps no latent weights: it flips a binary weight when its gradient momentum passes a
    threshold, so AdaSTE's backward (which scales steps by how far the latent weight is from a
    flip) has nothing to act on, and the combination does not learn (README, "Bop"). larq's
    `Bop.is_binary_variable` selects every 1-bit kernel, AdaSTE's included. `RelaxationScheduler`
    calls this when training begins; call it yourself in a custom training loop.

    Example:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
        >>> model.build((None, 3))
        >>> check_optimizer(model, tf.keras.optimizers.Adam())   # fine: no Bop
    """
    optimizer = optimizer if optimizer is not None else getattr(model, "optimizer", None)
    if optimizer is None:
        return
    # larq's CaseOptimizer: (predicate, optimizer) pairs; anything else trains every variable.
    pairs = getattr(optimizer, "pred_opt_pairs", None) or [(lambda variable: True, optimizer)]
    kernels = [module.kernel for module in model.submodules
               if isinstance(getattr(module, "kernel_quantizer", None), AdaSTE)
               and getattr(module, "kernel", None) is not None]
    taken = [variable.name for variable in kernels
             if any(isinstance(opt, lq.optimizers.Bop) and predicate(variable)
                    for predicate, opt in pairs)]
    if taken:
        raise ValueError(
            f"larq's Bop optimizer would train the AdaSTE kernels {taken}. Bop flips binary "
            f"weights without latent weights, so AdaSTE's backward has nothing to act on and "
            f"training does not learn. Train AdaSTE kernels with a latent-weight optimizer "
            f"(Adam, SGD). Fix: give Bop only larq's own kernels, e.g. "
            f"lq.optimizers.CaseOptimizer((lambda v: lq.optimizers.Bop.is_binary_variable(v) "
            f"and not isinstance(getattr(v, 'quantizer', None), adaste_tf.quantizers.AdaSTE), "
            f"lq.optimizers.Bop()), default_optimizer=tf.keras.optimizers.legacy.Adam()), or "
            f"use a larq quantizer such as ste_sign with Bop.")


class RelaxationScheduler(tf.keras.callbacks.Callback):
    """Sets beta of every AdaSTE quantizer in the model from a schedule, and logs it.

    Without a schedule it runs AdaSTE's whole relaxation path within the run it schedules: the
    official path (beta x 1.05 per epoch from each quantizer's initial beta, capped at
    `1 / alpha`, over 500 epochs) compressed into the run's epochs,
    `schedules.Geometric.compressed(epochs)`. A 5-epoch `fit` and a 500-epoch one pass through
    the same betas at the same fraction of training and reach `1 / alpha` at 38% of it. The
    epochs are those Keras passes to callbacks (`fit(epochs=...)`, the total, also when resuming
    with `initial_epoch` or `BackupAndRestore`); in a custom training loop give them as
    `epochs`. For the official per-epoch rate, as in the official 500-700-epoch runs, pass
    `schedule="official"`.

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
    step goes into the logs as `"beta"` (plus `"beta/<quantizer name>"` when they can differ), so
    `History` has it; place this callback before `tf.keras.callbacks.TensorBoard` so TensorBoard
    sees it too (as with Keras's `LearningRateScheduler`): after it, a warning says so. Training
    begins with `check_optimizer`: AdaSTE kernels under larq's `Bop` are refused. When training
    ends with a quantizer's beta short of `1 / alpha` (a schedule that stops early, or `fit`
    called in pieces), a warning says so once, with the final beta: the relaxed weights are then
    not yet `sign(theta)`.

    In a custom training loop, drive it by hand: `scheduler.set_model(model)`, then
    `scheduler.apply(epoch)` (or `scheduler.apply(epoch + step / steps)`) before the steps, and
    `scheduler.on_train_end()` after the last one for the end-of-path check.

    Example:
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
        epochs: the run's length in epochs for the default schedule, needed only outside
            `fit` (a custom loop); `fit` passes its own. Not used with a `schedule`.
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
        # Keras may pass its logs as tensors: the batch hooks read none, so no step waits for
        # the device to hand them over.
        self._supports_tf_logs = True
        owner = type(self).__name__
        self.epochs = None if epochs is None else validation.integer(
            "epochs", epochs, minimum=1, owner=owner)
        if schedule is not None and epochs is not None:
            raise ValueError(
                f"{owner}: `epochs` sets the length of the default schedule and is not used with "
                f"a `schedule` (got schedule={schedule!r}, epochs={epochs!r}). Fix: pass one of "
                f"them; for the default path over N epochs with another setting use "
                f"schedules.Geometric.compressed(N, ...).")
        # None: the default path, made for the run's epochs once they are known.
        self._given_schedule = None if schedule is None else schedules.get(schedule)
        self._run_epochs: int | None = self.epochs
        self.update_freq = validation.choice("update_freq", update_freq, UPDATE_FREQUENCIES,
                                             owner=owner)
        # Keras callbacks take verbose as a bool too.
        self.verbose = int(verbose) if isinstance(verbose, bool) else validation.integer(
            "verbose", verbose, minimum=0, owner=owner)
        self.steps_per_epoch = None if steps_per_epoch is None else validation.integer(
            "steps_per_epoch", steps_per_epoch, minimum=1, owner=owner)
        self._quantizers: list[AdaSTE] = []
        self._epoch = 0
        self._counted_steps: int | None = None  # steps of an epoch, counted when Keras has none
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
                "pass them, RelaxationScheduler(epochs=N), or give a schedule (for example "
                "schedules.Geometric.compressed(N) or schedule='official').")
        return schedules.Geometric.compressed(self._run_epochs)

    # -- model and quantizers ------------------------------------------------------------------

    def set_model(self, model):
        super().set_model(model)
        self._quantizers = find_adaste_quantizers(model)

    @property
    def quantizers(self) -> list[AdaSTE]:
        """The AdaSTE quantizers this callback drives (as last found in the model)."""
        return list(self._quantizers)

    def _refresh(self) -> None:
        """Find the quantizers again, setting new ones (made since) to the current index."""
        known = {id(q) for q in self._quantizers}
        self._quantizers = find_adaste_quantizers(self.model)
        for quantizer in self._quantizers:
            if id(quantizer) not in known:
                quantizer.beta_variable.assign(self.beta_for(quantizer, self._trained_index))

    def _require_quantizers(self) -> None:
        if not self._quantizers:
            raise ValueError(
                f"RelaxationScheduler: the model {self.model.name!r} has no AdaSTE quantizer to "
                f"schedule. Use kernel_quantizer='adaste' (or adaste_tf.quantizers.AdaSTE(...)) "
                f"in its larq layers, or remove the callback.")

    # -- values --------------------------------------------------------------------------------

    def beta_for(self, quantizer: AdaSTE, index: float) -> float:
        """The beta that `quantizer` gets at epoch `index`, checked to be finite and >= 0 as the
        float32 that is stored."""
        try:
            beta = self.schedule(index, initial_beta=quantizer.initial_beta,
                                 alpha=quantizer.alpha)
        except TypeError as error:
            # A value that is not a number (None, a string, a list, a tensor of several values):
            # say which schedule, when, and for which quantizer.
            raise TypeError(
                f"RelaxationScheduler: the schedule {self.schedule!r} failed at epoch {index:g} "
                f"for quantizer {quantizer.name!r}: {error} A schedule must return a finite "
                f"number >= 0.") from error
        with np.errstate(over="ignore"):
            stored = float(np.float32(beta))
        if not math.isfinite(stored) or stored < 0:
            raise ValueError(
                f"RelaxationScheduler: the schedule {self.schedule!r} returned beta={beta!r} at "
                f"epoch {index:g} for quantizer {quantizer.name!r}, which is {stored!r} as the "
                f"float32 that beta is stored in; a schedule must return a finite number >= 0 "
                f"(at most {float(np.finfo(np.float32).max):.3g}).")
        return beta

    def apply(self, index: float) -> dict[str, float]:
        """Set every quantizer's beta for epoch `index` (fractional between epochs); return
        them by quantizer name. For custom training loops.

        Example:
            >>> import larq as lq
            >>> model = tf.keras.Sequential([lq.layers.QuantDense(2, kernel_quantizer="adaste")])
            >>> model.build((None, 3))
            >>> scheduler = RelaxationScheduler(schedules.Constant(0.5))
            >>> scheduler.set_model(model)
            >>> list(scheduler.apply(0).values())
            [0.5]
        """
        index = validation.real("index", index, minimum=0.0, owner="RelaxationScheduler.apply")
        if self.model is None:
            raise ValueError("RelaxationScheduler.apply: a model must be set first: call "
                             "set_model(model).")
        if not self._quantizers:  # a model built since set_model; per step, no search
            self._refresh()
        self._require_quantizers()
        self._trained_index = self._pending_index = float(index)
        return self._assign(index)

    def _assign(self, index: float) -> dict[str, float]:
        betas = {}
        for quantizer in self._quantizers:
            beta = self.beta_for(quantizer, index)
            quantizer.beta_variable.assign(beta)
            betas[quantizer.name] = beta
        return betas

    def _steps(self) -> int | None:
        params = getattr(self, "params", None) or {}
        return params.get("steps") or self.steps_per_epoch or self._counted_steps

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
                    "callbacks=[...].")
        if self._given_schedule is None:
            params = getattr(self, "params", None) or {}
            self._run_epochs = params.get("epochs") or self.epochs
        self._warn_if_tensorboard_comes_first()
        self._refresh()
        check_optimizer(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._steps_this_epoch = 0
        self._pending_index = self._trained_index = float(epoch)
        self._refresh()
        if self.update_freq == "epoch" and self._quantizers:
            self._assign(epoch)
            if self.verbose:
                print(f"\nEpoch {epoch + 1}: RelaxationScheduler setting beta to "
                      f"{self._describe_betas()}.")

    def on_train_batch_begin(self, batch, logs=None):
        if self.update_freq != "batch":
            return
        steps = self._steps()
        index = self._epoch + (min(batch / steps, 1.0) if steps else 0.0)
        self._assign(index)
        self._pending_index = index

    def on_train_batch_end(self, batch, logs=None):
        self._steps_this_epoch = batch + 1
        # Keras calls on_train_batch_begin once more at the end of data of unknown length; only
        # an index whose step ran is the one to log.
        self._trained_index = self._pending_index
        if not self._quantizers:  # layers made in build() exist after the first step
            self._refresh()
            self._require_quantizers()
            check_optimizer(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if self._counted_steps is None and self._steps_this_epoch:
            self._counted_steps = self._steps_this_epoch
        if logs is None or not self._quantizers:
            return
        betas = {q.name: self.beta_for(q, self._trained_index) for q in self._quantizers}
        logs["beta"] = next(iter(betas.values()))
        # Per quantizer whenever their schedules can differ (another start or alpha), in every
        # epoch: History's columns must not come and go once the betas meet at a cap.
        if len({(q.initial_beta, q.alpha) for q in self._quantizers}) > 1 or len(
                set(betas.values())) > 1:
            logs.update({f"beta/{name}": value for name, value in betas.items()})

    def _warn_if_tensorboard_comes_first(self) -> None:
        # Keras's CallbackList (the caller of this hook) hands each callback the same epoch
        # logs in list order: a TensorBoard callback before this one writes them before "beta"
        # is in them.
        frame = sys._getframe(1)
        for _ in range(4):
            if frame is None:
                return
            callback_list = frame.f_locals.get("self")
            if isinstance(callback_list, tf.keras.callbacks.CallbackList):
                order = list(callback_list.callbacks)
                if self in order and any(isinstance(c, tf.keras.callbacks.TensorBoard)
                                         for c in order[:order.index(self)]):
                    warnings.warn(
                        "RelaxationScheduler: a TensorBoard callback comes before it in "
                        "callbacks=[...], so TensorBoard writes each epoch's logs before beta is "
                        "in them and will not show beta. Fix: put the RelaxationScheduler "
                        "before TensorBoard (as with Keras's LearningRateScheduler).",
                        UserWarning, stacklevel=3)
                return
            frame = frame.f_back

    def on_train_end(self, logs=None):
        # The relaxed weight is sign(theta) only once alpha * beta >= 1; the float32 beta of
        # the cap 1 / alpha can round below it.
        short = [q for q in self._quantizers if q.alpha * q.beta < 1.0 - 1e-6]
        if short:
            lowest = min(short, key=lambda q: q.beta)
            warnings.warn(
                f"RelaxationScheduler: training ended with beta={lowest.beta:.4g} for "
                f"{len(short)} of {len(self._quantizers)} AdaSTE quantizers (lowest: "
                f"{lowest.name!r}), short of 1/alpha={1.0 / lowest.alpha:.4g}, where the relaxed weight becomes "
                f"sign(theta): the relaxation path was not completed. The default schedule "
                f"(schedule=None) completes it within the epochs of the fit; when resuming, pass "
                f"the same total epochs with initial_epoch.", UserWarning, stacklevel=2)

    def current_betas(self) -> dict[str, float]:
        """The current beta of each quantizer, by quantizer name."""
        return {q.name: q.beta for q in self._quantizers}

    def _describe_betas(self) -> str:
        values = sorted(set(self.current_betas().values()))
        return ", ".join(f"{v:.6g}" for v in values)

    def get_config(self):
        return {
            "schedule": (None if self._given_schedule is None
                         else schedules.config_value(self._given_schedule)),
            "update_freq": self.update_freq,
            "verbose": self.verbose,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
