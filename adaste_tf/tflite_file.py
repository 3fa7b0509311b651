"""The `.tflite` file itself: what it contains, a lossless int8 rewrite of its +-1 weights, and
running it.

Reading and writing go through what TensorFlow ships: `tensorflow.lite.tools.flatbuffer_utils`
(`read_model_from_bytearray`, `convert_object_to_bytearray`) and the schema's object API
(`ModelT`, `TensorT`, ...). `adaste_tf.export` re-exports `inspect` and `to_int8_weights`.

Examples:
    >>> import adaste_tf
    >>> import larq as lq, tensorflow as tf
    >>> from adaste_tf import export, tflite_file
    >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
    ...     lq.layers.QuantDense(64, kernel_quantizer="adaste", use_bias=False)])
    >>> flatbuffer = export.convert(model, engine="tflite")
    >>> tflite_file.inspect(flatbuffer).op_counts
    {'RESHAPE': 1, 'FULLY_CONNECTED': 1}
    >>> tflite_file.inspect(tflite_file.to_int8_weights(flatbuffer)).op_counts
    {'DEQUANTIZE': 1, 'RESHAPE': 1, 'FULLY_CONNECTED': 1}
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterable

from adaste_tf import extras

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.python import schema_util
from tensorflow.lite.tools import flatbuffer_utils

__all__ = [
    "BINARY_OPS",
    "FlatbufferSummary",
    "Op",
    "inspect",
    "predict",
    "read",
    "sign_scale",
    "to_int8_weights",
]

# Ops that run on bitpacked data in Larq Compute Engine; everything else computes in float
# (LceQuantize/LceDequantize only convert between float and bitpacked activations).
BINARY_OPS = ("LceBconv2d", "LceBMaxPool2d")

_IDENTIFIER = b"TFL3"  # bytes 4-8 of every .tflite file
# Weight operand (input 1) of these ops and the axis of their output channels.
_WEIGHT_OPS = {
    schema.BuiltinOperator.FULLY_CONNECTED: 0,
    schema.BuiltinOperator.CONV_2D: 0,
    schema.BuiltinOperator.DEPTHWISE_CONV_2D: 3,
}
# TFLite's own writer starts every buffer on a 16-byte boundary; kernels read floats and LCE's
# bitpacked int32 weights in place. The schema's generated writer aligns to the element, 1 byte.
_BUFFER_ALIGNMENT = 16


# ---------------------------------------------------------------------------------------------
# inspect


@dataclasses.dataclass(frozen=True)
class Op:
    """One operator of a flatbuffer.

    `tensor` is the name of its first output (converters name tensors after the graph,
    `model/layer/...`, truncated); `model_output` whether that output is a model output (then
    the name is often just `StatefulPartitionedCall:0`); `input_tensor` the name of its first
    input; `weight_shape` the shape of its second input, the weights of a convolution or dense
    op (`()` if it has none).
    """

    name: str
    custom: bool
    tensor: str
    model_output: bool = False
    input_tensor: str = ""
    weight_shape: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class FlatbufferSummary:
    """What a `.tflite` file contains: size, ops in execution order, constant bytes by type.

    `op_counts` counts ops by name (`LceBconv2d`, `CONV_2D`, `FULLY_CONNECTED`, ...),
    `constant_bytes` the bytes of constant tensors by element type (`FLOAT32`, `INT8`, and
    `INT32` for LCE's bitpacked binary weights).
    """

    size_bytes: int
    ops: tuple[Op, ...]
    constant_bytes: dict[str, int]

    @property
    def op_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for op in self.ops:
            counts[op.name] = counts.get(op.name, 0) + 1
        return counts

    @property
    def binary_ops(self) -> int:
        """How many ops compute on bitpacked data (`BINARY_OPS`)."""
        return sum(op.name in BINARY_OPS for op in self.ops)

    def table(self) -> str:
        """The op counts, binary ops marked, then the constant bytes by type and the size."""
        width = max([len(name) for name in self.op_counts] + [16])
        lines = [f"{'op':<{width}}  count"]
        for name, count in self.op_counts.items():
            mark = "  <- binary" if name in BINARY_OPS else ""
            lines.append(f"{name:<{width}}  {count:>5}{mark}")
        weights = ", ".join(f"{kind} {size:,} B" for kind, size in self.constant_bytes.items())
        lines.append(f"constant tensors: {weights or 'none'}")
        lines.append(f"file size: {self.size_bytes:,} bytes")
        return "\n".join(lines)

    __str__ = table


def inspect(flatbuffer: bytes | str | os.PathLike) -> FlatbufferSummary:
    """Parse a `.tflite` file (bytes or path): ops, constant bytes by type, size.

    Reads the TFLite schema directly, so Larq Compute Engine's custom ops (`LceBconv2d`,
    `LceQuantize`, ...) are listed by name without loading an interpreter.

    Examples:
        >>> import larq as lq
        >>> from adaste_tf.export import convert
        >>> conv_net = tf.keras.Sequential([tf.keras.Input((16, 16, 1)),
        ...     lq.layers.QuantConv2D(8, 3, kernel_quantizer="adaste", use_bias=False),
        ...     # binary inputs and binary weights: LCE makes it a binary convolution
        ...     lq.layers.QuantConv2D(8, 3, input_quantizer="ste_sign", kernel_quantizer="adaste",
        ...                           use_bias=False)])
        >>> summary = inspect(convert(conv_net, engine="lce"))
        >>> summary.op_counts["LceBconv2d"], summary.binary_ops
        (1, 1)
        >>> print(summary)  # the op table, constant bytes by type, file size
        op                count
        CONV_2D               1
        LceQuantize           1
        LceBconv2d            1  <- binary
        constant tensors: INT32 288 B, FLOAT32 352 B
        file size: ... bytes
    """
    data = read(flatbuffer, "inspect")
    model = flatbuffer_utils.read_model_from_bytearray(data)
    ops: list[Op] = []
    constant_bytes: dict[str, int] = {}
    for s, subgraph in enumerate(model.subgraphs):
        outputs = set(_indices(subgraph.outputs))
        for op in subgraph.operators:
            name, custom = _op_name(model, op.opcodeIndex)
            first = next(iter(_indices(op.outputs)), None)
            inputs = _indices(op.inputs)  # -1: an omitted input
            source = _tensor_name(subgraph, inputs[0]) if inputs else ""
            weights = subgraph.tensors[inputs[1]] if len(inputs) > 1 and inputs[1] >= 0 else None
            weight_shape = () if weights is None else tuple(_indices(weights.shape))
            ops.append(
                Op(
                    name,
                    custom,
                    _tensor_name(subgraph, first),
                    s == 0 and first in outputs,
                    source,
                    weight_shape,
                )
            )
        for tensor in subgraph.tensors:
            size = _size(model.buffers[tensor.buffer])
            if size:
                kind = flatbuffer_utils.type_to_name(tensor.type) or str(tensor.type)
                constant_bytes[kind] = constant_bytes.get(kind, 0) + size
    return FlatbufferSummary(len(data), tuple(ops), constant_bytes)


def read(flatbuffer: bytes | str | os.PathLike, owner: str) -> bytes:
    """The bytes of a `.tflite` file given as bytes or a path; `owner` names the caller in the
    error when they are not a TFLite flatbuffer."""
    if isinstance(flatbuffer, (str, os.PathLike)):
        with open(flatbuffer, "rb") as file:
            flatbuffer = file.read()
    if not isinstance(flatbuffer, (bytes, bytearray)) or flatbuffer[4:8] != _IDENTIFIER:
        shown = type(flatbuffer).__name__
        raise ValueError(
            f"{owner}: `flatbuffer` must be a .tflite file's bytes (as `convert` "
            f"returns) or its path, got {shown} without the TFLite identifier."
        )
    return bytes(flatbuffer)


def _indices(values) -> list[int]:
    """A vector of the object API (a NumPy array, or None where the file omits it) as ints."""
    return [] if values is None else [int(value) for value in values]


def _size(buffer) -> int:
    return 0 if buffer.data is None else len(buffer.data)


def _tensor_name(subgraph, index: int | None) -> str:
    if index is None or index < 0:
        return ""
    return (subgraph.tensors[index].name or b"").decode()


def _op_name(model, index: int) -> tuple[str, bool]:
    """The op's name (a custom op's own, e.g. `LceBconv2d`) and whether it is custom."""
    code = model.operatorCodes[index]
    builtin = schema_util.get_builtin_code_from_operator_code(code)
    if builtin == schema.BuiltinOperator.CUSTOM:
        return code.customCode.decode(), True
    return flatbuffer_utils.opcode_to_name(model, index) or str(builtin), False


# ---------------------------------------------------------------------------------------------
# int8 weights


def to_int8_weights(flatbuffer: bytes | str | os.PathLike) -> bytes:
    """Store every float32 weight that is `sign * scale` in int8 (+-1) with that scale: exact.

    A binary kernel reaches the flatbuffer as +-1 floats, or as +-s per output channel once the
    converter folds a following BatchNormalization into it. Each such weight of a
    FULLY_CONNECTED, CONV_2D or DEPTHWISE_CONV_2D becomes an int8 tensor of +-1 (per-tensor or
    per-channel scale s, zero point 0) and a DEQUANTIZE op, which restores exactly the same
    float32 values (+-1 * s is exact), so the predictions are the float model's. Other tensors,
    and LCE's already bitpacked weights, are left alone. The file shrinks by about 4x when such
    weights dominate it.

    TFLite's own weight quantization (`Optimize.DEFAULT`) is not used: it also quantizes the
    activations at run time (hybrid kernels), so predictions change.

    Examples:
        >>> import larq as lq
        >>> from adaste_tf.export import convert
        >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
        ...     lq.layers.QuantDense(64, kernel_quantizer="adaste", use_bias=False)])
        >>> flatbuffer = convert(model, engine="tflite")
        >>> small = to_int8_weights(flatbuffer)
        >>> len(small) < len(flatbuffer) / 3.5, inspect(small).op_counts["DEQUANTIZE"]
        (True, 1)
    """
    data = read(flatbuffer, "to_int8_weights")
    model = flatbuffer_utils.read_model_from_bytearray(data)
    rewritten: set[int] = set()  # buffers whose float data moved to int8
    for subgraph in model.subgraphs:
        dequantizes = []
        done: set[int] = set()
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            axis = _WEIGHT_OPS.get(schema_util.get_builtin_code_from_operator_code(code))
            inputs = _indices(op.inputs)
            if axis is None or len(inputs) < 2 or inputs[1] in done:
                continue
            dequantize = _int8_weight(model, subgraph, inputs[1], axis, rewritten)
            if dequantize is not None:
                dequantizes.append(dequantize)
                done.add(inputs[1])
        # DEQUANTIZE reads constants only, so running it first keeps the order topological.
        subgraph.operators = dequantizes + list(subgraph.operators)
    if not rewritten:
        return data  # nothing is +-scale: the file is returned as it came
    still_used = {tensor.buffer for subgraph in model.subgraphs for tensor in subgraph.tensors}
    for index in rewritten - still_used:
        model.buffers[index].data = None  # a buffer shared with another tensor is kept
    model.buffers = [
        _AlignedBufferT(buffer.data, buffer.offset, buffer.size) for buffer in model.buffers
    ]
    return flatbuffer_utils.convert_object_to_bytearray(model)


def _int8_weight(model, subgraph, index: int, axis: int, rewritten: set[int]):
    """Rewrite tensor `index` as DEQUANTIZE(int8 tensor); return the op, or None if inexact."""
    tensor = subgraph.tensors[index]
    buffer = model.buffers[tensor.buffer]
    quantized = tensor.quantization is not None and tensor.quantization.scale is not None
    if tensor.type != schema.TensorType.FLOAT32 or quantized or not _size(buffer):
        return None
    shape = _indices(tensor.shape)
    weights = np.asarray(buffer.data, np.uint8).view("<f4").reshape(shape)
    found = sign_scale(weights, [axis, *range(weights.ndim)])
    if found is None:
        return None
    values, scale, found_axis = found

    quantization = schema.QuantizationParametersT()
    quantization.scale = [float(s) for s in scale]
    quantization.zeroPoint = [0] * len(scale)
    quantization.quantizedDimension = 0 if found_axis is None else found_axis
    int8 = schema.TensorT()
    int8.shape, int8.type, int8.quantization = shape, schema.TensorType.INT8, quantization
    int8.name = (tensor.name or b"weight") + b"_int8"
    int8.buffer = _append(model.buffers, _buffer(values.tobytes()))
    rewritten.add(tensor.buffer)
    tensor.buffer = _append(model.buffers, _buffer(None))  # now computed, not constant

    op = schema.OperatorT()
    op.opcodeIndex = _opcode(
        model, schema.BuiltinOperator.DEQUANTIZE, version=2 if found_axis is None else 5
    )  # op_version.cc's numbering
    op.inputs, op.outputs = [_append(subgraph.tensors, int8)], [index]
    return op


def sign_scale(
    weights: np.ndarray, axes: Iterable[int]
) -> tuple[np.ndarray, np.ndarray, int | None] | None:
    """Split `weights` into int8 signs and scales with `weights == signs * scale` exactly.

    One scale for the whole tensor when every |weight| is the same; else one per slice along the
    first of `axes` along which the magnitude is constant ("+-scale per channel").

    Returns:
        `(signs, scale, axis)`: `signs` int8 in {-1, 0, 1} (0 only where a whole slice is 0),
        `scale` float32 of shape `(1,)` (`axis` None) or one per slice along `axis` (an
        all-zero slice gets scale 1); or None when no axis makes it exact.

    Examples:
        >>> weights = np.array([[0.5, -2.0], [-0.5, 2.0]], np.float32)
        >>> signs, scale, axis = sign_scale(weights, axes=[1])
        >>> signs.tolist(), scale.tolist(), axis
        ([[1, -1], [-1, 1]], [0.5, 2.0], 1)
        >>> sign_scale(weights, axes=[0]) is None  # along axis 0 the magnitude varies
        True
    """
    magnitude = np.abs(weights)
    if np.all(magnitude == magnitude.flat[0]):
        axis, scale = None, magnitude.reshape(-1)[:1]
    else:
        for axis in dict.fromkeys(axes):
            moved = np.moveaxis(magnitude, axis, 0).reshape(weights.shape[axis], -1)
            if np.all(moved == moved[:, :1]):
                scale = moved[:, 0]
                break
        else:
            return None
    scale = np.where(scale == 0, 1, scale).astype(np.float32)  # 0 = 0 * any positive scale
    signs = np.sign(weights).astype(np.int8)
    shape = [1] * weights.ndim
    if axis is not None:
        shape[axis] = -1
    if not np.array_equal(signs * scale.reshape(shape), weights):  # NaN, or not exact in f32
        return None
    return signs, scale, axis


def _append(items: list, item) -> int:
    items.append(item)
    return len(items) - 1


def _buffer(data: bytes | None) -> schema.BufferT:
    return schema.BufferT(None if data is None else np.frombuffer(data, np.uint8))


def _opcode(model, builtin: int, version: int) -> int:
    for index, code in enumerate(model.operatorCodes):
        if (
            schema_util.get_builtin_code_from_operator_code(code) == builtin
            and code.version == version
        ):
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # 127 = "look in builtinCode"
    code.version = version
    return _append(model.operatorCodes, code)


class _AlignedBufferT(schema.BufferT):
    """A buffer whose data starts on a 16-byte boundary of the file, as TFLite's writer puts it.

    `Builder.Prep(16, n)` pads so that the n bytes written next end (the builder writes back to
    front) on a 16-byte boundary; the generated `Pack` writes the data vector first, so its
    first byte lands there. `Finish` pads the whole file to the largest alignment used, so
    "from the end" and "from the start" agree.
    """

    def Pack(self, builder):  # noqa: N802 (flatbuffers' name)
        if self.data is not None:
            self.data = np.asarray(self.data, np.uint8)  # the generated Pack's fast path
            builder.Prep(_BUFFER_ALIGNMENT, len(self.data))
        return super().Pack(builder)


# ---------------------------------------------------------------------------------------------
# run


def predict(
    flatbuffer: bytes, inputs: np.ndarray, *, interpreter: str = "tflite", batch_size: int = 256
) -> np.ndarray:
    """Run the file on `inputs` (one input, one output) and return its outputs.

    `interpreter="lce"` runs Larq Compute Engine's interpreter (its ops and plain TFLite, one
    input at a time); `"tflite"` runs `tf.lite.Interpreter` in batches of `batch_size`.

    Examples:
        >>> from adaste_tf.export import convert
        >>> model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
        >>> predict(convert(model, engine="tflite"), np.zeros((5, 3), np.float32)).shape
        (5, 2)
    """
    if interpreter == "lce":
        lce_interpreter = extras.require(
            "larq_compute_engine.tflite.python.interpreter", "predict(interpreter='lce')"
        )
        return np.asarray(lce_interpreter.Interpreter(flatbuffer).predict(inputs), np.float32)
    with warnings.catch_warnings():  # TF 2.21 warns that tf.lite.Interpreter moves to LiteRT
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
        runner = tf.lite.Interpreter(model_content=flatbuffer)
    source, target = runner.get_input_details()[0], runner.get_output_details()[0]
    outputs, allocated = [], None
    for i in range(0, len(inputs), batch_size):
        batch = inputs[i : i + batch_size]
        if batch.shape != allocated:  # the file's batch size is 1; resize once per shape
            runner.resize_tensor_input(source["index"], batch.shape)
            runner.allocate_tensors()
            allocated = batch.shape
        runner.set_tensor(source["index"], batch)
        runner.invoke()
        outputs.append(runner.get_tensor(target["index"]).copy())
    return np.concatenate(outputs)
