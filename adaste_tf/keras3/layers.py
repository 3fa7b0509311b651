"""larq's `QuantDense` and `QuantConv2D` for Keras 3, with larq's argument names.

`kernel_quantizer` quantizes the kernel, `input_quantizer` the layer's input (an activation),
each a name (`"adaste"`, `"ste_sign"`), a quantizer object, a callable or None; every other
argument is Keras's `Dense` or `Conv2D`'s (and larq's `pad_values` for `QuantConv2D`). A larq
model moves here by changing its imports: `lq.layers.QuantDense` becomes
`adaste_tf.keras3.QuantDense`.

Examples:
    >>> import keras
    >>> from adaste_tf import keras3
    >>> layer = keras3.QuantConv2D(8, 3, padding="same", pad_values=1.0,
    ...                            input_quantizer="ste_sign", kernel_quantizer="adaste")
    >>> tuple(layer(keras.ops.ones((2, 6, 6, 3))).shape)
    (2, 6, 6, 8)
"""

from __future__ import annotations

from typing import Any

from adaste_tf import validation
from adaste_tf.keras3 import quantizers

import keras
from keras import ops as kops

__all__ = ["QuantDense", "QuantConv2D"]


def _quantizer_config(quantizer: Any) -> Any:
    return None if quantizer is None else keras.saving.serialize_keras_object(quantizer)


@keras.saving.register_keras_serializable(package=quantizers.PACKAGE)
class QuantDense(keras.layers.Dense):
    """A `Dense` layer whose input and kernel can be quantized (larq's `QuantDense`).

    The kernel is quantized each time the layer runs: with `kernel_quantizer="adaste"` the
    matrix product uses `sign(kernel)` and the kernel (the latent weight) gets AdaSTE's
    gradient. An `input_quantizer` binarizes the input with `ste_sign`'s backward (for AdaSTE
    too: an activation has no latent weight to relax).

    Examples:
        >>> layer = QuantDense(2, kernel_quantizer="adaste", use_bias=False)
        >>> x = keras.ops.ones((1, 3))
        >>> y = layer(x)     # x @ sign(kernel)
        >>> bool(keras.ops.all(y == x @ keras.ops.sign(layer.kernel)))
        True

    Args:
        units: as `keras.layers.Dense`.
        input_quantizer: quantizer of the input: a name, an object, a callable or None.
        kernel_quantizer: quantizer of the kernel, likewise.
        **kwargs: the other arguments of `keras.layers.Dense` (`activation`, `use_bias`,
            `kernel_initializer`, ...).
    """

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        **kwargs,
    ):
        super().__init__(units, activation=activation, use_bias=use_bias, **kwargs)
        owner = type(self).__name__
        self.input_quantizer = quantizers.get(input_quantizer, owner=owner, name="input_quantizer")
        self.kernel_quantizer = quantizers.get(
            kernel_quantizer, owner=owner, name="kernel_quantizer"
        )

    def call(self, inputs, training=None):
        inputs = quantizers.quantize(self.input_quantizer, inputs, activation=True)
        kernel = quantizers.quantize(self.kernel_quantizer, self.kernel, activation=False)
        x = kops.matmul(inputs, kernel)
        if self.bias is not None:
            x = kops.add(x, self.bias)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def get_config(self):
        return {
            **super().get_config(),
            "input_quantizer": _quantizer_config(self.input_quantizer),
            "kernel_quantizer": _quantizer_config(self.kernel_quantizer),
        }


@keras.saving.register_keras_serializable(package=quantizers.PACKAGE)
class QuantConv2D(keras.layers.Conv2D):
    """A `Conv2D` layer whose input and kernel can be quantized (larq's `QuantConv2D`).

    `pad_values` is larq's: with `padding="same"` the input is padded with this value instead
    of zeros (1.0 or -1.0 keep a binary input binary, as Larq Compute Engine's binary
    convolutions pad).

    Examples:
        >>> layer = QuantConv2D(4, 3, kernel_quantizer="adaste", input_quantizer="adaste")
        >>> tuple(layer(keras.ops.ones((1, 5, 5, 2))).shape)
        (1, 3, 3, 4)

    Args:
        filters: as `keras.layers.Conv2D`.
        kernel_size: as `keras.layers.Conv2D`.
        strides: as `keras.layers.Conv2D`.
        padding: `"valid"` or `"same"`, as `keras.layers.Conv2D`.
        pad_values: the value `"same"` padding pads with, finite (larq's default 0.0).
        input_quantizer: quantizer of the input: a name, an object, a callable or None.
        kernel_quantizer: quantizer of the kernel, likewise.
        **kwargs: the other arguments of `keras.layers.Conv2D` (`data_format`,
            `dilation_rate`, `groups`, `activation`, `use_bias`, `kernel_initializer`, ...).
    """

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = (1, 1),
        padding: str = "valid",
        pad_values: float = 0.0,
        input_quantizer: Any = None,
        kernel_quantizer: Any = None,
        **kwargs,
    ):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, **kwargs)
        owner = type(self).__name__
        self.pad_values = validation.real("pad_values", pad_values, owner=owner)
        self.input_quantizer = quantizers.get(input_quantizer, owner=owner, name="input_quantizer")
        self.kernel_quantizer = quantizers.get(
            kernel_quantizer, owner=owner, name="kernel_quantizer"
        )

    def _pads_itself(self) -> bool:
        return self.padding == "same" and self.pad_values != 0.0

    def _pad(self, inputs):
        """`inputs` padded with `pad_values` as `"same"` pads with zeros (more after than before
        when the total is odd)."""
        spatial = range(1, 3) if self.data_format == "channels_last" else range(2, 4)
        pads = [[0, 0] for _ in range(4)]
        for axis, size, kernel, stride, dilation in zip(
            spatial,
            (inputs.shape[i] for i in spatial),
            self.kernel_size,
            self.strides,
            self.dilation_rate,
        ):
            out = -(-size // stride)
            total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
            pads[axis] = [total // 2, total - total // 2]
        return kops.pad(inputs, pads, constant_values=self.pad_values)

    def convolution_op(self, inputs, kernel):
        kernel = quantizers.quantize(self.kernel_quantizer, kernel, activation=False)
        if not self._pads_itself():
            return super().convolution_op(inputs, kernel)
        return kops.conv(
            self._pad(inputs),
            kernel,
            strides=list(self.strides),
            padding="valid",
            dilation_rate=self.dilation_rate,
            data_format=self.data_format,
        )

    def call(self, inputs):
        return super().call(quantizers.quantize(self.input_quantizer, inputs, activation=True))

    def get_config(self):
        return {
            **super().get_config(),
            "pad_values": self.pad_values,
            "input_quantizer": _quantizer_config(self.input_quantizer),
            "kernel_quantizer": _quantizer_config(self.kernel_quantizer),
        }
