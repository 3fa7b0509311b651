"""One place that registers adaste_tf's Keras objects, so that loading needs no custom_object_scope."""

from __future__ import annotations

from typing import TypeVar

import tensorflow as tf

PACKAGE = "adaste_tf"

T = TypeVar("T", bound=type)


def register(*aliases: str):
    """Register a class for Keras deserialization under `adaste_tf>Name` and `aliases`.

    `adaste_tf>Name` is what `tf.keras.utils.serialize_keras_object` writes. Aliases (such as
    `"adaste"` and `"AdaSTE"`) go into Keras's global custom objects, where larq's
    `lq.quantizers.get` looks names up; that namespace is shared with Keras's own activations
    and initializers, so only names that cannot shadow one of those are aliased.

    Example:
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
