"""One place that registers adaste_tf's Keras objects, so that loading needs no
custom_object_scope."""

from __future__ import annotations

from typing import TypeVar

import tensorflow as tf

PACKAGE = "adaste_tf"

# Loading a saved model still needs `import adaste_tf` (which runs `register`) in the loading
# process, and without it the error cannot name adaste_tf, in either format: larq resolves a
# saved quantizer by its class name among larq's own quantizers (its module's globals, passed to
# Keras as `module_objects`) and the names registered with Keras. With `module_objects` given,
# Keras does not use the `module` ("adaste_tf.quantizers") that the .keras and h5 configs
# record, so nothing imports adaste_tf and none of its code runs before the error: a .keras file
# gets larq's "`quantizer` must be `callable` or `None`, but got `<class 'str'>`", an h5 file
# Keras's "Unknown quantization function: 'AdaSTE'". tests/test_quantizers.py
# (test_loading_without_import_adaste_tf_...) checks both messages in a fresh process.

T = TypeVar("T", bound=type)


def register(*aliases: str):
    """Register a class for Keras deserialization under `adaste_tf>Name` and `aliases`.

    `adaste_tf>Name` is what `tf.keras.utils.serialize_keras_object` writes. Aliases (such as
    `"adaste"` and `"AdaSTE"`) go into Keras's global custom objects, where larq's
    `lq.quantizers.get` looks names up; that namespace is shared with Keras's own activations
    and initializers, so only names that cannot shadow one of those are aliased.

    Examples:
        >>> @register("my_block")
        ... class MyBlock(tf.keras.layers.Layer):  # Keras registers classes with get_config
        ...     pass
        >>> tf.keras.utils.get_registered_name(MyBlock)
        'adaste_tf>MyBlock'
        >>> tf.keras.utils.get_custom_objects()["my_block"] is MyBlock
        True
    """

    def decorator(cls: T) -> T:
        cls = tf.keras.utils.register_keras_serializable(package=PACKAGE)(cls)
        custom_objects = tf.keras.utils.get_custom_objects()
        for name in aliases:
            custom_objects[name] = cls
        return cls

    return decorator
