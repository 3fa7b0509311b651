r"""The networks of the official AdaSTE code, built with any larq weight quantizer.

Every builder takes the kernel quantizer (and optionally an input quantizer) as an argument, so
AdaSTE and the usual estimators (`"ste_sign"`, `"approx_sign"`, `"swish_sign"`,
`"magnitude_aware_sign"`) are compared on the same network. The models return **logits**: the
last layer is followed, as in the official code, by a BatchNorm without scale or shift, and no
softmax unless `output_activation` asks for one (train with
`SparseCategoricalCrossentropy(from_logits=True)`).

Examples:
    >>> import numpy as np
    >>> from adaste_tf.zoo import models
    >>> model = models.vgg16(input_shape=(32, 32, 3), num_classes=10)
    >>> sum(int(np.prod(w.shape)) for w in model.trainable_weights)  # the official count
    15239872
    >>> small = models.vgg16(input_shape=(32, 32, 1), width=0.25, kernel_quantizer="ste_sign",
    ...                      kernel_constraint="weight_clip")

What follows the official code (`models/models.py` of intellhave/AdaSTE): layer order (VGG-16
pools *before* BatchNorm), bias-free layers (except ResNet-18's final linear layer), BatchNorm
with `affine=False` (here `center=False, scale=False`) and the official epsilon and momentum,
the logits BatchNorm, and the layer names (`conv1`, `fc14`, `bnout`, ...). The parameter
counts for 10 classes equal the official ones: 15,239,872 (VGG-16) and 11,164,362 (ResNet-18),
all trainable (the BatchNorm moving statistics are non-trainable, like PyTorch's buffers).

What cannot follow it: the official optimizer binarizes *every* parameter, ResNet-18's final
bias included; larq has no bias quantizer, so that bias (10 numbers) stays real-valued.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from adaste_tf import validation

import larq as lq
import tensorflow as tf

__all__ = ["mlp", "vgg16", "resnet18", "ESTIMATORS"]

# The larq names of the estimators these builders are meant to compare.
ESTIMATORS = ("adaste", "ste_sign", "approx_sign", "swish_sign", "magnitude_aware_sign")

# Official BatchNorm settings as (PyTorch momentum, epsilon). Keras's momentum is 1 minus
# PyTorch's: Keras keeps `momentum` of the old moving average, PyTorch takes `momentum` of the
# new batch statistic. Convolutions use `--bnmomentum` (default 0.2); VGG-16's dense layers and
# ResNet-18's `bnout` are built without a momentum, so they get PyTorch's default 0.1.
_CONV_BN = (0.2, 1e-5)
_DENSE_BN = (0.1, 1e-5)
_MLP_BN = (0.15, 1e-4)  # MLPBinaryConnect

# larq warns about every binary kernel without a constraint; AdaSTE needs none, and
# `import adaste_tf` silences that warning for AdaSTE kernels everywhere (_larq_warnings.py).


class _Layers:
    """Makes the quantized layers of one network, fresh quantizers and initializers each time.

    Quantizers are Keras layers (AdaSTE holds its beta variable, `flip_ratio` a metric), so one
    instance must not be shared by several layers: each layer gets its own copy. A seeded
    initializer gets seed + layer index, so layers of one shape do not start identical.
    """

    def __init__(
        self,
        owner: str,
        kernel_quantizer,
        input_quantizer,
        kernel_initializer,
        kernel_constraint,
        binarize_first_last: bool,
    ):
        self.owner = owner
        self._kernel_quantizer = _quantizer_factory("kernel_quantizer", kernel_quantizer, owner)
        self._input_quantizer = _quantizer_factory("input_quantizer", input_quantizer, owner)
        self._initializer = _initializer_factory(kernel_initializer, owner)
        self._constraint = _checked_constraint(kernel_constraint, owner)
        self.binarize_first_last = validation.boolean(
            "binarize_first_last", binarize_first_last, owner=owner
        )
        self._count = 0

    def _kwargs(self, position: str) -> dict[str, Any]:
        """Layer arguments for a layer at `position`: "first", "middle" or "last"."""
        self._count += 1
        if position != "middle" and not self.binarize_first_last:
            # Full precision: no quantizer, Keras's default initializer, no constraint.
            return dict(
                kernel_quantizer=None,
                input_quantizer=None,
                kernel_initializer="glorot_uniform",
                kernel_constraint=None,
            )
        return dict(
            kernel_quantizer=self._kernel_quantizer(),
            # The first layer's input is the data, which is never quantized.
            input_quantizer=None if position == "first" else self._input_quantizer(),
            kernel_initializer=self._initializer(self._count),
            kernel_constraint=self._constraint,
        )

    def dense(self, units: int, name: str, position: str = "middle", use_bias: bool = False):
        return lq.layers.QuantDense(units, use_bias=use_bias, name=name, **self._kwargs(position))

    def conv(
        self,
        filters: int,
        kernel_size: int,
        name: str,
        position: str = "middle",
        strides: int = 1,
        padding: str = "same",
    ):
        return lq.layers.QuantConv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=False,
            name=name,
            **self._kwargs(position),
        )


def mlp(
    input_shape: Sequence[int] = (28, 28),
    num_classes: int = 10,
    hidden: Sequence[int] = (512, 512),
    kernel_quantizer: Any = "adaste",
    input_quantizer: Any = None,
    *,
    binarize_first_last: bool = True,
    kernel_initializer: Any = "glorot_uniform",
    kernel_constraint: Any = None,
    activation: str | None = "relu",
    output_batchnorm: bool = True,
    output_activation: str | None = None,
    name: str = "mlp",
) -> tf.keras.Model:
    """A binary-weight MLP shaped like the official `MLPBinaryConnect`.

    Flatten, then per hidden layer a bias-free `QuantDense`, a BatchNorm without scale or shift
    and the activation; then a bias-free `QuantDense` to the logits and (with
    `output_batchnorm`, as officially) a BatchNorm on them. BatchNorm epsilon 1e-4 and PyTorch
    momentum 0.15, as officially. The official MLP has three hidden layers of 2048 units:
    `hidden=(2048, 2048, 2048)`.

    Examples:
        >>> model = mlp((28, 28), 10, hidden=(256, 256), kernel_quantizer="adaste")
        >>> [layer.name for layer in model.layers if layer.name.startswith("fc")]
        ['fc1', 'fc2', 'fc3']
        >>> model.output_shape
        (None, 10)

    Args:
        input_shape: shape of one example, without the batch axis (any rank; it is flattened).
        num_classes: number of logits, >= 2.
        hidden: units of each hidden layer, a non-empty sequence of positive ints.
        kernel_quantizer: larq quantizer of the binary layers' kernels: a name (such as the
            ones in `ESTIMATORS`), a quantizer instance (each layer gets a copy), or None for a
            full-precision network of the same shape.
        input_quantizer: larq quantizer of the binary layers' inputs (not of the data that the
            first layer reads), None to keep activations real as officially. A sign quantizer
            after a ReLU sees only values >= 0, hence only +1: use `activation=None` with one.
        binarize_first_last: True (official) binarizes every layer; False keeps the first and
            the last layer full precision (no quantizer, Glorot initialization, no constraint).
        kernel_initializer: initializer of the binary kernels (for the official recipe
            `adaste_tf.initializers.RandomSign(10.0)`); a seeded one gets seed + layer index.
        kernel_constraint: constraint of the binary kernels. None (no clipping) suits AdaSTE;
            larq users of `"ste_sign"` often pass `"weight_clip"`.
        activation: activation after each hidden BatchNorm, or None for none.
        output_batchnorm: whether the logits go through a BatchNorm (official: yes).
        output_activation: applied to the logits, in float32 (such as `"softmax"`); None
            returns logits.
        name: the model's name.

    Returns:
        An uncompiled `tf.keras.Model` mapping `input_shape` inputs to `num_classes` outputs.
    """
    owner = "models.mlp"
    input_shape = _input_shape(input_shape, owner)
    num_classes = validation.integer("num_classes", num_classes, minimum=2, owner=owner)
    hidden = _hidden(hidden, owner)
    layers = _Layers(
        owner,
        kernel_quantizer,
        input_quantizer,
        kernel_initializer,
        kernel_constraint,
        binarize_first_last,
    )
    _check_head(activation, output_batchnorm, output_activation, name, owner)

    inputs = tf.keras.Input(shape=input_shape)
    x = tf.keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden, start=1):
        x = layers.dense(units, f"fc{i}", position="first" if i == 1 else "middle")(x)
        x = _batch_norm(_MLP_BN, f"bn{i}")(x)
        x = _activation(activation, f"act{i}")(x)
    last = len(hidden) + 1
    x = layers.dense(num_classes, f"fc{last}", position="last")(x)
    outputs = _head(x, output_batchnorm, _MLP_BN, f"bn{last}", output_activation)
    return tf.keras.Model(inputs, outputs, name=name)


# VGG-16's convolution widths; "M" marks the convolutions followed by a 2x2 max-pool.
_VGG16_CONVS: tuple[int | str, ...] = (
    64,
    "M64",
    128,
    "M128",
    256,
    256,
    "M256",
    512,
    512,
    "M512",
    512,
    512,
    "M512",
)


def vgg16(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    kernel_quantizer: Any = "adaste",
    input_quantizer: Any = None,
    *,
    width: float = 1.0,
    binarize_first_last: bool = True,
    kernel_initializer: Any = "glorot_uniform",
    kernel_constraint: Any = None,
    activation: str | None = "relu",
    output_batchnorm: bool = True,
    output_activation: str | None = None,
    name: str = "vgg16",
) -> tf.keras.Model:
    """The CIFAR VGG-16 of the official code (15,239,872 parameters for 10 classes).

    Thirteen bias-free 3x3 convolutions (64, 64, 128, 128, 256 x3, 512 x6), each followed by a
    BatchNorm without scale or shift and the activation. After the 2nd, 4th, 7th, 10th and 13th
    convolution a 2x2 max-pool comes *between* the convolution and its BatchNorm, as
    officially. Then Flatten and three bias-free dense layers (512, 512, `num_classes`), the
    first two with BatchNorm and activation, the last with a BatchNorm on the logits.

    Examples:
        >>> model = vgg16((32, 32, 1), 10, "ste_sign", width=0.25, kernel_constraint="weight_clip")
        >>> model.get_layer("conv1").filters, model.output_shape  # 64 channels x 0.25
        (16, (None, 10))

    Args:
        input_shape: (height, width, channels), height and width >= 32 (five 2x2 pools).
            Officially 32x32; at 32 to 63 pixels the flattened features are 512 * `width`.
        num_classes: number of logits, >= 2.
        kernel_quantizer: larq quantizer of the binary kernels, see `mlp`.
        input_quantizer: larq quantizer of the binary layers' inputs, see `mlp`.
        width: multiplier of every layer's width (channels and the 512-unit dense layers),
            > 0; each width is rounded and at least 1. `width=0.25` makes a small VGG for
            benchmarks.
        binarize_first_last: True (official) binarizes every layer; False keeps `conv1` and
            `fc16` full precision.
        kernel_initializer: initializer of the binary kernels, see `mlp`.
        kernel_constraint: constraint of the binary kernels, see `mlp`.
        activation: activation after each hidden BatchNorm, or None for none.
        output_batchnorm: whether the logits go through a BatchNorm (official: yes).
        output_activation: applied to the logits, in float32; None returns logits.
        name: the model's name.

    Returns:
        An uncompiled `tf.keras.Model`.
    """
    owner = "models.vgg16"
    input_shape = _input_shape(input_shape, owner, rank=3, min_size=32)
    num_classes = validation.integer("num_classes", num_classes, minimum=2, owner=owner)
    width = validation.real("width", width, minimum=0.0, strict=True, owner=owner)
    layers = _Layers(
        owner,
        kernel_quantizer,
        input_quantizer,
        kernel_initializer,
        kernel_constraint,
        binarize_first_last,
    )
    _check_head(activation, output_batchnorm, output_activation, name, owner)

    inputs = tf.keras.Input(shape=input_shape)
    x = inputs
    for i, spec in enumerate(_VGG16_CONVS, start=1):
        pool = isinstance(spec, str)
        filters = _scaled(int(spec[1:]) if isinstance(spec, str) else spec, width)
        x = layers.conv(filters, 3, f"conv{i}", position="first" if i == 1 else "middle")(x)
        if pool:
            x = tf.keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
        x = _batch_norm(_CONV_BN, f"bn{i}")(x)
        x = _activation(activation, f"act{i}")(x)
    x = tf.keras.layers.Flatten(name="flatten")(x)
    for i in (14, 15):
        x = layers.dense(_scaled(512, width), f"fc{i}")(x)
        x = _batch_norm(_DENSE_BN, f"bn{i}")(x)
        x = _activation(activation, f"act{i}")(x)
    x = layers.dense(num_classes, "fc16", position="last")(x)
    outputs = _head(x, output_batchnorm, _DENSE_BN, "bn16", output_activation)
    return tf.keras.Model(inputs, outputs, name=name)


def resnet18(
    input_shape: Sequence[int] = (32, 32, 3),
    num_classes: int = 10,
    kernel_quantizer: Any = "adaste",
    input_quantizer: Any = None,
    *,
    width: float = 1.0,
    stem_strides: int | None = None,
    binarize_first_last: bool = True,
    kernel_initializer: Any = "glorot_uniform",
    kernel_constraint: Any = None,
    activation: str | None = "relu",
    output_batchnorm: bool = True,
    output_activation: str | None = None,
    name: str = "resnet18",
) -> tf.keras.Model:
    """The CIFAR ResNet-18 of the official code (11,164,362 parameters for 10 classes).

    A bias-free 3x3 stem (no pooling), then four stages of two basic blocks with 64, 128, 256
    and 512 channels (stages 2-4 start with stride 2). A block is conv3x3 - BN - activation -
    conv3x3 - BN, plus the shortcut (identity, or a 1x1 strided conv and BN where the shape
    changes), then the activation. Then global average pooling, a dense layer *with* bias (as
    officially) and a BatchNorm on the logits. All BatchNorms lack scale and shift. The
    shortcut convolutions count as middle layers: they are binary for both settings of
    `binarize_first_last`.

    Examples:
        >>> model = resnet18((32, 32, 3), 100, "adaste", binarize_first_last=False)
        >>> model.get_layer("linear").kernel_quantizer is None  # the last layer stays real
        True
        >>> model.output_shape
        (None, 100)

    Args:
        input_shape: (height, width, channels).
        num_classes: number of logits, >= 2.
        kernel_quantizer: larq quantizer of the binary kernels, see `mlp`.
        input_quantizer: larq quantizer of the binary layers' inputs, see `mlp`.
        width: multiplier of every stage's channels, > 0 (rounded, at least 1).
        stem_strides: stride of the stem, a positive int; None takes the official rule, 2 for
            64x64 inputs (Tiny ImageNet) and 1 otherwise.
        binarize_first_last: True (official) binarizes every layer (but not the final bias,
            larq has no bias quantizer); False keeps `conv1` and `linear` full precision.
        kernel_initializer: initializer of the binary kernels, see `mlp`.
        kernel_constraint: constraint of the binary kernels, see `mlp`.
        activation: activation of the stem and blocks, or None for none.
        output_batchnorm: whether the logits go through a BatchNorm (official: yes).
        output_activation: applied to the logits, in float32; None returns logits.
        name: the model's name.

    Returns:
        An uncompiled `tf.keras.Model`.
    """
    owner = "models.resnet18"
    input_shape = _input_shape(input_shape, owner, rank=3)
    num_classes = validation.integer("num_classes", num_classes, minimum=2, owner=owner)
    width = validation.real("width", width, minimum=0.0, strict=True, owner=owner)
    if stem_strides is None:
        stem_strides = 2 if input_shape[:2] == (64, 64) else 1
    stem_strides = validation.integer("stem_strides", stem_strides, minimum=1, owner=owner)
    layers = _Layers(
        owner,
        kernel_quantizer,
        input_quantizer,
        kernel_initializer,
        kernel_constraint,
        binarize_first_last,
    )
    _check_head(activation, output_batchnorm, output_activation, name, owner)

    inputs = tf.keras.Input(shape=input_shape)
    x = _strided_conv(layers, inputs, _scaled(64, width), stem_strides, "conv1", "first")
    x = _batch_norm(_CONV_BN, "bn1")(x)
    x = _activation(activation, "act1")(x)
    for stage, channels in enumerate((64, 128, 256, 512), start=1):
        for block in range(2):
            strides = 2 if stage > 1 and block == 0 else 1
            x = _basic_block(
                layers, x, _scaled(channels, width), strides, activation, f"layer{stage}_{block}"
            )
    # Officially `avg_pool2d(out, 4)` on the 4x4 map of 32x32 (or 28x28) inputs, that is a
    # global average; the global form also serves other input sizes.
    x = tf.keras.layers.GlobalAveragePooling2D(name="avgpool")(x)
    x = layers.dense(num_classes, "linear", position="last", use_bias=True)(x)
    outputs = _head(x, output_batchnorm, _DENSE_BN, "bnout", output_activation)
    return tf.keras.Model(inputs, outputs, name=name)


def _basic_block(layers: _Layers, x, channels: int, strides: int, activation, prefix: str):
    shortcut = x
    x = _strided_conv(layers, x, channels, strides, f"{prefix}_conv1", "middle")
    x = _batch_norm(_CONV_BN, f"{prefix}_bn1")(x)
    x = _activation(activation, f"{prefix}_act1")(x)
    x = layers.conv(channels, 3, f"{prefix}_conv2")(x)
    x = _batch_norm(_CONV_BN, f"{prefix}_bn2")(x)
    if strides != 1 or shortcut.shape[-1] != channels:
        # A 1x1 strided conv reads pixels 0, 2, 4, ... with "valid" padding, as PyTorch does.
        shortcut = layers.conv(
            channels, 1, f"{prefix}_shortcut_conv", strides=strides, padding="valid"
        )(shortcut)
        shortcut = _batch_norm(_CONV_BN, f"{prefix}_shortcut_bn")(shortcut)
    x = tf.keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    return _activation(activation, f"{prefix}_act2")(x)


def _strided_conv(layers: _Layers, x, filters: int, strides: int, name: str, position: str):
    """A 3x3 conv with PyTorch's `padding=1`. For stride 1 that is Keras's "same"; for larger
    strides "same" pads only the bottom and right, which shifts the sampled grid by a pixel."""
    if strides == 1:
        return layers.conv(filters, 3, name, position=position)(x)
    x = tf.keras.layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.conv(filters, 3, name, position=position, strides=strides, padding="valid")(x)


def _batch_norm(settings: tuple[float, float], name: str) -> tf.keras.layers.Layer:
    torch_momentum, epsilon = settings
    return tf.keras.layers.BatchNormalization(
        momentum=1.0 - torch_momentum, epsilon=epsilon, center=False, scale=False, name=name
    )


def _activation(activation: str | None, name: str) -> Callable:
    if activation is None:
        return lambda x: x
    return tf.keras.layers.Activation(activation, name=name)


def _head(x, output_batchnorm: bool, bn_settings, bn_name: str, output_activation):
    if output_batchnorm:
        x = _batch_norm(bn_settings, bn_name)(x)
    if output_activation is not None:
        # float32 so a softmax stays accurate under a mixed-precision policy.
        x = tf.keras.layers.Activation(
            output_activation, dtype="float32", name="output_activation"
        )(x)
    return x


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def _input_shape(
    input_shape, owner: str, rank: int | None = None, min_size: int | None = None
) -> tuple[int, ...]:
    """Check a shape without batch axis: positive ints, `rank` of them, spatial >= min_size."""
    ok = (
        isinstance(input_shape, Sequence)
        and not isinstance(input_shape, str)
        and len(input_shape) > 0
        and all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and int(d) >= 1
            for d in input_shape
        )
    )
    wanted = (
        f"a tuple of {rank} positive ints (height, width, channels)"
        if rank
        else "a non-empty tuple of positive ints"
    )
    if not ok or (rank is not None and len(input_shape) != rank):
        raise ValueError(
            f"{owner}: `input_shape` must be {wanted}, without the batch axis; got {input_shape!r}."
        )
    shape = tuple(int(d) for d in input_shape)
    if min_size is not None and min(shape[:2]) < min_size:
        raise ValueError(
            f"{owner}: `input_shape` must have height and width >= {min_size} "
            f"(the network pools by 2 five times); got {input_shape!r}. Pad "
            f"smaller images, e.g. 28x28 to 32x32."
        )
    return shape


def _hidden(hidden, owner: str) -> tuple[int, ...]:
    if isinstance(hidden, str) or not isinstance(hidden, Sequence) or len(hidden) == 0:
        raise ValueError(
            f"{owner}: `hidden` must be a non-empty sequence of positive ints "
            f"(units per hidden layer); got {hidden!r}."
        )
    return tuple(
        validation.integer(f"hidden[{i}]", h, minimum=1, owner=owner) for i, h in enumerate(hidden)
    )


def _quantizer_factory(param: str, identifier, owner: str) -> Callable[[], Any]:
    """Check a larq quantizer identifier now; return a maker of one copy per layer."""
    if identifier is None:
        return lambda: None
    try:
        quantizer = lq.quantizers.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{owner}: `{param}` must be a larq quantizer, its name (one of "
            f"{', '.join(ESTIMATORS)}, ...), a config dict or None; got "
            f"{identifier!r} ({error})."
        ) from error
    if isinstance(identifier, (str, dict)):
        return lambda: identifier  # larq builds a new quantizer for each layer
    if isinstance(quantizer, tf.keras.layers.Layer):
        config = {k: v for k, v in quantizer.get_config().items() if k != "name"}
        return lambda: type(quantizer).from_config(dict(config))
    return lambda: quantizer  # a plain function holds no state


def _initializer_factory(identifier, owner: str) -> Callable[[int], Any]:
    try:
        initializer = tf.keras.initializers.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{owner}: `kernel_initializer` must be a Keras initializer or its "
            f"name; got {identifier!r} ({error})."
        ) from error
    if not hasattr(initializer, "get_config"):
        return lambda index: initializer
    config = initializer.get_config()

    def make(index: int):
        fresh = dict(config)
        if fresh.get("seed") is not None:
            fresh["seed"] = fresh["seed"] + index
        return type(initializer).from_config(fresh)

    return make


def _checked_constraint(identifier, owner: str):
    try:
        tf.keras.constraints.get(identifier)
    except (ValueError, TypeError) as error:
        raise ValueError(
            f"{owner}: `kernel_constraint` must be a Keras constraint, its name "
            f"(such as 'weight_clip') or None; got {identifier!r} ({error})."
        ) from error
    return identifier


def _check_head(activation, output_batchnorm, output_activation, name, owner: str) -> None:
    for param, value in (("activation", activation), ("output_activation", output_activation)):
        if value is None:
            continue
        try:
            tf.keras.activations.get(value)
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"{owner}: `{param}` must be a Keras activation or None; got {value!r} ({error})."
            ) from error
    validation.boolean("output_batchnorm", output_batchnorm, owner=owner)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{owner}: `name` must be a non-empty string; got {name!r}.")
