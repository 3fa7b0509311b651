"""The AdaSTE quantizer's arguments and config, written once for both paths: no TensorFlow, no
Keras.

The larq path's `adaste_tf.quantizers.AdaSTE` and the Keras 3 path's
`adaste_tf.keras3.AdaSTE` take the same arguments, check them alike and write the same config
keys, so that a config moves between the two paths: `set_arguments` checks and sets the
arguments, `config` writes the keys, `from_config` reads them back (refusing a config of a newer
`CONFIG_VERSION`), and `unscheduled_message` is the warning of a quantizer that trains with no
scheduler. What stays per path is the layer: the beta variable, the custom gradient, metrics.

Examples:
    >>> class Quantizer:
    ...     def __init__(self, metrics=None, **arguments):
    ...         set_arguments(self, **arguments)
    ...         self.beta = self.initial_beta
    >>> quantizer = Quantizer(beta=0.02, variant="official")
    >>> quantizer.max_scale                             # the official variant's default
    0.5
    >>> from_config(lambda c: Quantizer(**c), "Quantizer", config(quantizer, None)).variant
    'official'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adaste_tf import _rules, validation

__all__ = ["CONFIG_VERSION", "set_arguments", "config", "from_config", "unscheduled_message"]

# Version of the config that `AdaSTE.get_config` writes (key `_config_version`; a config without
# it is version 1). Version 2 added `flip_reach` and the "bounded" variant; a version-1 config
# names its variant, so it loads with the rule it was saved with. Version 3 added
# `current_beta`, the value of the beta variable, which an h5 file keeps only in the config
# (beta is not among the layer's weights); without it a quantizer starts at `beta`.
# `from_config` reads this version and older ones and rejects newer ones: a newer adaste_tf may
# have changed what a key means, and silently training with another backward is worse than
# failing to load. Both paths write it: their configs have the same keys.
CONFIG_VERSION = 3


def set_arguments(
    quantizer: Any,
    *,
    alpha: float = 0.01,
    beta: float = 0.01,
    max_scale: float | None = None,
    variant: str = "bounded",
    flip_reach: float = _rules.DEFAULT_FLIP_REACH,
    sync_replicas: bool = True,
) -> None:
    """Check AdaSTE's arguments and set them on `quantizer` (`beta` as `initial_beta`; a
    `max_scale` of None as the variant's default); errors name the quantizer's class."""
    owner = type(quantizer).__name__
    quantizer.alpha = validation.real("alpha", alpha, minimum=0.0, strict=True, owner=owner)
    quantizer.initial_beta = validation.real("beta", beta, minimum=0.0, owner=owner)
    quantizer.variant = validation.choice("variant", variant, _rules.VARIANTS, owner=owner)
    if max_scale is None:
        max_scale = _rules.OFFICIAL_MAX_SCALE if variant == "official" else _rules.DEFAULT_MAX_SCALE
    quantizer.max_scale = validation.real(
        "max_scale", max_scale, minimum=0.0, strict=True, owner=owner
    )
    quantizer.flip_reach = validation.real("flip_reach", flip_reach, minimum=0.0, owner=owner)
    quantizer.sync_replicas = validation.boolean("sync_replicas", sync_replicas, owner=owner)


def config(quantizer: Any, metrics: list[str] | None) -> dict[str, Any]:
    """AdaSTE's own config keys (the layer's come first), with the current beta and the
    version."""
    return {
        "alpha": quantizer.alpha,
        "beta": quantizer.initial_beta,
        "max_scale": quantizer.max_scale,
        "variant": quantizer.variant,
        "flip_reach": quantizer.flip_reach,
        "sync_replicas": quantizer.sync_replicas,
        "metrics": metrics,
        "current_beta": quantizer.beta,
        "_config_version": CONFIG_VERSION,
    }


def from_config(make: Callable[[dict[str, Any]], Any], owner: str, config: dict[str, Any]) -> Any:
    """The quantizer `make(config)` makes of a config without its version and current beta,
    set to that beta; a config of a newer version, or a damaged version, is refused."""
    config = dict(config)
    version = config.pop("_config_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(
            f"{owner}.from_config: `_config_version` must be an integer >= 1, got "
            f"{version!r}; the saved config is damaged."
        )
    if version > CONFIG_VERSION:
        raise ValueError(
            f"{owner}.from_config: this config has `_config_version`={version}, written "
            f"by a newer adaste_tf; this adaste_tf reads versions <= {CONFIG_VERSION}. "
            f"Upgrade adaste_tf (pip install -U adaste_tf) to load the model."
        )
    current = config.pop("current_beta", None)
    quantizer = make(config)
    if current is not None:
        quantizer.beta = current
    return quantizer


def unscheduled_message(quantizer: Any, scheduler: str) -> str:
    """The warning of `quantizer` training a weight with no `scheduler` (the path's
    `RelaxationScheduler`, by its full name) moving its beta."""
    return (
        f"AdaSTE: quantizer {quantizer.name!r} trains a weight with no "
        f"{scheduler}, so its beta never moves from "
        f"{quantizer.initial_beta:g} and the relaxed weights never become sign(theta) (beta "
        f"reaches 1/alpha={1 / quantizer.alpha:g} only on a schedule). Fix: "
        f"model.fit(..., callbacks=[{scheduler}()]); in a custom "
        f"loop, scheduler.set_model(model) and scheduler.apply(epoch); for a fixed beta on "
        f"purpose, RelaxationScheduler(schedules.Constant(beta)). Said once per process."
    )
