r"""Networks as larq users build them, after larq-zoo's QuickNet and Bi-Real Net / BinaryResNetE,
narrowed for 28x28 images and 2 CPU cores.

Unlike the paper's networks (`adaste_tf.zoo.models`: every layer binary, BatchNorm without scale
or shift), these have what larq-zoo's networks have: a real-valued stem and head, real 1x1
transitions or shortcut projections, BatchNorm with scale and center, a shortcut around every
binary 3x3 convolution, and, with `input_quantizer="ste_sign"`, binary activations that LCE runs
as binary convolutions. The models return logits (train with
`SparseCategoricalCrossentropy(from_logits=True)`).

Examples:
    >>> import adaste_tf
    >>> from adaste_tf.zoo import larq_nets
    >>> model = larq_nets.quicknet(kernel_quantizer="adaste", input_quantizer="ste_sign")
    >>> sum(layer.name.endswith("_binary") for layer in model.layers)  # binary 3x3 convolutions
    6
    >>> model.output_shape
    (None, 10)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adaste_tf import validation
from adaste_tf.zoo.models import _input_shape, _Layers, _scaled

import tensorflow as tf

__all__ = ["quicknet", "birealnet", "NETWORKS"]

NETWORKS = ("quicknet", "birealnet")

# Keras's default BatchNorm momentum (0.99) needs a few hundred steps to settle its moving
# statistics, as long as a short run on 2 cores lasts; larq-zoo's QuickNet uses 0.9.
_BN_MOMENTUM = 0.9


def quicknet(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    kernel_quantizer: Any = "ste_sign",
    input_quantizer: Any = "ste_sign",
    *,
    name: str = "quicknet",
    **options: Any,
) -> tf.keras.Model:
    """A QuickNet-like network (larq-zoo `sota.QuickNet`, narrowed).

    A real 3x3 stem with stride 2 and BatchNorm; then `len(sections)` sections of `blocks`
    residual blocks, each `x + BN(relu(binary conv3x3(x)))`; between sections a real transition
    (ReLU, 2x2 max pool with stride 1, a 3x3 depthwise convolution with stride 2, a 1x1
    convolution, BatchNorm); then ReLU, global average pooling and a real dense head.

    Examples:
        >>> model = quicknet(width=0.25, kernel_quantizer="ste_sign",
        ...                  kernel_constraint="weight_clip")
        >>> type(model.get_layer("section1_block1_binary").input_quantizer).__name__
        'SteSign'

    Args:
        input_shape: (height, width, channels).
        num_classes: number of logits, >= 2.
        kernel_quantizer: larq quantizer of the binary 3x3 kernels (a name, an instance or a
            config dict; each layer gets its own copy).
        input_quantizer: larq quantizer of their inputs: `"ste_sign"` for binary activations,
            None for real ones.
        name: the model's name.
        **options: keyword options, each checked, an unknown one an error:
            `width` (multiplier of every section's channels, > 0; 1.0),
            `sections` (channels of each section before `width`; (32, 64, 128)),
            `blocks` (residual blocks per section, >= 1; 2),
            `kernel_initializer` (of the binary kernels; Glorot),
            `kernel_constraint` (of the binary kernels; larq's estimators: "weight_clip"),
            `batchnorm_affine` (BatchNorm with a learnable scale and center, as larq-zoo;
            True), `binarize_first_last` (also quantize the stem and the head, with no input
            quantizer on the stem: its input is the image; False).

    Returns:
        An uncompiled `tf.keras.Model`.
    """
    build = _Builder(
        "larq_nets.quicknet", input_shape, num_classes, kernel_quantizer, input_quantizer, **options
    )
    inputs = tf.keras.Input(shape=build.input_shape)
    x = build.layers.conv(build.channels[0], 3, "stem_conv", position="first", strides=2)(inputs)
    x = build.norm("stem_bn")(x)
    for section, channels in enumerate(build.channels, start=1):
        if section > 1:
            x = tf.keras.layers.Activation("relu", name=f"transition{section}_relu")(x)
            x = tf.keras.layers.MaxPool2D(
                2, strides=1, padding="same", name=f"transition{section}_pool"
            )(x)
            x = tf.keras.layers.DepthwiseConv2D(
                3, strides=2, padding="same", use_bias=False, name=f"transition{section}_depthwise"
            )(x)
            x = tf.keras.layers.Conv2D(
                channels, 1, use_bias=False, name=f"transition{section}_pointwise"
            )(x)
            x = build.norm(f"transition{section}_bn")(x)
        for block in range(1, build.blocks + 1):
            prefix = f"section{section}_block{block}"
            y = build.layers.conv(channels, 3, f"{prefix}_binary")(x)
            y = tf.keras.layers.Activation("relu", name=f"{prefix}_relu")(y)
            y = build.norm(f"{prefix}_bn")(y)
            x = tf.keras.layers.Add(name=f"{prefix}_add")([x, y])
    return build.head(inputs, x, name)


def birealnet(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    kernel_quantizer: Any = "ste_sign",
    input_quantizer: Any = "ste_sign",
    *,
    name: str = "birealnet",
    **options: Any,
) -> tf.keras.Model:
    """A Bi-Real Net / BinaryResNetE-like network (larq-zoo `literature.BiRealNet` and
    `BinaryResNetE18`, narrowed).

    A real 3x3 stem, BatchNorm, ReLU and 2x2 max pooling; then `len(sections)` stages of `blocks`
    blocks, each `shortcut + BN(binary conv3x3(x))` with a shortcut around every binary
    convolution; the first block of a later stage convolves with stride 2 and its shortcut is a
    2x2 average pool, a real 1x1 convolution and BatchNorm; then ReLU, global average pooling
    and a real dense head.

    Examples:
        >>> model = birealnet(width=0.25, input_quantizer=None)   # real activations
        >>> model.get_layer("stage2_block1_shortcut_conv").kernel.shape
        TensorShape([1, 1, 8, 16])

    Args:
        input_shape, num_classes, kernel_quantizer, input_quantizer, name, **options: as in
            `quicknet` (`width`, `sections`, `blocks`, `kernel_initializer`,
            `kernel_constraint`, `batchnorm_affine`, `binarize_first_last`).

    Returns:
        An uncompiled `tf.keras.Model`.
    """
    build = _Builder(
        "larq_nets.birealnet",
        input_shape,
        num_classes,
        kernel_quantizer,
        input_quantizer,
        **options,
    )
    inputs = tf.keras.Input(shape=build.input_shape)
    x = build.layers.conv(build.channels[0], 3, "stem_conv", position="first")(inputs)
    x = build.norm("stem_bn")(x)
    x = tf.keras.layers.Activation("relu", name="stem_relu")(x)
    x = tf.keras.layers.MaxPool2D(2, name="stem_pool")(x)
    for stage, channels in enumerate(build.channels, start=1):
        for block in range(1, build.blocks + 1):
            prefix = f"stage{stage}_block{block}"
            strides = 2 if stage > 1 and block == 1 else 1
            shortcut = x
            if strides != 1 or x.shape[-1] != channels:
                shortcut = tf.keras.layers.AvgPool2D(
                    2, strides=strides, padding="same", name=f"{prefix}_shortcut_pool"
                )(shortcut)
                shortcut = tf.keras.layers.Conv2D(
                    channels, 1, use_bias=False, name=f"{prefix}_shortcut_conv"
                )(shortcut)
                shortcut = build.norm(f"{prefix}_shortcut_bn")(shortcut)
            y = build.layers.conv(channels, 3, f"{prefix}_binary", strides=strides)(x)
            y = build.norm(f"{prefix}_bn")(y)
            x = tf.keras.layers.Add(name=f"{prefix}_add")([shortcut, y])
    return build.head(inputs, x, name)


class _Builder:
    """The checked arguments both networks share, and their shared parts."""

    def __init__(
        self,
        owner: str,
        input_shape: Sequence[int],
        num_classes: int,
        kernel_quantizer: Any,
        input_quantizer: Any,
        *,
        width: float = 1.0,
        sections: Sequence[int] = (32, 64, 128),
        blocks: int = 2,
        kernel_initializer: Any = "glorot_uniform",
        kernel_constraint: Any = None,
        batchnorm_affine: bool = True,
        binarize_first_last: bool = False,
    ):
        self.input_shape = _input_shape(input_shape, owner, rank=3)
        self.num_classes = validation.integer("num_classes", num_classes, minimum=2, owner=owner)
        width = validation.real("width", width, minimum=0.0, strict=True, owner=owner)
        if isinstance(sections, str) or not isinstance(sections, Sequence) or not sections:
            raise ValueError(
                f"{owner}: `sections` must be a non-empty sequence of positive ints (channels "
                f"per section); got {sections!r}."
            )
        self.channels = [
            _scaled(validation.integer(f"sections[{i}]", c, minimum=1, owner=owner), width)
            for i, c in enumerate(sections)
        ]
        self.blocks = validation.integer("blocks", blocks, minimum=1, owner=owner)
        self.affine = validation.boolean("batchnorm_affine", batchnorm_affine, owner=owner)
        self.layers = _Layers(
            owner,
            kernel_quantizer,
            input_quantizer,
            kernel_initializer,
            kernel_constraint,
            binarize_first_last,
        )

    def norm(self, name: str) -> tf.keras.layers.Layer:
        return tf.keras.layers.BatchNormalization(
            momentum=_BN_MOMENTUM, center=self.affine, scale=self.affine, name=name
        )

    def head(self, inputs, x, name: str) -> tf.keras.Model:
        x = tf.keras.layers.Activation("relu", name="head_relu")(x)
        x = tf.keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
        outputs = self.layers.dense(self.num_classes, "head_dense", position="last", use_bias=True)(
            x
        )
        return tf.keras.Model(inputs, outputs, name=name)
