"""Schedules for AdaSTE's relaxation weight beta, as pure functions of the epoch.

A schedule maps an index, the 0-based epoch, to beta. The index is a real number: with
`RelaxationScheduler(update_freq="batch")` step `b` of epoch `e` has index `e + b / steps`, so a
schedule written per epoch is followed at fractional epochs. A schedule keeps no state, so a
resumed run recomputes the beta an uninterrupted run would have had. Schedules may leave the
start value and the cap to the quantizer they drive: each is called as
`schedule(index, initial_beta=q.initial_beta, alpha=q.alpha)` for every AdaSTE quantizer `q`.

To anneal over a run of N epochs as the official code anneals over its 500:
`Geometric.compressed(N)`, what `RelaxationScheduler()` uses by default with the run's epochs; to
go from the start to `1/alpha` (or `end`) in exactly N epochs: `Exponential(steps=N)`. The
official per-epoch rate, for the official 500-700-epoch runs: `Geometric()`, by name
`"official"`.

Examples:
    >>> schedule = Geometric(rate=1.05)            # the official code's schedule
    >>> round(schedule(0, initial_beta=0.01, alpha=0.01), 6)
    0.0105
    >>> schedule(10_000, initial_beta=0.01, alpha=0.01)   # capped at 1 / alpha
    100.0
    >>> round(schedule(0.5, initial_beta=0.01, alpha=0.01), 6)   # half-way through epoch 0
    0.010759

The schedules are plain Python (no TensorFlow, no Keras): the larq path and `adaste_tf.keras3`
share them. Each Keras registers them for deserialization (`register_all`): `import adaste_tf`
with tf.keras (the larq path), `adaste_tf.keras3` with Keras 3; `get`, `serialize` and
`config_value` use tf.keras unless given Keras 3's functions.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from functools import partial
from typing import Any

from adaste_tf import validation

import numpy as np

__all__ = [
    "BetaSchedule",
    "Geometric",
    "Constant",
    "Linear",
    "Cosine",
    "Exponential",
    "get",
    "serialize",
    "config_value",
    "register_all",
    "SERIALIZABLE",
    "OFFICIAL_EPOCHS",
    "OFFICIAL_RATE",
]

# The official code's run length (CIFAR) and beta growth per epoch.
OFFICIAL_EPOCHS = 500
OFFICIAL_RATE = 1.05


class BetaSchedule:
    """Base class: a serializable, pure map from an index to beta.

    Subclasses implement `beta_at(index, initial_beta, alpha)`; `__call__` checks the index and
    the result. `initial_beta` and `alpha` are those of the quantizer being scheduled.

    Examples:
        >>> class Double(BetaSchedule):
        ...     def beta_at(self, index, initial_beta, alpha):
        ...         return initial_beta * 2.0 ** index
        >>> Double()(3, initial_beta=0.01, alpha=0.01)
        0.08
    """

    def __call__(self, index: float, *, initial_beta: float = 0.01, alpha: float = 0.01) -> float:
        index = validation.real("index", index, minimum=0.0, owner=type(self).__name__)
        value = self.beta_at(index, initial_beta, alpha)
        array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
        # A real scalar of any kind (float, numpy scalar, 0-d tensor); not bools or strings.
        if array is None or array.ndim != 0 or array.dtype.kind not in "fiu":
            raise TypeError(
                f"{self!r} returned {value!r} of type {type(value).__name__} at "
                f"index {index}; a beta schedule must return a real number."
            )
        return float(array)

    def beta_at(self, index: float, initial_beta: float, alpha: float) -> float:
        """beta at epoch `index` (a real >= 0) for a quantizer with these values."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> BetaSchedule:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _optional_beta(name: str, value, owner: str) -> float | None:
    return None if value is None else validation.real(name, value, minimum=0.0, owner=owner)


class Geometric(BetaSchedule):
    r"""The official code's schedule: beta grows by `rate` every epoch, from the first on.

    \\[ \beta_e = \min\left(\beta_0 \, r^{e s + 1},\ \beta_{\max}\right) \\]

    for epoch e = 0, 1, ... (and at fractional epochs in between), with `time_scale` s = 1. With
    `initial=None` and `maximum=None`, \\(\beta_0\\) is the quantizer's initial beta and
    \\(\beta_{\max} = 1/\alpha\\), where the relaxed weight is exactly `sign`. The official
    code uses r = 1.05 (1.009 for Tiny-ImageNet): from 0.01 it reaches 1/alpha = 100 in epoch
    188 of its 500. A `time_scale` s > 1 runs s official epochs per epoch:
    `Geometric.compressed(epochs)` makes the official 500-epoch path in `epochs` epochs.

    Examples:
        >>> Geometric(rate=2.0, initial=1.0, maximum=5.0)(1)
        4.0

    Args:
        rate: growth factor per (official) epoch, finite and >= 1.
        initial: beta_0; `None` uses each quantizer's own initial beta.
        maximum: cap; `None` uses `1 / alpha` of each quantizer.
        time_scale: official epochs per epoch, finite and > 0.
    """

    def __init__(
        self,
        rate: float = OFFICIAL_RATE,
        initial: float | None = None,
        maximum: float | None = None,
        time_scale: float = 1.0,
    ):
        owner = type(self).__name__
        self.rate = validation.real("rate", rate, minimum=1.0, owner=owner)
        self.initial = _optional_beta("initial", initial, owner)
        self.maximum = _optional_beta("maximum", maximum, owner)
        self.time_scale = validation.real(
            "time_scale", time_scale, minimum=0.0, strict=True, owner=owner
        )

    def beta_at(self, index, initial_beta, alpha):
        start = initial_beta if self.initial is None else self.initial
        cap = 1.0 / alpha if self.maximum is None else self.maximum
        if start <= 0.0:
            raise ValueError(
                f"{self!r}: a geometric path from beta=0 stays at 0, got start "
                f"beta={start!r}. Fix: give the quantizer a beta > 0 (AdaSTE's "
                f"default is 0.01), set `initial`, or use Linear."
            )
        if cap == 0.0:
            return 0.0
        # In logs, so that rate ** index cannot overflow on long runs.
        log_beta = math.log(start) + (index * self.time_scale + 1) * math.log(self.rate)
        return cap if log_beta >= math.log(cap) else math.exp(log_beta)

    @classmethod
    def compressed(
        cls,
        epochs: int,
        reference_epochs: int = OFFICIAL_EPOCHS,
        rate: float = OFFICIAL_RATE,
        **kwargs,
    ) -> Geometric:
        """The official path of `reference_epochs` epochs (beta x `rate` per epoch) run in
        `epochs` epochs: `time_scale = reference_epochs / epochs`.

        From 0.01, a 30-epoch run then reaches 1/alpha = 100 at epoch 11.3 (of 30), as the
        official 500-epoch run does at epoch 188, and spends the rest in the binary regime.

        Examples:
            >>> schedule = Geometric.compressed(30)
            >>> [round(schedule(e, initial_beta=0.01, alpha=0.01), 4) for e in (0, 6, 12)]
            [0.0105, 1.3808, 100.0]
        """
        owner = f"{cls.__name__}.compressed"
        epochs = validation.integer("epochs", epochs, minimum=1, owner=owner)
        reference_epochs = validation.integer(
            "reference_epochs", reference_epochs, minimum=1, owner=owner
        )
        return cls(rate=rate, time_scale=reference_epochs / epochs, **kwargs)

    def get_config(self):
        return {
            "rate": self.rate,
            "initial": self.initial,
            "maximum": self.maximum,
            "time_scale": self.time_scale,
        }


class Constant(BetaSchedule):
    """beta held at `value` (`None`: each quantizer's own `beta`).

    Examples:
        >>> Constant(0.5)(7)
        0.5
    """

    def __init__(self, value: float | None = None):
        self.value = _optional_beta("value", value, type(self).__name__)

    def beta_at(self, index, initial_beta, alpha):
        return initial_beta if self.value is None else self.value

    def get_config(self):
        return {"value": self.value}


class _Ramp(BetaSchedule):
    """From `start` to `end` over `steps` epochs, then held at `end`."""

    def __init__(self, start: float | None = None, end: float | None = None, steps: int = 100):
        owner = type(self).__name__
        self.start = _optional_beta("start", start, owner)
        self.end = _optional_beta("end", end, owner)
        self.steps = validation.integer("steps", steps, minimum=1, owner=owner)

    def beta_at(self, index, initial_beta, alpha):
        start = initial_beta if self.start is None else self.start
        end = 1.0 / alpha if self.end is None else self.end
        progress = min(index / self.steps, 1.0)
        return start + (end - start) * self.shape(progress)

    @staticmethod
    def shape(progress: float) -> float:
        raise NotImplementedError

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps}


class Linear(_Ramp):
    """Linear ramp from `start` (default: the quantizer's beta) to `end` (default: 1/alpha).

    Examples:
        >>> Linear(start=0.0, end=1.0, steps=4)(1)
        0.25
    """

    @staticmethod
    def shape(progress):
        return progress


class Cosine(_Ramp):
    """Half-cosine ramp from `start` (default: the quantizer's beta) to `end` (default: 1/alpha).

    Examples:
        >>> round(Cosine(start=0.0, end=1.0, steps=2)(1), 6)
        0.5
    """

    @staticmethod
    def shape(progress):
        return 0.5 * (1.0 - math.cos(math.pi * progress))


class Exponential(_Ramp):
    r"""Geometric ramp from `start` (default: the quantizer's beta) to `end` (default: 1/alpha)
    in exactly `steps` epochs: the whole relaxation path within a run of `steps` epochs.

    \[ \beta(e) = \beta_{start}\,(\beta_{end} / \beta_{start})^{\min(e / steps,\ 1)} \]

    Examples:
        >>> schedule = Exponential(steps=4)
        >>> [round(schedule(e, initial_beta=0.01, alpha=0.01), 6) for e in (0, 2, 4, 9)]
        [0.01, 1.0, 100.0, 100.0]
    """

    def beta_at(self, index, initial_beta, alpha):
        start = initial_beta if self.start is None else self.start
        end = 1.0 / alpha if self.end is None else self.end
        if start <= 0.0 or end <= 0.0:
            raise ValueError(
                f"{self!r}: a geometric ramp needs start > 0 and end > 0, got "
                f"start={start!r} and end={end!r}. Fix: a quantizer's beta of 0 "
                f"cannot grow geometrically; set `start`, or use Linear."
            )
        progress = min(index / self.steps, 1.0)
        return math.exp(math.log(start) + (math.log(end) - math.log(start)) * progress)


class _FunctionSchedule(BetaSchedule):
    """Wraps a user's `fn(index) -> beta` (not serializable: it is code). `index` is the epoch,
    fractional with `update_freq="batch"`."""

    def __init__(self, fn: Callable[[int], float]):
        self.fn = fn

    def beta_at(self, index, initial_beta, alpha):
        return self.fn(index)

    def __repr__(self):
        return f"{getattr(self.fn, '__name__', repr(self.fn))}"


# "official" and "geometric" are the same schedule: the official code's 1.05 per epoch.
_BY_NAME = {
    "official": Geometric,
    "geometric": Geometric,
    "constant": Constant,
    "linear": Linear,
    "cosine": Cosine,
    "exponential": Exponential,
}


def get(
    identifier: BetaSchedule | str | dict | Callable[[int], float] | None,
    *,
    deserialize: Callable[..., Any] | None = None,
) -> BetaSchedule:
    """A schedule from a `BetaSchedule`, a name ("geometric", ...), a config dict, a callable
    `fn(index) -> beta`, or `None` (the official `Geometric()`).

    A config dict is rebuilt by `deserialize` (Keras's `deserialize_keras_object`), by default
    tf.keras's (the larq path); `adaste_tf.keras3` passes Keras 3's.

    Examples:
        >>> get("constant")
        Constant(value=None)
    """
    if identifier is None:
        return Geometric()
    if isinstance(identifier, BetaSchedule):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"`schedule` must be one of {', '.join(map(repr, _BY_NAME))}, a "
                f"BetaSchedule, a config dict or a callable index -> beta, got "
                f"{identifier!r}."
            )
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        if deserialize is None:
            import tensorflow as tf

            deserialize = partial(
                tf.keras.utils.deserialize_keras_object, printable_module_name="beta schedule"
            )
        try:
            schedule = deserialize(identifier)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"`schedule` config {identifier!r} is not a beta schedule: {error}"
            ) from None
        if not isinstance(schedule, BetaSchedule):
            raise ValueError(f"`schedule` config {identifier!r} is not a beta schedule.")
        return schedule
    if callable(identifier):
        _check_one_argument(identifier)
        return _FunctionSchedule(identifier)
    raise TypeError(
        f"`schedule` must be a BetaSchedule, a name, a config dict, a callable index -> beta or "
        f"None, got {identifier!r} of type {type(identifier).__name__}."
    )


def _check_one_argument(fn: Callable) -> None:
    """A schedule is called as `fn(epoch)`: refuse a function that needs more arguments, such
    as a Keras `LearningRateScheduler` function `(epoch, lr)`, where it is given, not at the
    first epoch."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: called as they are
        return
    required = [
        p
        for p in parameters
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    accepts_one = required or any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters
    )
    if len(required) > 1 or not accepts_one:
        raise TypeError(
            f"`schedule` {getattr(fn, '__name__', fn)!r} takes {len(required)} required "
            f"arguments; a beta schedule must be a callable of one argument, the epoch "
            f"(fractional with update_freq='batch'), returning beta. A schedule is a pure "
            f"function of the epoch (so a resumed run gets the same betas): unlike Keras's "
            f"LearningRateScheduler it is not given the current value. Fix: "
            f"lambda epoch: ..."
        )


def serialize(
    schedule: BetaSchedule, *, serializer: Callable[[Any], dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The Keras config of a schedule, for `get` to rebuild it: made by `serializer` (Keras's
    `serialize_keras_object`), by default tf.keras's; `adaste_tf.keras3` passes Keras 3's.

    Examples:
        >>> serialize(Constant(0.5))["config"]
        {'value': 0.5}
    """
    if serializer is None:
        import tensorflow as tf

        serializer = tf.keras.utils.serialize_keras_object
    return serializer(schedule)


def config_value(
    schedule: BetaSchedule, *, serializer: Callable[[Any], dict[str, Any]] | None = None
) -> dict[str, Any] | Callable[..., float]:
    """What a config that holds `schedule` stores: its Keras config (`serialize`, with
    `serializer`), or a user's function itself (code, which `get` accepts back as it is).

    Examples:
        >>> config_value(get(abs)) is abs
        True
    """
    if isinstance(schedule, _FunctionSchedule):
        return schedule.fn
    return serialize(schedule, serializer=serializer)


# The schedules a config can name: each Keras that saves them registers these classes.
SERIALIZABLE = (Geometric, Constant, Linear, Cosine, Exponential)


def register_all(register: Callable[[type], Any]) -> None:
    """Register every class of `SERIALIZABLE` with a Keras: `register(cls)` for each, with
    `register` a class decorator such as `adaste_tf.registration.register()` (tf.keras, which
    `import adaste_tf` runs) or Keras 3's `register_keras_serializable(package="adaste_tf")`
    (which `adaste_tf.keras3` runs). Registering twice is harmless.

    Examples:
        >>> seen = []
        >>> register_all(seen.append)
        >>> [cls.__name__ for cls in seen]
        ['Geometric', 'Constant', 'Linear', 'Cosine', 'Exponential']
    """
    for cls in SERIALIZABLE:
        register(cls)
