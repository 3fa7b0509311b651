"""Argument checks shared by every public constructor: one message format, raised at the call."""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any


def real(
    name: str,
    value: Any,
    *,
    minimum: float | None = None,
    strict: bool = False,
    maximum: float | None = None,
    owner: str = "",
) -> float:
    """Return `value` as a float after checking it is a finite real in the given range.

    Args:
        name: the parameter's name, used in the message.
        value: what the user passed.
        minimum: lower bound, inclusive unless `strict`.
        strict: whether `minimum` itself is excluded.
        maximum: inclusive upper bound.
        owner: the class or function, for the message.

    Raises:
        TypeError: `value` is not a real number (bools and strings are not).
        ValueError: `value` is NaN, infinite, or out of range.

    Examples:
        >>> real("alpha", 0.01, minimum=0.0, strict=True)
        0.01
    """
    where = f"{owner}: " if owner else ""
    accepted = _describe(minimum, strict, maximum)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{where}`{name}` must be {accepted}, got {value!r} of type {type(value).__name__}."
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{where}`{name}` must be {accepted}, got {value!r}.")
    too_low = minimum is not None and (value <= minimum if strict else value < minimum)
    too_high = maximum is not None and value > maximum
    if too_low or too_high:
        raise ValueError(f"{where}`{name}` must be {accepted}, got {value!r}.")
    return value


def integer(name: str, value: Any, *, minimum: int | None = None, owner: str = "") -> int:
    """Return `value` after checking it is an int (not a bool) and at least `minimum`.

    Examples:
        >>> integer("steps", 10, minimum=1)
        10
    """
    where = f"{owner}: " if owner else ""
    accepted = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{where}`{name}` must be {accepted}, got {value!r} of type {type(value).__name__}."
        )
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}`{name}` must be {accepted}, got {value!r}.")
    return int(value)


def boolean(name: str, value: Any, *, owner: str = "") -> bool:
    """Return `value` after checking it is a bool.

    Examples:
        >>> boolean("sync_replicas", True)
        True
    """
    if not isinstance(value, bool):
        where = f"{owner}: " if owner else ""
        raise TypeError(f"{where}`{name}` must be True or False, got {value!r}.")
    return value


def choice(name: str, value: Any, options: Iterable, *, owner: str = "") -> Any:
    """Return `value` after checking it is one of `options`.

    Examples:
        >>> choice("variant", "paper", ("paper", "official"))
        'paper'
    """
    options = tuple(options)
    if not isinstance(value, str) or value not in options:
        where = f"{owner}: " if owner else ""
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(f"{where}`{name}` must be one of {listed}, got {value!r}.")
    return value


def _describe(minimum, strict, maximum) -> str:
    parts = []
    if minimum is not None:
        parts.append(f"{'>' if strict else '>='} {minimum:g}")
    if maximum is not None:
        parts.append(f"<= {maximum:g}")
    bounds = " and ".join(parts)
    return "a finite real number" + (f" {bounds}" if bounds else "")


def names(name: str, value: Any, options: Iterable, *, owner: str = "") -> tuple[str, ...] | None:
    """Return `value` as a tuple after checking it is None or a list/tuple of `options`.

    A lone string is refused: `"flip_ratio"` would otherwise be read letter by letter.

    Examples:
        >>> names("metrics", ["flip_ratio"], ("flip_ratio", "diagnostics"))
        ('flip_ratio',)
    """
    if value is None:
        return None
    options = tuple(options)
    where = f"{owner}: " if owner else ""
    listed = ", ".join(repr(o) for o in options)
    if not isinstance(value, (list, tuple)) or not all(v in options for v in value):
        raise ValueError(
            f"{where}`{name}` must be None or a list of names from {listed}, got {value!r}."
        )
    return tuple(value)
