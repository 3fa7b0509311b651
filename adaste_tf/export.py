"""Deploy a binary network: convert it, check the converted model predicts what Keras predicts,
and see what actually became binary.

Example:
    >>> import adaste_tf
    >>> import larq as lq, numpy as np, tensorflow as tf
    >>> from adaste_tf import export
    >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
    ...     lq.layers.QuantDense(64, kernel_quantizer="adaste", use_bias=False, name="hidden"),
    ...     lq.layers.QuantDense(10, kernel_quantizer="adaste", name="logits")])
    >>> x_test = np.random.default_rng(0).random((100, 28, 28), np.float32)
    >>> flatbuffer = export.convert(model, engine="lce")       # bytes of a .tflite file
    >>> print(export.inspect(flatbuffer))                       # op table and size
    op                count
    RESHAPE               1
    FULLY_CONNECTED       2
    constant tensors: FLOAT32 203,264 B, INT32 8 B
    file size: ... bytes
    >>> print(export.verify(model, flatbuffer, x_test))         # parity with Keras
    tf.lite.Interpreter vs Keras on 100 inputs: max |diff| ..., argmax agrees on 100/100
    >>> small = export.to_int8_weights(flatbuffer)               # +-1 weights stored in int8
    >>> sorted(export.binary_weights(model))                     # "where are my binary weights?"
    ['hidden/kernel', 'logits/kernel']

Two engines: `"lce"` (Larq Compute Engine: convolutions with binary inputs *and* binary weights
become `LceBconv2d`) and `"tflite"` (the stock TFLite converter: every layer stays float).
Binary-weight, real-activation layers (the AdaSTE paper's setting) stay float32 in both, 32 bits
per +-1 weight; `to_int8_weights` stores those weights in int8, exactly, for a ~4x smaller file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import flatbuffers
import larq as lq
import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema

from adaste_tf import validation

__all__ = [
    "ENGINES",
    "BINARY_OPS",
    "BinaryWeight",
    "ConversionError",
    "FlatbufferSummary",
    "Op",
    "ParityReport",
    "binary_weights",
    "convert",
    "inspect",
    "to_int8_weights",
    "verify",
]

ENGINES = ("lce", "tflite")

# Ops that run on bitpacked data in Larq Compute Engine; everything else computes in float
# (LceQuantize/LceDequantize only convert between float and bitpacked activations).
BINARY_OPS = ("LceBconv2d", "LceBMaxPool2d")

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
_TYPE_NAMES = {code: name for name, code in vars(schema.TensorType).items()
               if not name.startswith("_")}
_IDENTIFIER = b"TFL3"
# Weight operand (input 1) of these ops and the axis of their output channels.
_WEIGHT_OPS = {
    schema.BuiltinOperator.FULLY_CONNECTED: 0,
    schema.BuiltinOperator.CONV_2D: 0,
    schema.BuiltinOperator.DEPTHWISE_CONV_2D: 3,
}


class ConversionError(ValueError):
    """A model cannot be deployed as asked; `layers` names the layers at fault, `ops` the ops."""

    def __init__(self, message: str, layers: Sequence[str] = (), ops: Sequence[str] = ()):
        super().__init__(message)
        self.layers = tuple(layers)
        self.ops = tuple(ops)


# ---------------------------------------------------------------------------------------------
# convert


def convert(model: tf.keras.Model, engine: str = "lce", *, int8_weights: bool = False,
            strict: bool = True) -> bytes:
    """Convert a trained Keras/Larq model to the bytes of a `.tflite` file.

    Both engines convert from a SavedModel of `model`, with no fallback: if conversion fails, or
    produces an op the interpreter cannot run (a custom or Flex op, e.g. from a `tf.py_function`),
    a `ConversionError` names the layer. Models with a mixed-precision policy are cloned to
    float32 first (TFLite does not take float16 compute), with the same weights.

    Args:
        model: a Sequential or functional Keras model (AdaSTE or any Larq quantizer).
        engine: `"lce"` (Larq Compute Engine) or `"tflite"` (the stock TFLite converter).
        int8_weights: store weights that are +-1 (per output channel, up to a scale) in int8;
            see `to_int8_weights`.
        strict: with `engine="lce"`, raise if a `QuantConv2D` with binary inputs and binary
            weights did not become an `LceBconv2d` (with `strict=False`: a warning).

    Returns:
        The flatbuffer, ready for `open(path, "wb").write(...)`.

    Raises:
        TypeError: `model` is not a Keras model.
        ConversionError: a layer cannot be converted, or (strict) did not become binary.

    Example:
        >>> import os, tempfile
        >>> import larq as lq
        >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
        ...                              lq.layers.QuantDense(10, kernel_quantizer="adaste")])
        >>> flatbuffer = convert(model, engine="lce")
        >>> path = os.path.join(tempfile.mkdtemp(), "model.tflite")
        >>> with open(path, "wb") as file:
        ...     _ = file.write(flatbuffer)
        >>> inspect(path).op_counts["FULLY_CONNECTED"]
        1
    """
    engine = validation.choice("engine", engine, ENGINES, owner="convert")
    int8_weights = validation.boolean("int8_weights", int8_weights, owner="convert")
    strict = validation.boolean("strict", strict, owner="convert")
    _check_model(model, "convert")
    _check_input_signature(model)
    if _is_mixed_precision(model):
        model = _float32_clone(model)

    with tempfile.TemporaryDirectory() as saved_model_dir:
        model.save(saved_model_dir, save_format="tf", include_optimizer=False)
        try:
            if engine == "lce":
                import larq_compute_engine as lce

                # Not `lce.convert_keras_model`: it silently retries another route on failure.
                flatbuffer = lce.convert_saved_model(saved_model_dir)
            else:
                flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert()
        except Exception as error:  # the converters raise several types; all mean "cannot"
            raise _conversion_error(model, engine, str(error)) from error

    summary = inspect(flatbuffer)
    _check_no_foreign_ops(model, engine, summary)
    if engine == "lce":
        _check_binarized(model, summary, strict)
    return to_int8_weights(flatbuffer) if int8_weights else flatbuffer


def _check_model(model, owner: str) -> None:
    if not isinstance(model, tf.keras.Model):
        raise TypeError(f"{owner}: `model` must be a tf.keras.Model (legacy Keras, as larq "
                        f"uses), got {type(model).__name__}.")


def _check_input_signature(model: tf.keras.Model) -> None:
    """Raise, with the fix, if Keras does not know the input signature to save `model` with.

    Both engines convert from a SavedModel, which needs the model's input signature. Keras
    records it when the model is called on data (or has `tf.keras.Input`s); a subclassed model
    that was only `build()`-ed has weights but no signature, and `model.save` would fail deep
    inside Keras with "input shape is not available".
    """
    if not model.built:
        raise ValueError(f"convert: model {model.name!r} is not built, so it has no input "
                         f"shape to convert for. Give its first layer an input_shape (or use "
                         f"tf.keras.Input), or call it on a batch first.")
    if model.save_spec() is None:
        raise ConversionError(
            f"convert: model {model.name!r} ({type(model).__name__}) was built with build() "
            f"but never called on data, so Keras has no input signature to convert it with. "
            f"Fix: call it once on a batch first, e.g. `model({_zeros_batch(model)})` or "
            f"`model.predict(x[:1])`, then convert.")


def _zeros_batch(model: tf.keras.Model) -> str:
    """`tf.zeros(...)` of one example of the shape `model` was built for, as code to show."""
    # What build() was given; not a public attribute, so fall back to a placeholder.
    shape = getattr(model, "_build_input_shape", None)
    try:
        dims = tuple(tf.TensorShape(shape).as_list()[1:])
    except (TypeError, ValueError):  # None, or several inputs
        return "x[:1]"
    if None in dims:
        return "x[:1]"
    return f"tf.zeros({(1, *dims)})"


def _layer_paths(model: tf.keras.Model, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """`(path, layer)` for every layer; a nested model's layers get `outer/inner` paths."""
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        yield path, layer
        if isinstance(layer, tf.keras.Model):
            yield from _layer_paths(layer, path + "/")


def _layers(model: tf.keras.Model) -> Iterator[Any]:
    """Every layer, nested models' layers included (the nested model itself too)."""
    return (layer for _, layer in _layer_paths(model))


def _is_mixed_precision(model: tf.keras.Model) -> bool:
    return any(layer.compute_dtype in ("float16", "bfloat16")
               for layer in (model, *_layers(model)))


def _float32_clone(model: tf.keras.Model) -> tf.keras.Model:
    """The same architecture and weights with every mixed dtype policy replaced by float32."""
    try:
        config = model.get_config()
    except NotImplementedError as error:
        raise ConversionError(
            f"convert: model {model.name!r} uses a mixed-precision policy and is a subclassed "
            f"model, which cannot be cloned to float32 from its config. Rebuild it under "
            f"tf.keras.mixed_precision.set_global_policy('float32'), load the weights, and "
            f"convert that.") from error
    previous = tf.keras.mixed_precision.global_policy()
    # Layers whose config has no dtype take the global policy, so build the clone under float32.
    tf.keras.mixed_precision.set_global_policy("float32")
    try:
        clone = type(model).from_config(_float32_config(config))
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
    clone.set_weights(model.get_weights())
    return clone


def _float32_config(config):
    """`config` with every `"dtype"` entry naming a 16-bit policy or dtype set to `"float32"`."""
    if isinstance(config, dict):
        return {key: "float32" if key == "dtype" and _names_16_bits(value)
                else _float32_config(value) for key, value in config.items()}
    if isinstance(config, (list, tuple)):
        return type(config)(_float32_config(value) for value in config)
    return config


def _names_16_bits(value) -> bool:
    if isinstance(value, dict):  # a serialized Policy: {"class_name": "Policy", "config": {...}}
        value = value.get("config", {}).get("name", "")
    # "mixed_float16" policies, and the "float16" dtype that a nested model's InputLayer gets.
    return isinstance(value, str) and (value.startswith("mixed_")
                                       or value in ("float16", "bfloat16"))


def _layers_named_in(model: tf.keras.Model, text: str) -> list[str]:
    """The layers whose names appear as a component of the op/tensor paths in `text`.

    Converters name ops and tensors after the TF graph: `model/layer/Op;model/layer/Op2`.
    """
    names = {layer.name for layer in _layers(model)} - {model.name}
    found = []
    for path in re.split(r"[;\s\"'@,()\[\]]+", text):
        # The deepest known name in a path is the layer (outer names are nested models).
        matches = [part for part in path.split("/") if part in names]
        if matches and matches[-1] not in found:
            found.append(matches[-1])
    return found


def _op_layers(model: tf.keras.Model, op: Op) -> list[str]:
    """The layer(s) an op of the converted model comes from, as far as the names tell."""
    named = _layers_named_in(model, op.tensor)
    if not named and op.model_output and len(model.outputs or ()) == 1 and model.output_names:
        named = list(model.output_names)  # the op computing the model's output
    return named


def _conversion_error(model: tf.keras.Model, engine: str, message: str) -> ConversionError:
    ops = sorted(set(re.findall(r"'(?:tf|tfl)\.(\w+)' op", message)))
    errors = [line.strip() for line in message.splitlines() if "error" in line.lower()]
    layers = _layers_named_in(model, "\n".join(errors) or message)
    where = (f"layer(s) {', '.join(map(repr, layers))}" if layers
             else "a layer the converter's message does not name")
    what = f" (unsupported op(s): {', '.join(ops)})" if ops else ""
    first = errors[0] if errors else (message.strip().splitlines() or [""])[0]
    # MLIR prefixes each error with its location, `...error: loc(callsite(...)): what`.
    first = re.sub(r"^.*?error:\s*(loc\(.*\)\):\s*)?", "", first)
    return ConversionError(
        f"convert(engine={engine!r}): model {model.name!r} cannot be converted: {where}"
        f"{what}. Replace the layer with TF ops that TFLite supports (no tf.py_function, no "
        f"Python-side code). Converter said: {first[:500]}", layers, ops)


def _check_no_foreign_ops(model: tf.keras.Model, engine: str, summary: FlatbufferSummary):
    # LCE's converter emits an unknown op as a custom op and returns normally; the interpreter
    # then fails to load the file. Catch it here, where the model and its layer names are known.
    foreign = [op for op in summary.ops
               if op.custom and not (engine == "lce" and op.name.startswith("Lce"))]
    if not foreign:
        return
    ops = sorted({op.name for op in foreign})
    layers = list(dict.fromkeys(name for op in foreign for name in _op_layers(model, op)))
    where = (f"layer(s) {', '.join(map(repr, layers))}" if layers
             else "layers the converter did not name")
    raise ConversionError(
        f"convert(engine={engine!r}): model {model.name!r} converted to op(s) that no stock "
        f"interpreter can run: {', '.join(ops)}, from {where}. Replace the layer with TF ops "
        f"that TFLite supports (no tf.py_function, no Python-side code).", layers, ops)


def _bconv_filter_shape(layer) -> tuple[int, ...]:
    """LceBconv2d's filter: (out, kh, kw, in / 32 rounded up), the input channels bitpacked."""
    kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
    return (cout, kh, kw, -(-cin // 32))


def _expects_bconv(layer) -> bool:
    """LCE turns a QuantConv2D into `LceBconv2d` when its inputs and its weights are binary."""
    return (isinstance(layer, lq.layers.QuantConv2D)
            and getattr(layer.input_quantizer, "precision", None) == 1
            and getattr(layer.kernel_quantizer, "precision", None) == 1)


def _check_binarized(model: tf.keras.Model, summary: FlatbufferSummary, strict: bool) -> None:
    expected = {layer.name: _bconv_filter_shape(layer)
                for layer in _layers(model) if _expects_bconv(layer)}
    n_expected = len(expected)
    # Match layers to LceBconv2d ops by filter shape, then by name where shapes repeat: a
    # bconv's bitpacked input comes from the layer's own input quantizer, `model/layer/ste_sign`
    # (its output is often named after the next layer, whose sign the converter fused into it).
    unmatched = [op for op in summary.ops if op.name == "LceBconv2d"]
    for by_name in (True, False):
        for name, shape in list(expected.items()):
            for op in unmatched:
                if op.weight_shape == shape and (
                        not by_name or name in _layers_named_in(model, op.input_tensor)):
                    unmatched.remove(op)
                    del expected[name]
                    break
    missing = list(expected)
    if not missing:
        return
    got = {name: list(dict.fromkeys(op.name for op in summary.ops  # in execution order
                                    if name in _op_layers(model, op))) for name in missing}
    detail = "; ".join(f"{name!r} became {', '.join(ops) or 'ops the converter did not name'}"
                       for name, ops in got.items())
    message = (
        f"convert(engine='lce'): {len(missing)} of the {n_expected} QuantConv2D layer(s) of "
        f"model {model.name!r} with binary inputs and binary weights did not become "
        f"LceBconv2d: {detail}. LCE binarizes a convolution only when its input_quantizer "
        f"is one it recognizes (larq's sign-based ones, such as 'ste_sign', and 'adaste'); other "
        f"ways of computing a sign stay float. "
        f"Pass strict=False to accept the float convolution.")
    if strict:
        raise ConversionError(message, missing, ("LceBconv2d",))
    warnings.warn(message, stacklevel=3)


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

    Example:
        >>> import larq as lq
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
    data = _read_flatbuffer(flatbuffer, "inspect")
    model = schema.Model.GetRootAs(data, 0)
    ops, constant_bytes = [], {}
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        outputs = {subgraph.Outputs(j) for j in range(subgraph.OutputsLength())}
        for i in range(subgraph.OperatorsLength()):
            op = subgraph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            # Codes < 127 live in the deprecated int8 field; read both (the schema's rule).
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            custom = builtin == schema.BuiltinOperator.CUSTOM
            name = code.CustomCode().decode() if custom else _OP_NAMES.get(builtin, str(builtin))
            first = op.Outputs(0) if op.OutputsLength() else None
            output = subgraph.Tensors(first).Name().decode() if first is not None else ""
            inputs = [op.Inputs(j) for j in range(op.InputsLength())]  # -1: an omitted input
            source = subgraph.Tensors(inputs[0]).Name().decode() \
                if inputs and inputs[0] >= 0 else ""
            weights = subgraph.Tensors(inputs[1]) if len(inputs) > 1 and inputs[1] >= 0 else None
            weight_shape = () if weights is None else \
                tuple(weights.Shape(k) for k in range(weights.ShapeLength()))
            ops.append(Op(name, custom, output, s == 0 and first in outputs, source,
                          weight_shape))
        for t in range(subgraph.TensorsLength()):
            tensor = subgraph.Tensors(t)
            size = model.Buffers(tensor.Buffer()).DataLength()
            if size:
                kind = _TYPE_NAMES.get(tensor.Type(), str(tensor.Type()))
                constant_bytes[kind] = constant_bytes.get(kind, 0) + size
    return FlatbufferSummary(len(data), tuple(ops), constant_bytes)


def _read_flatbuffer(flatbuffer, owner: str) -> bytes:
    if isinstance(flatbuffer, (str, os.PathLike)):
        with open(flatbuffer, "rb") as file:
            flatbuffer = file.read()
    if not isinstance(flatbuffer, (bytes, bytearray)) or flatbuffer[4:8] != _IDENTIFIER:
        shown = type(flatbuffer).__name__
        raise ValueError(f"{owner}: `flatbuffer` must be a .tflite file's bytes (as `convert` "
                         f"returns) or its path, got {shown} without the TFLite identifier.")
    return bytes(flatbuffer)


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

    Example:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
        ...     lq.layers.QuantDense(64, kernel_quantizer="adaste", use_bias=False)])
        >>> flatbuffer = convert(model, engine="tflite")
        >>> small = to_int8_weights(flatbuffer)
        >>> len(small) < len(flatbuffer) / 3.5, inspect(small).op_counts["DEQUANTIZE"]
        (True, 1)
    """
    data = _read_flatbuffer(flatbuffer, "to_int8_weights")
    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    rewritten: set[int] = set()  # buffers whose float data moved to int8
    for subgraph in model.subgraphs:
        dequantizes = []
        done: set[int] = set()
        for op in subgraph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            axis = _WEIGHT_OPS.get(max(code.builtinCode, code.deprecatedBuiltinCode))
            if axis is None or len(op.inputs) < 2 or op.inputs[1] in done:
                continue
            dequantize = _int8_weight(model, subgraph, op.inputs[1], axis, rewritten)
            if dequantize is not None:
                dequantizes.append(dequantize)
                done.add(op.inputs[1])
        # DEQUANTIZE reads constants only, so running it first keeps the order topological.
        subgraph.operators = dequantizes + list(subgraph.operators)
    if not rewritten:
        return data  # nothing is +-scale: the file is returned as it came
    still_used = {tensor.buffer for subgraph in model.subgraphs for tensor in subgraph.tensors}
    for index in rewritten - still_used:
        model.buffers[index].data = None  # a buffer shared with another tensor is kept
    return _pack(model)


def _int8_weight(model, subgraph, index: int, axis: int, rewritten: set[int]):
    """Rewrite tensor `index` as DEQUANTIZE(int8 tensor); return the op, or None if inexact."""
    tensor = subgraph.tensors[index]
    buffer = model.buffers[tensor.buffer]
    quantized = tensor.quantization is not None and tensor.quantization.scale is not None
    if tensor.type != schema.TensorType.FLOAT32 or quantized or buffer.data is None \
            or len(buffer.data) == 0:
        return None
    weights = np.frombuffer(np.asarray(buffer.data, np.uint8).tobytes(), "<f4")
    weights = weights.reshape(tensor.shape)
    scale, axis = _sign_scale(weights, axis)
    if scale is None:
        return None
    shape = [1] * weights.ndim
    if axis is not None:
        shape[axis] = -1
    values = np.sign(weights).astype(np.int8)  # +-1, and 0 only where a whole channel is 0
    if not np.array_equal(values * scale.reshape(shape), weights):  # keep only exact rewrites
        return None

    quantization = schema.QuantizationParametersT()
    quantization.scale = [float(s) for s in scale]
    quantization.zeroPoint = [0] * len(scale)
    quantization.quantizedDimension = 0 if axis is None else axis
    int8 = schema.TensorT()
    int8.shape, int8.type, int8.quantization = list(tensor.shape), schema.TensorType.INT8, \
        quantization
    int8.name = (tensor.name or b"weight") + b"_int8"
    int8.buffer = _append(model.buffers, _buffer(values.tobytes()))
    rewritten.add(tensor.buffer)
    tensor.buffer = _append(model.buffers, _buffer(None))  # now computed, not constant

    op = schema.OperatorT()
    op.opcodeIndex = _opcode(model, schema.BuiltinOperator.DEQUANTIZE,
                             version=2 if axis is None else 5)  # op_version.cc's numbering
    op.inputs, op.outputs = [_append(subgraph.tensors, int8)], [index]
    return op


def _sign_scale(weights: np.ndarray, axis: int):
    """Scale(s) s with `weights == sign(weights) * s`: one, or one per slice along an axis.

    Returns `(scale, None)` for one scale, `(scales, axis)` for per-channel scales, `(None,
    None)` when no axis works. The op's output-channel axis is tried first; BatchNormalization
    folded into the weights makes the scale vary along it.
    """
    magnitude = np.abs(weights)
    if np.all(magnitude == magnitude.flat[0]):
        return np.array([magnitude.flat[0] or 1.0], np.float32), None
    for candidate in dict.fromkeys([axis, *range(weights.ndim)]):
        moved = np.moveaxis(magnitude, candidate, 0).reshape(weights.shape[candidate], -1)
        if np.all(moved == moved[:, :1]):
            scale = moved[:, 0].copy()
            scale[scale == 0] = 1.0  # an all-zero channel: q = 0 with any positive scale
            return scale.astype(np.float32), candidate
    return None, None


def _append(items: list, item) -> int:
    items.append(item)
    return len(items) - 1


def _buffer(data: bytes | None):
    buffer = _AlignedBufferT()
    buffer.data = None if data is None else np.frombuffer(data, np.uint8)
    return buffer


def _opcode(model, builtin: int, version: int) -> int:
    for index, code in enumerate(model.operatorCodes):
        if (max(code.builtinCode, code.deprecatedBuiltinCode) == builtin
                and code.version == version):
            return index
    code = schema.OperatorCodeT()
    code.builtinCode = builtin
    code.deprecatedBuiltinCode = min(builtin, 127)  # 127 = "look in builtinCode"
    code.version = version
    return _append(model.operatorCodes, code)


class _AlignedBufferT(schema.BufferT):
    """A buffer whose data is 16-byte aligned in the file, as TFLite's own writer aligns it
    (the generated `Pack` aligns to the element size, 1 byte; kernels read floats and LCE's
    bitpacked int32 weights in place)."""

    def Pack(self, builder):  # noqa: N802 (flatbuffers' name)
        data = None
        if self.data is not None:
            payload = np.asarray(self.data, np.uint8).tobytes()
            builder.StartVector(1, len(payload), 16)
            builder.head -= len(payload)
            builder.Bytes[builder.head:builder.head + len(payload)] = payload
            data = builder.EndVector()
        schema.BufferStart(builder)
        if data is not None:
            schema.BufferAddData(builder, data)
        schema.BufferAddOffset(builder, self.offset)
        schema.BufferAddSize(builder, self.size)
        return schema.BufferEnd(builder)


def _pack(model) -> bytes:
    for i, buffer in enumerate(model.buffers):
        if not isinstance(buffer, _AlignedBufferT):
            aligned = _AlignedBufferT()
            aligned.data, aligned.offset, aligned.size = buffer.data, buffer.offset, buffer.size
            model.buffers[i] = aligned
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=_IDENTIFIER)
    return bytes(builder.Output())


# ---------------------------------------------------------------------------------------------
# verify


@dataclasses.dataclass(frozen=True)
class ParityReport:
    """How closely a converted model reproduces Keras on `n` inputs.

    `max_abs_diff` is the largest |tflite - keras| over all outputs; `max_rel_diff` divides it by
    the largest |keras| output (float32 rounding grows with the outputs' size);
    `argmax_agreement` is the fraction of inputs whose argmax (predicted class) agrees.
    """

    n: int
    max_abs_diff: float
    max_rel_diff: float
    argmax_agreement: float
    interpreter: str

    @property
    def argmax_mismatches(self) -> int:
        return round((1.0 - self.argmax_agreement) * self.n)

    def ok(self, atol: float = 1e-4) -> bool:
        """Every argmax agrees and no output differs by more than `atol`."""
        return self.argmax_mismatches == 0 and self.max_abs_diff <= atol

    def __str__(self) -> str:
        return (f"{self.interpreter} vs Keras on {self.n} inputs: max |diff| "
                f"{self.max_abs_diff:.3g} (relative {self.max_rel_diff:.3g}), argmax agrees on "
                f"{self.n - self.argmax_mismatches}/{self.n}")


def verify(model: tf.keras.Model, flatbuffer: bytes | str | os.PathLike, inputs: np.ndarray,
           *, interpreter: str = "auto", batch_size: int = 256) -> ParityReport:
    """Run the converted model and Keras on the same `inputs`; compare the outputs.

    Args:
        model: the Keras model that was converted (one input, one output).
        flatbuffer: what `convert` returned, or a `.tflite` path.
        inputs: a batch, shape `(n, *model.input_shape[1:])`.
        interpreter: `"lce"` (Larq Compute Engine's interpreter, which runs LCE's ops and
            plain TFLite), `"tflite"` (`tf.lite.Interpreter`) or `"auto"`: LCE's when the
            flatbuffer contains LCE ops, else TFLite's.
        batch_size: Keras and TFLite batch size (LCE's interpreter runs one input at a time).

    Example:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
        ...                              lq.layers.QuantDense(10, kernel_quantizer="adaste")])
        >>> x_test = np.random.default_rng(0).random((1000, 28, 28), np.float32)
        >>> report = verify(model, convert(model), x_test)
        >>> report.argmax_agreement, report.max_rel_diff < 1e-5
        (1.0, True)
    """
    _check_model(model, "verify")
    interpreter = validation.choice("interpreter", interpreter, ("auto", "lce", "tflite"),
                                    owner="verify")
    batch_size = validation.integer("batch_size", batch_size, minimum=1, owner="verify")
    data = _read_flatbuffer(flatbuffer, "verify")
    if model.inputs is not None and (len(model.inputs) != 1 or len(model.outputs) != 1):
        raise ValueError(f"verify: model {model.name!r} has {len(model.inputs)} inputs and "
                         f"{len(model.outputs)} outputs; verify compares one-input, one-output "
                         f"models.")
    inputs = np.asarray(inputs, np.float32)
    # A subclassed model has no input_shape: then the interpreter checks the shape.
    expected = tuple(model.input_shape[1:]) if model.inputs is not None else inputs.shape[1:]
    if inputs.ndim != len(expected) + 1 or inputs.shape[1:] != expected or not len(inputs):
        raise ValueError(f"verify: `inputs` must be a non-empty batch of shape (n, "
                         f"{', '.join(map(str, expected))}) for model {model.name!r}, got "
                         f"shape {inputs.shape}.")
    if interpreter == "auto":
        interpreter = "lce" if any(op.name.startswith("Lce") for op in inspect(data).ops) \
            else "tflite"

    keras_out = np.concatenate([
        np.asarray(model(inputs[i:i + batch_size], training=False), np.float32)
        for i in range(0, len(inputs), batch_size)])
    if interpreter == "lce":
        from larq_compute_engine.tflite.python.interpreter import Interpreter

        lite_out = np.asarray(Interpreter(data).predict(inputs), np.float32)
    else:
        lite_out = _tflite_predict(data, inputs, batch_size)
    lite_out = lite_out.reshape(keras_out.shape)

    diff = float(np.max(np.abs(lite_out - keras_out)))
    scale = float(np.max(np.abs(keras_out))) or 1.0
    agree = np.argmax(lite_out.reshape(len(inputs), -1), axis=1) == np.argmax(
        keras_out.reshape(len(inputs), -1), axis=1)
    name = "LCE interpreter" if interpreter == "lce" else "tf.lite.Interpreter"
    return ParityReport(len(inputs), diff, diff / scale, float(np.mean(agree)), name)


def _tflite_predict(data: bytes, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    with warnings.catch_warnings():  # TF 2.21 warns that tf.lite.Interpreter moves to LiteRT
        warnings.filterwarnings("ignore", message=r".*tf\.lite\.Interpreter is deprecated")
        runner = tf.lite.Interpreter(model_content=data)
    source, target = runner.get_input_details()[0], runner.get_output_details()[0]
    outputs, allocated = [], None
    for i in range(0, len(inputs), batch_size):
        batch = inputs[i:i + batch_size]
        if batch.shape != allocated:  # the file's batch size is 1; resize once per shape
            runner.resize_tensor_input(source["index"], batch.shape)
            runner.allocate_tensors()
            allocated = batch.shape
        runner.set_tensor(source["index"], batch)
        runner.invoke()
        outputs.append(runner.get_tensor(target["index"]).copy())
    return np.concatenate(outputs)


# ---------------------------------------------------------------------------------------------
# binary weights


@dataclasses.dataclass(frozen=True)
class BinaryWeight:
    """The deployed values of one binary weight.

    `values` are the +-1 weights as int8, in the Keras kernel's shape and layout (e.g.
    `(in, out)` for Dense, `(h, w, in, out)` for Conv2D). `packed` is
    `np.packbits(values.ravel() > 0)`: one bit per weight, 1 for +1, 0 for -1, C order,
    most significant bit first; `unpack()` inverts it. `scale` is `None` for +-1 quantizers
    and the per-output-channel magnitude for scaled ones (e.g. larq's `magnitude_aware_sign`).
    """

    layer: str
    name: str
    shape: tuple[int, ...]
    values: np.ndarray
    packed: bytes
    scale: np.ndarray | None = None

    def unpack(self) -> np.ndarray:
        """`values` again, from `packed`.

        Example:
            >>> import larq as lq
            >>> model = tf.keras.Sequential([tf.keras.Input((5,)),
            ...     lq.layers.QuantDense(3, kernel_quantizer="adaste", name="hidden")])
            >>> weight = binary_weights(model)["hidden/kernel"]
            >>> np.array_equal(weight.unpack(), weight.values)
            True
        """
        bits = np.unpackbits(np.frombuffer(self.packed, np.uint8), count=int(np.prod(self.shape)))
        return (bits.astype(np.int8) * 2 - 1).reshape(self.shape)


def binary_weights(model: tf.keras.Model) -> dict[str, BinaryWeight]:
    """Where are my binary weights? The +-1 values every binary layer deploys, by weight name.

    A larq layer keeps *latent* float weights (what the optimizer updates; `layer.kernel` and
    `model.get_weights()` return them) and binarizes them with its quantizer in every forward
    pass. The deployed weights are the quantized ones, read here under
    `larq.context.quantized_scope(True)` (the same as `layer.kernel_quantizer(latent)`).
    For AdaSTE and `ste_sign` they are `sign(latent)` with `sign(0) = +1`.

    Returns:
        `{"layer_name/kernel": BinaryWeight(...), ...}` for every weight whose quantizer has
        precision 1, in layer order (a nested model's layers as `"outer/inner/kernel"`).

    Example:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
        ...     lq.layers.QuantDense(64, kernel_quantizer="adaste", name="hidden"),
        ...     lq.layers.QuantDense(10, kernel_quantizer="ste_sign", name="logits")])
        >>> w = binary_weights(model)["hidden/kernel"]
        >>> w.values.shape, w.values.dtype, len(w.packed)
        ((784, 64), dtype('int8'), 6272)
    """
    _check_model(model, "binary_weights")
    found = {}
    for path, layer in _layer_paths(model):
        if isinstance(layer, tf.keras.Model):
            continue  # a nested model's weights are its layers' weights, listed with them
        for variable in layer.weights:
            if getattr(variable, "precision", None) != 1 or not hasattr(variable, "quantizer"):
                continue
            with lq.context.quantized_scope(True):
                quantized = np.asarray(tf.convert_to_tensor(variable), np.float32)
            # Keyed by layer path, not variable.name: a model loaded from a .keras file names
            # every kernel just "kernel:0".
            name = f"{path}/{variable.name.split(':')[0].split('/')[-1]}"
            values, scale = _signs(quantized, layer.name, name)
            found[name] = BinaryWeight(layer.name, name, quantized.shape, values,
                                       np.packbits(values.ravel() > 0).tobytes(), scale)
    return found



def _signs(quantized: np.ndarray, layer: str, name: str):
    magnitude = np.abs(quantized)
    if np.all(magnitude == 1.0):
        return quantized.astype(np.int8), None
    per_channel = magnitude.reshape(-1, quantized.shape[-1])
    if np.all(per_channel == per_channel[:1]) and np.all(per_channel[0] > 0):
        return np.sign(quantized).astype(np.int8), per_channel[0].copy()
    raise ValueError(f"binary_weights: weight {name!r} of layer {layer!r} has a 1-bit "
                     f"quantizer but its quantized values are not +-1 or +-scale per output "
                     f"channel (e.g. {quantized.ravel()[:3]}); it cannot be bit-packed.")
