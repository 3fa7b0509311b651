"""What `export.convert` checks around the converter, and how it names the layer at fault.

Each check returns a `Problem` (message, layers, ops) or None; `export.convert` decides whether
it is a `ConversionError` or a warning. Converters name ops and tensors after the TF graph
(`model/layer/Op;model/layer/Op2`), and that is all that links an op, or an MLIR error, back to
a Keras layer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import larq as lq
import tensorflow as tf

from adaste_tf.tflite_file import FlatbufferSummary, Op

_FIX = ("Replace the layer with TF ops that TFLite supports (no tf.py_function, no Python-side "
        "code).")


class Problem(NamedTuple):
    """Why a model does not deploy as asked: the message, the layers and the ops at fault."""

    message: str
    layers: tuple[str, ...] = ()
    ops: tuple[str, ...] = ()


def layer_paths(model: tf.keras.Model, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """`(path, layer)` for every layer; a nested model's layers get `outer/inner` paths."""
    for layer in model.layers:
        path = f"{prefix}{layer.name}"
        yield path, layer
        if isinstance(layer, tf.keras.Model):
            yield from layer_paths(layer, path + "/")


def _layers(model: tf.keras.Model) -> Iterator[Any]:
    """Every layer, nested models' layers included (the nested model itself too)."""
    return (layer for _, layer in layer_paths(model))


# --- before conversion -----------------------------------------------------------------------


def missing_signature(model: tf.keras.Model) -> Problem | None:
    """Keras must know the input signature to save `model` as the SavedModel both engines read.

    Keras records it when the model is called on data (or has `tf.keras.Input`s); a subclassed
    model that was only `build()`-ed has weights but no signature, and `model.save` would fail
    deep inside Keras with "input shape is not available".

    Raises:
        ValueError: `model` is not built at all.
    """
    if not model.built:
        raise ValueError(f"convert: model {model.name!r} is not built, so it has no input "
                         f"shape to convert for. Give its first layer an input_shape (or use "
                         f"tf.keras.Input), or call it on a batch first.")
    if model.save_spec() is not None:
        return None
    return Problem(
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


def is_mixed_precision(model: tf.keras.Model) -> bool:
    return any(layer.compute_dtype in ("float16", "bfloat16")
               for layer in (model, *_layers(model)))


def unclonable(model: tf.keras.Model) -> Problem | None:
    """A subclassed model has no config to clone it to float32 from."""
    try:
        model.get_config()
    except NotImplementedError:
        return Problem(
            f"convert: model {model.name!r} uses a mixed-precision policy and is a subclassed "
            f"model, which cannot be cloned to float32 from its config. Rebuild it under "
            f"tf.keras.mixed_precision.set_global_policy('float32'), load the weights, and "
            f"convert that.")
    return None


def float32_clone(model: tf.keras.Model) -> tf.keras.Model:
    """The same architecture and weights with every mixed dtype policy replaced by float32
    (TFLite does not take float16 compute)."""
    config = model.get_config()
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


def converter_failed(model: tf.keras.Model, engine: str, message: str) -> Problem:
    """The converter raised `message`: name the layer and the unsupported ops it mentions."""
    ops = sorted(set(re.findall(r"'(?:tf|tfl)\.(\w+)' op", message)))
    errors = [line.strip() for line in message.splitlines() if "error" in line.lower()]
    layers = _layers_named_in(model, "\n".join(errors) or message)
    what = f" (unsupported op(s): {', '.join(ops)})" if ops else ""
    where = _where(layers, "a layer the converter's message does not name")
    first = errors[0] if errors else (message.strip().splitlines() or [""])[0]
    # MLIR prefixes each error with its location, `...error: loc(callsite(...)): what`.
    first = re.sub(r"^.*?error:\s*(loc\(.*\)\):\s*)?", "", first)
    return Problem(
        f"convert(engine={engine!r}): model {model.name!r} cannot be converted: {where}{what}. "
        f"{_FIX} Converter said: {first[:500]}", tuple(layers), tuple(ops))


def foreign_ops(model: tf.keras.Model, engine: str,
                summary: FlatbufferSummary) -> Problem | None:
    """Ops no stock interpreter runs (custom ops other than LCE's, under the LCE engine).

    LCE's converter emits an unknown op as a custom op and returns normally; the interpreter
    then fails to load the file. Caught here, where the model and its layer names are known.
    """
    foreign = [op for op in summary.ops
               if op.custom and not (engine == "lce" and op.name.startswith("Lce"))]
    if not foreign:
        return None
    ops = sorted({op.name for op in foreign})
    layers = list(dict.fromkeys(name for op in foreign for name in _op_layers(model, op)))
    return Problem(
        f"convert(engine={engine!r}): model {model.name!r} converted to op(s) that no stock "
        f"interpreter can run: {', '.join(ops)}, from "
        f"{_where(layers, 'layers the converter did not name')}. {_FIX}",
        tuple(layers), tuple(ops))


def _bconv_filter_shape(layer) -> tuple[int, ...]:
    """LceBconv2d's filter: (out, kh, kw, in / 32 rounded up), the input channels bitpacked."""
    kh, kw, cin, cout = (int(d) for d in layer.kernel.shape)
    return (cout, kh, kw, -(-cin // 32))


def _expects_bconv(layer) -> bool:
    """LCE turns a QuantConv2D into `LceBconv2d` when its inputs and its weights are binary."""
    return (isinstance(layer, lq.layers.QuantConv2D)
            and getattr(layer.input_quantizer, "precision", None) == 1
            and getattr(layer.kernel_quantizer, "precision", None) == 1)


def float_binary_convolutions(model: tf.keras.Model,
                              summary: FlatbufferSummary) -> Problem | None:
    """QuantConv2D layers with binary inputs and weights that LCE left as float convolutions.

    LCE does not fail then: it keeps the float convolution, which costs the speed and size the
    user converted for, so `convert` treats it as an error unless told otherwise.
    """
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
        return None
    got = {name: list(dict.fromkeys(op.name for op in summary.ops  # in execution order
                                    if name in _op_layers(model, op))) for name in missing}
    detail = "; ".join(f"{name!r} became {', '.join(ops) or 'ops the converter did not name'}"
                       for name, ops in got.items())
    return Problem(
        f"convert(engine='lce'): {len(missing)} of the {n_expected} QuantConv2D layer(s) of "
        f"model {model.name!r} with binary inputs and binary weights did not become "
        f"LceBconv2d: {detail}. LCE binarizes a convolution only when its input_quantizer "
        f"is one it recognizes (larq's sign-based ones, such as 'ste_sign', and 'adaste'); other "
        f"ways of computing a sign stay float. "
        f"Pass strict=False to accept the float convolution.", tuple(missing), ("LceBconv2d",))
