"""Select legacy Keras (tf_keras) before TensorFlow loads.

Larq is built on legacy Keras: under Keras 3 it fails at import. TensorFlow 2.16+ reads
`TF_USE_LEGACY_KERAS` when it is imported: it then points both the attribute `tf.keras` and
the import path `tensorflow.keras.*` (which larq uses) at one Keras. If TensorFlow was imported
without the variable, the import path is Keras 3's for the life of the process, so we stop
with an error that says what to do rather than let larq fail deep inside.

What works: `import adaste_tf` first, before tensorflow, tf_keras, larq and anything that
imports them; or `TF_USE_LEGACY_KERAS=1` in the environment, and then any order. `import larq`
first fails inside larq (`AttributeError: module 'keras._tf_keras.keras.layers' has no attribute
'LocallyConnected1D'`) before any adaste_tf code runs; an `import adaste_tf` after it, in the
same process, says so.
"""

import importlib.util
import os
import pathlib
import sys

_VARIABLE = "TF_USE_LEGACY_KERAS"
_TRUE = ("1", "true", "yes")
_FIX = (
    f"Fix: `import adaste_tf` first, before tensorflow, tf_keras, larq and anything that imports "
    f"them, or start Python with {_VARIABLE}=1 in the environment (then any order works)."
)
_LARQ_FIRST = (
    "; larq then fails in its own import (AttributeError: ... has no attribute "
    "'LocallyConnected1D')"
)


def select_legacy_keras() -> None:
    """Set `TF_USE_LEGACY_KERAS=1` and check that `tf.keras` is tf_keras.

    Raises:
        ImportError: if the user asked for Keras 3 explicitly, or this process already bound
            `tf.keras` to Keras 3.

    Examples:
        >>> select_legacy_keras()  # `import adaste_tf` did it already; again is harmless
        >>> import tensorflow as tf
        >>> tf.keras.layers.Layer.__module__.split(".")[0], os.environ[_VARIABLE]
        ('tf_keras', '1')
    """
    requested = os.environ.get(_VARIABLE)
    if requested is not None and requested.strip().lower() not in _TRUE:
        raise ImportError(
            f"adaste_tf needs legacy Keras (tf_keras) because larq does not run on Keras 3, "
            f"but the environment sets {_VARIABLE}={requested!r}. Unset it or set "
            f"{_VARIABLE}=1 before starting Python."
        )
    tensorflow_was_loaded = "tensorflow" in sys.modules
    # A failed `import larq` leaves its submodules in sys.modules, a successful one the package.
    first = "larq" if any(m.split(".")[0] == "larq" for m in sys.modules) else "tensorflow"
    os.environ[_VARIABLE] = "1"

    import tensorflow as tf

    if tensorflow_was_loaded:
        spec = importlib.util.find_spec("tensorflow.keras")
        origin = (spec.origin or "") if spec else ""
        # Keras 3 lives under keras/_tf_keras/, legacy Keras under tf_keras/.
        if "tf_keras" not in pathlib.PurePath(origin).parts:
            raise ImportError(
                f"adaste_tf needs legacy Keras (tf_keras) because larq does not run on Keras 3, "
                f"but {first} was imported before adaste_tf without {_VARIABLE}=1, so "
                f"tensorflow set up Keras 3 (tensorflow.keras -> {origin or 'not found'})"
                f"{_LARQ_FIRST if first == 'larq' else ''}. {_FIX}"
            )

    # tf.keras's own __name__ changes as TensorFlow's lazy loader resolves it; the module that
    # defines its Layer class does not.
    keras_module = tf.keras.layers.Layer.__module__
    if not keras_module.startswith("tf_keras"):
        raise ImportError(
            f"adaste_tf needs legacy Keras (tf_keras), but this process already bound tf.keras "
            f"to Keras 3 (its Layer is {keras_module}) before adaste_tf was imported, and larq "
            f"does not run on Keras 3. {_FIX}"
        )


def refuse_keras3(value: object, parameter: str, owner: str) -> None:
    """Raise a `TypeError` if `value` is a Keras 3 object (a model or layer of the `keras`
    package) given where the larq path takes a tf-keras one.

    Keras 3 is installed beside tf-keras (TensorFlow 2.16+ pulls it in), so `import keras` and
    `keras.Sequential(...)` build Keras 3 models even after `import adaste_tf`; the larq path
    (larq's layers, `adaste_tf.callbacks`, `adaste_tf.export`) needs tf-keras ones, and Keras 3
    users have `adaste_tf.keras3`.

    Examples:
        >>> refuse_keras3(object(), "model", "convert")  # not Keras 3: nothing to say
        >>> import keras
        >>> refuse_keras3(keras.layers.Dense(2), "model", "convert")
        Traceback (most recent call last):
        ...
        TypeError: convert: `model` must be a tf-keras (legacy Keras) model, ...Dense). Fix: ...
    """
    cls = type(value)
    if not any(c.__module__.split(".")[0] == "keras" for c in cls.__mro__):
        return
    raise TypeError(
        f"{owner}: `{parameter}` must be a tf-keras (legacy Keras) model, as the larq path "
        f"(larq's layers, adaste_tf.callbacks, adaste_tf.export) needs, got a Keras 3 object "
        f"({cls.__module__}.{cls.__name__}). Fix: build it with tf.keras and larq.layers after "
        f"`import adaste_tf`; for a Keras 3 model use adaste_tf.keras3 (its QuantDense, "
        f"QuantConv2D and RelaxationScheduler; docs/keras3.md)."
    )
