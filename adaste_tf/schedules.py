"""Schedules for AdaSTE's relaxation weight beta, as pure functions of the epoch (or step) index.

A schedule maps an index (0-based epoch, or global step with `update_freq="batch"`) to beta.
It keeps no state, so a resumed run recomputes the beta an uninterrupted run would have had.
Schedules may leave the start value and the cap to the quantizer they drive: each is called
as `schedule(index, initial_beta=q.beta, alpha=q.alpha)` for every AdaSTE quantizer `q`.

Example:
    >>> schedule = Geometric(rate=1.05)            # the official code's schedule
    >>> round(schedule(0, initial_beta=0.01, alpha=0.01), 6)
    0.0105
    >>> schedule(10_000, initial_beta=0.01, alpha=0.01)   # capped at 1 / alpha
    100.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from adaste_tf import validation
from adaste_tf.registration import register

__all__ = ["BetaSchedule", "Geometric", "Constant", "Linear", "Cosine", "get", "serialize"]


class BetaSchedule:
    """Base class: a serializable, pure map from an index to beta.

    Subclasses implement `beta_at(index, initial_beta, alpha)`; `__call__` checks the index and
    the result. `initial_beta` and `alpha` are those of the quantizer being scheduled.

    Example:
        >>> class Double(BetaSchedule):
        ...     def beta_at(self, index, initial_beta, alpha):
        ...         return initial_beta * 2.0 ** index
        >>> Double()(3, initial_beta=0.01, alpha=0.01)
        0.08
    """

    def __call__(self, index: int, *, initial_beta: float = 0.01, alpha: float = 0.01) -> float:
        index = validation.integer("index", index, minimum=0, owner=type(self).__name__)
        value = self.beta_at(index, initial_beta, alpha)
        array = np.asarray(value) if not isinstance(value, (str, bytes)) else None
        # A real scalar of any kind (float, numpy scalar, 0-d tensor); not bools or strings.
        if array is None or array.ndim != 0 or array.dtype.kind not in "fiu":
            raise TypeError(f"{self!r} returned {value!r} of type {type(value).__name__} at "
                            f"index {index}; a beta schedule must return a real number.")
        return float(array)

    def beta_at(self, index: int, initial_beta: float, alpha: float) -> float:
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


@register()
class Geometric(BetaSchedule):
    r"""The official code's schedule: beta grows by `rate` every epoch, from the first on.

    \\[ \beta_e = \min\left(\beta_0 \, r^{e+1},\ \beta_{\max}\right) \\]

    for index e = 0, 1, ... With `initial=None` and `maximum=None`, \\(\beta_0\\) is the
    quantizer's `beta` and \\(\beta_{\max} = 1/\alpha\\), where the relaxed weight is exactly
    `sign`. The official code uses r = 1.05 (1.009 for Tiny-ImageNet).

    Example:
        >>> Geometric(rate=2.0, initial=1.0, maximum=5.0)(1)
        4.0

    Args:
        rate: growth factor per index, finite and >= 1.
        initial: beta_0; `None` uses each quantizer's own `beta`.
        maximum: cap; `None` uses `1 / alpha` of each quantizer.
    """

    def __init__(self, rate: float = 1.05, initial: float | None = None,
                 maximum: float | None = None):
        owner = type(self).__name__
        self.rate = validation.real("rate", rate, minimum=1.0, owner=owner)
        self.initial = _optional_beta("initial", initial, owner)
        self.maximum = _optional_beta("maximum", maximum, owner)

    def beta_at(self, index, initial_beta, alpha):
        start = initial_beta if self.initial is None else self.initial
        cap = 1.0 / alpha if self.maximum is None else self.maximum
        if start == 0.0 or cap == 0.0:
            return 0.0
        # In logs, so that rate ** index cannot overflow on long runs.
        log_beta = math.log(start) + (index + 1) * math.log(self.rate)
        return cap if log_beta >= math.log(cap) else math.exp(log_beta)

    def get_config(self):
        return {"rate": self.rate, "initial": self.initial, "maximum": self.maximum}


@register()
class Constant(BetaSchedule):
    """beta held at `value` (`None`: each quantizer's own `beta`).

    Example:
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
    """From `start` to `end` over `steps` indices, then held at `end`."""

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


@register()
class Linear(_Ramp):
    """Linear ramp from `start` (default: the quantizer's beta) to `end` (default: 1/alpha).

    Example:
        >>> Linear(start=0.0, end=1.0, steps=4)(1)
        0.25
    """

    @staticmethod
    def shape(progress):
        return progress


@register()
class Cosine(_Ramp):
    """Half-cosine ramp from `start` (default: the quantizer's beta) to `end` (default: 1/alpha).

    Example:
        >>> Cosine(start=0.0, end=1.0, steps=2)(1)
        0.5
    """

    @staticmethod
    def shape(progress):
        return 0.5 * (1.0 - math.cos(math.pi * progress))


class _FunctionSchedule(BetaSchedule):
    """Wraps a user's `fn(index) -> beta` (not serializable: it is code)."""

    def __init__(self, fn: Callable[[int], float]):
        self.fn = fn

    def beta_at(self, index, initial_beta, alpha):
        return self.fn(index)

    def __repr__(self):
        return f"{getattr(self.fn, '__name__', repr(self.fn))}"


_BY_NAME = {"geometric": Geometric, "constant": Constant, "linear": Linear, "cosine": Cosine}


def get(identifier: BetaSchedule | str | dict | Callable[[int], float] | None) -> BetaSchedule:
    """A schedule from a `BetaSchedule`, a name ("geometric", ...), a config dict, a callable
    `fn(index) -> beta`, or `None` (the official `Geometric()`).

    Example:
        >>> get("constant")
        Constant(value=None)
    """
    if identifier is None:
        return Geometric()
    if isinstance(identifier, BetaSchedule):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(f"`schedule` must be one of {', '.join(map(repr, _BY_NAME))}, a "
                             f"BetaSchedule, a config dict or a callable index -> beta, got "
                             f"{identifier!r}.")
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        try:
            schedule = tf.keras.utils.deserialize_keras_object(
                identifier, printable_module_name="beta schedule")
        except (ValueError, TypeError) as error:
            raise ValueError(f"`schedule` config {identifier!r} is not a beta schedule: "
                             f"{error}") from None
        if not isinstance(schedule, BetaSchedule):
            raise ValueError(f"`schedule` config {identifier!r} is not a beta schedule.")
        return schedule
    if callable(identifier):
        return _FunctionSchedule(identifier)
    raise TypeError(
        f"`schedule` must be a BetaSchedule, a name, a config dict, a callable index -> beta or "
        f"None, got {identifier!r} of type {type(identifier).__name__}.")


def serialize(schedule: BetaSchedule) -> dict[str, Any]:
    """The Keras config of a schedule, for `get` to rebuild it.

    Example:
        >>> serialize(Constant(0.5))["config"]
        {'value': 0.5}
    """
    return tf.keras.utils.serialize_keras_object(schedule)
