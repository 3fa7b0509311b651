"""Deploy a binary network: convert it, check the converted model predicts what Keras predicts,
and see what actually became binary.

Examples:
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

This module is what a user calls, with the checks `convert` runs around the converter at its
end; the file tools (`inspect`, `to_int8_weights`, running a file) live in
`adaste_tf.tflite_file`.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

from adaste_tf import _keras_setup, extras, tflite_file, validation
from adaste_tf.tflite_file import BINARY_OPS, FlatbufferSummary, Op, inspect, to_int8_weights

import larq as lq
import numpy as np
import tensorflow as tf

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


def _latent_weights_scope(function):
    """Run `function` under `larq.context.quantized_scope(False)`, whatever the caller's scope.

    Within larq's scope a model's weights read as their quantized values: `get_weights()` gives
    +-1, and saving the model (as `convert` does) traces the quantizers' gradients outside a
    layer, where `tf.custom_gradient` refuses the variables they read. Export needs the latent
    weights (the float32 clone copies them, the converter binarizes through the quantizers it
    finds in the graph), so it never depends on what the caller's scope is, or what an earlier
    error left it at.
    """

    @functools.wraps(function)
    def in_scope(*args, **kwargs):
        with lq.context.quantized_scope(False):
            return function(*args, **kwargs)

    return in_scope


class ConversionError(ValueError):
    """A model cannot be deployed as asked; `layers` names the layers at fault, `ops` the ops."""

    def __init__(self, message: str, layers: Sequence[str] = (), ops: Sequence[str] = ()):
        super().__init__(message)
        self.layers = tuple(layers)
        self.ops = tuple(ops)


@_latent_weights_scope
def convert(
    model: tf.keras.Model, engine: str = "lce", *, int8_weights: bool = False, strict: bool = True
) -> bytes:
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

    Examples:
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
    _check_signature(model)
    if _is_mixed_precision(model):
        _warn_if_binary_activations(model)
        model = _float32_clone(model)

    if engine == "lce":  # before the converter's try: a missing extra is not a failed conversion
        lce = extras.require("larq_compute_engine", "convert(engine='lce')")
    with tempfile.TemporaryDirectory() as saved_model_dir:
        model.save(saved_model_dir, save_format="tf", include_optimizer=False)
        try:
            if engine == "lce":
                # Not `lce.convert_keras_model`: when the SavedModel route fails it only warns
                # and retries from a frozen graph, so the first error would be lost.
                flatbuffer = lce.convert_saved_model(saved_model_dir)
            else:
                flatbuffer = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert()
        except Exception as error:  # the converters raise several types; all mean "cannot"
            raise _converter_failed(model, engine, str(error)) from error

    summary = inspect(flatbuffer)
    _check_foreign_ops(model, engine, summary)
    if engine == "lce":
        problem = _float_binary_convolutions(model, summary)
        if problem is not None and not strict:
            warnings.warn(str(problem), stacklevel=2)
        elif problem is not None:
            raise problem
    return to_int8_weights(flatbuffer) if int8_weights else flatbuffer


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
        return (
            f"{self.interpreter} vs Keras on {self.n} inputs: max |diff| "
            f"{self.max_abs_diff:.3g} (relative {self.max_rel_diff:.3g}), argmax agrees on "
            f"{self.n - self.argmax_mismatches}/{self.n}"
        )


@_latent_weights_scope
def verify(
    model: tf.keras.Model,
    flatbuffer: bytes | str | os.PathLike,
    inputs: np.ndarray,
    *,
    interpreter: str = "auto",
    batch_size: int = 256,
) -> ParityReport:
    """Run the converted model and Keras on the same `inputs`; compare the outputs.

    Args:
        model: the Keras model that was converted (one input, one output).
        flatbuffer: what `convert` returned, or a `.tflite` path.
        inputs: a batch, shape `(n, *model.input_shape[1:])`.
        interpreter: `"lce"` (Larq Compute Engine's interpreter, which runs LCE's ops and
            plain TFLite), `"tflite"` (`tf.lite.Interpreter`) or `"auto"`: LCE's when the
            flatbuffer contains LCE ops, else TFLite's.
        batch_size: Keras and TFLite batch size (LCE's interpreter runs one input at a time).

    Examples:
        >>> import larq as lq
        >>> model = tf.keras.Sequential([tf.keras.layers.Flatten(input_shape=(28, 28)),
        ...                              lq.layers.QuantDense(10, kernel_quantizer="adaste")])
        >>> x_test = np.random.default_rng(0).random((1000, 28, 28), np.float32)
        >>> report = verify(model, convert(model), x_test)
        >>> report.argmax_agreement, report.max_rel_diff < 1e-5
        (1.0, True)
    """
    _check_model(model, "verify")
    interpreter = validation.choice(
        "interpreter", interpreter, ("auto", "lce", "tflite"), owner="verify"
    )
    batch_size = validation.integer("batch_size", batch_size, minimum=1, owner="verify")
    data = tflite_file.read(flatbuffer, "verify")
    if model.inputs is not None and (len(model.inputs) != 1 or len(model.outputs) != 1):
        raise ValueError(
            f"verify: model {model.name!r} has {len(model.inputs)} inputs and "
            f"{len(model.outputs)} outputs; verify compares one-input, one-output "
            f"models."
        )
    inputs = np.asarray(inputs, np.float32)
    # A subclassed model has no input_shape: then the interpreter checks the shape.
    expected = tuple(model.input_shape[1:]) if model.inputs is not None else inputs.shape[1:]
    if inputs.ndim != len(expected) + 1 or inputs.shape[1:] != expected or not len(inputs):
        raise ValueError(
            f"verify: `inputs` must be a non-empty batch of shape (n, "
            f"{', '.join(map(str, expected))}) for model {model.name!r}, got "
            f"shape {inputs.shape}."
        )
    if interpreter == "auto":
        interpreter = (
            "lce" if any(op.name.startswith("Lce") for op in inspect(data).ops) else "tflite"
        )

    keras_out = np.concatenate(
        [
            np.asarray(model(inputs[i : i + batch_size], training=False), np.float32)
            for i in range(0, len(inputs), batch_size)
        ]
    )
    lite_out = tflite_file.predict(data, inputs, interpreter=interpreter, batch_size=batch_size)
    lite_out = lite_out.reshape(keras_out.shape)

    diff = float(np.max(np.abs(lite_out - keras_out)))
    scale = float(np.max(np.abs(keras_out))) or 1.0
    agree = np.argmax(lite_out.reshape(len(inputs), -1), axis=1) == np.argmax(
        keras_out.reshape(len(inputs), -1), axis=1
    )
    name = "LCE interpreter" if interpreter == "lce" else "tf.lite.Interpreter"
    return ParityReport(len(inputs), diff, diff / scale, float(np.mean(agree)), name)


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

        Examples:
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
    `larq.context.quantized_scope(True)`, the same as
    `layer.kernel_quantizer(layer.kernel.latent_variable)`.
    For AdaSTE and `ste_sign` they are `sign(latent)` with `sign(0) = +1`.

    Returns:
        `{"layer_name/kernel": BinaryWeight(...), ...}` for every weight whose quantizer has
        precision 1, in layer order (a nested model's layers as `"outer/inner/kernel"`).

    Examples:
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
            found[name] = BinaryWeight(
                layer.name,
                name,
                quantized.shape,
                values,
                np.packbits(values.ravel() > 0).tobytes(),
                scale,
            )
    return found


def _signs(quantized: np.ndarray, layer: str, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """+-1 values and, unless they are +-1 already, the per-output-channel (last axis) scale."""
    found = tflite_file.sign_scale(quantized, axes=[quantized.ndim - 1])
    if found is None or np.any(found[0] == 0):  # a 0 cannot be bit-packed
        raise ValueError(
            f"binary_weights: weight {name!r} of layer {layer!r} has a 1-bit "
            f"quantizer but its quantized values are not +-1 or +-scale per "
            f"output channel (e.g. {quantized.ravel()[:3]}); it cannot be "
            f"bit-packed."
        )
    values, scale, axis = found
    if axis is None:  # one magnitude for the whole tensor
        return values, None if scale[0] == 1 else np.full(quantized.shape[-1], scale[0])
    return values, scale


# ---------------------------------------------------------------------------------------------
# What convert checks around the converter, and how it names the layer at fault. Converters name
# ops and tensors after the TF graph (`model/layer/Op;model/layer/Op2`), and that is all that
# links an op, or an MLIR error, back to a Keras layer.

_FIX = (
    "Replace the layer with TF ops that TFLite supports (no tf.py_function, no Python-side code)."
)


def _check_model(model, owner: str) -> None:
    _keras_setup.refuse_keras3(model, "model", owner)
    if not isinstance(model, tf.keras.Model):
        raise TypeError(
            f"{owner}: `model` must be a tf.keras.Model (legacy Keras, as larq "
            f"uses), got {type(model).__name__}."
        )


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


def _check_signature(model: tf.keras.Model) -> None:
    """Keras must know the input signature to save `model` as the SavedModel both engines read.

    Keras records it when the model is called on data (or has `tf.keras.Input`s); a subclassed
    model that was only `build()`-ed has weights but no signature, and `model.save` would fail
    deep inside Keras with "input shape is not available".

    Raises:
        ValueError: `model` is not built at all.
    """
    if not model.built:
        raise ValueError(
            f"convert: model {model.name!r} is not built, so it has no input "
            f"shape to convert for. Give its first layer an input_shape (or use "
            f"tf.keras.Input), or call it on a batch first."
        )
    if model.save_spec() is None:
        raise ConversionError(
            f"convert: model {model.name!r} ({type(model).__name__}) was built with build() "
            f"but never called on data, so Keras has no input signature to convert it with. "
            f"Fix: call it once on a batch first, e.g. `model({_zeros_batch(model)})` or "
            f"`model.predict(x[:1])`, then convert."
        )


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


def _is_mixed_precision(model: tf.keras.Model) -> bool:
    return any(layer.compute_dtype in ("float16", "bfloat16") for layer in (model, *_layers(model)))


# Measured (docs/deployment.md, "Mixed precision"): a larq tutorial conv net with binary
# activations, trained 3 epochs on 6000 Fashion-MNIST images, its float32 clone against Keras
# on 500 test images.
_MIXED_BINARY_AGREEMENT = {"mixed_bfloat16": "473/500", "mixed_float16": "492/500"}


def _warn_if_binary_activations(model: tf.keras.Model) -> None:
    """Warn that a mixed-precision model with binary activations converts to a float32 file
    whose signs can differ: a pre-activation within float16/bfloat16 rounding of zero takes the
    other sign in float32, and the binary layers after it carry the flip to the output."""
    binary = [
        layer.name
        for layer in _layers(model)
        if getattr(layer, "input_quantizer", None) is not None
    ]
    if not binary:
        return
    policy = next(
        layer.dtype_policy.name
        for layer in (model, *_layers(model))
        if layer.compute_dtype in ("float16", "bfloat16")
    )
    shown = ", ".join(repr(name) for name in binary[:3]) + (", ..." if len(binary) > 3 else "")
    measured = _MIXED_BINARY_AGREEMENT.get(policy)
    warnings.warn(
        f"convert: model {model.name!r} computes in {policy} and has binary activations "
        f"(input_quantizer of {shown}). The converted file computes in float32, where "
        f"activations within {policy.split('_')[1]} rounding of zero take the other sign, so "
        f"its predictions can differ from Keras's"
        + (
            f" (a larq tutorial conv net on Fashion-MNIST: argmax agreed on {measured} test images)"
            if measured
            else ""
        )
        + ". Check with export.verify(model, flatbuffer, inputs); to deploy exactly what Keras "
        'computes, train or fine-tune the model in float32 (docs/deployment.md, "Mixed '
        'precision").',
        stacklevel=3,
    )


def _float32_clone(model: tf.keras.Model) -> tf.keras.Model:
    """The same architecture and weights with every mixed dtype policy replaced by float32
    (TFLite does not take float16 compute)."""
    try:
        config = model.get_config()
    except NotImplementedError:  # a subclassed model has no config to clone it from
        raise ConversionError(
            f"convert: model {model.name!r} uses a mixed-precision policy and is a subclassed "
            f"model, which cannot be cloned to float32 from its config. Rebuild it under "
            f"tf.keras.mixed_precision.set_global_policy('float32'), load the weights, and "
            f"convert that."
        ) from None
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
        return {
            key: "float32" if key == "dtype" and _names_16_bits(value) else _float32_config(value)
            for key, value in config.items()
        }
    if isinstance(config, (list, tuple)):
        return type(config)(_float32_config(value) for value in config)
    return config


def _names_16_bits(value) -> bool:
    if isinstance(value, dict):  # a serialized Policy: {"class_name": "Policy", "config": {...}}
        value = value.get("config", {}).get("name", "")
    # "mixed_float16" policies, and the "float16" dtype that a nested model's InputLayer gets.
    return isinstance(value, str) and (
        value.startswith("mixed_") or value in ("float16", "bfloat16")
    )


# --- naming the layer ------------------------------------------------------------------------


def _layers_named_in(model: tf.keras.Model, text: str) -> list[str]:
    """The layers whose names appear as a component of the op/tensor paths in `text`."""
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


def _where(layers: list[str], unnamed: str) -> str:
    return f"layer(s) {', '.join(map(repr, layers))}" if layers else unnamed


# --- after conversion ------------------------------------------------------------------------


def _converter_failed(model: tf.keras.Model, engine: str, message: str) -> ConversionError:
    """The converter raised `message`: name the layer and the unsupported ops it mentions."""
    ops = sorted(set(re.findall(r"'(?:tf|tfl)\.(\w+)' op", message)))
    errors = [line.strip() for line in message.splitlines() if "error" in line.lower()]
    layers = _layers_named_in(model, "\n".join(errors) or message)
    what = f" (unsupported op(s): {', '.join(ops)})" if ops else ""
    where = _where(layers, "a layer the converter's message does not name")
    first = errors[0] if errors else (message.strip().splitlines() or [""])[0]
    # MLIR prefixes each error with its location, `...error: loc(callsite(...)): what`.
    first = re.sub(r"^.*?error:\s*(loc\(.*\)\):\s*)?", "", first)
    return ConversionError(
        f"convert(engine={engine!r}): model {model.name!r} cannot be converted: {where}{what}. "
        f"{_FIX} Converter said: {first[:500]}",
        layers,
        ops,
    )


def _check_foreign_ops(model: tf.keras.Model, engine: str, summary: FlatbufferSummary) -> None:
    """Ops no stock interpreter runs (custom ops other than LCE's, under the LCE engine).

    LCE's converter emits an unknown op as a custom op and returns normally; the interpreter
    then fails to load the file. Caught here, where the model and its layer names are known.
    """
    foreign = [
        op
        for op in summary.ops
        if op.custom and not (engine == "lce" and op.name.startswith("Lce"))
    ]
    if not foreign:
        return
    ops = sorted({op.name for op in foreign})
    layers = list(dict.fromkeys(name for op in foreign for name in _op_layers(model, op)))
    raise ConversionError(
        f"convert(engine={engine!r}): model {model.name!r} converted to op(s) that no stock "
        f"interpreter can run: {', '.join(ops)}, from "
        f"{_where(layers, 'layers the converter did not name')}. {_FIX}",
        layers,
        ops,
    )


def _bconv_filter_shape(layer) -> tuple[int, ...]:
    """LceBconv2d's filter: (out, kh, kw, in / 32 rounded up), the input channels bitpacked."""
    kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
    return (cout, kh, kw, -(-cin // 32))


def _expects_bconv(layer) -> bool:
    """LCE turns a QuantConv2D into `LceBconv2d` when its inputs and its weights are binary."""
    return (
        isinstance(layer, lq.layers.QuantConv2D)
        and getattr(layer.input_quantizer, "precision", None) == 1
        and getattr(layer.kernel_quantizer, "precision", None) == 1
    )


def _float_binary_convolutions(
    model: tf.keras.Model, summary: FlatbufferSummary
) -> ConversionError | None:
    """QuantConv2D layers with binary inputs and weights that LCE left as float convolutions.

    LCE does not fail then: it keeps the float convolution, which costs the speed and size the
    user converted for, so `convert` treats it as an error unless told otherwise.
    """
    expected = {
        layer.name: _bconv_filter_shape(layer) for layer in _layers(model) if _expects_bconv(layer)
    }
    n_expected = len(expected)
    # Match layers to LceBconv2d ops by filter shape, then by name where shapes repeat: a
    # bconv's bitpacked input comes from the layer's own input quantizer, `model/layer/ste_sign`
    # (its output is often named after the next layer, whose sign the converter fused into it).
    unmatched = [op for op in summary.ops if op.name == "LceBconv2d"]
    for by_name in (True, False):
        for name, shape in list(expected.items()):
            for op in unmatched:
                if op.weight_shape == shape and (
                    not by_name or name in _layers_named_in(model, op.input_tensor)
                ):
                    unmatched.remove(op)
                    del expected[name]
                    break
    missing = list(expected)
    if not missing:
        return None
    got = {
        name: list(
            dict.fromkeys(
                op.name
                for op in summary.ops  # in execution order
                if name in _op_layers(model, op)
            )
        )
        for name in missing
    }
    detail = "; ".join(
        f"{name!r} became {', '.join(ops) or 'ops the converter did not name'}"
        for name, ops in got.items()
    )
    return ConversionError(
        f"convert(engine='lce'): {len(missing)} of the {n_expected} QuantConv2D layer(s) of "
        f"model {model.name!r} with binary inputs and binary weights did not become "
        f"LceBconv2d: {detail}. LCE binarizes a convolution only when its input_quantizer "
        f"is one it recognizes (larq's sign-based ones, such as 'ste_sign', and 'adaste'); other "
        f"ways of computing a sign stay float. "
        f"Pass strict=False to accept the float convolution.",
        missing,
        ("LceBconv2d",),
    )
