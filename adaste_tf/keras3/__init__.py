"""AdaSTE on Keras 3, on the JAX and TensorFlow backends: no tf_keras, no larq.

The same quantizer, rules and schedules as the larq path (`adaste_tf.quantizers`), for Keras 3
models: `AdaSTE` and `SteSign` quantizers, larq-style `QuantDense` and `QuantConv2D` layers
(larq's argument names, so that moving a larq model changes only its imports) and the
`RelaxationScheduler` callback. The backward rules are not copied: they are
`adaste_tf._rules`, which the larq path runs with TensorFlow's operations and this path with
`keras.ops` (docs/architecture.md). Importing this imports neither TensorFlow nor larq (with
the JAX backend); docs/keras3.md is the user's page.

Examples:
    >>> import keras
    >>> from adaste_tf import keras3
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras3.QuantDense(3, kernel_quantizer="adaste", use_bias=False),
    ... ])
    >>> model.compile("adam", "mse")
    >>> history = model.fit(keras.ops.ones((8, 4)), keras.ops.zeros((8, 3)), epochs=2,
    ...                     verbose=0, callbacks=[keras3.RelaxationScheduler()])
    >>> [round(b, 4) for b in history.history["beta"]]
    [0.0105, 100.0]
"""

import keras as _keras

if int(_keras.__version__.split(".")[0]) < 3:
    raise ImportError(
        f"adaste_tf.keras3 needs Keras 3 (pip install 'keras>=3.6,<4', the `keras3` extra), "
        f"but `import keras` gives Keras {_keras.__version__}."
    )

from adaste_tf.keras3 import callbacks, data, layers, ops, quantizers  # noqa: E402
from adaste_tf.keras3.callbacks import RelaxationScheduler  # noqa: E402
from adaste_tf.keras3.layers import QuantConv2D, QuantDense  # noqa: E402
from adaste_tf.keras3.quantizers import AdaSTE, SteSign  # noqa: E402

__all__ = [
    "AdaSTE",
    "SteSign",
    "QuantDense",
    "QuantConv2D",
    "RelaxationScheduler",
    "callbacks",
    "data",
    "layers",
    "ops",
    "quantizers",
]
