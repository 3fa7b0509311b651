"""adaste_tf: AdaSTE, the adaptive straight-through estimator, for Keras and Larq.

Two paths share one set of rules (`adaste_tf._rules`):

- the larq path (`adaste_tf.quantizers`, `adaste_tf.callbacks`, ...), on legacy Keras
  (tf_keras): importing adaste_tf selects it before TensorFlow binds `tf.keras` (see
  `adaste_tf._keras_setup`) and registers AdaSTE with larq, whenever tensorflow, tf-keras and
  larq are installed;
- the Keras 3 path, `adaste_tf.keras3` (JAX or TensorFlow backend), which imports neither
  TensorFlow nor larq: in an environment without them, `import adaste_tf` sets up nothing of
  the larq path, imports no TensorFlow, and `from adaste_tf import keras3` is all it takes.

Whether the larq path is set up is decided by what is installed (`importlib.util.find_spec`,
which imports nothing), not by what is imported later: `import adaste_tf` must register
`"adaste"` with larq before a larq user's first `QuantDense`, and cannot know whether
`keras3` will follow (docs/architecture.md, "Two paths, one import").

Examples:
    >>> import adaste_tf  # first: before tensorflow, larq or anything that imports them
    >>> import larq as lq
    >>> layer = lq.layers.QuantDense(10, kernel_quantizer="adaste")
    >>> type(layer.kernel_quantizer).__name__
    'AdaSTE'
"""

import importlib.util as _importlib_util
from importlib import metadata as _metadata

# What the larq path imports; without any of them only adaste_tf.keras3 is available.
_LARQ_PATH_REQUIRES = ("tensorflow", "tf_keras", "larq")


def _missing_for_larq_path() -> list[str]:
    """The larq path's requirements that are not installed (none: the path is set up)."""
    return [name for name in _LARQ_PATH_REQUIRES if _importlib_util.find_spec(name) is None]


_MISSING = _missing_for_larq_path()

if not _MISSING:
    from adaste_tf._keras_setup import select_legacy_keras

    select_legacy_keras()

    from adaste_tf import (  # noqa: E402
        _larq_warnings,
        callbacks,
        data,
        export,
        initializers,
        ops,
        optimizers,
        quantizers,
        registration,
        resume,
        schedules,
    )
    from adaste_tf.callbacks import RelaxationScheduler  # noqa: E402
    from adaste_tf.quantizers import AdaSTE  # noqa: E402

    _larq_warnings.install()  # AdaSTE kernels need no constraint: no "starved weights" warning
    optimizers._install_bop_guard()  # larq's Bop refuses AdaSTE-quantized weights
    optimizers._install_case_optimizer_remap()  # a loaded CaseOptimizer trains again
    schedules.register_all(registration.register())  # beta schedules in tf.keras configs

try:
    __version__ = _metadata.version("adaste_tf")
except _metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

# The larq path's public names: attributes once it is set up; without it, `__getattr__` says
# what is missing (`from adaste_tf import *` too). `schedules` is plain Python, importable always.
__all__ = [
    "AdaSTE",
    "RelaxationScheduler",
    "callbacks",
    "data",
    "export",
    "initializers",
    "ops",
    "optimizers",
    "quantizers",
    "resume",
    "schedules",
    "__version__",
]


def __getattr__(name: str):
    # Only reached when the larq path was not set up (else these are attributes already). Not
    # for `schedules`, plain Python that adaste_tf.keras3 imports as a submodule.
    if name in __all__ and name != "schedules":
        raise ImportError(
            f"adaste_tf.{name} belongs to the larq path, which needs tensorflow, tf-keras and "
            f"larq; this environment lacks {', '.join(_MISSING)} (pip install adaste_tf installs "
            f"them). For Keras 3 (JAX or TensorFlow backend) use adaste_tf.keras3: "
            f"`from adaste_tf import keras3` (docs/keras3.md)."
        )
    raise AttributeError(f"module 'adaste_tf' has no attribute {name!r}")
