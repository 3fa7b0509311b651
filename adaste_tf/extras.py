"""Optional dependencies, imported when a feature needs them, with an error that names the extra.

The base install (`pip install adaste_tf`) carries what the quantizer, the callbacks and the
schedules need: TensorFlow, tf-keras, TensorBoard, larq and NumPy. Conversion to TFLite/LCE, the
tensorflow-datasets loaders and the training harness need more, and each set installs as an
extra. A call that needs a missing one raises an `ImportError` that says which extra to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: The extra of each optional top-level module, as `pip install "adaste_tf[<extra>]"` names it.
EXTRAS: dict[str, tuple[str, str]] = {
    # module: (distribution, extra)
    "larq_compute_engine": ("larq-compute-engine", "export"),
    "tensorflow_datasets": ("tensorflow-datasets", "data"),
    "matplotlib": ("matplotlib", "zoo"),
}


def require(module: str, feature: str) -> ModuleType:
    """Import `module` for `feature`, or raise an `ImportError` naming the extra to install.

    Args:
        module: a dotted module name whose top-level package is in `EXTRAS`.
        feature: what needs it, as the user called it (for example `"convert(engine='lce')"`).

    Returns:
        The imported module.

    Examples:
        >>> EXTRAS["larq_compute_engine"]
        ('larq-compute-engine', 'export')
        >>> require("adaste_tf_missing_extra", "a feature")
        Traceback (most recent call last):
        ...
        ValueError: require: module must be one of ['larq_compute_engine', ...
    """
    top = module.split(".", 1)[0]
    if top not in EXTRAS:
        raise ValueError(
            f"require: module must be one of {sorted(EXTRAS)} or a submodule of "
            f"one, got {module!r}."
        )
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or error.name.split(".", 1)[0] != top:
            raise  # the extra is there, but one of its own dependencies is missing
        distribution, extra = EXTRAS[top]
        raise ImportError(
            f"{feature} needs {distribution}, which is not installed. Install "
            f'the extra: pip install "adaste_tf[{extra}]"'
        ) from error
