"""Select legacy Keras (tf_keras) before TensorFlow binds `tf.keras`.

Larq is built on legacy Keras: under Keras 3 it fails at import. TensorFlow 2.16+ reads
`TF_USE_LEGACY_KERAS` when `tf.keras` is first touched, not when `tensorflow` is imported, so
setting it here works even if the user imported `tensorflow` earlier, as long as nothing has
touched `tf.keras` yet. Once `tf.keras` is bound to Keras 3 it cannot be rebound in-process; then
we stop with an error that says what to do.
"""

import os

_VARIABLE = "TF_USE_LEGACY_KERAS"
_TRUE = ("1", "true", "yes")


def select_legacy_keras() -> None:
    """Set `TF_USE_LEGACY_KERAS=1` and check that `tf.keras` is tf_keras.

    Raises:
        ImportError: if the user asked for Keras 3 explicitly, or this process already bound
            `tf.keras` to Keras 3.
    """
    requested = os.environ.get(_VARIABLE)
    if requested is not None and requested.strip().lower() not in _TRUE:
        raise ImportError(
            f"adaste_tf needs legacy Keras (tf_keras) because larq does not run on Keras 3, "
            f"but the environment sets {_VARIABLE}={requested!r}. Unset it or set "
            f"{_VARIABLE}=1 before starting Python."
        )
    os.environ[_VARIABLE] = "1"

    import tensorflow as tf

    keras_module = tf.keras.__name__
    if not keras_module.startswith("tf_keras"):
        raise ImportError(
            f"adaste_tf needs legacy Keras (tf_keras), but this process already bound tf.keras "
            f"to Keras 3 ({keras_module}) before adaste_tf was imported, and larq does not run "
            f"on Keras 3. Fix: `import adaste_tf` (or larq) before anything touches tf.keras, "
            f"or start Python with {_VARIABLE}=1 in the environment."
        )
