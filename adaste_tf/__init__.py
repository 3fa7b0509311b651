"""adaste_tf: AdaSTE, the adaptive straight-through estimator, for Keras and Larq.

Importing adaste_tf selects legacy Keras (tf_keras), the Keras that larq runs on, before
TensorFlow binds `tf.keras`; see `adaste_tf._keras_setup`.

Examples:
    >>> import adaste_tf  # first: before tensorflow, larq or anything that imports them
    >>> import larq as lq
    >>> layer = lq.layers.QuantDense(10, kernel_quantizer="adaste")
    >>> type(layer.kernel_quantizer).__name__
    'AdaSTE'
"""

from adaste_tf._keras_setup import select_legacy_keras

select_legacy_keras()

from importlib import metadata as _metadata  # noqa: E402

from adaste_tf import (  # noqa: E402
    _larq_warnings,
    callbacks,
    data,
    export,
    initializers,
    ops,
    optimizers,
    quantizers,
    resume,
    schedules,
)
from adaste_tf.callbacks import RelaxationScheduler  # noqa: E402
from adaste_tf.quantizers import AdaSTE  # noqa: E402

_larq_warnings.install()  # AdaSTE kernels need no constraint: no "starved weights" warning
optimizers._install_bop_guard()  # larq's Bop refuses AdaSTE-quantized weights

try:
    __version__ = _metadata.version("adaste_tf")
except _metadata.PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"

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
