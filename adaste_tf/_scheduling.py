"""`RelaxationScheduler`'s logic written once, for both paths: no TensorFlow, no Keras.

The larq path's `adaste_tf.callbacks.RelaxationScheduler` and the Keras 3 path's
`adaste_tf.keras3.RelaxationScheduler` each subclass their own Keras's `Callback` and this
mixin (first, so that its hooks are the ones Keras calls): their arguments and config, the
schedule in use (the default path compressed into the run's epochs), the epoch and batch index
beta is set for (and so the resume semantics: beta is a pure function of the epoch Keras
passes), the checked beta of each quantizer, what goes into the logs, and the warnings and
errors with their messages. What stays per path is what touches a model or a variable:
finding the quantizers (`_refresh`), assigning beta (`_assign`), a quantizer's final beta
(`_final_beta`), the current betas, and what each path does besides (diagnostics, checks).

Examples:
    >>> logic = SchedulerLogic()
    >>> logic._setup(None, "epoch", 0, None, 5)    # the default path, in 5 epochs
    >>> [round(logic.schedule(e, initial_beta=0.01, alpha=0.01), 4) for e in range(3)]
    [0.0105, 1.3808, 100.0]
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from adaste_tf import schedules, validation

import numpy as np

__all__ = ["SchedulerLogic", "UPDATE_FREQUENCIES"]

UPDATE_FREQUENCIES = ("epoch", "batch")


class SchedulerLogic:
    """The framework-free part of `RelaxationScheduler` (see the module's doc).

    A subclass sets `_QUANTIZER` and `_LAYERS` (how its path makes a quantizer, for the error
    of a model without one), calls `_setup(...)` in its `__init__` after its Keras
    `Callback`'s, and defines `_refresh()`, `_assign(index)`, `_final_beta(quantizer)` and
    `current_betas()`; `_epoch_started()` and `_epoch_ended(epoch)` are for what it does
    besides at an epoch's start and end.
    """

    _QUANTIZER = "adaste_tf.quantizers.AdaSTE"
    _LAYERS = "larq layers"

    model: Any
    params: Any
    _quantizers: list[Any]
    _names: dict[int, str]

    def _setup(
        self,
        schedule: schedules.BetaSchedule | str | dict | Callable[[float], float] | None,
        update_freq: str,
        verbose: int | bool,
        steps_per_epoch: int | None,
        epochs: int | None,
        *,
        deserialize: Callable[..., Any] | None = None,
        serializer: Callable[[Any], dict[str, Any]] | None = None,
    ) -> None:
        """Check and keep the constructor's arguments; start the state of a run. `deserialize`
        and `serializer` are the path's Keras functions for a schedule's config (None: tf.keras's,
        `schedules.get` and `schedules.serialize`)."""
        owner = type(self).__name__
        self._serializer = serializer
        self.epochs = (
            None if epochs is None else validation.integer("epochs", epochs, minimum=1, owner=owner)
        )
        if schedule is not None and epochs is not None:
            raise ValueError(
                f"{owner}: `epochs` sets the length of the default schedule and is not used with "
                f"a `schedule` (got schedule={schedule!r}, epochs={epochs!r}). Fix: pass one of "
                f"them; for the default path over N epochs with another setting use "
                f"schedules.Geometric.compressed(N, ...)."
            )
        # None: the default path, made for the run's epochs once they are known.
        self._given_schedule = (
            None if schedule is None else schedules.get(schedule, deserialize=deserialize)
        )
        self._run_epochs: int | None = self.epochs  # else `fit`'s, at its start
        self.update_freq = validation.choice(
            "update_freq", update_freq, UPDATE_FREQUENCIES, owner=owner
        )
        # Keras callbacks take verbose as a bool too.
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
        self._quantizers = []
        self._names = {}  # each quantizer's `<layer>/<slot>`, by id
        self._epoch = 0
        self._counted_steps: int | None = None  # steps of an epoch, counted when Keras has none
        self._steps_this_epoch = 0
        self._pending_index = 0.0
        self._trained_index = 0.0  # the index of the last step that ran

    # -- hooks of each path ----------------------------------------------------------------------

    def _refresh(self) -> None:
        """Find the model's quantizers (again)."""
        raise NotImplementedError

    def _assign(self, index: float) -> dict[str, float]:
        """Set every quantizer's beta for `index`; return them by name."""
        raise NotImplementedError

    def _final_beta(self, quantizer: Any) -> float:
        """The beta `quantizer` ended training with."""
        raise NotImplementedError

    def current_betas(self) -> dict[str, float]:
        raise NotImplementedError

    def _epoch_started(self) -> None:
        """What the path does at an epoch's start, before beta is set."""

    def _epoch_ended(self, epoch: int) -> None:
        """What the path does at an epoch's end, before beta is logged."""

    # -- schedule and values ---------------------------------------------------------------------

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
                "schedules.Geometric.compressed(N) or schedule='official')."
            )
        return schedules.Geometric.compressed(self._run_epochs)

    @property
    def quantizers(self) -> list[Any]:
        """The AdaSTE quantizers this callback drives (as last found in the model)."""
        return list(self._quantizers)

    def _name(self, quantizer: Any) -> str:
        """`quantizer`'s layer and slot (`fc1/kernel`), or its own name outside the slots."""
        return self._names.get(id(quantizer)) or str(quantizer.name)

    def _require_quantizers(self) -> None:
        if not self._quantizers:
            raise ValueError(
                f"RelaxationScheduler: the model {self.model.name!r} has no AdaSTE quantizer to "
                f"schedule. Use kernel_quantizer='adaste' (or {self._QUANTIZER}(...)) "
                f"in its {self._LAYERS}, or remove the callback."
            )

    def beta_for(self, quantizer: Any, index: float) -> float:
        """The beta that `quantizer` gets at epoch `index`, checked to be finite and >= 0 as the
        float32 that is stored."""
        try:
            beta = self.schedule(index, initial_beta=quantizer.initial_beta, alpha=quantizer.alpha)
        except TypeError as error:
            # A value that is not a number (None, a string, a list, a tensor of several values):
            # say which schedule, when, and for which quantizer.
            raise TypeError(
                f"RelaxationScheduler: the schedule {self.schedule!r} failed at epoch {index:g} "
                f"for quantizer {self._name(quantizer)!r}: {error} A schedule must return a finite "
                f"number >= 0."
            ) from error
        with np.errstate(over="ignore"):
            stored = float(np.float32(beta))
        if not math.isfinite(stored) or stored < 0:
            raise ValueError(
                f"RelaxationScheduler: the schedule {self.schedule!r} returned beta={beta!r} at "
                f"epoch {index:g} for quantizer {self._name(quantizer)!r}, which is {stored!r} as "
                f"the float32 that beta is stored in; a schedule must return a finite number >= 0 "
                f"(at most {float(np.finfo(np.float32).max):.3g})."
            )
        return beta

    def _apply(self, index: float) -> dict[str, float]:
        """`apply(index)`: set every quantizer's beta for epoch `index`, return them."""
        index = validation.real("index", index, minimum=0.0, owner="RelaxationScheduler.apply")
        if self.model is None:
            raise ValueError(
                "RelaxationScheduler.apply: a model must be set first: call set_model(model)."
            )
        if not self._quantizers:  # a model built since set_model; per step, no search
            self._refresh()
        self._require_quantizers()
        self._trained_index = self._pending_index = float(index)
        return self._assign(index)

    def _steps(self) -> int | None:
        params = getattr(self, "params", None) or {}
        return params.get("steps") or self.steps_per_epoch or self._counted_steps

    def _sets_one_beta_per_run(self) -> bool:
        """Whether beta is set once per epoch in a run of one epoch: only the schedule's epoch-0
        value is ever used."""
        return self.update_freq == "epoch" and self._run_epochs == 1

    def _describe_betas(self) -> str:
        values = sorted(set(self.current_betas().values()))
        return ", ".join(f"{v:.6g}" for v in values)

    # -- Keras hooks -----------------------------------------------------------------------------

    def _begin_run(self) -> None:
        """The start of `on_train_begin`: the run's epochs, and the warning for a fit of one
        epoch that sets beta once (raised as from the caller of `on_train_begin`)."""
        params = getattr(self, "params", None) or {}
        self._run_epochs = self.epochs or params.get("epochs")  # the user's, if given
        if self._given_schedule is None and self._sets_one_beta_per_run():
            warnings.warn(
                "RelaxationScheduler: this fit has 1 epoch and beta is set at the start of "
                "each epoch (update_freq='epoch'), so the default path cannot run: every "
                "AdaSTE quantizer keeps its first beta for the whole fit. Fix: "
                "RelaxationScheduler(update_freq='batch') runs the path within the epoch; "
                "or train for 2 epochs or more.",
                UserWarning,
                stacklevel=3,
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._steps_this_epoch = 0
        self._pending_index = self._trained_index = float(epoch)
        self._epoch_started()
        if self.update_freq == "epoch" and self._quantizers:
            self._assign(epoch)
            if self.verbose:
                print(
                    f"\nEpoch {epoch + 1}: RelaxationScheduler setting beta to "
                    f"{self._describe_betas()}."
                )

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

    def on_epoch_end(self, epoch, logs=None):
        if self._counted_steps is None and self._steps_this_epoch:
            self._counted_steps = self._steps_this_epoch
        self._epoch_ended(epoch)
        if logs is None or not self._quantizers:
            return
        betas = {self._name(q): self.beta_for(q, self._trained_index) for q in self._quantizers}
        logs["beta"] = next(iter(betas.values()))
        # Per quantizer whenever their schedules can differ (another start or alpha), in every
        # epoch: History's columns must not come and go once the betas meet at a cap.
        if (
            len({(q.initial_beta, q.alpha) for q in self._quantizers}) > 1
            or len(set(betas.values())) > 1
        ):
            logs.update({f"beta/{name}": value for name, value in betas.items()})

    def on_train_end(self, logs=None):
        # The relaxed weight is sign(theta) only once alpha * beta >= 1; the float32 beta of
        # the cap 1 / alpha can round below it.
        final = {id(q): self._final_beta(q) for q in self._quantizers}
        short = [q for q in self._quantizers if q.alpha * final[id(q)] < 1.0 - 1e-6]
        if not short:
            return
        lowest = min(short, key=lambda q: final[id(q)])
        if self._sets_one_beta_per_run():
            fix = (
                "beta is set at the start of each epoch and this run had 1: pass "
                "update_freq='batch' to follow the schedule within it (in a custom loop, "
                "apply(step / steps) before each step)."
            )
        elif self._given_schedule is None and self.epochs and self._epoch + 1 < self.epochs:
            fix = (
                f"This fit ended at epoch {self._epoch + 1} of the {self.epochs}-epoch path "
                f"given as `epochs`: fit(initial_epoch={self._epoch + 1}, epochs=...) with "
                f"RelaxationScheduler(epochs={self.epochs}) continues it."
            )
        elif self._given_schedule is None:
            fix = (
                "The default schedule reaches it at 38% of the run from AdaSTE's default "
                "initial beta (0.01); a run ends short when it stops early (EarlyStopping, "
                "an interruption, fit called in pieces: when resuming, pass the same total "
                "epochs with initial_epoch) or starts from a far smaller beta."
            )
        else:
            fix = (
                "The default schedule (schedule=None) completes it within the epochs of the "
                "fit; when resuming, pass the same total epochs with initial_epoch."
            )
        warnings.warn(
            f"RelaxationScheduler: training ended with beta={final[id(lowest)]:.4g} for "
            f"{len(short)} of {len(self._quantizers)} AdaSTE quantizers (lowest: "
            f"{self._name(lowest)!r}), short of 1/alpha={1.0 / lowest.alpha:.4g}, where the "
            f"relaxed weight becomes sign(theta): the relaxation path was not completed. {fix}",
            UserWarning,
            stacklevel=2,
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": (
                None
                if self._given_schedule is None
                else schedules.config_value(self._given_schedule, serializer=self._serializer)
            ),
            "update_freq": self.update_freq,
            "verbose": self.verbose,
            "steps_per_epoch": self.steps_per_epoch,
            "epochs": self.epochs,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
